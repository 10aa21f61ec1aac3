// nabla/distributed.hpp — data-parallel training across processes, on MPI.
//
// Launch K copies of a program with `mpirun -np K prog …`; each is a rank.
// Every rank holds the whole model; each takes its shard of every global
// batch (Communicator::shard), runs forward and backward on it (with the
// thread split of data_parallel_backward inside the process), and the ranks
// sum their weighted gradients (allreduce_gradients) before the identical
// optimizer step. With the same seed and global batch, K ranks follow the
// trajectory of one process up to the order of the sums.
//
//   dist::Communicator& comm = dist::world();      // MPI_Init when launched by mpirun
//   comm.broadcast(model.parameters());             // rank 0's weights everywhere
//   for (each global batch x, y of B rows) {
//     auto [lo, hi] = comm.shard(B);                // this rank's rows
//     double w = double(hi - lo) / double(B);
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model.forward(x.slice(0, lo, hi)), y.slice(0, lo, hi)) * w;
//     loss.backward();
//     double global = comm.allreduce_gradients(opt.params(), loss.item());  // Σ over ranks
//     opt.step();
//   }
//   comm.check_replicas(model.parameters(), "after epoch 1");  // throws if a replica drifted
//
// Without MPI (a build without it, or a process not started by mpirun) world()
// is a communicator of one rank on which every call is a no-op, so the same
// program runs as one process. A build without MPI started by mpirun is an
// error (world() throws saying so), not K independent runs.
//
// Faults: a collective that gets no answer from the other ranks within
// Options::timeout_seconds (a rank stopped or the network is down) prints one
// line naming this rank and ends the whole job (MPI_Abort); abort_job() does
// the same after an error, so that no rank waits forever for one that failed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::dist {

// Whether this build can run across processes (CMake found MPI: NABLA_WITH_MPI).
bool built_with_mpi() noexcept;
// The rank count of the launcher that started this process (OpenMPI's
// OMPI_COMM_WORLD_SIZE, PMI_SIZE of MPICH and Slurm), 0 when none did.
int launched_world_size() noexcept;

struct Options {
  // A collective waits at most this long for the other ranks, then the job
  // ends naming this rank; 0 waits forever. NABLA_MPI_TIMEOUT (seconds)
  // overrides it.
  double timeout_seconds = 300;
  // Gradients travel in flat buffers of at most this many bytes (one
  // parameter larger than that gets a bucket of its own), all issued before
  // the first is waited for.
  int64_t bucket_bytes = int64_t{4} << 20;
};

// What the collectives moved, for measurements.
struct Stats {
  int64_t allreduces = 0;  // allreduce_gradients calls
  int64_t bytes = 0;       // bytes this rank contributed to them
  double seconds = 0;      // time spent in them (packing, the exchange, unpacking)
};

// Rows [begin, end) of a batch.
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const noexcept { return end - begin; }
};
// The sampler's rule: of a global batch of `rows`, rank r of K takes
// [rows·r/K, rows·(r+1)/K) (computed without overflow). The shards of all
// ranks are the batch, each row once, and differ in size by at most one.
Range shard_range(int64_t rows, int rank, int size);

class Communicator {
 public:

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  // Ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), for the thread count.
  int local_size() const noexcept { return local_size_; }
  bool is_root() const noexcept { return rank_ == 0; }

  // The rows of a global batch of `rows` that this rank takes
  // (shard_range), so that K ranks see the batches one process would.
  Range shard(int64_t rows) const { return shard_range(rows, rank_, size_); }

  // Rank 0's values of these tensors (contiguous, any dtype, the same shapes
  // on every rank) written into every rank's, in place.
  void broadcast(const std::vector<Tensor>& tensors);
  uint64_t broadcast(uint64_t value);
  std::string broadcast(const std::string& text);
  // Σ over ranks of `value`.
  double allreduce_sum(double value);

  // Sums every rank's .grad() of `params` times `weight` into every rank's
  // .grad(), in flat buckets over the parameters in their order; returns Σ
  // weight·loss. An undefined .grad() counts as zeros and becomes a defined
  // one. Weight 1/size() (the default) averages; the trainer passes 1 and
  // weights each rank's loss by its share of the batch instead.
  double allreduce_gradients(const std::vector<Tensor>& params, double loss, double weight = -1);

  // Compares a checksum of the parameters' bytes across ranks; throws (kind
  // value) naming `when` and the ranks that differ from rank 0.
  void check_replicas(const std::vector<Tensor>& params, const std::string& when);

  const Stats& stats() const noexcept { return stats_; }
  const Options& options() const noexcept { return options_; }

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  friend Communicator& world(const Options&);
  Communicator() = default;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  Options options_;
  Stats stats_;
  std::vector<unsigned char> buffer_;
};

// The communicator of all ranks. The first call initializes MPI when the
// process was started by mpirun (and finalizes it at exit); later calls
// return the same object and ignore `options`. Throws when started by mpirun
// in a build without MPI.
Communicator& world(const Options& options = {});

// True once world() runs across more than one rank.
bool distributed() noexcept;
// "rank 1 of 2: " when distributed, "" otherwise: the prefix of error lines.
std::string rank_prefix();
// Ends every rank of the job with `code` (MPI_Abort) when distributed; returns
// otherwise. Call it after reporting an error, so that no rank waits for this one.
void abort_job(int code);

// A 64-bit checksum of the tensors' bytes (FNV-1a over 8-byte words).
uint64_t checksum(const std::vector<Tensor>& tensors);

}  // namespace nabla::dist
