// SLEEF's vector functions as loops over float arrays, for the side-by-side
// benchmark (vmath_bench.cpp) and the exhaustive accuracy run
// (vmath_accuracy.cpp). SLEEF is Debian's libsleef-dev; these programs are
// built only when CMake finds it (NABLA_HAVE_SLEEF).
//
// SLEEF has no sigmoid or softplus: they are composed the way a caller of
// SLEEF would write them, with the same branch-free forms as nabla's
// (src/kernels/vmath.hpp): σ(x) = 1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x)
// below, from e^−|x|; softplus(x) = max(x, 0) + log1p(e^−|x|).
#pragma once

// GCC 12's avx512fintrin.h initializes its "undefined" vectors from themselves,
// which -Wmaybe-uninitialized reports in every caller (as in src/kernels/gemm_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include <sleef.h>

namespace nabla::bench::sleef {

#if defined(__AVX512F__)
constexpr int kWidth = 16;
using V = __m512;
inline V load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
inline V exp_u10(V x) { return Sleef_expf16_u10(x); }
inline V log_u10(V x) { return Sleef_logf16_u10(x); }
inline V log_u35(V x) { return Sleef_logf16_u35(x); }
inline V tanh_u10(V x) { return Sleef_tanhf16_u10(x); }
inline V tanh_u35(V x) { return Sleef_tanhf16_u35(x); }
inline V log1p_u10(V x) { return Sleef_log1pf16_u10(x); }
inline V neg_abs(V x) { return _mm512_or_ps(x, _mm512_set1_ps(-0.0f)); }
inline V add(V a, V b) { return _mm512_add_ps(a, b); }
inline V div(V a, V b) { return _mm512_div_ps(a, b); }
inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V one() { return _mm512_set1_ps(1.0f); }
inline V max0(V x) { return _mm512_max_ps(x, _mm512_setzero_ps()); }
// x < 0 ? a : b
inline V select_neg(V x, V a, V b) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b, a);
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kWidth = 8;
using V = __m256;
inline V load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, V v) { _mm256_storeu_ps(p, v); }
inline V exp_u10(V x) { return Sleef_expf8_u10(x); }
inline V log_u10(V x) { return Sleef_logf8_u10(x); }
inline V log_u35(V x) { return Sleef_logf8_u35(x); }
inline V tanh_u10(V x) { return Sleef_tanhf8_u10(x); }
inline V tanh_u35(V x) { return Sleef_tanhf8_u35(x); }
inline V log1p_u10(V x) { return Sleef_log1pf8_u10(x); }
inline V neg_abs(V x) { return _mm256_or_ps(x, _mm256_set1_ps(-0.0f)); }
inline V add(V a, V b) { return _mm256_add_ps(a, b); }
inline V div(V a, V b) { return _mm256_div_ps(a, b); }
inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V one() { return _mm256_set1_ps(1.0f); }
inline V max0(V x) { return _mm256_max_ps(x, _mm256_setzero_ps()); }
inline V select_neg(V x, V a, V b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ)); }
#else
#error "vmath_sleef.hpp needs AVX-512F or AVX2+FMA (-march=native on such a CPU)"
#endif

inline V sigmoid_u10(V x) {
  const V e = exp_u10(neg_abs(x));
  const V d = div(one(), add(one(), e));
  return select_neg(x, mul(e, d), d);
}
inline V softplus_u10(V x) { return add(max0(x), log1p_u10(exp_u10(neg_abs(x)))); }

// y[i] = f(x[i]) for i < n, whole vectors, then the tail through a padded one.
template <class F>
inline void map(const float* x, float* y, int64_t n, F f) {
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) store(y + i, f(load(x + i)));
  if (i < n) {
    float in[kWidth] = {}, out[kWidth];
    std::memcpy(in, x + i, static_cast<size_t>(n - i) * sizeof(float));
    store(out, f(load(in)));
    std::memcpy(y + i, out, static_cast<size_t>(n - i) * sizeof(float));
  }
}

}  // namespace nabla::bench::sleef
