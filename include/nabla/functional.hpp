// nabla/functional.hpp — function transforms: jvp, vjp, jacobian, hessian, hvp,
// jacobian_diagonal (as JAX's jvp/vjp/jacfwd/jacrev/hessian and torch.func).
//
// Conventions: for f: Rⁿ → Rᵐ the Jacobian in numerator layout is the
// m×n matrix whose row i is ∇fᵢᵀ (∂y/∂x); denominator layout is its transpose
// (n×m). Inputs and outputs of any rank are flattened in row-major order, so a
// Jacobian is always a matrix; for several inputs there is one block per input.
//
// Forward mode pushes k tangent directions through one forward pass at once;
// reverse mode pulls k rows back through one batched backward pass. jacobian()
// uses forward mode when the inputs have fewer elements than the output, and
// detects element-wise functions (diagonal Jacobian) in the same pass.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

using TensorFn = std::function<Tensor(const Tensor&)>;
using TensorsFn = std::function<Tensor(const std::vector<Tensor>&)>;

// (f(x), J·v) in one forward pass: no backward pass, no graph kept.
struct JvpResult {
  Tensor output;   // f(x)
  Tensor tangent;  // J v, shaped like the output
};
JvpResult jvp(const TensorFn& f, const Tensor& x, const Tensor& v);
JvpResult jvp(const TensorsFn& f, const std::vector<Tensor>& primals, const std::vector<Tensor>& tangents);

// f(x) and the pullback u ↦ uᵀJ (one gradient per primal), callable many times.
struct VjpResult {
  Tensor output;
  std::function<std::vector<Tensor>(const Tensor& u)> pullback;
};
VjpResult vjp(const TensorsFn& f, const std::vector<Tensor>& primals);
VjpResult vjp(const TensorFn& f, const Tensor& x);

enum class JacobianLayout { numerator, denominator };
enum class JacobianMode { automatic, forward, reverse };
struct JacobianOptions {
  JacobianLayout layout = JacobianLayout::numerator;
  JacobianMode mode = JacobianMode::automatic;
  bool create_graph = false;  // reverse mode: the result is differentiable w.r.t. the inputs
};

// The Jacobian of f at x: [m, n] in numerator layout, [n, m] in denominator.
Tensor jacobian(const TensorFn& f, const Tensor& x, JacobianOptions opts = {});
// One block per input: [m, n_i] (numerator) or [n_i, m] (denominator).
std::vector<Tensor> jacobian(const TensorsFn& f, const std::vector<Tensor>& inputs, JacobianOptions opts = {});

// The Hessian of a scalar f at x, [n, n] (n = x.numel()), by forward-over-reverse:
// n tangent directions pushed through one gradient computation.
Tensor hessian(const TensorFn& f, const Tensor& x);
// H·v, shaped like x, by forward-over-reverse with one direction.
Tensor hvp(const TensorFn& f, const Tensor& x, const Tensor& v);

// diag(∂f/∂x) of an element-wise f (y_i depends on x_i only), shaped like x, in
// one forward pass with one tangent direction: O(n). Throws nabla::Error, naming
// the op, when f is not element-wise.
Tensor jacobian_diagonal(const TensorFn& f, const Tensor& x);

}  // namespace nabla
