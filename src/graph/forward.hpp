// Private: forward mode's state. A tensor in forward mode carries a tangent of
// shape [k, ...shape]: k directions pushed through at once (dim 0 is the
// direction axis; plain jvp uses k = 1, jacobian k = n, hessian k = n). After
// its forward, every op whose inputs carry tangents calls jvp_rule() with its
// JVP, written with ops beside its VJP in src/ops/ (jvp_rule and the tangent
// helpers that compute with ops: src/ops/tangent.hpp; the transforms that seed
// tangents: src/autodiff/functional.cpp). There is one level of forward mode:
// the tangent rules themselves run with propagation suspended and record no
// reverse graph. Forward-over-reverse (hessian, hvp) works because VJPs are
// ops too and fall back from their fused kernels when a participant carries a
// live tangent.
//
// The diagonal probe: with k = 1 and a tangent of ones, an element-wise chain
// produces diag(∂y/∂x) in its tangent. While the probe is on, the first op that
// is not element-wise in a tangent-carrying input marks the probe broken and
// propagation stops, so jacobian() learns in one pass whether f is element-wise.
#pragma once

#include <initializer_list>

#include "../tensor/tensor_impl.hpp"
#include "autograd_meta.hpp"

namespace nabla {

struct ForwardState {
  int suspended = 0;     // > 0 inside a tangent rule
  bool probe = false;    // the diagonal probe is on
  bool broken = false;   // the probe met an op that is not element-wise
  const char* breaker = nullptr;  // that op's name
};
ForwardState& forward_state() noexcept;

inline bool has_tangent(const Tensor& t) noexcept {
  if (!t.defined()) return false;
  AutogradMeta* m = autograd_meta(*t.impl());
  return m && m->tangent.defined();
}
// A tangent that the op being run must propagate (not inside a tangent rule).
inline bool live_tangent(const Tensor& t) noexcept { return has_tangent(t) && forward_state().suspended == 0; }
// t's tangent (undefined when it has none).
const Tensor& tangent_of(const Tensor& t) noexcept;

// [k] followed by `shape`.
Shape tangent_shape(int64_t k, const Shape& shape);

// Should the op being run set its output's tangent? Not inside a tangent rule;
// under the diagonal probe only while every op so far was element-wise
// (`elementwise`: the op maps element i of every tangent-carrying input to
// element i of y only); a first op that is not breaks the probe.
bool tangent_wanted(std::initializer_list<const Tensor*> inputs, bool elementwise, const char* name);

struct SuspendForward {
  SuspendForward() { ++forward_state().suspended; }
  ~SuspendForward() { --forward_state().suspended; }
  SuspendForward(const SuspendForward&) = delete;
  SuspendForward& operator=(const SuspendForward&) = delete;
};

}  // namespace nabla
