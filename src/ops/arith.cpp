// Arithmetic with broadcasting: add, sub, mul, div, neg, pow, maximum, minimum,
// the C++ operators, and the in-place updates optimizers use.
//
// Broadcasting is the notes' scalar expansion (seed 002 §4.3): y = x + z with a
// scalar z is x + 1⃗z, so ∂y/∂x = I and ∂y/∂z = 1⃗; the VJP of a broadcast
// input sums the upstream gradient over the expanded dimensions (sum_to).
#include "ops_internal.hpp"

namespace nabla {
namespace {

struct AddF {
  const char* name = "add";
  template <class T> T f(T a, T b) const { return a + b; }
};
struct SubF {
  const char* name = "sub";
  template <class T> T f(T a, T b) const { return a - b; }
};
struct NegF {
  const char* name = "neg";
  template <class T> T f(T x) const { return -x; }
};
struct MulOp {
  const char* name = "mul";
  template <class T> T f(T a, T b) const { return a * b; }
  // ∂(a⊙b)/∂a = diag(b), ∂(a⊙b)/∂b = diag(a)   (seed 002 §4.2; with scalar b: ∂(xz)/∂x = Iz, ∂(xz)/∂z = x)
  template <class V> V da(const V&, const V& b, const V&) const { return b; }
  template <class V> V db(const V& a, const V&, const V&) const { return a; }
};
struct DivOp {
  const char* name = "div";
  template <class T> T f(T a, T b) const { return a / b; }
  // ∂(a/b)/∂a = diag(1/b), ∂(a/b)/∂b = diag(−a/b²) = diag(−y/b)
  template <class V> V da(const V&, const V& b, const V&) const { return 1.0 / b; }
  template <class V> V db(const V&, const V& b, const V& y) const { return -y / b; }
};
struct PowOp {
  const char* name = "pow";
  template <class T> T f(T a, T b) const { return std::pow(a, b); }
  // ∂aᵇ/∂a = b aᵇ⁻¹, ∂aᵇ/∂b = aᵇ ln a, taken as 0 at a = 0 for b ≥ 0 (aᵇ is constant
  // there, while ln 0 = −∞ would give 0·∞ = nan)
  template <class V> V da(const V& a, const V& b, const V&) const { return b * pow(a, b - 1.0); }
  template <class V> V db(const V& a, const V& b, const V& y) const { return y * log_base(a, b); }
  template <std::floating_point T> static T log_base(T a, T b) { return a == 0 && b >= 0 ? T(0) : std::log(a); }
  static Tensor log_base(const Tensor& a, const Tensor& b) {
    Tensor zero = zeros({}, a.dtype());
    return log(where(eq(a, zero) * ge(b, zero), ones({}, a.dtype()), a));
  }
};
struct MaximumOp {
  const char* name = "maximum";
  template <class T> T f(T a, T b) const { return a >= b ? a : b; }
  // ∂max(a,b)/∂a = diag([a ≥ b]), ∂/∂b = diag([a < b]): ties go to a (Note [Kinks])
  template <class V> V da(const V& a, const V& b, const V&) const { return ge_mask(a, b); }
  template <class V> V db(const V& a, const V& b, const V&) const { return lt_mask(a, b); }
};
struct MinimumOp {
  const char* name = "minimum";
  template <class T> T f(T a, T b) const { return a <= b ? a : b; }
  // ∂min(a,b)/∂a = diag([a ≤ b]), ∂/∂b = diag([a > b])
  template <class V> V da(const V& a, const V& b, const V&) const { return le_mask(a, b); }
  template <class V> V db(const V& a, const V& b, const V&) const { return gt_mask(a, b); }
};

// ȧ + sign·ḃ, each aligned to rank r past the direction axis (either may be absent).
Tensor tangent_sum(const Tensor& a, const Tensor& b, int r, double sign) {
  Tensor t;
  if (has_tangent(a)) t = lift_tangent(tangent_of(a), r);
  if (has_tangent(b)) {
    Tensor u = lift_tangent(tangent_of(b), r);
    t = t.defined() ? (sign > 0 ? t + u : t - u) : (sign > 0 ? u : neg(u));
  }
  return t;
}
// Does y[i] depend on element i of each tangent-carrying input only?
bool elementwise_in(const Tensor& a, const Tensor& b, const Tensor& y) {
  return (!has_tangent(a) || a.shape() == y.shape()) && (!has_tangent(b) || b.shape() == y.shape());
}

Tensor scalar_like(double v, const Tensor& t) {
  check_defined(t, "scalar operand");
  return full({}, v, t.dtype());
}

}  // namespace

Dims broadcast_strides(const TensorImpl& t, const Shape& shape) {
  Dims st = Dims::filled(shape.size(), 0);
  int off = shape.size() - t.shape.size();
  for (int i = 0; i < t.shape.size(); ++i) st[off + i] = t.shape[i] == 1 ? 0 : t.strides[i];
  return st;
}

// y = a + b: ∂y/∂a = I, ∂y/∂b = I (summed over broadcast dims)
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(AddF{}, a, b);
  if (should_record({&a, &b}))
    record(y, "add", {&a, &b}, [sa = a.shape(), sb = b.shape(), r = y.dim()](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, r);
      if (ctx.need(0)) ctx.set(0, sum_to_batched(g, sa, nb));
      if (ctx.need(1)) ctx.set(1, sum_to_batched(g, sb, nb));
    });
  // ẏ = ȧ + ḃ
  jvp_rule(y, {&a, &b}, "add", [&] { return tangent_sum(a, b, y.dim(), 1.0); }, elementwise_in(a, b, y));
  return y;
}

// y = a − b: ∂y/∂a = I, ∂y/∂b = −I
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(SubF{}, a, b);
  if (should_record({&a, &b}))
    record(y, "sub", {&a, &b}, [sa = a.shape(), sb = b.shape(), r = y.dim()](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, r);
      if (ctx.need(0)) ctx.set(0, sum_to_batched(g, sa, nb));
      if (ctx.need(1)) ctx.set(1, neg(sum_to_batched(g, sb, nb)));
    });
  // ẏ = ȧ − ḃ
  jvp_rule(y, {&a, &b}, "sub", [&] { return tangent_sum(a, b, y.dim(), -1.0); }, elementwise_in(a, b, y));
  return y;
}

// y = −a: ∂y/∂a = −I
Tensor neg(const Tensor& a) {
  check_defined(a, "neg");
  Tensor y = unary_forward(NegF{}, a);
  if (should_record({&a}))
    record(y, "neg", {&a}, [](const Tensor& g, const VjpCtx& ctx) { ctx.set(0, neg(g)); });
  // ẏ = −ȧ
  jvp_rule(y, {&a}, "neg", [&] { return neg(tangent_of(a)); }, true);
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) { return binary_apply(MulOp{}, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_apply(DivOp{}, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_apply(PowOp{}, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_apply(MaximumOp{}, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_apply(MinimumOp{}, a, b); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

// ---- in-place -------------------------------------------------------------------

void check_inplace(const Tensor& t, const char* op) {
  check_defined(t, op);
  NABLA_CHECK_KIND(!(is_grad_enabled() && t.requires_grad()), ErrorKind::autograd, op,
                   ": in-place update of a tensor that requires grad (shape ", t.shape(),
                   ") would invalidate its graph; use the out-of-place op, or update under NoGradGuard");
}

namespace {
template <class F>
Tensor& inplace2(Tensor& self, const Tensor& other, const char* op, F f) {
  check_inplace(self, op);
  check_same_dtype(self, other, op);
  TensorImpl& s = *self.impl();
  const TensorImpl& o = *other.impl();
  Shape bs = broadcast_shapes(s.shape, o.shape, op);
  NABLA_CHECK_KIND(bs == s.shape, ErrorKind::shape, op, ": cannot update a tensor of shape ", s.shape,
                   " in place with one of shape ", o.shape);
  Dims so = broadcast_strides(o, s.shape);
  dispatch(s.dtype, [&]<class T>() {
    kernels::map2<T>(s.shape, s.data<T>(), s.strides, s.data<T>(), s.strides, o.data<T>(), so,
                     [&f](T u, T v) { return static_cast<T>(f(u, v)); });
  });
  ++s.storage->version;
  set_diag_batch(s, false);
  return self;
}
template <class F>
Tensor& inplace1(Tensor& self, const char* op, F f) {
  check_inplace(self, op);
  TensorImpl& s = *self.impl();
  dispatch(s.dtype, [&]<class T>() {
    kernels::map1<T>(s.shape, s.data<T>(), s.strides, s.data<T>(), s.strides,
                     [&f](T u) { return static_cast<T>(f(u)); });
  });
  ++s.storage->version;
  set_diag_batch(s, false);
  return self;
}
}  // namespace

Tensor& Tensor::zero_() { return fill_(0.0); }
Tensor& Tensor::fill_(double v) { return inplace1(*this, "fill_", [v](auto) { return v; }); }
Tensor& Tensor::copy_(const Tensor& src) {
  return inplace2(*this, src, "copy_", [](auto, auto v) { return v; });
}
Tensor& Tensor::add_(const Tensor& o, double alpha) {
  if (alpha == 1.0) return inplace2(*this, o, "add_", [](auto u, auto v) { return u + v; });
  return inplace2(*this, o, "add_", [alpha](auto u, auto v) { return u + static_cast<decltype(u)>(alpha) * v; });
}
Tensor& Tensor::add_(double v) { return inplace1(*this, "add_", [v](auto u) { return u + static_cast<decltype(u)>(v); }); }
Tensor& Tensor::sub_(const Tensor& o, double alpha) { return add_(o, -alpha); }
Tensor& Tensor::mul_(const Tensor& o) { return inplace2(*this, o, "mul_", [](auto u, auto v) { return u * v; }); }
Tensor& Tensor::mul_(double v) { return inplace1(*this, "mul_", [v](auto u) { return u * static_cast<decltype(u)>(v); }); }
Tensor& Tensor::div_(const Tensor& o) { return inplace2(*this, o, "div_", [](auto u, auto v) { return u / v; }); }
Tensor& Tensor::div_(double v) { return inplace1(*this, "div_", [v](auto u) { return u / static_cast<decltype(u)>(v); }); }

}  // namespace nabla
