// One optimizer step's gradients over the ranks of a data-parallel job and the
// micro-batches of gradient accumulation (Note [Sharded steps]).
#pragma once

#include <functional>
#include <vector>

#include "nabla/data.hpp"
#include "nabla/distributed.hpp"
#include "nabla/tensor.hpp"

namespace nabla::train::detail {

using LossFn = std::function<Tensor(const Tensor& inputs, const Tensor& targets)>;

struct StepGradients {
  double loss = 0;   // the mean loss over every row of the step (all micro-batches, all ranks)
  int64_t rows = 0;  // those rows
};

// Leaves in .grad() of `params` the gradient of the mean loss over all rows of
// `micro` (the batches of one step), summed over the ranks of `comm` (none: one
// process). Each rank takes its shard of every batch, split over the threads
// unless `one_thread` (dropout draws from its layers' generators: one thread only).
StepGradients sharded_backward(dist::Communicator* comm, const std::vector<data::Batch>& micro, const LossFn& loss,
                               const std::vector<Tensor>& params, bool one_thread = false);

}  // namespace nabla::train::detail
