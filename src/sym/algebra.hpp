// Private to src/sym: the symbolic engine's views of expressions under which
// the op registry's rules, written once for every value type, run over
// expressions (Note [One rule, two engines] in functions.cpp).
#pragma once

#include "nabla/sym.hpp"

namespace nabla::sym {

namespace ew {

// An expression seen element-wise.
struct Ew {
  Expr e;
};

inline Ew operator+(const Ew& a, const Ew& b) { return {add(a.e, b.e)}; }
inline Ew operator-(const Ew& a, const Ew& b) { return {sub(a.e, b.e)}; }
inline Ew operator*(const Ew& a, const Ew& b) { return {hadamard(a.e, b.e)}; }
inline Ew operator/(const Ew& a, const Ew& b) { return {hadamard(a.e, power(b.e, -1))}; }
inline Ew operator-(const Ew& a) { return {neg(a.e)}; }
inline Ew operator+(double c, const Ew& a) { return {add(constant(c), a.e)}; }
inline Ew operator+(const Ew& a, double c) { return {add(a.e, constant(c))}; }
inline Ew operator-(double c, const Ew& a) { return {sub(constant(c), a.e)}; }
inline Ew operator-(const Ew& a, double c) { return {sub(a.e, constant(c))}; }
inline Ew operator*(double c, const Ew& a) { return {c == 0 ? zero(a.e->shape) : scale(c, a.e)}; }
inline Ew operator*(const Ew& a, double c) { return c * a; }
inline Ew operator/(double c, const Ew& a) { return {scale(c, power(a.e, -1))}; }
inline Ew operator/(const Ew& a, double c) { return {scale(1 / c, a.e)}; }

inline Ew pow(const Ew& a, double p) { return {power(a.e, p)}; }

// Every registered function, applied to an expression.
#define NABLA_ELEMENTWISE(NAME, ...) \
  inline Ew NAME(const Ew& a) { return {func(Fn::NAME, a.e)}; }
#include "nabla/elementwise.def"

}  // namespace ew

// The algebra of the matrix rules (src/ops/matrix_rules.hpp) over expressions.
struct SymAlgebra {
  Expr mm(const Expr& a, const Expr& b) const { return mul(a, b); }
  Expr t(const Expr& a) const { return transpose(a); }
  Expr had(const Expr& a, const Expr& b) const { return hadamard(a, b); }
  Expr inv(const Expr& a) const { return func(Fn::inv, a); }
  Expr sc(const Expr& s, const Expr& a) const { return mul(s, a); }
  Expr sub(const Expr& a, const Expr& b) const { return sym::sub(a, b); }
  Expr neg(const Expr& a) const { return sym::neg(a); }
  Expr recip(const Expr& s) const { return power(s, -1); }
  Expr inner(const Expr& a, const Expr& b) const { return sym::inner(a, b); }
  Expr eye_like(const Expr& x) const { return identity(x->shape.rows); }
  Expr ones_like(const Expr& x) const { return ones(x->shape); }
};

// Forward mode's tangents. By a scalar x (dual numbers): the derivative
// ẏ = dy/dx itself, shaped like y. By a vector or matrix x: the Jacobian
// ∂vec(y)/∂vec(x)ᵀ in numerator layout, numel(y) × numel(x), one column per
// direction; vec stacks columns, so vec of a row is its elements, as for a
// column. `shape` is y's.
struct Tangent {
  Expr j;
  Shape shape;
};

inline Dim length(const Shape& s) { return s.is_row() ? s.cols : s.rows; }
inline Dim numel(const Shape& s) { return s.rows * s.cols; }
inline Expr as_col(const Expr& e) { return e->shape.is_row() ? transpose(e) : e; }

// The algebra of the matrix rules' JVPs (src/ops/matrix_rules.hpp) over
// tangents. By a scalar the rules run as written, on ẏ. Otherwise on
// Jacobians, by the Kronecker forms vec(A F B) = (Bᵀ ⊗ A) vec(F),
// vec(Fᵀ) = K vec(F) (K the commutation matrix) and vec(a ⊙ F) =
// diag(vec(a)) vec(F); where every intermediate is a scalar or a vector they
// reduce to plain products: vec(A F) = A vec(F), vec(F B) = Bᵀ vec(F).
struct SymTangents {
  bool dual = false;  // x is a scalar: tangents are ẏ, shaped like y

  static Shape product(const Shape& a, const Shape& b) {
    if (a.is_scalar()) return b;
    if (b.is_scalar()) return a;
    return {a.rows, b.cols};
  }
  // A F, F q×c: (I_c ⊗ A) J
  Tangent mm(const Expr& a, const Tangent& f) const {
    const Shape s = product(a->shape, f.shape);
    if (dual || a->shape.is_scalar() || f.shape.cols.is_one()) return {mul(a, f.j), s};
    return {mul(kron(identity(f.shape.cols), a), f.j), s};
  }
  // F B, F r×q: (Bᵀ ⊗ I_r) J
  Tangent mm(const Tangent& f, const Expr& b) const {
    const Shape s = product(f.shape, b->shape);
    if (dual) return {mul(f.j, b), s};
    if (b->shape.is_scalar()) return {mul(b, f.j), s};
    if (f.shape.rows.is_one()) return {mul(transpose(b), f.j), s};
    return {mul(kron(transpose(b), identity(f.shape.rows)), f.j), s};
  }
  Tangent t(const Tangent& a) const {
    if (dual) return {transpose(a.j), a.shape.t()};
    if (a.shape.is_scalar() || a.shape.is_vector()) return {a.j, a.shape.t()};
    return {mul(commutation(a.shape.rows, a.shape.cols), a.j), a.shape.t()};
  }
  // b ⊙ F: diag(vec(b)) J (b J for a scalar b)
  Tangent had(const Expr& b, const Tangent& f) const {
    if (b->shape.is_scalar()) return {mul(b, f.j), f.shape};
    if (dual) return {hadamard(b, f.j), f.shape};
    return {mul(func(Fn::diag, vec(b)), f.j), f.shape};
  }
  // ⟨x, F⟩ = vec(x)ᵀ J, a scalar's tangent
  Tangent inner(const Expr& x, const Tangent& f) const {
    if (dual) return {sym::inner(x, f.j), Shape{}};
    return {mul(transpose(vec(x)), f.j), Shape{}};
  }
  Tangent sc(const Tangent& s, const Expr& a) const {
    if (dual) return {mul(s.j, a), a->shape};
    return {mul(vec(a), s.j), a->shape};
  }
  Tangent sc(const Expr& s, const Tangent& a) const { return {mul(s, a.j), a.shape}; }
  Tangent sub(const Tangent& a, const Tangent& b) const { return {sym::sub(a.j, b.j), a.shape}; }
  Tangent neg(const Tangent& a) const { return {sym::neg(a.j), a.shape}; }
  Expr recip(const Expr& s) const { return power(s, -1); }
  Tangent total(const Tangent& f) const {
    if (dual) return {func(Fn::sum, f.j), Shape{}};
    return {mul(transpose(ones(Shape{numel(f.shape), 1})), f.j), Shape{}};
  }
  Expr inv(const Expr& x) const { return func(Fn::inv, x); }
  // tr(A Ḟ) = vec(Aᵀ)ᵀ J
  Tangent tr_mm(const Expr& a, const Tangent& f) const {
    if (dual) return {func(Fn::tr, mul(a, f.j)), Shape{}};
    if (a->shape.is_scalar()) return {mul(a, f.j), Shape{}};
    return {mul(transpose(vec(transpose(a))), f.j), Shape{}};
  }
};

}  // namespace nabla::sym
