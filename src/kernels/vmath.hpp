// Vectorizable elementary functions: exp, log, log1p, tanh, sigmoid, softplus
// for float and double.
//
// Each function is branch-free straight-line code on one scalar (bit casts,
// fma, selects), always inlined, so that a loop over an array under
// `#pragma omp simd` compiles to SIMD instructions (AVX-512 or AVX2 with
// -march=native) instead of one libm call per element. See Note [Vector math].
#pragma once

#include <bit>
#include <cstdint>
#include <limits>

#define NABLA_VM_INLINE [[gnu::always_inline]] inline

// Note [Vector width]: loops over these functions say
// `#pragma omp simd simdlen(NABLA_SIMDLEN(T))`: one full register of T per
// step. GCC's tuning for Intel's AVX-512 cores (what -march=native picks on
// Skylake-X through Sapphire Rapids) prefers 256-bit vectors
// (-mprefer-vector-width=256), so a plain `omp simd` loop ran these bodies at
// half of AVX-512's width: exp 1.5×, σ 1.6× and log 1.25× slower than SLEEF's
// 512-bit functions on one thread, and σ on two threads behind PyTorch's AVX2
// build (perf: the 256-bit vdivps and the multiply waiting on it held half of
// σ's samples). Each lane does the same operations whatever the width, so
// results do not change. (Replacing the divisions by Newton reciprocals,
// two fmas a step, measured slower at 512 bits: the FMA ports, not the
// divider, are the bound.)
#if defined(__AVX512F__)
#define NABLA_SIMDLEN(T) (64 / sizeof(T))
#else
#define NABLA_SIMDLEN(T) (32 / sizeof(T))
#endif

namespace nabla::kernels::vm {

// Note [Vector math]
// exp: x = k·ln2 + r with k = round(x/ln2) and |r| ≤ ln2/2 (Cody–Waite: ln2 in
//   a high part with trailing zero bits, so k·ln2_hi is exact, and a low part);
//   eʳ by its Taylor polynomial (degree 7 in float, 13 in double: the first
//   omitted term is below half an ulp); 2ᵏ built in the exponent bits as
//   2^⌊k/2⌋·2^(k−⌊k/2⌋), so that results down into the subnormals are right.
// log: x = 2ᵉ·m with m ∈ [√½, √2); with f = m − 1 and s = f/(2 + f),
//   ln m = 2 atanh s = f − f²/2 + s(f²/2 + R(s²)), R the atanh series
//   (|s| ≤ 0.172, so s² ≤ 0.0295 and 4 or 9 terms reach rounding).
// tanh: ±e/(e + 2) with e = eᵘ − 1, u = 2|x|, and eᵘ − 1 = 2ᵏ·q + (2ᵏ − 1)
//   where q = eʳ − 1 is the Taylor polynomial without its constant term: no
//   cancellation near 0, so tanh x ≈ x stays exact for tiny x.
// sigmoid: 1/(1 + e^−x) for x ≥ 0 and e^x/(1 + e^x) below, both from e^−|x|.
// Measured against long-double references (tests/kernels/vmath_test.cpp), at
// -O0 and -O3 alike: within 1 ulp for exp and log, 3.1 ulp for tanh, sigmoid
// and softplus, over dense grids, random bit patterns and the edges (±0,
// subnormals, overflow and underflow thresholds, ±inf, NaN). Over every
// float32 input (bench/vmath_accuracy, BENCHMARKS.md): exp 0.94, log 0.76,
// tanh 3.25, sigmoid 2.78, softplus 1.77 ulp at most.

template <class T>
struct FloatTraits;
template <>
struct FloatTraits<float> {
  using U = uint32_t;
  using I = int32_t;
  static constexpr int kMant = 23;
  static constexpr int kBias = 127;
  static constexpr float kLn2Hi = 0.693359375f;        // 0x3f318000: 9 significant bits
  static constexpr float kLn2Lo = -2.12194440e-4f;     // ln 2 − kLn2Hi
  static constexpr float kExpHi = 89.0f;    // e^x overflows from 88.7228
  static constexpr float kExpLo = -104.5f;  // e^x < 2^−150 from −103.97: rounds to 0
  static constexpr float kTanhCap = 10.0f;             // tanh(10) rounds to 1
};
template <>
struct FloatTraits<double> {
  using U = uint64_t;
  using I = int64_t;
  static constexpr int kMant = 52;
  static constexpr int kBias = 1023;
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kExpHi = 710.0;   // e^x overflows from 709.7827
  static constexpr double kExpLo = -745.5;  // e^x < 2^−1075 from −745.1332: rounds to 0
  static constexpr double kTanhCap = 20.0;
};

// c0 + x(c1 + x(c2 + …)), fused multiply-adds throughout.
NABLA_VM_INLINE float fma_(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
NABLA_VM_INLINE double fma_(double a, double b, double c) { return __builtin_fma(a, b, c); }
template <class T>
NABLA_VM_INLINE T poly(T, T c0) {
  return c0;
}
template <class T, class... C>
NABLA_VM_INLINE T poly(T x, T c0, C... cs) {
  return fma_(poly<T>(x, static_cast<T>(cs)...), x, c0);
}

// (eʳ − 1)/r for |r| ≤ ln2/2 + ε: eʳ = 1 + r·q(r) and eʳ − 1 = r·q(r), each
// finished with one explicit fma (the accuracy must not depend on whether the
// compiler contracts a multiply and an add: -O0 does not).
NABLA_VM_INLINE float expm1_quotient(float r) {
  return poly<float>(r, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040);
}
NABLA_VM_INLINE double expm1_quotient(double r) {
  return poly<double>(r, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
                      1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0);
}

// x = k·ln2 + r: returns r, sets k.
template <class T>
NABLA_VM_INLINE T reduce_ln2(T x, typename FloatTraits<T>::I& k) {
  using Tr = FloatTraits<T>;
  using I = typename Tr::I;
  constexpr T kLog2e = static_cast<T>(1.44269504088896340736);
  constexpr T kShifter = static_cast<T>(1.5) * static_cast<T>(typename Tr::U{1} << Tr::kMant);
  // adding 1.5·2^mant rounds x/ln2 to an integer held in the low mantissa bits
  const T shifted = fma_(x, kLog2e, kShifter);
  k = std::bit_cast<I>(shifted) - std::bit_cast<I>(kShifter);
  const T kf = shifted - kShifter;
  T r = fma_(-kf, Tr::kLn2Hi, x);
  return fma_(-kf, Tr::kLn2Lo, r);
}

// 2ᵏ for k in the normal exponent range.
template <class T>
NABLA_VM_INLINE T pow2i(typename FloatTraits<T>::I k) {
  using Tr = FloatTraits<T>;
  using U = typename Tr::U;
  return std::bit_cast<T>(static_cast<U>(k + Tr::kBias) << Tr::kMant);
}

// static_cast<T>(i) for |i| < 2^(mant−1) through the exponent bits (AVX2 has no
// vector int64 → double conversion).
template <class T>
NABLA_VM_INLINE T int_to_float(typename FloatTraits<T>::I i) {
  using Tr = FloatTraits<T>;
  constexpr T kShifter = static_cast<T>(1.5) * static_cast<T>(typename Tr::U{1} << Tr::kMant);
  return std::bit_cast<T>(std::bit_cast<typename Tr::I>(kShifter) + i) - kShifter;
}

template <class T>
NABLA_VM_INLINE T exp(T x) {
  using Tr = FloatTraits<T>;
  using I = typename Tr::I;
  // Clamp to [kExpLo, kExpHi], just past where eˣ rounds to 0 and to ∞, so
  // that the scaling below underflows or overflows by itself. Written as
  // min/max with x second: NaN passes through.
  T xc = Tr::kExpHi < x ? Tr::kExpHi : x;
  xc = Tr::kExpLo > xc ? Tr::kExpLo : xc;
  I k;
  const T r = reduce_ln2(xc, k);
  const T p = fma_(r, expm1_quotient(r), T(1));
  const I k1 = k >> 1;  // 2ᵏ = 2^k1 · 2^(k−k1): both factors normal down to k = −1076
  return p * pow2i<T>(k1) * pow2i<T>(k - k1);
}

// R(z) = 2z/3 + 2z²/5 + 2z³/7 + … with z = s², |s| ≤ 3 − 2√2: 2 atanh s = 2s + sR.
NABLA_VM_INLINE float log_series(float z) {
  return z * poly<float>(z, 2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9, 2.0f / 11);
}
NABLA_VM_INLINE double log_series(double z) {
  return z * poly<double>(z, 2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19,
                          2.0 / 21);
}

template <class T>
NABLA_VM_INLINE T log(T x) {
  using Tr = FloatTraits<T>;
  using U = typename Tr::U;
  using I = typename Tr::I;
  constexpr U kMantMask = (U{1} << Tr::kMant) - 1;
  // subnormals: scale by 2^mant first
  const bool sub = x < std::numeric_limits<T>::min();
  const T xs = sub ? x * static_cast<T>(U{1} << Tr::kMant) : x;
  const U bits = std::bit_cast<U>(xs);
  I e = static_cast<I>(bits >> Tr::kMant) - Tr::kBias - (sub ? Tr::kMant : 0);
  T m = std::bit_cast<T>((bits & kMantMask) | (static_cast<U>(Tr::kBias) << Tr::kMant));  // [1, 2)
  const bool big = m > static_cast<T>(1.41421356237309504880);
  m = big ? m * T(0.5) : m;
  e = big ? e + 1 : e;
  const T f = m - T(1);
  const T s = f / (T(2) + f);
  const T z = s * s;
  const T R = log_series(z);
  const T hfsq = T(0.5) * f * f;
  const T ef = int_to_float<T>(e);
  T y = fma_(ef, Tr::kLn2Hi, f - (hfsq - fma_(s, hfsq + R, ef * Tr::kLn2Lo)));
  // specials: log(+inf) = inf, log(0) = −inf, log(x < 0) = NaN, NaN → NaN
  y = x == std::numeric_limits<T>::infinity() ? x : y;
  y = x == T(0) ? -std::numeric_limits<T>::infinity() : y;
  y = x < T(0) ? std::numeric_limits<T>::quiet_NaN() : y;
  y = x != x ? x : y;
  return y;
}

// ln(1 + u) for 0 ≤ u ≤ 1 (the range softplus needs), from the same series as
// log but with f taken from u exactly rather than from 1 + u rounded: for
// 1 + u ≤ √2, f = u; above, 1 + u = 2·(1 + f) with f = (u − 1)/2, exact.
// Below 2^−30 (2^−60 in double) ln(1 + u) rounds to u, and the series would
// square u into the subnormals, where every operation takes a microcode
// assist (softplus 20× slower for |x| ≳ 44): such u go through as 0 and come
// back at the end.
template <class T>
NABLA_VM_INLINE T log1p_unit(T u) {
  using Tr = FloatTraits<T>;
  constexpr T kTiny = sizeof(T) == 4 ? static_cast<T>(9.3132257461547852e-10) : static_cast<T>(8.6736173798840355e-19);
  const bool tiny = u < kTiny;
  const T v = tiny ? T(0) : u;
  const bool big = v > static_cast<T>(0.41421356237309504880);
  const T f = big ? (v - T(1)) * T(0.5) : v;
  const T ef = big ? T(1) : T(0);
  const T s = f / (T(2) + f);
  const T z = s * s;
  const T R = log_series(z);
  const T hfsq = T(0.5) * f * f;
  const T y = fma_(ef, Tr::kLn2Hi, f - (hfsq - fma_(s, hfsq + R, ef * Tr::kLn2Lo)));
  return tiny ? u : y;
}

template <class T>
NABLA_VM_INLINE T tanh(T x) {
  using Tr = FloatTraits<T>;
  using I = typename Tr::I;
  T a = x < T(0) ? -x : x;
  a = a > Tr::kTanhCap ? Tr::kTanhCap : a;
  // e = e^(2a) − 1 = 2ᵏ·q + (2ᵏ − 1), 0 ≤ k ≤ 58
  I k;
  const T r = reduce_ln2(T(2) * a, k);
  const T s = pow2i<T>(k);
  const T e = fma_(s * r, expm1_quotient(r), s - T(1));  // s·r exact: s is a power of 2
  const T t = e / (e + T(2));
  return x < T(0) ? -t : (x > T(0) ? t : x);  // ±0 and NaN pass through
}

template <class T>
NABLA_VM_INLINE T sigmoid(T x) {
  const T e = exp(x < T(0) ? x : -x);  // e^−|x| ∈ (0, 1]: never overflows
  const T d = T(1) / (T(1) + e);
  return x < T(0) ? e * d : d;
}

// ln(1 + eˣ) = max(x, 0) + ln(1 + e^−|x|)
template <class T>
NABLA_VM_INLINE T softplus(T x) {
  const T e = exp(x < T(0) ? x : -x);
  const T m = x > T(0) ? x : T(0);
  const T y = m + log1p_unit(e);
  return x != x ? x : y;
}

}  // namespace nabla::kernels::vm
