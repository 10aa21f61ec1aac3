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

}  // namespace nabla::sym
