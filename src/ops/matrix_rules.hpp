// Private: the derivative rules of the matrix operations, written once for
// both engines (Note [One rule, two engines] in src/sym/functions.cpp).
//
// Each rule is a function template over an algebra K of values V: the numeric
// engine passes TensorAlgebra (below: V = Tensor, batched over leading dims),
// the symbolic engine its algebra of expressions (src/sym/diff.cpp). A rule
// may use only these operations of K:
//   mm(a, b)    matrix product            t(a)     transpose
//   had(a, b)   element-wise product      inv(a)   matrix inverse
//   sc(s, a)    a scaled by the scalar s  (one scalar per matrix of a batch)
//   sub(a, b), neg(a), recip(s) (1/s for scalars), inner(a, b) (Σ a ⊙ b)
//   eye_like(x), ones_like(x)
// Each rule states its formula in one line; the matrix differential it comes
// from is the one the symbolic engine's steps cite by the rule's name.
//
// The forward-mode (JVP) rules below take tangents (ȧ, ẋ, …) beside primal
// values, so an algebra may give them a type of their own: the symbolic
// engine's tangents are Jacobians, one column per direction (SymTangents in
// src/sym/algebra.hpp), and for them `had(b, ȧ)` is diag(b)·J, `inner(x, ẋ)`
// is xᵀJ and `sc(ṡ, a)` is a·J. Two more operations serve them:
//   tr_mm(a, b)  tr(a b)          total(a)  Σ of all elements
#pragma once

#include <algorithm>

#include "nabla/ops.hpp"

namespace nabla::rules {

// Y = A B, dY = dA B + A dB  →  Ā = Ḡ Bᵀ   ("product rule"; ∂(Ax)/∂x = A)
template <class K, class V> V matmul_a(const K& k, const V& g, const V& b) { return k.mm(g, k.t(b)); }
// Y = A B  →  B̄ = Aᵀ Ḡ
template <class K, class V> V matmul_b(const K& k, const V& g, const V& a) { return k.mm(k.t(a), g); }
// Y = Xᵀ, dY = (dX)ᵀ  →  X̄ = Ḡᵀ   ("transpose rule")
template <class K, class V> V transpose_x(const K& k, const V& g) { return k.t(g); }
// y = a ⊙ b, dy = da ⊙ b + a ⊙ db  →  ā = ḡ ⊙ b   ("hadamard product rule")
template <class K, class V> V hadamard_a(const K& k, const V& g, const V& b) { return k.had(g, b); }
// y = Σ X, dy = Σ dX  →  X̄ = ḡ 1   ("sum reduction rule")
template <class K, class V> V sum_x(const K& k, const V& g, const V& x) { return k.sc(g, k.ones_like(x)); }
// y = tr X, dy = tr dX  →  X̄ = ḡ I   ("trace rule")
template <class K, class V> V trace_x(const K& k, const V& g, const V& x) { return k.sc(g, k.eye_like(x)); }
// Y = X⁻¹, dY = −Y dX Y  →  X̄ = −Yᵀ Ḡ Yᵀ   ("inverse rule")
template <class K, class V> V inv_x(const K& k, const V& g, const V& y) {
  return k.neg(k.mm(k.t(y), k.mm(g, k.t(y))));
}
// y = det X, dy = det X · tr(X⁻¹ dX)  →  X̄ = ḡ det X · X⁻ᵀ   ("determinant rule")
template <class K, class V> V det_x(const K& k, const V& g, const V& x, const V& y) {
  return k.sc(k.had(g, y), k.t(k.inv(x)));
}
// y = log det X, dy = tr(X⁻¹ dX)  →  X̄ = ḡ X⁻ᵀ   ("log-determinant rule")
template <class K, class V> V logdet_x(const K& k, const V& g, const V& x) { return k.sc(g, k.t(k.inv(x))); }
// y = ‖x‖, dy = xᵀdx / ‖x‖  →  x̄ = (ḡ / ‖x‖) x   ("norm rule")
template <class K, class V> V norm_x(const K& k, const V& g, const V& x, const V& y) {
  return k.sc(k.had(g, k.recip(y)), x);
}
// s = softmax(a), ∂s/∂a = diag(s) − s sᵀ  →  ā = s ⊙ ḡ − s ⟨s, ḡ⟩   ("softmax rule")
template <class K, class V> V softmax_a(const K& k, const V& g, const V& s) {
  return k.sub(k.had(s, g), k.sc(k.inner(s, g), s));
}

// ---- forward mode: the JVP of each rule above ----------------------------------

// Y = A B  →  Ẏ = Ȧ B + A Ḃ   ("product rule"; the two terms, one per operand)
template <class K, class T, class V> T matmul_jvp_a(const K& k, const T& ta, const V& b) { return k.mm(ta, b); }
template <class K, class T, class V> T matmul_jvp_b(const K& k, const V& a, const T& tb) { return k.mm(a, tb); }
// Y = Xᵀ  →  Ẏ = Ẋᵀ   ("transpose rule")
template <class K, class T> T transpose_jvp(const K& k, const T& tx) { return k.t(tx); }
// y = a ⊙ b  →  ẏ = b ⊙ ȧ (+ a ⊙ ḃ)   ("hadamard product rule")
template <class K, class T, class V> T hadamard_jvp(const K& k, const T& ta, const V& b) { return k.had(b, ta); }
// y = Σ X  →  ẏ = Σ Ẋ   ("sum reduction rule")
template <class K, class T> T sum_jvp(const K& k, const T& tx) { return k.total(tx); }
// Y = X⁻¹  →  Ẏ = −Y Ẋ Y   ("inverse rule")
template <class K, class T, class V> T inv_jvp(const K& k, const T& tx, const V& y) {
  return k.neg(k.mm(y, k.mm(tx, y)));
}
// y = det X  →  ẏ = det X · tr(X⁻¹ Ẋ)   ("determinant rule")
template <class K, class T, class V> T det_jvp(const K& k, const T& tx, const V& x, const V& y) {
  return k.sc(y, k.tr_mm(k.inv(x), tx));
}
// y = log det X  →  ẏ = tr(X⁻¹ Ẋ)   ("log-determinant rule")
template <class K, class T, class V> T logdet_jvp(const K& k, const T& tx, const V& x) {
  return k.tr_mm(k.inv(x), tx);
}
// y = ‖x‖  →  ẏ = ⟨x, ẋ⟩ / ‖x‖   ("norm rule")
template <class K, class T, class V> T norm_jvp(const K& k, const T& tx, const V& x, const V& y) {
  return k.sc(k.recip(y), k.inner(x, tx));
}
// s = softmax(a)  →  ṡ = (diag(s) − s sᵀ) ȧ = s ⊙ ȧ − s ⟨s, ȧ⟩   ("softmax rule": the
// Jacobian is symmetric, so this is softmax_a's formula with ȧ for ḡ)
template <class K, class T, class V> T softmax_jvp(const K& k, const T& ta, const V& s) {
  return k.sub(k.had(s, ta), k.sc(k.inner(s, ta), s));
}

// The numeric algebra: nabla's differentiable ops, over batches of matrices
// [..., m, n] (a scalar factor is one value per matrix, shape [...]).
struct TensorAlgebra {
  Tensor mm(const Tensor& a, const Tensor& b) const { return matmul(a, b); }
  Tensor t(const Tensor& a) const { return a.dim() < 2 ? a : transpose(a, -2, -1); }
  Tensor had(const Tensor& a, const Tensor& b) const { return a * b; }
  Tensor inv(const Tensor& a) const { return nabla::inv(a); }
  // s [...] holds one scalar per matrix (or vector) of a: its dims broadcast
  // over the leading dims of a, batch dims of a batched backward pass included.
  Tensor sc(const Tensor& s, const Tensor& a) const {
    Tensor e = s;
    for (int i = 0; i < std::min<int>(a.dim(), 2); ++i) e = unsqueeze(e, -1);
    return e * a;
  }
  Tensor sub(const Tensor& a, const Tensor& b) const { return a - b; }
  Tensor neg(const Tensor& a) const { return -a; }
  Tensor recip(const Tensor& s) const { return 1.0 / s; }
  Tensor inner(const Tensor& a, const Tensor& b) const { return nabla::sum(a * b); }
  Tensor eye_like(const Tensor& x) const { return eye(x.shape()[x.dim() - 1], x.dtype()); }
  Tensor ones_like(const Tensor& x) const { return nabla::ones_like(x); }
};

// The numeric engine's tangents: [k, ...] tensors, one slice per direction,
// beside primal values that broadcast against them past dim 0 (right-aligned).
// `dims` are the dims of a tangent that inner() and total() reduce, kept as
// size 1 when `keep`; no dims: the primal is a scalar and nothing is reduced.
struct TangentAlgebra : TensorAlgebra {
  Dims dims;
  bool keep = false;
  Tensor sc(const Tensor& s, const Tensor& a) const { return s * a; }
  Tensor inner(const Tensor& x, const Tensor& t) const { return total(x * t); }
  Tensor total(const Tensor& t) const { return dims.empty() ? t : nabla::sum(t, dims, keep); }
  // tr(A B) = Σᵢⱼ Aᵢⱼᵀ Bᵢⱼ, without the product: [.., n, n] × [k, .., n, n] → [k, ..]
  Tensor tr_mm(const Tensor& a, const Tensor& b) const { return nabla::sum(t(a) * b, {-2, -1}); }
};

}  // namespace nabla::rules
