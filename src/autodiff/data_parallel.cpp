// data_parallel_backward: one batch's forward and backward pass split by rows
// over the threads (Note [Data-parallel steps]).
#include <algorithm>
#include <vector>

#include "../kernels/gemm.hpp"
#include "../kernels/parallel.hpp"
#include "engine.hpp"
#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/ops.hpp"

namespace nabla {

// Note [Data-parallel steps]: with two or more threads, a training step splits
// its batch into row ranges, one per thread (kernels::run_shards). Each shard
// runs the model forward, its part of the loss and the backward pass on its
// own, with single-threaded kernels, and returns its parameters' gradients
// (detail::grad_or_none, which leaves .grad() alone, so the shards never write
// the same tensor); the parts are then summed into .grad(). The loss of a
// shard is its rows' mean loss weighted by rows / batch, so the parts add up
// to the batch's mean loss and its gradient, up to rounding. The split depends
// only on the batch size and the thread count, and the parts are summed in
// shard order, so a seeded run still repeats bit for bit.
//
// Shards may share nodes: a loss that reads a non-leaf computed once outside
// (h = tanh(w) * 0.5 before the call, read by every shard) puts h's nodes in
// every shard's graph. The passes keep their state apart (Note [Pass state]
// in engine.cpp), so they may run those nodes at the same time, provided none
// releases a node another still has to run: the shards' passes retain the
// graph. Their own nodes go anyway when the shard's loss does, a moment later;
// the shared ones stay usable, as after a backward with retain_graph.
//
// Why: the two threads synchronize once per step instead of once or more per
// product (Note [Shards] in kernels/gemm.cpp). Measured on `nabla train`
// (784-256-128-10, Adam), same binary with and without the split, runs
// alternated: 3–10% less time per epoch at batch 128 and 1024 with Eigen's
// GEMM, 5–8% with OpenBLAS's; at batch 32 (16 rows a shard) 15–40% *more*,
// since each shard's products get too thin and the parts' sum costs as much
// as it saves. Hence DataParallelOptions::min_shard_rows = 64.

namespace {

// Adds the shards' parts of each parameter's gradient, in shard order, to its
// .grad() (or makes them its .grad()), the elements of all parameters split
// over the pool in one job.
void accumulate_parts(const std::vector<Tensor>& params, const std::vector<std::vector<Tensor>>& parts) {
  const size_t np = params.size();
  std::vector<std::vector<Tensor>> defined(np);  // the parts of parameter i, in shard order, contiguous
  std::vector<Tensor> sums(np), olds(np);
  std::vector<int64_t> sizes(np, 0);
  for (size_t i = 0; i < np; ++i) {
    for (const auto& part : parts) {
      const Tensor& g = part[i];
      if (!g.defined()) continue;
      NABLA_CHECK_KIND(g.shape() == params[i].shape() && g.dtype() == params[i].dtype(), ErrorKind::autograd,
                       "data_parallel_backward: a shard's gradient of parameter ", i, " is ", g.dtype(), " ",
                       g.shape(), ", the parameter ", params[i].dtype(), " ", params[i].shape());
      defined[i].push_back(g.contiguous());
    }
    if (defined[i].empty()) continue;  // unused by every shard: .grad() stays as it is
    if (params[i].grad().defined()) olds[i] = params[i].grad().contiguous();
    sums[i] = empty(params[i].shape(), TensorOptions().dtype(params[i].dtype()));
    sizes[i] = params[i].numel();
  }
  kernels::parallel_spans(sizes, [&](size_t i, int64_t a, int64_t b) {
    dispatch(sums[i].dtype(), [&]<class T>() {
      T* out = sums[i].data_ptr<T>();
      const auto& d = defined[i];
      const T* p0 = d[0].data_ptr<T>();
      if (d.size() == 1) {
        for (int64_t k = a; k < b; ++k) out[k] = p0[k];
      } else {  // one pass for the first two parts (the only two on two threads)
        const T* p1 = d[1].data_ptr<T>();
        for (int64_t k = a; k < b; ++k) out[k] = p0[k] + p1[k];
      }
      for (size_t s = 2; s < d.size(); ++s) {
        const T* g = d[s].data_ptr<T>();
        for (int64_t k = a; k < b; ++k) out[k] += g[k];
      }
      if (olds[i].defined()) {
        const T* g = olds[i].data_ptr<T>();
        for (int64_t k = a; k < b; ++k) out[k] = g[k] + out[k];
      }
    });
  });
  for (size_t i = 0; i < np; ++i) {
    if (!sums[i].defined()) continue;
    Tensor p = params[i];
    p.set_grad(sums[i]);
  }
}

}  // namespace

double data_parallel_backward(const std::function<Tensor(const Tensor&, const Tensor&)>& loss_fn, const Tensor& inputs,
                              const Tensor& targets, const std::vector<Tensor>& params,
                              const DataParallelOptions& options) {
  NABLA_CHECK(static_cast<bool>(loss_fn), "data_parallel_backward: no loss function");
  NABLA_CHECK_KIND(inputs.defined() && inputs.dim() >= 1, ErrorKind::shape,
                   "data_parallel_backward: the inputs need a batch dimension (rows), got ",
                   inputs.defined() ? inputs.shape() : Shape{});
  const int64_t rows = inputs.shape()[0];
  NABLA_CHECK_KIND(!targets.defined() || (targets.dim() >= 1 && targets.shape()[0] == rows), ErrorKind::shape,
                   "data_parallel_backward: inputs ", inputs.shape(), " and targets ",
                   targets.defined() ? targets.shape() : Shape{}, " have different row counts");
  NABLA_CHECK(options.min_shard_rows >= 1, "data_parallel_backward: min_shard_rows is ", options.min_shard_rows,
              "; it must be at least 1");
  for (size_t i = 0; i < params.size(); ++i)
    NABLA_CHECK_KIND(params[i].defined() && params[i].requires_grad() && params[i].is_leaf(), ErrorKind::autograd,
                     "data_parallel_backward: parameter ", i, " is not a leaf tensor that requires grad");

  const int64_t threads = kernels::get_num_threads();
  const int shards = static_cast<int>(std::max<int64_t>(1, std::min(threads, rows / options.min_shard_rows)));
  if (shards == 1) {
    Tensor loss = loss_fn(inputs, targets);
    const double value = loss.item();
    loss.backward();
    return value;
  }

  // Note [Data-parallel steps]
  std::vector<double> losses(static_cast<size_t>(shards));
  std::vector<std::vector<Tensor>> parts(static_cast<size_t>(shards));
  kernels::run_shards(shards, [&](int s) {
    const int64_t lo = rows * s / shards, hi = rows * (s + 1) / shards;
    Tensor loss = loss_fn(inputs.slice(0, lo, hi), targets.defined() ? targets.slice(0, lo, hi) : Tensor());
    NABLA_CHECK_KIND(loss.defined() && loss.numel() == 1, ErrorKind::shape,
                     "data_parallel_backward: the loss function returned ", loss.defined() ? loss.shape() : Shape{},
                     " for rows ", lo, "..", hi, "; it must return one value");
    if (options.mean_over_rows) loss = loss * (static_cast<double>(hi - lo) / static_cast<double>(rows));
    losses[static_cast<size_t>(s)] = loss.item();
    parts[static_cast<size_t>(s)] = detail::grad_or_none({loss}, params, /*retain_graph=*/true);
  });
  double value = 0;
  for (double l : losses) value += l;
  accumulate_parts(params, parts);
  return value;
}

}  // namespace nabla
