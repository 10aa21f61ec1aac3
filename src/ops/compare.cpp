// Comparisons (0/1 results in the operands' dtype, no gradient) and where,
// whose gradient flows to the selected branch only (none through the condition).
#include "ops_internal.hpp"

namespace nabla {
namespace {

template <class P>
struct CmpF {
  const char* name;
  template <class T> T f(T a, T b) const { return P{}(a, b) ? T(1) : T(0); }
};

template <class P>
Tensor compare(const Tensor& a, const Tensor& b, const char* name) {
  return binary_forward(CmpF<P>{name}, a, b);
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare<std::equal_to<>>(a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare<std::not_equal_to<>>(a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare<std::less<>>(a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return compare<std::less_equal<>>(a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare<std::greater<>>(a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare<std::greater_equal<>>(a, b, "ge"); }

// y = where(c, a, b): ∂y/∂a = diag([c ≠ 0]), ∂y/∂b = diag([c = 0]); c gets none.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "where");
  check_defined(cond, "where");
  Tensor c = cond.dtype() == a.dtype() ? cond.detach() : cond.detach().to(a.dtype());
  Shape s = broadcast_shapes(broadcast_shapes(c.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor y = make_tensor(s, a.dtype());
  dispatch(a.dtype(), [&]<class T>() {
    kernels::map3<T>(s, y.impl()->data<T>(), c.impl()->data<T>(), broadcast_strides(*c.impl(), s),
                     a.impl()->data<T>(), broadcast_strides(*a.impl(), s), b.impl()->data<T>(),
                     broadcast_strides(*b.impl(), s), [](T k, T u, T v) { return k != T(0) ? u : v; });
  });
  if (should_record({&a, &b}))
    record(y, "where", {&a, &b}, [c, sa = a.shape(), sb = b.shape(), r = y.dim()](const Tensor& g, const VjpCtx& ctx) {
      Tensor z = zeros({}, g.dtype());
      const int nb = batch_dims(g, r);
      if (ctx.need(0)) ctx.set(0, sum_to_batched(where(c, g, z), sa, nb));
      if (ctx.need(1)) ctx.set(1, sum_to_batched(where(c, z, g), sb, nb));
    }, {&cond});  // c may share cond's storage: changing cond in place would reroute the gradient
  // ẏ = where(c, ȧ, ḃ)
  jvp_rule(y, {&a, &b}, "where", [&] {
    const int r = y.dim();
    Tensor z = zeros({}, a.dtype());
    return where(c, has_tangent(a) ? lift_tangent(tangent_of(a), r) : z, has_tangent(b) ? lift_tangent(tangent_of(b), r) : z);
  }, (!has_tangent(a) || a.shape() == y.shape()) && (!has_tangent(b) || b.shape() == y.shape()));
  return y;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  check_defined(a, "allclose");
  check_defined(b, "allclose");
  if (a.shape() != b.shape()) return false;
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]))) return false;
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  check_defined(a, "equal");
  check_defined(b, "equal");
  return a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}

}  // namespace nabla
