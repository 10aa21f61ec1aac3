// Element-wise functions y = f(x). Each Jacobian is diagonal,
// ∂f(x)/∂x = diag(f'(x)) (seed 003, "element-wise vector functions"), so each op
// states f and its derivative df(x, y) once; the VJP g ⊙ df and the JVP ẋ ⊙ df
// follow (ops_internal.hpp).
#include "ops_internal.hpp"

namespace nabla {
namespace {

struct ExpOp {
  const char* name = "exp";
  template <class T> [[gnu::always_inline]] T f(T x) const { return kernels::vm::exp(x); }
  // ∂eˣ/∂x = eˣ = y
  template <class V> V df(const V&, const V& y) const { return y; }
};
struct LogOp {
  const char* name = "log";
  template <class T> [[gnu::always_inline]] T f(T x) const { return kernels::vm::log(x); }
  // ∂ln x/∂x = 1/x
  template <class V> V df(const V& x, const V&) const { return 1.0 / x; }
};
struct SqrtOp {
  const char* name = "sqrt";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::sqrt(x); }
  // ∂√x/∂x = 1/(2√x) = 0.5/y
  template <class V> V df(const V&, const V& y) const { return 0.5 / y; }
};
struct AbsOp {
  const char* name = "abs";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::fabs(x); }
  // ∂|x|/∂x = sign(x); we take sign(0) = 0 (a subgradient), see Note [Kinks]
  template <class V> V df(const V& x, const V&) const { return sign(x); }
};
struct SinOp {
  const char* name = "sin";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::sin(x); }
  // ∂sin x/∂x = cos x
  template <class V> V df(const V& x, const V&) const { return cos(x); }
};
struct CosOp {
  const char* name = "cos";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::cos(x); }
  // ∂cos x/∂x = −sin x
  template <class V> V df(const V& x, const V&) const { return -sin(x); }
};
struct SinhOp {
  const char* name = "sinh";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::sinh(x); }
  // ∂sinh x/∂x = cosh x
  template <class V> V df(const V& x, const V&) const { return cosh(x); }
};
struct CoshOp {
  const char* name = "cosh";
  template <class T> [[gnu::always_inline]] T f(T x) const { return std::cosh(x); }
  // ∂cosh x/∂x = sinh x
  template <class V> V df(const V& x, const V&) const { return sinh(x); }
};
struct TanhOp {
  const char* name = "tanh";
  template <class T> [[gnu::always_inline]] T f(T x) const { return kernels::vm::tanh(x); }
  // ∂tanh x/∂x = 1/cosh²x = 1 − tanh²x = 1 − y²   (seed 004 §6)
  template <class V> V df(const V&, const V& y) const { return 1.0 - y * y; }
};
struct SigmoidOp {
  const char* name = "sigmoid";
  template <class T> [[gnu::always_inline]] T f(T x) const { return nabla::sigmoid(x); }
  // σ'(x) = σ(x)(1 − σ(x)) = y(1 − y)   (seed 003, logistic function)
  template <class V> V df(const V&, const V& y) const { return y * (1.0 - y); }
};
struct ReluOp {
  const char* name = "relu";
  template <class T> [[gnu::always_inline]] T f(T x) const { return x > 0 ? x : T(0); }
  // ∂max(0, z)/∂z = 0 for z ≤ 0, 1 for z > 0   (seed 002 §5; relu'(0) = 0)
  template <class V> V df(const V& x, const V&) const { return step(x); }
};
struct LeakyReluOp {
  const char* name = "leaky_relu";
  double slope;
  template <class T> [[gnu::always_inline]] T f(T x) const { return x > 0 ? x : static_cast<T>(slope) * x; }
  // ∂/∂x = 1 for x > 0, slope for x ≤ 0
  template <class V> V df(const V& x, const V&) const { return slope + (1.0 - slope) * step(x); }
};
struct SoftplusOp {
  const char* name = "softplus";
  // log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), exact and overflow-free
  template <class T> [[gnu::always_inline]] T f(T x) const { return kernels::vm::softplus(x); }
  // ∂softplus(x)/∂x = σ(x)
  template <class V> V df(const V& x, const V&) const { return sigmoid(x); }
};
struct SquareOp {
  const char* name = "square";
  template <class T> [[gnu::always_inline]] T f(T x) const { return x * x; }
  // ∂x²/∂x = 2x
  template <class V> V df(const V& x, const V&) const { return 2.0 * x; }
};
struct PowScalarOp {
  const char* name = "pow";
  double p;
  template <class T> [[gnu::always_inline]] T f(T x) const {
    if (p == 2) return x * x;
    if (p == 1) return x;
    return std::pow(x, static_cast<T>(p));
  }
  // ∂xⁿ/∂x = n xⁿ⁻¹   (seed 002 §2, the power rule)
  template <class V> V df(const V& x, const V&) const {
    if (p == 0) return 0.0 * x;  // x⁰ = 1 everywhere, also at 0 (where 0·0⁻¹ would be nan)
    if (p == 1) return 0.0 * x + 1.0;
    if (p == 2) return 2.0 * x;
    return p * pow(x, p - 1);
  }
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

Tensor exp(const Tensor& x) { return unary_apply(ExpOp{}, x); }
Tensor log(const Tensor& x) { return unary_apply(LogOp{}, x); }
Tensor sqrt(const Tensor& x) { return unary_apply(SqrtOp{}, x); }
Tensor abs(const Tensor& x) { return unary_apply(AbsOp{}, x); }
Tensor sin(const Tensor& x) { return unary_apply(SinOp{}, x); }
Tensor cos(const Tensor& x) { return unary_apply(CosOp{}, x); }
Tensor sinh(const Tensor& x) { return unary_apply(SinhOp{}, x); }
Tensor cosh(const Tensor& x) { return unary_apply(CoshOp{}, x); }
Tensor tanh(const Tensor& x) { return unary_apply(TanhOp{}, x); }
Tensor sigmoid(const Tensor& x) { return unary_apply(SigmoidOp{}, x); }
Tensor relu(const Tensor& x) { return unary_apply(ReluOp{}, x); }
Tensor leaky_relu(const Tensor& x, double s) { return unary_apply(LeakyReluOp{"leaky_relu", s}, x); }
Tensor softplus(const Tensor& x) { return unary_apply(SoftplusOp{}, x); }
Tensor square(const Tensor& x) { return unary_apply(SquareOp{}, x); }
Tensor pow(const Tensor& x, double p) { return unary_apply(PowScalarOp{"pow", p}, x); }
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  double l = lo.value_or(-INFINITY), h = hi.value_or(INFINITY);
  NABLA_CHECK(!(l > h), "clamp: lower bound ", l, " exceeds upper bound ", h);
  return unary_apply(ClampOp{"clamp", l, h}, x);
}
Tensor maximum(const Tensor& x, double c) { return unary_apply(MaxScalarOp{"maximum", c}, x); }
Tensor minimum(const Tensor& x, double c) { return unary_apply(MinScalarOp{"minimum", c}, x); }

Tensor step(const Tensor& x) { return map_nograd(x, "step", [](double v) { return v > 0 ? 1.0 : 0.0; }); }
Tensor sign(const Tensor& x) { return map_nograd(x, "sign", [](double v) { return double((v > 0) - (v < 0)); }); }
Tensor ge_mask(const Tensor& x, double c) { return map_nograd(x, "ge", [c](double v) { return v >= c ? 1.0 : 0.0; }); }
Tensor le_mask(const Tensor& x, double c) { return map_nograd(x, "le", [c](double v) { return v <= c ? 1.0 : 0.0; }); }
Tensor in_range(const Tensor& x, double lo, double hi) {
  return map_nograd(x, "clamp", [lo, hi](double v) { return v >= lo && v <= hi ? 1.0 : 0.0; });
}

}  // namespace nabla
