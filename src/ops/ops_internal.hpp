// Private helpers shared by the op files: dtype/shape checks, the generic
// element-wise drivers, and scalar versions of the functions the derivative
// rules use, so that one rule text serves floats, Tensors (and symbols).
#pragma once

#include <cmath>
#include <concepts>
#include <initializer_list>

#include "../graph/forward.hpp"
#include "../graph/node.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/vmath.hpp"
#include "elementwise_rules.hpp"
#include "tangent.hpp"
#include "../tensor/tensor_impl.hpp"
#include "nabla/grad_mode.hpp"
#include "nabla/ops.hpp"

namespace nabla {

// ---- scalar counterparts of tensor functions (used by generic rules) --------
// (the element-wise ones are in elementwise_rules.hpp)
template <std::floating_point T, class U> inline T ge_mask(T a, U b) { return a >= b ? T(1) : T(0); }
template <std::floating_point T, class U> inline T lt_mask(T a, U b) { return a < b ? T(1) : T(0); }
template <std::floating_point T, class U> inline T le_mask(T a, U b) { return a <= b ? T(1) : T(0); }
template <std::floating_point T, class U> inline T gt_mask(T a, U b) { return a > b ? T(1) : T(0); }
template <std::floating_point T> inline T in_range(T x, double lo, double hi) {
  return (x >= lo && x <= hi) ? T(1) : T(0);
}

// Tensor versions not in the public API.
inline Tensor ge_mask(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor lt_mask(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor le_mask(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor gt_mask(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor ge_mask(const Tensor& a, double b);
Tensor le_mask(const Tensor& a, double b);
Tensor in_range(const Tensor& x, double lo, double hi);

// ---- checks -----------------------------------------------------------------
inline void check_defined(const Tensor& t, const char* op) {
  NABLA_CHECK(t.defined(), op, ": an input tensor is undefined");
}
inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op);
  check_defined(b, op);
  NABLA_CHECK_KIND(a.dtype() == b.dtype(), ErrorKind::dtype, op, ": dtypes differ (", a.dtype(), " ", a.shape(),
                   " and ", b.dtype(), " ", b.shape(), "); convert one with .to()");
}

// Strides of `t` seen through broadcasting to `shape` (0 on broadcast dims).
Dims broadcast_strides(const TensorImpl& t, const Shape& shape);

// ---- batched reverse mode -------------------------------------------------------
// A VJP may receive an upstream gradient with nb = g.dim() − (output rank)
// leading batch dims (jacobian's one batched backward pass); it then returns
// gradients of shape [batch..., ...input shape]. nb = 0 is the ordinary case.
inline int batch_dims(const Tensor& g, int out_rank) { return static_cast<int>(g.dim()) - out_rank; }
// The first nb extents of g followed by `shape`.
inline Shape batched_shape(const Tensor& g, int nb, const Shape& shape) {
  if (nb == 0) return shape;
  Shape s;
  for (int i = 0; i < nb; ++i) s.push_back(g.shape()[i]);
  for (int64_t e : shape) s.push_back(e);
  return s;
}
// sum_to that keeps the nb leading batch dims of x.
Tensor sum_to_batched(const Tensor& x, const Shape& shape, int nb);

// The transpose of the last two dims (a matrix or a batch of them); rank < 2 unchanged.
Tensor mT(const Tensor& t);

// Refuses in-place writes that autograd could not follow.
void check_inplace(const Tensor& t, const char* op);

// Must a VJP built from these tensors itself be differentiable (create_graph,
// or tangents flowing through it in forward-over-reverse)? If not, it may run
// fused kernels on the buffers.
inline bool differentiable(std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    if ((is_grad_enabled() && t->requires_grad()) || live_tangent(*t)) return true;
  return false;
}

// ---- generic element-wise drivers -----------------------------------------------
template <class Op>
Tensor unary_apply(const Op& op, const Tensor& x);
template <class Op>
Tensor binary_apply(const Op& op, const Tensor& a, const Tensor& b);

// A unary op is a struct with
//   const char* name;  template <class T> T f(T x) const;
//   template <class V> V df(const V& x, const V& y) const;  // ∂y/∂x as a function of x, y = f(x)
// The VJP is g ⊙ df(x, y) and the JVP ẋ ⊙ df(x, y): the Jacobian is diag(df), as
// in the notes (∂f(x)/∂x = diag(f'(x)) for element-wise f). df is written once
// and evaluated on scalars (fused kernels) or on Tensors (higher order).
// Large element-wise runs are split over the threads (kernels/elementwise.hpp,
// for_each_run).

template <class Op>
Tensor unary_forward(const Op& op, const Tensor& x) {
  const TensorImpl& xi = *x.impl();
  Tensor y = make_tensor(xi.shape, xi.dtype);
  dispatch(xi.dtype, [&]<class T>() {
    kernels::map1<T>(xi.shape, y.impl()->data<T>(), y.impl()->strides, xi.data<T>(), xi.strides,
                                  [&op](T v) { return op.template f<T>(v); });
  });
  return y;
}

// Note [Outputs in VJPs]: a VJP that reads its op's output y holds y's
// TensorImpl by plain pointer. Holding y itself would make a cycle (y owns
// its node, the node would own y), and holding a detached view of it costs a
// TensorImpl per op. The pointer is safe: the engine only reaches a node
// through a tensor whose grad_fn it is — a root the caller holds, or an input
// kept by a consumer node — and grad_fn is set once, when the op records
// (in-place updates of tensors in a graph are refused). y's values are
// guarded like any saved value: record() lists y, so an in-place write to it
// (under NoGradGuard) makes the VJP refuse to run.

// The dense diagonal batch [m, m] (marked diagonal) that a compact one, d of
// shape [m], stands for (Note [Compact diagonal batches] in src/graph/autograd_meta.hpp).
inline Tensor expand_diag(const Tensor& d) {
  const TensorImpl& di = *d.impl();
  const int64_t m = di.shape[0];
  Tensor out = zeros({m, m}, di.dtype);
  dispatch(di.dtype, [&]<class T>() {
    const T* dp = di.data<T>();
    T* o = out.impl()->data<T>();
    for (int64_t i = 0; i < m; ++i) o[i * (m + 1)] = dp[i * di.strides[0]];
  });
  set_diag_batch(out, true);
  return out;
}

// A vector's tangent [n, n] marked diagonal, diag(d): the n directions of
// hessian() and forward jacobian() (the identity), or what element-wise ops
// made of them (matmul_jvp then scales instead of multiplying).
inline bool diagonal_tangent(const Tensor& t) {
  return is_diag_batch(t) && t.dim() == 2 && t.shape()[0] == t.shape()[1];
}

// g ⊙ df(x, y) for a compact diagonal batch g (the diagonal d [m]) and x [m]:
// O(m) work and no zeros; the result is compact too.
template <class Op>
Tensor unary_scale_compact(const Op& op, const Tensor& g, const Tensor& x, const TensorImpl& yi) {
  const TensorImpl& gi = *g.impl();
  Tensor out = make_tensor(gi.shape, gi.dtype);
  dispatch(gi.dtype, [&]<class T>() {
    kernels::map3<T>(gi.shape, out.impl()->data<T>(), gi.data<T>(), gi.strides, x.impl()->data<T>(),
                     x.impl()->strides, yi.data<T>(), yi.strides,
                     [&op](T gv, T xv, T yv) { return gv * op.template df<T>(xv, yv); });
  });
  set_diag_compact(out);
  return out;
}

// g ⊙ df(x, y) for a diagonal batched gradient g [m, m] and x [m]: only the
// diagonal is computed (O(m) work and an O(m²) zero fill); the result stays diagonal.
template <class Op>
Tensor unary_scale_diag(const Op& op, const Tensor& g, const Tensor& x, const TensorImpl& yi) {
  const TensorImpl& gi = *g.impl();
  const int64_t m = gi.shape[0];
  Tensor out = zeros(gi.shape, gi.dtype);
  dispatch(gi.dtype, [&]<class T>() {
    const T* gp = gi.data<T>();
    const T* xp = x.impl()->data<T>();
    const T* yp = yi.data<T>();
    const int64_t gs = gi.strides[0] + gi.strides[1], xs = x.impl()->strides[0], ys = yi.strides[0];
    T* o = out.impl()->data<T>();
    for (int64_t i = 0; i < m; ++i) o[i * (m + 1)] = gp[i * gs] * op.template df<T>(xp[i * xs], yp[i * ys]);
  });
  set_diag_batch(out, true);
  return out;
}

// A number with a first-order tangent, for the second derivative of an
// element-wise rule: op.df<Dual>({x, 1}, {y, f'(x)}).d = d/dx f'(x) = f''(x).
// Only what the rules of nabla/elementwise.def use.
template <class T>
struct Dual {
  T v, d;
};
template <class T> Dual<T> operator+(Dual<T> a, Dual<T> b) { return {a.v + b.v, a.d + b.d}; }
template <class T> Dual<T> operator-(Dual<T> a, Dual<T> b) { return {a.v - b.v, a.d - b.d}; }
template <class T> Dual<T> operator*(Dual<T> a, Dual<T> b) { return {a.v * b.v, a.d * b.v + a.v * b.d}; }
template <class T> Dual<T> operator/(Dual<T> a, Dual<T> b) { return {a.v / b.v, (a.d * b.v - a.v * b.d) / (b.v * b.v)}; }
template <class T> Dual<T> operator-(Dual<T> a) { return {-a.v, -a.d}; }
template <class T> Dual<T> operator+(double c, Dual<T> a) { return {static_cast<T>(c) + a.v, a.d}; }
template <class T> Dual<T> operator-(double c, Dual<T> a) { return {static_cast<T>(c) - a.v, -a.d}; }
template <class T> Dual<T> operator*(double c, Dual<T> a) { return {static_cast<T>(c) * a.v, static_cast<T>(c) * a.d}; }
template <class T> Dual<T> operator/(double c, Dual<T> a) { return {static_cast<T>(c) / a.v, -static_cast<T>(c) * a.d / (a.v * a.v)}; }
template <class T> Dual<T> exp(Dual<T> a) { T e = std::exp(a.v); return {e, e * a.d}; }
template <class T> Dual<T> sqrt(Dual<T> a) { T r = std::sqrt(a.v); return {r, a.d / (T(2) * r)}; }
template <class T> Dual<T> sin(Dual<T> a) { return {std::sin(a.v), std::cos(a.v) * a.d}; }
template <class T> Dual<T> cos(Dual<T> a) { return {std::cos(a.v), -std::sin(a.v) * a.d}; }
template <class T> Dual<T> sinh(Dual<T> a) { return {std::sinh(a.v), std::cosh(a.v) * a.d}; }
template <class T> Dual<T> cosh(Dual<T> a) { return {std::cosh(a.v), std::sinh(a.v) * a.d}; }
template <class T> Dual<T> sigmoid(Dual<T> a) { T s = T(1) / (T(1) + std::exp(-a.v)); return {s, s * (T(1) - s) * a.d}; }
template <class T> Dual<T> sign(Dual<T> a) { return {T((a.v > 0) - (a.v < 0)), T(0)}; }
template <class T> Dual<T> step(Dual<T> a) { return {a.v > 0 ? T(1) : T(0), T(0)}; }

// Note [Second-order element-wise VJPs]: under forward-over-reverse without a
// graph to record (hessian(), hvp()), the VJP g ⊙ f'(x) needs its value and
// its tangent ġ ⊙ f'(x) + g ⊙ f''(x) ⊙ ẋ, no more. Taking f'' from the rule
// through Dual costs one pass over the directions, where recomputing y and
// f'(x, y) as ops with tangents of their own took five.
template <class Op>
Tensor unary_scale_second_order(const Op& op, const Tensor& g, const Tensor& x, const TensorImpl& yi) {
  const TensorImpl& gi = *g.impl();
  const TensorImpl& xi = *x.impl();
  Tensor out = make_tensor(gi.shape, gi.dtype), s = make_tensor(gi.shape, gi.dtype), df = make_tensor(gi.shape, gi.dtype);
  dispatch(gi.dtype, [&]<class T>() {
    const T* gp = gi.data<T>();
    const T* xp = xi.data<T>();
    const T* yp = yi.data<T>();
    T* o = out.impl()->data<T>();
    T* sp = s.impl()->data<T>();
    T* dp = df.impl()->data<T>();
    const int64_t gs = gi.strides[0], xs = xi.strides[0], ys = yi.strides[0];
    for (int64_t i = 0, n = gi.shape[0]; i < n; ++i) {
      const T xv = xp[i * xs], yv = yp[i * ys], d = op.template df<T>(xv, yv);
      const T d2 = op.template df<Dual<T>>(Dual<T>{xv, T(1)}, Dual<T>{yv, d}).d;
      o[i] = gp[i * gs] * d;
      sp[i] = gp[i * gs] * d2;
      dp[i] = d;
    }
  });
  jvp_rule(out, {&g, &x}, op.name, [&] {
    Tensor t;
    if (has_tangent(x)) t = tangent_of(x) * s;  // [k, n] ⊙ (g ⊙ f'')
    if (has_tangent(g)) t = t.defined() ? t + tangent_of(g) * df : tangent_of(g) * df;
    return t;
  }, true);
  return out;
}

// g ⊙ df(x, y), fused on scalars, or as a differentiable graph under create_graph.
// yi is the op's output (see Note [Outputs in VJPs]).
template <class Op>
Tensor unary_scale(const Op& op, const Tensor& g, const Tensor& x, const TensorImpl& yi) {
  if (is_diag_compact(g)) {
    if (!differentiable({&g, &x}) && x.dim() == 1 && g.numel() == x.numel()) return unary_scale_compact(op, g, x, yi);
    return unary_scale(op, expand_diag(g), x, yi);
  }
  if constexpr (requires { Op::dual_df; })
    if (!is_grad_enabled() && g.dim() == 1 && x.dim() == 1 && g.numel() == x.numel() && yi.shape.size() == 1 &&
        (live_tangent(g) || live_tangent(x)))
      return unary_scale_second_order(op, g, x, yi);  // Note [Second-order element-wise VJPs]
  if (differentiable({&g, &x})) return g * op.df(x, unary_apply(op, x));  // recompute y in the graph (and its tangent)
  const TensorImpl& gi = *g.impl();
  const TensorImpl& xi = *x.impl();
  if (is_diag_batch(gi) && gi.shape.size() == 2 && xi.shape.size() == 1 && gi.shape[0] == gi.shape[1] &&
      xi.shape[0] == gi.shape[0])
    return unary_scale_diag(op, g, x, yi);
  Tensor out = make_tensor(gi.shape, gi.dtype);
  // g may carry leading batch dims (batched reverse) or directions (forward mode)
  const bool same = xi.shape == gi.shape;
  Dims sx = same ? xi.strides : broadcast_strides(xi, gi.shape);
  Dims sy = same ? yi.strides : broadcast_strides(yi, gi.shape);
  dispatch(gi.dtype, [&]<class T>() {
    kernels::map3<T>(gi.shape, out.impl()->data<T>(), gi.data<T>(), gi.strides, xi.data<T>(), sx,
                                   yi.data<T>(), sy,
                                   [&op](T gv, T xv, T yv) { return gv * op.template df<T>(xv, yv); });
  });
  return out;
}

template <class Op>
Tensor unary_apply(const Op& op, const Tensor& x) {
  check_defined(x, op.name);
  Tensor y = unary_forward(op, x);
  // ẏ = ẋ ⊙ df(x, y): the same diagonal as the VJP
  jvp_rule(y, {&x}, op.name, [&] { return unary_scale(op, tangent_of(x), x, *y.impl()); }, true);
  if (should_record({&x})) {
    record(
        y, op.name, {&x},
        [op, x, yi = y.impl()](const Tensor& g, const VjpCtx& ctx) {
          ctx.set(0, unary_scale(op, g, x, *yi));  // Note [Outputs in VJPs]
        },
        {&x, &y});  // df may read y: changing either in place invalidates the VJP
    grad_fn_of(*y.impl())->takes_compact_diag = true;
  }
  return y;
}

// A binary op is a struct with f(a, b), da(a, b, y) and db(a, b, y): the
// diagonals of ∂y/∂a and ∂y/∂b. Inputs broadcast; the VJP sums the
// gradient back down to each input's shape (the notes' scalar expansion: ∂(x z)/∂z = x,
// summed: Σ g ⊙ x).
template <class Op>
Tensor binary_forward(const Op& op, const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, op.name);
  const TensorImpl& ai = *a.impl();
  const TensorImpl& bi = *b.impl();
  Shape shape = ai.shape == bi.shape ? ai.shape : broadcast_shapes(ai.shape, bi.shape, op.name);
  Tensor y = make_tensor(shape, ai.dtype);
  Dims sa = ai.shape == shape ? ai.strides : broadcast_strides(ai, shape);
  Dims sb = bi.shape == shape ? bi.strides : broadcast_strides(bi, shape);
  dispatch(ai.dtype, [&]<class T>() {
    kernels::map2<T>(shape, y.impl()->data<T>(), y.impl()->strides, ai.data<T>(), sa, bi.data<T>(), sb,
                     [&op](T u, T v) { return op.template f<T>(u, v); });
  });
  return y;
}

template <class Op, bool WrtA>
Tensor binary_scale(const Op& op, const Tensor& g, const Tensor& a, const Tensor& b, const TensorImpl& yi) {
  const int nb = batch_dims(g, yi.shape.size());
  const Shape& target = WrtA ? a.shape() : b.shape();
  if (differentiable({&g, &a, &b})) {
    Tensor yr = binary_apply(op, a, b);
    return sum_to_batched(g * (WrtA ? op.da(a, b, yr) : op.db(a, b, yr)), target, nb);
  }
  const TensorImpl& gi = *g.impl();
  Tensor out = make_tensor(gi.shape, gi.dtype);
  Dims sa = broadcast_strides(*a.impl(), gi.shape), sb = broadcast_strides(*b.impl(), gi.shape);
  Dims sy = nb == 0 ? yi.strides : broadcast_strides(yi, gi.shape);
  dispatch(gi.dtype, [&]<class T>() {
    const T* ap = a.impl()->data<T>();
    const T* bp = b.impl()->data<T>();
    const T* yp = yi.data<T>();
    T* op_out = out.impl()->data<T>();
    // Iterate g, a, b, y together: a 4-operand run over the output shape.
    std::array<Dims, 5> st{contiguous_strides(gi.shape), gi.strides, sa, sb, sy};
    kernels::for_each_run<T, 5>(gi.shape, st, {op_out, const_cast<T*>(gi.data<T>()), const_cast<T*>(ap),
                                               const_cast<T*>(bp), const_cast<T*>(yp)},
                                [&](std::array<T*, 5> p, std::array<int64_t, 5> s, int64_t n) {
                                  for (int64_t i = 0; i < n; ++i) {
                                    T av = p[2][i * s[2]], bv = p[3][i * s[3]], yv = p[4][i * s[4]];
                                    T d = WrtA ? op.template da<T>(av, bv, yv) : op.template db<T>(av, bv, yv);
                                    p[0][i * s[0]] = p[1][i * s[1]] * d;
                                  }
                                }, kernels::kParallelElements);
  });
  return sum_to_batched(out, target, nb);
}

template <class Op>
Tensor binary_apply(const Op& op, const Tensor& a, const Tensor& b) {
  Tensor y = binary_forward(op, a, b);
  // ẏ = ȧ ⊙ da + ḃ ⊙ db (each tangent aligned to y's rank past the direction axis)
  jvp_rule(y, {&a, &b}, op.name, [&] {
    const int r = y.dim();
    // a diagonal tangent of a vector y's own shape, scaled element-wise, stays diagonal
    auto keeps = [&](const Tensor& x) { return r == 1 && x.shape() == y.shape() && diagonal_tangent(tangent_of(x)); };
    Tensor t;
    bool diag = true;
    if (has_tangent(a)) {
      t = lift_tangent(tangent_of(a), r) * op.da(a, b, y);
      diag = keeps(a);
    }
    if (has_tangent(b)) {
      Tensor u = lift_tangent(tangent_of(b), r) * op.db(a, b, y);
      diag = diag && keeps(b);
      t = t.defined() ? t + u : u;
    }
    if (diag && t.dim() == 2) set_diag_batch(t, true);
    return t;
  }, (!has_tangent(a) || a.shape() == y.shape()) && (!has_tangent(b) || b.shape() == y.shape()));
  if (should_record({&a, &b})) {
    record(
        y, op.name, {&a, &b},
        [op, a, b, yi = y.impl()](const Tensor& g, const VjpCtx& ctx) {  // Note [Outputs in VJPs]
          if (ctx.need(0)) ctx.set(0, binary_scale<Op, true>(op, g, a, b, *yi));
          if (ctx.need(1)) ctx.set(1, binary_scale<Op, false>(op, g, a, b, *yi));
        },
        {&a, &b, &y});
  }
  return y;
}

}  // namespace nabla
