// The gradients of one step across ranks and micro-batches (sharded_step.hpp).
#include "sharded_step.hpp"

#include "nabla/autograd.hpp"
#include "nabla/ops.hpp"

namespace nabla::train::detail {

// Note [Sharded steps]: a step is the batches micro[0..n) (n = --accumulate),
// R rows in all. Rank r of K takes rows shard(B_i) of each batch i, and its
// loss on them is their mean times shard rows / R, so that the ranks' and
// batches' parts add up to the mean over the R rows, and their gradients to its
// gradient. Within the process data_parallel_backward splits each part over
// the threads (Note [Data-parallel steps]), accumulating into .grad(); the one
// allreduce of the step then sums .grad() and the loss over the ranks. With one
// process and one batch per step the factor is 1 and no multiplication is
// recorded: the step is the plain data_parallel_backward, bit for bit. K
// processes compute the sums of one process in another order: their losses
// agree to rounding (the tests hold them to 1e-5), and every rank ends the
// step with the same bytes in .grad(), hence the same parameters.
StepGradients sharded_backward(dist::Communicator* comm, const std::vector<data::Batch>& micro, const LossFn& loss,
                               const std::vector<Tensor>& params, bool one_thread) {
  StepGradients out;
  for (const data::Batch& b : micro) out.rows += b.features.size(0);
  double local = 0;
  for (const data::Batch& b : micro) {
    const int64_t n = b.features.size(0);
    const dist::Range r = comm ? comm->shard(n) : dist::Range{0, n};
    if (r.size() == 0) continue;  // a batch smaller than the rank count: this rank has no row of it
    const double f = static_cast<double>(r.size()) / static_cast<double>(out.rows);
    const Tensor x = r.size() == n ? b.features : b.features.slice(0, r.begin, r.end);
    const Tensor y = r.size() == n ? b.labels : b.labels.slice(0, r.begin, r.end);
    auto part = [&](const Tensor& xs, const Tensor& ys) {
      Tensor l = loss(xs, ys);
      return f == 1 ? l : l * f;
    };
    if (one_thread) {
      Tensor l = part(x, y);
      l.backward();
      local += l.item();
    } else {
      local += data_parallel_backward(part, x, y, params);
    }
  }
  out.loss = comm ? comm->allreduce_gradients(params, local, 1.0) : local;
  return out;
}

}  // namespace nabla::train::detail
