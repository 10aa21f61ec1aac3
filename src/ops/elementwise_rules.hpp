// Private: the element-wise functions of nabla/elementwise.def as rule
// structs, and the scalar counterparts of the tensor functions their
// derivatives use, so that one rule text serves floats, Tensors and symbolic
// expressions.
//
// For each line NABLA_ELEMENTWISE(name, …) of the .def there is
//   struct name_rule {
//     const char* name;                             // "name"
//     static constexpr ElementwiseKind kind;        // smooth, kinked, flat
//     static constexpr ElementwiseDomain domain;    // real, positive
//     static constexpr const char* latex;
//     template <class T> T f(T x) const;            // forward on one number
//     template <class V> V df(const V& x, const V& y) const;  // ∂y/∂x, y = f(x)
//   };
// Code that needs every function defines NABLA_ELEMENTWISE itself and
// includes the .def again (the X-macro pattern).
// The numeric engine instantiates df for T = float/double (fused backward
// kernels) and for Tensor; src/sym for its expressions.
#pragma once

#include <cmath>
#include <concepts>

#include "../kernels/vmath.hpp"
#include "nabla/ops.hpp"

namespace nabla {

// ---- scalar counterparts of tensor functions (used by generic rules) --------
// exp, log, tanh and σ are the vectorizable ones of kernels/vmath.hpp (≤ 3 ulp
// from glibc): loops over them compile to SIMD code.
template <std::floating_point T> NABLA_VM_INLINE T exp(T x) { return kernels::vm::exp(x); }
template <std::floating_point T> NABLA_VM_INLINE T log(T x) { return kernels::vm::log(x); }
template <std::floating_point T> inline T sqrt(T x) { return std::sqrt(x); }
template <std::floating_point T> inline T sin(T x) { return std::sin(x); }
template <std::floating_point T> inline T cos(T x) { return std::cos(x); }
template <std::floating_point T> inline T sinh(T x) { return std::sinh(x); }
template <std::floating_point T> NABLA_VM_INLINE T tanh(T x) { return kernels::vm::tanh(x); }
// σ(x) = 1/(1+e^−x), evaluated from e^−|x| (no overflow for large |x|)
template <std::floating_point T> NABLA_VM_INLINE T sigmoid(T x) { return kernels::vm::sigmoid(x); }
template <std::floating_point T> inline T cosh(T x) { return std::cosh(x); }
template <std::floating_point T, class U> inline T pow(T x, U p) { return std::pow(x, static_cast<T>(p)); }
template <std::floating_point T> inline T step(T x) { return x > 0 ? T(1) : T(0); }
template <std::floating_point T> inline T sign(T x) { return T((x > 0) - (x < 0)); }

enum class ElementwiseKind { smooth, kinked, flat };
enum class ElementwiseDomain { real, positive };

#define NABLA_ELEMENTWISE(NAME, KIND, DOMAIN, LATEX, F, DF)                                        \
  struct NAME##_rule {                                                                              \
    const char* name = #NAME;                                                                       \
    static constexpr ElementwiseKind kind = ElementwiseKind::KIND;                                  \
    static constexpr ElementwiseDomain domain = ElementwiseDomain::DOMAIN;                          \
    static constexpr const char* latex = LATEX;                                                     \
    static constexpr bool dual_df = true; /* df takes Dual numbers (ops_internal.hpp) */            \
    template <class T>                                                                              \
    [[gnu::always_inline]] T f(T x) const {                                                         \
      namespace vm = kernels::vm;                                                                   \
      return F;                                                                                     \
    }                                                                                               \
    template <class V>                                                                              \
    V df([[maybe_unused]] const V& x, [[maybe_unused]] const V& y) const {                          \
      return DF;                                                                                    \
    }                                                                                               \
  };
#include "nabla/elementwise.def"

// x^p for a constant p: the power rule, shared with the symbolic engine's
// powers (src/sym/diff.cpp).
struct pow_rule {
  const char* name = "pow";
  double p;
  template <class T> [[gnu::always_inline]] T f(T x) const {
    if (p == 2) return x * x;
    if (p == 1) return x;
    return std::pow(x, static_cast<T>(p));
  }
  // ∂xⁿ/∂x = n xⁿ⁻¹   (the power rule)
  template <class V> V df(const V& x, const V&) const {
    if (p == 0) return 0.0 * x;  // x⁰ = 1 everywhere, also at 0 (where 0·0⁻¹ would be nan)
    if (p == 1) return 0.0 * x + 1.0;
    if (p == 2) return 2.0 * x;
    return p * pow(x, p - 1);
  }
};

}  // namespace nabla
