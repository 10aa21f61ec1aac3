// Element-wise functions y = f(x). Each Jacobian is diagonal,
// ∂f(x)/∂x = diag(f'(x)) (element-wise vector functions), so each op states f
// and its derivative df(x, y) once; the VJP g ⊙ df and the JVP ẋ ⊙ df follow
// (ops_internal.hpp). The functions without parameters are the lines of
// nabla/elementwise.def (their rule structs: elementwise_rules.hpp); the ones
// with a parameter (a slope, an exponent, bounds) are declared here.
#include "ops_internal.hpp"

namespace nabla {
namespace {

struct LeakyReluOp {
  const char* name = "leaky_relu";
  double slope;
  template <class T> [[gnu::always_inline]] T f(T x) const { return x > 0 ? x : static_cast<T>(slope) * x; }
  // ∂/∂x = 1 for x > 0, slope for x ≤ 0
  template <class V> V df(const V& x, const V&) const { return slope + (1.0 - slope) * step(x); }
};
struct ClampOp {
  const char* name = "clamp";
  double lo, hi;  // ±inf when absent
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::min(std::max(x, static_cast<T>(lo)), static_cast<T>(hi)); }
  // ∂clamp(x)/∂x = 1 inside [lo, hi] (boundaries included, as PyTorch), 0 outside
  template <class V> V df(const V& x, const V&) const { return in_range(x, lo, hi); }
};
struct MaxScalarOp {
  const char* name = "maximum";
  double c;
  template <class T> [[gnu::always_inline]] T f(T x) const { return x >= static_cast<T>(c) ? x : static_cast<T>(c); }
  // ∂max(x, c)/∂x = 1 where x ≥ c (ties go to x, the first argument)
  template <class V> V df(const V& x, const V&) const { return ge_mask(x, c); }
};
struct MinScalarOp {
  const char* name = "minimum";
  double c;
  template <class T> [[gnu::always_inline]] T f(T x) const { return x <= static_cast<T>(c) ? x : static_cast<T>(c); }
  // ∂min(x, c)/∂x = 1 where x ≤ c (ties go to x)
  template <class V> V df(const V& x, const V&) const { return le_mask(x, c); }
};

// Non-differentiable element-wise maps (their derivative is 0 almost everywhere
// and nabla does not propagate through them).
template <class F>
Tensor map_nograd(const Tensor& x, const char* name, F f) {
  check_defined(x, name);
  const TensorImpl& xi = *x.impl();
  Tensor y = make_tensor(xi.shape, xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    kernels::map1<T>(xi.shape, y.impl()->data<T>(), y.impl()->strides, xi.data<T>(), xi.strides,
                     [&f](T v) { return static_cast<T>(f(static_cast<double>(v))); });
  });
  return y;
}

}  // namespace

// Note [Kinks]: at points where a function is not differentiable nabla uses one
// fixed subgradient: relu'(0) = 0 and step'(x) = 0 (seed 002 §5: "0 for z ≤ 0"),
// |x|'(0) = 0, clamp passes gradient at its boundaries, max/min reductions send
// the gradient to the first extremal element, and maximum(a, b) sends it to a
// on ties. Where the function is flat but its formula is not finite, the
// gradient is 0: ‖x‖ at x = 0, ∂aᵇ/∂b at a = 0 (b ≥ 0), x⁰ at x = 0.

#define NABLA_ELEMENTWISE(NAME, ...) \
  Tensor NAME(const Tensor& x) { return unary_apply(NAME##_rule{}, x); }
#include "nabla/elementwise.def"

Tensor leaky_relu(const Tensor& x, double s) { return unary_apply(LeakyReluOp{"leaky_relu", s}, x); }
Tensor pow(const Tensor& x, double p) { return unary_apply(pow_rule{"pow", p}, x); }
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  NABLA_CHECK(!(l > h), "clamp: lower bound ", l, " exceeds upper bound ", h);
  return unary_apply(ClampOp{"clamp", l, h}, x);
}
Tensor maximum(const Tensor& x, double c) { return unary_apply(MaxScalarOp{"maximum", c}, x); }
Tensor minimum(const Tensor& x, double c) { return unary_apply(MinScalarOp{"minimum", c}, x); }

Tensor ge_mask(const Tensor& x, double c) { return map_nograd(x, "ge", [c](double v) { return v >= c ? 1.0 : 0.0; }); }
Tensor le_mask(const Tensor& x, double c) { return map_nograd(x, "le", [c](double v) { return v <= c ? 1.0 : 0.0; }); }
Tensor in_range(const Tensor& x, double lo, double hi) {
  return map_nograd(x, "clamp", [lo, hi](double v) { return v >= lo && v <= hi ? 1.0 : 0.0; });
}

}  // namespace nabla
