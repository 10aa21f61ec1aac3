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

// Forward mode's tangents: the Jacobian ∂y/∂x of a scalar or vector y in
// numerator layout, numel(y) × n, one column per direction (vec(y) of a row
// is its elements, as for a column); `shape` is y's.
struct Tangent {
  Expr j;
  Shape shape;
};

inline Dim length(const Shape& s) { return s.is_row() ? s.cols : s.rows; }
inline Expr as_col(const Expr& e) { return e->shape.is_row() ? transpose(e) : e; }

// The algebra of the matrix rules' JVPs (src/ops/matrix_rules.hpp) over
// Jacobians. The products' Kronecker forms reduce to plain products because
// every intermediate is a scalar or a vector: vec(A F) = A vec(F) and
// vec(F B) = Bᵀ vec(F) whenever the product is a vector.
struct SymTangents {
  static Shape product(const Shape& a, const Shape& b) {
    if (a.is_scalar()) return b;
    if (b.is_scalar()) return a;
    return {a.rows, b.cols};
  }
  Tangent mm(const Expr& a, const Tangent& f) const { return {mul(a, f.j), product(a->shape, f.shape)}; }
  Tangent mm(const Tangent& f, const Expr& b) const { return {mul(transpose(b), f.j), product(f.shape, b->shape)}; }
  Tangent t(const Tangent& a) const { return {a.j, a.shape.t()}; }
  // b ⊙ F: diag(b) J (b J for a scalar b)
  Tangent had(const Expr& b, const Tangent& f) const {
    return {b->shape.is_scalar() ? mul(b, f.j) : mul(func(Fn::diag, as_col(b)), f.j), f.shape};
  }
  // ⟨x, F⟩ = xᵀ J, a scalar's tangent
  Tangent inner(const Expr& x, const Tangent& f) const { return {mul(transpose(as_col(x)), f.j), Shape{}}; }
  Tangent sc(const Tangent& s, const Expr& a) const { return {mul(as_col(a), s.j), a->shape}; }
  Tangent sc(const Expr& s, const Tangent& a) const { return {mul(s, a.j), a.shape}; }
  Tangent sub(const Tangent& a, const Tangent& b) const { return {sym::sub(a.j, b.j), a.shape}; }
  Tangent neg(const Tangent& a) const { return {sym::neg(a.j), a.shape}; }
  Expr recip(const Expr& s) const { return power(s, -1); }
  Tangent total(const Tangent& f) const {
    return {mul(transpose(ones(Shape{length(f.shape), 1})), f.j), Shape{}};
  }
  // Of a scalar (1×1) X, the only matrix forward mode sees: X⁻¹ = 1/X, tr(A Ẋ) = A Ẋ.
  Expr inv(const Expr& x) const { return power(x, -1); }
  Tangent tr_mm(const Expr& a, const Tangent& f) const { return {mul(a, f.j), Shape{}}; }
};

}  // namespace nabla::sym
