// Private: forward mode. A tensor in forward mode carries a tangent of shape
// [k, ...shape]: k directions pushed through at once (dim 0 is the direction
// axis; plain jvp uses k = 1, jacobian k = n, hessian k = n). After its forward,
// every op whose inputs carry tangents calls jvp_rule() with its JVP, written
// with ops beside its VJP in src/ops/. There is one level of forward mode: the
// tangent rules themselves run with propagation suspended and record no reverse
// graph. Forward-over-reverse (hessian, hvp) works because VJPs are ops too and
// fall back from their fused kernels when a participant carries a live tangent.
//
// The diagonal probe: with k = 1 and a tangent of ones, an element-wise chain
// produces diag(∂y/∂x) in its tangent. While the probe is on, the first op that
// is not element-wise in a tangent-carrying input marks the probe broken and
// propagation stops, so jacobian() learns in one pass whether f is element-wise.
#pragma once

#include <initializer_list>
#include <vector>

#include "../tensor/tensor_impl.hpp"
#include "nabla/autograd.hpp"

namespace nabla {

struct ForwardState {
  int suspended = 0;     // > 0 inside a tangent rule
  bool probe = false;    // the diagonal probe is on
  bool broken = false;   // the probe met an op that is not element-wise
  const char* breaker = nullptr;  // that op's name
};
ForwardState& forward_state() noexcept;

inline bool has_tangent(const Tensor& t) noexcept { return t.defined() && t.impl()->tangent.defined(); }
// A tangent that the op being run must propagate (not inside a tangent rule).
inline bool live_tangent(const Tensor& t) noexcept { return has_tangent(t) && forward_state().suspended == 0; }
inline const Tensor& tangent_of(const Tensor& t) { return t.impl()->tangent; }

// Tangent t of shape [k, s...] seen as [k, 1, …, 1, s...] of rank 1 + r, so
// that it broadcasts against a primal of rank r (right-aligned) past dim 0.
Tensor lift_tangent(const Tensor& t, int r);
// [k] followed by `shape`.
Shape tangent_shape(int64_t k, const Shape& shape);

// Sets y's tangent from rule() when some input carries a tangent. `elementwise`:
// the op maps element i of every tangent-carrying input to element i of y only.
void set_tangent(Tensor& y, Tensor t);
bool tangent_wanted(std::initializer_list<const Tensor*> inputs, bool elementwise, const char* name);

struct SuspendForward {
  SuspendForward() { ++forward_state().suspended; }
  ~SuspendForward() { --forward_state().suspended; }
  SuspendForward(const SuspendForward&) = delete;
  SuspendForward& operator=(const SuspendForward&) = delete;
};

template <class F>
void jvp_rule(Tensor& y, std::initializer_list<const Tensor*> inputs, const char* name, F&& rule,
              bool elementwise = false) {
  bool any = false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->impl()->tangent.defined()) any = true;
  if (!any || !tangent_wanted(inputs, elementwise, name)) return;
  for (const Tensor* t : inputs)
    if (t->is_same(y)) return;  // the op handed back its input: the tangent is already there
  SuspendForward off;
  NoGradGuard ng;  // tangents carry no reverse graph (forward-over-reverse is the supported nesting)
  set_tangent(y, rule());
}

// Batched reverse mode: the engine entry point that accepts upstream gradients
// with `nb` leading batch dims ([b..., ...output shape]) and returns gradients
// of shape [b..., ...input shape] (zeros for unused inputs).
std::vector<Tensor> grad_batched(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                 const std::vector<Tensor>& grad_outputs, int nb, bool create_graph);

}  // namespace nabla
