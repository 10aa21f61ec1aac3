// Linear algebra: matmul (all rank combinations), dot, outer, trace, diag,
// diagflat, linear. Products go through kernels::gemm (BLAS), never a loop.
//
// ∂(Ax)/∂x = A in numerator layout (seed 002/003); for Y = A B the VJPs are
// Ḡ Bᵀ and Aᵀ Ḡ (seed 004: ∂L/∂A_i = K_i Y_{i−1}ᵀ).
#include "../kernels/gemm.hpp"
#include "matrix_rules.hpp"
#include "ops_internal.hpp"

namespace nabla {
namespace {

// A 2-d matrix as BLAS sees it: the tensor whose buffer to pass (t itself, or
// a contiguous copy of it), transpose flag, leading dimension.
struct GemmArg {
  Tensor t;
  bool trans = false;
  int64_t ld = 1;
};

// rows×cols view of t with element strides (rs, cs) → BLAS operand; a
// contiguous copy when the layout is neither row- nor column-major.
GemmArg gemm_arg(const Tensor& t, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (cs == 1 && (rows <= 1 || rs >= std::max<int64_t>(cols, 1))) return {t, false, rows <= 1 ? std::max<int64_t>(cols, 1) : rs};
  if (rs == 1 && (cols <= 1 || cs >= std::max<int64_t>(rows, 1))) return {t, true, cols <= 1 ? std::max<int64_t>(rows, 1) : cs};
  return {t.detach().contiguous(), false, std::max<int64_t>(cols, 1)};
}

// C[b] = A[b] · B[b] for 3-d operands (batch stride 0 broadcasts).
void batched_gemm(const Tensor& a, const Tensor& b, Tensor& c) {
  const TensorImpl& ai = *a.impl();
  const TensorImpl& bi = *b.impl();
  int64_t batch = c.shape()[0], M = c.shape()[1], N = c.shape()[2], K = ai.shape[2];
  GemmArg ga = gemm_arg(a, M, K, ai.strides[1], ai.strides[2]);
  GemmArg gb = gemm_arg(b, K, N, bi.strides[1], bi.strides[2]);
  const Tensor& ac = ga.t;
  const Tensor& bc = gb.t;
  int64_t sa = ai.shape[0] == 1 ? 0 : ac.impl()->strides[0];
  int64_t sb = bi.shape[0] == 1 ? 0 : bc.impl()->strides[0];
  if (M == 0 || N == 0) return;
  dispatch(ai.dtype, [&]<class T>() {
    const T* pa = ac.impl()->data<T>();
    const T* pb = bc.impl()->data<T>();
    T* pc = c.impl()->data<T>();
    for (int64_t i = 0; i < batch; ++i)
      kernels::gemm<T>(ga.trans, gb.trans, M, N, K, T(1), pa + i * sa, ga.ld, pb + i * sb, gb.ld, T(0),
                       pc + i * M * N, std::max<int64_t>(N, 1));
  });
}

// Operands of rank 1 or 2: one GEMM straight on the buffers, with no views in
// between (a vector is a 1×K row on the left, a K×1 column on the right). For
// small tensors the views cost more than the product itself.
Tensor matmul_2d(const Tensor& a, const Tensor& b) {
  const TensorImpl& ai = *a.impl();
  const TensorImpl& bi = *b.impl();
  const int ra = ai.shape.size(), rb = bi.shape.size();
  const int64_t M = ra == 1 ? 1 : ai.shape[0], K = ai.shape[ra - 1], N = rb == 1 ? 1 : bi.shape[1];
  Shape out;
  if (ra == 2) out.push_back(M);
  if (rb == 2) out.push_back(N);
  Tensor c = make_tensor(out, ai.dtype);
  if (M == 0 || N == 0) return c;
  if (K == 0) return c.zero_();
  // (row stride, column stride) of each operand as a matrix
  const int64_t ars = ra == 1 ? 0 : ai.strides[0], acs = ai.strides[ra - 1];
  const int64_t brs = bi.strides[0], bcs = rb == 1 ? 0 : bi.strides[1];
  GemmArg ga = gemm_arg(a, M, K, ars, acs);
  GemmArg gb = gemm_arg(b, K, N, brs, bcs);
  dispatch(ai.dtype, [&]<class T>() {
    kernels::gemm<T>(ga.trans, gb.trans, M, N, K, T(1), ga.t.impl()->data<T>(), ga.ld, gb.t.impl()->data<T>(), gb.ld,
                     T(0), c.impl()->data<T>(), std::max<int64_t>(N, 1));
  });
  return c;
}

// Forward only: the product of a and b, whose ranks are 1 or 2 or (batched) 3+.
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  int ra = sa.size(), rb = sb.size();
  NABLA_CHECK_KIND(ra >= 1 && rb >= 1, ErrorKind::shape, "matmul: both operands need rank ≥ 1, got ", sa, " and ", sb);
  int64_t ka = sa[ra - 1], kb = rb == 1 ? sb[0] : sb[rb - 2];
  NABLA_CHECK_KIND(ka == kb, ErrorKind::shape, "matmul: shapes ", sa, " and ", sb, " do not align (", ka, " != ", kb, ")");
  if (ra <= 2 && rb <= 2) return matmul_2d(a, b);
  // View both as 3-d [batch, rows, cols] (detached: the graph is recorded by the caller).
  Tensor a3 = a.detach(), b3 = b.detach();
  int64_t M = ra == 1 ? 1 : sa[ra - 2], N = rb == 1 ? 1 : sb[rb - 1], K = ka;
  if (ra == 1) a3 = make_view(a3, {1, 1, K}, {0, 0, a.strides()[0]}, a.storage_offset());
  if (rb == 1) b3 = make_view(b3, {1, K, 1}, {0, b.strides()[0], 0}, b.storage_offset());
  Shape batch_a, batch_b;
  for (int i = 0; i + 2 < ra; ++i) batch_a.push_back(sa[i]);
  for (int i = 0; i + 2 < rb; ++i) batch_b.push_back(sb[i]);
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  int64_t nb = numel(batch);
  auto to3 = [&](Tensor t, const Shape& bs, int64_t r, int64_t c) -> Tensor {
    if (t.dim() == 3 && bs.size() == 1 && bs == batch) return t;
    if (bs.empty()) {  // a plain matrix, broadcast over the batch with stride 0
      if (t.dim() == 3) return t;
      return make_view(t, {1, r, c}, {0, t.strides()[0], t.strides()[1]}, t.storage_offset());
    }
    Shape full = batch;
    full.push_back(r);
    full.push_back(c);
    return t.expand(full).contiguous().detach().view({nb, r, c});
  };
  if (ra >= 2) a3 = to3(a3, batch_a, M, K);
  if (rb >= 2) b3 = to3(b3, batch_b, K, N);
  Tensor c = make_tensor({nb, M, N}, a.dtype());
  if (K == 0) c.zero_();
  else batched_gemm(a3, b3, c);
  Shape out = batch;
  if (ra >= 2) out.push_back(M);
  if (rb >= 2) out.push_back(N);
  return c.view(out);
}

// Rows o[i, :] = u[i·us] · v[0:n] (v dense, nothing aliased): the compiler
// vectorizes the row loop without runtime alias checks.
template <class T>
void outer_rows(const T* __restrict u, int64_t us, const T* __restrict v, T* __restrict o, int64_t m, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    const T ui = u[i * us];
    T* __restrict row = o + i * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] = ui * v[j];
  }
}

// u vᵀ for two vectors, on the buffers (no graph).
Tensor outer_product(const Tensor& u, const Tensor& v) {
  const TensorImpl& ui = *u.impl();
  const Tensor vd = v.impl()->strides[0] == 1 ? v : v.detach().contiguous();
  const int64_t m = ui.shape[0], n = vd.impl()->shape[0];
  Tensor out = make_tensor({m, n}, ui.dtype);
  dispatch(ui.dtype, [&]<class T>() {
    outer_rows<T>(ui.data<T>(), ui.strides[0], vd.impl()->data<T>(), out.impl()->data<T>(), m, n);
  });
  return out;
}

// Ȧ B + A Ḃ for tangents [k, ...] (either may be absent); r is the rank of A B.
// A diagonal tangent diag(d) of a vector side scales instead of multiplying:
// diag(d)·B = d ⊙ rows of B, no GEMM (the identity directions then cost a copy).
Tensor matmul_jvp(const Tensor& a, const Tensor& b, int r) {
  const int ra = a.dim(), rb = b.dim();
  Tensor t;
  auto add = [&t](Tensor u) { t = t.defined() ? t + u : u; };
  if (has_tangent(a)) {
    const Tensor& ta = tangent_of(a);  // [k, ...a]
    if (ra == 1 && rb <= 2 && diagonal_tangent(ta)) add(rb == 1 ? diag(ta) * b : unsqueeze(diag(ta), -1) * b);
    else if (ra == 1 && rb == 1) add(sum(ta * b, {-1}));                     // [k]
    else if (ra == 1 && rb == 2) add(matmul(ta, b));                          // [k, n]·[n, p]
    else if (ra == 1) add(squeeze(matmul(lift_tangent(unsqueeze(ta, -2), rb), b), -2));
    else if (rb == 1) add(matmul(ta, b));                                     // [k, ..., m, n]·[n]
    else if (rb == 2) {  // all directions and rows in one GEMM: [k·…·m, n]·B
      Shape out = ta.shape();
      out[out.size() - 1] = b.shape()[1];
      add(reshape(matmul(reshape(ta, {-1, a.shape()[ra - 1]}), b), out));
    } else add(matmul(lift_tangent(ta, std::max(ra, rb)), b));
  }
  if (has_tangent(b)) {
    const Tensor& tb = tangent_of(b);
    if (rb == 1 && (ra == 1 || ra == 2) && diagonal_tangent(tb))
      add(ra == 1 ? a * diag(tb) : unsqueeze(diag(tb), -1) * mT(a));  // row k: d_k (Aᵀ)_k
    else if (ra == 1 && rb == 1) add(sum(a * tb, {-1}));
    else if (rb == 1 && ra == 2) add(matmul(tb, mT(a)));                      // [k, n]·Aᵀ
    else if (rb == 1) add(squeeze(matmul(a, lift_tangent(unsqueeze(tb, -1), ra)), -1));
    else if (ra == 1) add(matmul(a, tb));                                     // [n]·[k, ..., n, p]
    else if (ra == 2 && rb == 2) {  // one GEMM: A·[n, k·p], directions moved out of the way
      const int64_t k = tb.shape()[0], n = b.shape()[0], p = b.shape()[1];
      Tensor wide = tb.permute({1, 0, 2}).reshape({n, k * p});
      add(matmul(a, wide).reshape({a.shape()[0], k, p}).permute({1, 0, 2}));
    } else add(matmul(a, lift_tangent(tb, std::max(ra, rb))));
  }
  (void)r;
  return t;
}

}  // namespace

Tensor mT(const Tensor& t) { return t.dim() < 2 ? t : t.transpose(-2, -1); }

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "matmul");
  Tensor y = matmul_forward(a, b);
  if (should_record({&a, &b})) {
    record(y, "matmul", {&a, &b}, [a, b, r = y.dim()](const Tensor& g_in, const VjpCtx& ctx) {
      int ra = a.dim(), rb = b.dim();
      // a compact diagonal batch diag(d) (Note [Compact diagonal batches]): for y = A b,
      // ∂/∂b of each row is d_i A_i, the rows of A scaled, O(mn); anything else expands it
      if (is_diag_compact(g_in) && ra == 2 && rb == 1 && !ctx.need(0) && !differentiable({&g_in, &a, &b})) {
        ctx.set(1, unsqueeze(g_in, -1) * a);
        return;
      }
      const Tensor g = is_diag_compact(g_in) ? expand_diag(g_in) : g_in;
      const int nb = batch_dims(g, r);  // leading batch dims of a batched backward pass
      if (ra == 1 && rb == 1) {  // y = aᵀb: ∂y/∂a = bᵀ, ∂y/∂b = aᵀ
        Tensor gb = nb == 0 ? g : unsqueeze(g, -1);
        if (ctx.need(0)) ctx.set(0, gb * b);
        if (ctx.need(1)) ctx.set(1, gb * a);
      } else if (rb == 1) {  // y = A b: Ḡ bᵀ and Aᵀ Ḡ (summed over any batch)
        if (ra == 2 && nb == 0 && !is_diag_batch(g) && !differentiable({&g, &a, &b})) {
          // the plain case, straight on the buffers: Ḡ bᵀ an outer product, Aᵀ Ḡ = Ḡᵀ A one GEMV
          if (ctx.need(0)) ctx.set(0, outer_product(g, b));
          if (ctx.need(1)) ctx.set(1, matmul_2d(g, a));
          return;
        }
        if (ctx.need(0)) ctx.set(0, sum_to_batched(unsqueeze(g, -1) * b, a.shape(), nb));
        if (ctx.need(1)) {
          const int64_t m = a.shape()[ra - 2], n = b.shape()[0];
          if (ra == 2 && is_diag_batch(g) && g.dim() == 2 && g.shape()[0] == m && g.shape()[1] == m) {
            // diagonal Ḡ = diag(d): Ḡ A = d ⊙ A, rows scaled, O(mn)
            ctx.set(1, unsqueeze(diag(g), -1) * a);
          } else if (ra == 2 && nb == 0) {  // gᵀA (with a tangent: a diagonal one scales A, matmul_jvp)
            ctx.set(1, matmul(g, a));
          } else if (ra == 2) {  // one GEMM over all batch rows: [B, m] · A
            ctx.set(1, reshape(matmul(reshape(g, {-1, m}), a), batched_shape(g, nb, {n})));
          } else {
            Tensor t = matmul(unsqueeze(g, -2), a);  // [batch..., 1, n]
            ctx.set(1, reshape(sum_to_batched(t, {1, n}, nb), batched_shape(g, nb, {n})));
          }
        }
      } else if (ra == 1) {  // y = aᵀ B: B Ḡ and a Ḡᵀ
        const int64_t k = a.shape()[0];
        if (ctx.need(0)) {
          if (rb == 2) ctx.set(0, reshape(matmul(reshape(g, {-1, b.shape()[1]}), mT(b)), batched_shape(g, nb, {k})));
          else ctx.set(0, reshape(sum_to_batched(matmul(b, unsqueeze(g, -1)), {k, 1}, nb), batched_shape(g, nb, {k})));
        }
        if (ctx.need(1)) ctx.set(1, sum_to_batched(unsqueeze(a, -1) * unsqueeze(g, -2), b.shape(), nb));
      } else {  // Y = A B: ∂L/∂A = Ḡ Bᵀ, ∂L/∂B = Aᵀ Ḡ (rules::matmul_a, matmul_b), summed over broadcast batch dims
        const rules::TensorAlgebra k;
        if (ctx.need(0)) ctx.set(0, sum_to_batched(rules::matmul_a(k, g, b), a.shape(), nb));
        if (ctx.need(1)) ctx.set(1, sum_to_batched(rules::matmul_b(k, g, a), b.shape(), nb));
      }
    }, {&a, &b});
    grad_fn_of(*y.impl())->takes_compact_diag = true;
  }
  // ẏ = Ȧ B + A Ḃ; with a rank-2 constant side each term is one GEMM over all directions
  jvp_rule(y, {&a, &b}, "matmul", [&] { return matmul_jvp(a, b, y.dim()); });
  return y;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "mm");
  NABLA_CHECK_KIND(a.dim() == 2 && b.dim() == 2, ErrorKind::shape, "mm: expects two matrices, got ", a.shape(),
                   " and ", b.shape());
  return matmul(a, b);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "dot");
  NABLA_CHECK_KIND(a.dim() == 1 && b.dim() == 1 && a.numel() == b.numel(), ErrorKind::shape,
                   "dot: expects two vectors of equal length, got ", a.shape(), " and ", b.shape());
  return matmul(a, b);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  check_same_dtype(a, b, "outer");
  NABLA_CHECK_KIND(a.dim() == 1 && b.dim() == 1, ErrorKind::shape, "outer: expects two vectors, got ", a.shape(),
                   " and ", b.shape());
  return unsqueeze(a, 1) * unsqueeze(b, 0);
}

// y = x Wᵀ + b for a batch of rows x [B, in], W [out, in], b [out] — the affine
// layer X_i = A_i Y_{i−1} + B_i of seed 004 with samples as rows. One node:
//   ∂L/∂x = Ḡ W,  ∂L/∂W = Ḡᵀ x  (= K_i Y_{i−1}ᵀ with samples as columns),  ∂L/∂b = Σ_rows Ḡ.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_same_dtype(x, w, "linear");
  NABLA_CHECK_KIND(w.dim() == 2 && x.dim() >= 1 && x.shape()[x.dim() - 1] == w.shape()[1], ErrorKind::shape,
                   "linear: input ", x.shape(), " does not match weight ", w.shape(), " (expects [..., ",
                   w.dim() == 2 ? w.shape()[1] : -1, "])");
  if (b.defined()) {
    check_same_dtype(x, b, "linear");
    NABLA_CHECK_KIND(b.dim() == 1 && b.shape()[0] == w.shape()[0], ErrorKind::shape, "linear: bias ", b.shape(),
                     " does not match weight ", w.shape());
  }
  if (x.dim() != 2) {  // any batch shape: the composite form
    Tensor y = matmul(x, w.t());
    return b.defined() ? y + b : y;
  }
  const int64_t B = x.shape()[0], in = x.shape()[1], out = w.shape()[0];
  Tensor xc = x.contiguous().detach(), wc = w.contiguous().detach();
  Tensor y = make_tensor({B, out}, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    T* py = y.impl()->data<T>();
    if (b.defined()) {
      Tensor bc = b.contiguous();
      const T* pb = bc.impl()->data<T>();
      for (int64_t r = 0; r < B; ++r) std::copy_n(pb, out, py + r * out);
    }
    if (B > 0 && out > 0)
      kernels::gemm<T>(false, true, B, out, in, T(1), xc.impl()->data<T>(), std::max<int64_t>(in, 1),
                       wc.impl()->data<T>(), std::max<int64_t>(in, 1), b.defined() ? T(1) : T(0), py, out);
  });
  if (should_record({&x, &w, &b}))
    record(y, "linear", {&x, &w, &b}, [x, w, xc, wc](const Tensor& g, const VjpCtx& ctx) {
      if (is_grad_enabled() || g.dim() != 2 || live_tangent(g) || live_tangent(x) || live_tangent(w)) {
        // create_graph, a batched backward pass or forward-over-reverse: the op-composed, differentiable form
        const int nb = batch_dims(g, 2);
        if (ctx.need(0)) ctx.set(0, matmul(g, w));
        if (ctx.need(1)) ctx.set(1, sum_to_batched(matmul(mT(g), x), w.shape(), nb));
        if (ctx.need(2)) ctx.set(2, sum(g, {-2}));
        return;
      }
      Tensor gc = g.contiguous();
      const int64_t B = xc.shape()[0], in = xc.shape()[1], out = wc.shape()[0];
      dispatch(g.dtype(), [&]<class T>() {
        const T* pg = gc.impl()->data<T>();
        if (ctx.need(0)) {
          Tensor dx = make_tensor({B, in}, g.dtype());
          if (out == 0) dx.zero_();
          else kernels::gemm<T>(false, false, B, in, out, T(1), pg, out, wc.impl()->data<T>(), std::max<int64_t>(in, 1), T(0),
                                dx.impl()->data<T>(), std::max<int64_t>(in, 1));
          ctx.set(0, dx);
        }
        if (ctx.need(1)) {
          Tensor dw = make_tensor({out, in}, g.dtype());
          if (B == 0) dw.zero_();
          else kernels::gemm<T>(true, false, out, in, B, T(1), pg, out, xc.impl()->data<T>(), std::max<int64_t>(in, 1), T(0),
                                dw.impl()->data<T>(), std::max<int64_t>(in, 1));
          ctx.set(1, dw);
        }
        if (ctx.need(2)) ctx.set(2, sum(gc, {0}));
      });
    }, {&x, &w});
  // ẏ = ẋ Wᵀ + x Ẇᵀ + ḃ
  jvp_rule(y, {&x, &w, &b}, "linear", [&] {
    Tensor t;
    auto add = [&t](Tensor u) { t = t.defined() ? t + u : u; };
    if (has_tangent(x)) add(matmul(tangent_of(x), w.t()));
    if (has_tangent(w)) add(matmul(x, mT(tangent_of(w))));
    if (b.defined() && has_tangent(b)) add(unsqueeze(tangent_of(b), 1));
    return t;
  });
  return y;
}

// ---- diagonals ------------------------------------------------------------------

namespace {
// The diagonals of a batch of m×n matrices [..., m, n] → [..., min(m, n)], as ops.
Tensor batched_diag(const Tensor& g, int64_t m, int64_t n) {
  return slice(sum(g * eye(m, n, g.dtype()), {-1}), -1, 0, std::min(m, n));
}
// A batch of diagonals [..., min(m, n)] onto m×n zero matrices, as ops.
Tensor batched_embed_diag(const Tensor& v, int64_t m, int64_t n) {
  return (m <= n ? unsqueeze(v, -1) : unsqueeze(v, -2)) * eye(m, n, v.dtype());
}

// v (length min(m, n)) placed on the diagonal of an m×n zero matrix.
Tensor embed_diag(const Tensor& v, int64_t m, int64_t n) {
  Tensor out = zeros({m, n}, v.dtype());
  int64_t k = std::min(m, n);
  Tensor d = make_view(out, {k}, {n + 1}, 0);
  d.copy_(v.detach());
  if (should_record({&v}))
    // ∂diagflat(v)/∂v picks the diagonal back: vjp = diag(Ḡ)
    record(out, "diag_embed", {&v}, [m, n](const Tensor& g, const VjpCtx& ctx) {
      ctx.set(0, g.dim() == 2 ? diag(g) : batched_diag(g, m, n));
    });
  // linear: each direction's tangent onto the diagonal
  jvp_rule(out, {&v}, "diag_embed", [&] { return batched_embed_diag(tangent_of(v), m, n); });
  return out;
}
}  // namespace

Tensor diag(const Tensor& a) {
  check_defined(a, "diag");
  if (a.dim() == 1) return embed_diag(a, a.shape()[0], a.shape()[0]);
  NABLA_CHECK_KIND(a.dim() == 2, ErrorKind::shape, "diag: expects a vector or a matrix, got ", a.shape());
  int64_t m = a.shape()[0], n = a.shape()[1];
  Tensor out = make_view(a, {std::min(m, n)}, {a.strides()[0] + a.strides()[1]}, a.storage_offset()).clone();
  out = out.detach();
  if (should_record({&a}))
    // ∂diag(A)/∂A: the gradient lands on the diagonal of a zero matrix
    record(out, "diag", {&a}, [m, n](const Tensor& g, const VjpCtx& ctx) {
      ctx.set(0, g.dim() == 1 ? embed_diag(g, m, n) : batched_embed_diag(g, m, n));
    });
  // linear: the diagonal of each direction's tangent
  jvp_rule(out, {&a}, "diag", [&] { return batched_diag(tangent_of(a), m, n); });
  return out;
}

Tensor diagflat(const Tensor& a) {
  check_defined(a, "diagflat");
  Tensor v = flatten(a);
  return embed_diag(v, v.numel(), v.numel());
}

// tr(A) = Σ A_ii = sum(diag(A)); ∂tr(A)/∂A = I
Tensor trace(const Tensor& a) {
  check_defined(a, "trace");
  NABLA_CHECK_KIND(a.dim() == 2, ErrorKind::shape, "trace: expects a matrix, got ", a.shape());
  return sum(diag(a));
}

}  // namespace nabla
