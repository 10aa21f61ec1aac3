// Activations used by neural networks beyond the notes' element-wise set:
// GELU and dropout.
#include "nabla/nn_functional.hpp"
#include "ops_internal.hpp"

namespace nabla {
namespace {

template <std::floating_point T> inline T gelu_cdf(T x) { return T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2))); }
template <std::floating_point T> inline T gelu_pdf(T x) { return T(0.5 * M_2_SQRTPI * M_SQRT1_2) * kernels::vm::exp(T(-0.5) * x * x); }
Tensor gelu_cdf(const Tensor& x);
Tensor gelu_pdf(const Tensor& x);

struct GeluOp {
  const char* name = "gelu";
  template <class T> [[gnu::always_inline]] T f(T x) const { return x * gelu_cdf(x); }
  // ∂(x Φ(x))/∂x = Φ(x) + x φ(x)
  template <class V> V df(const V& x, const V&) const { return gelu_cdf(x) + x * gelu_pdf(x); }
};
struct GeluCdfOp {
  const char* name = "normal_cdf";
  template <class T> [[gnu::always_inline]] T f(T x) const { return gelu_cdf(x); }
  // ∂Φ(x)/∂x = φ(x)
  template <class V> V df(const V& x, const V&) const { return gelu_pdf(x); }
};
struct GeluPdfOp {
  const char* name = "normal_pdf";
  template <class T> [[gnu::always_inline]] T f(T x) const { return gelu_pdf(x); }
  // ∂φ(x)/∂x = −x φ(x)
  template <class V> V df(const V& x, const V& y) const { return -(x * y); }
};

Tensor gelu_cdf(const Tensor& x) { return unary_apply(GeluCdfOp{}, x); }
Tensor gelu_pdf(const Tensor& x) { return unary_apply(GeluPdfOp{}, x); }

}  // namespace

Tensor gelu(const Tensor& x) { return unary_apply(GeluOp{}, x); }

// y = x ⊙ m / (1 − p) with a fixed random mask m: ∂y/∂x = diag(m / (1 − p)).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  check_defined(x, "dropout");
  NABLA_CHECK(p >= 0 && p < 1, "dropout: probability must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  Tensor mask = make_tensor(x.shape(), x.dtype());
  const double keep = 1.0 / (1.0 - p);
  int64_t n = x.numel();
  dispatch(x.dtype(), [&]<class T>() {
    T* m = mask.impl()->data<T>();
    for (int64_t i = 0; i < n; ++i) m[i] = gen.uniform01() < p ? T(0) : static_cast<T>(keep);
  });
  return x * mask;
}

}  // namespace nabla
