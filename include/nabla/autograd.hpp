// nabla/autograd.hpp — reverse-mode differentiation and gradient checking.
//
// Every op applied to a tensor with requires_grad records a node holding its
// inputs, the values its VJP needs, and the VJP itself. backward() visits each
// node once, in reverse topological order (an explicit stack, no recursion, so
// deep graphs are safe), and accumulates into the .grad() of leaves.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "nabla/grad_mode.hpp"
#include "nabla/tensor.hpp"

namespace nabla {

// Accumulates ∂(Σ grad_outputs·outputs)/∂leaf into each leaf's .grad().
// An empty grad_outputs[i] means ones for a one-element output.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

// Returns ∂(Σ grad_outputs·outputs)/∂inputs without touching any .grad().
// An input the outputs do not depend on gets zeros when allow_unused, else an error.
// With create_graph the results are themselves differentiable (higher order).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

// ---- data-parallel backward --------------------------------------------------
struct DataParallelOptions {
  // The fewest rows a shard may have: thinner shards make thin products, and
  // summing the parts then costs more than the split saves (64 measured on
  // the MLP of `nabla train`, batch 32 vs 128, two threads).
  int64_t min_shard_rows = 64;
  // The loss is a mean over rows (MSE or cross-entropy with reduction
  // "mean"): each shard's loss is weighted by its share of the rows. false
  // for a loss summed over rows.
  bool mean_over_rows = true;
};

// loss_fn(inputs, targets).backward(), split by rows over the threads (the
// kernels' thread count; nabla::train::set_threads). Each shard runs
// loss_fn(inputs[lo:hi], targets[lo:hi]) and its backward pass on its own
// thread, with single-threaded kernels, and the shards' gradients of `params`
// are summed in shard order and accumulated into their .grad() — up to
// rounding what the unsplit backward() gives them. Returns the batch's loss.
// A parameter no shard's loss depends on keeps its .grad(); tensors other
// than `params` get no gradient. With one thread, or fewer than
// 2 × min_shard_rows rows, it is exactly loss_fn(inputs, targets).backward().
// `targets` may be undefined (loss_fn then gets an undefined tensor).
//
// loss_fn runs on several threads at once: it may read shared tensors (the
// parameters) but must not change shared state; a Dropout module's generator
// is such state. Results repeat bit for bit for the same thread count. An
// exception in a shard is rethrown after all shards finish (the lowest
// shard's), and then no .grad() has changed.
double data_parallel_backward(const std::function<Tensor(const Tensor& inputs, const Tensor& targets)>& loss_fn,
                              const Tensor& inputs, const Tensor& targets, const std::vector<Tensor>& params,
                              const DataParallelOptions& options = {});

// ---- gradient checking ------------------------------------------------------
struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckInputReport {
  double max_abs_error = 0;  // max |analytic − numeric|
  double max_rel_error = 0;  // max |analytic − numeric| / max(1, |numeric|)
};

struct GradcheckResult {
  bool ok = true;
  std::vector<GradcheckInputReport> inputs;  // one per input
  std::string summary() const;
};
std::ostream& operator<<(std::ostream& os, const GradcheckResult& r);

// ∂f/∂x by central differences, (f(x + εeᵢ) − f(x − εeᵢ)) / 2ε, in float64:
// [numel(f(x)), numel(x)], row-major over both, f called 2·numel(x) times on
// perturbed float64 copies of x (which require grad when x does, so that f
// may itself differentiate). The one finite-difference routine of nabla:
// gradcheck and the symbolic engine's check use it.
Tensor numeric_jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, double eps = 1e-6);

// Compares the reverse-mode gradient of f (any output shape; a random upstream
// gradient is used for non-scalar outputs) against central finite differences
// in float64. Inputs are converted to float64 copies; f must be deterministic.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, GradcheckOptions opts = {});

}  // namespace nabla
