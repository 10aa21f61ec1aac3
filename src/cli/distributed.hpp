// `nabla train` under mpirun: joining the job (Note [Distributed runs]).
#pragma once

#include "nabla/distributed.hpp"
#include "nabla/train.hpp"

namespace nabla::cli {

// Note [Distributed runs]: `mpirun -np K nabla train …` starts K copies of the
// command; each joins the job here (MPI_Init through dist::world(); a build
// without MPI stops saying so). Rank 0 alone speaks: the other ranks' stdout
// goes to /dev/null (their errors still reach stderr, prefixed with their
// rank), and only rank 0 checks and writes the outputs. Every rank takes rank
// 0's seed, and without --threads the cores of a machine are shared among
// its ranks. The trainer does the rest (Trainer::distribute).
dist::Communicator& join_training_job(train::Config& c);

// Under mpirun, on rank 0: one line of what the gradients' allreduce moved and
// cost per step (dist::Stats), after the run.
void report_communication(const dist::Communicator& comm);

}  // namespace nabla::cli
