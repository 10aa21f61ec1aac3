// nabla's float32 and float64 GEMM for AVX-512 machines. See gemm_avx512.hpp.
#include "gemm_avx512.hpp"

#include <cstdlib>

#if defined(__AVX512F__)
// GCC 12's own avx512fintrin.h initializes its "undefined" vectors from
// themselves, which -Wmaybe-uninitialized reports in every caller of the
// unpack intrinsics.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <memory>
#include <new>
#endif

namespace nabla::kernels::detail {

#if defined(__AVX512F__)

// Note [AVX-512 GEMM]: where OpenBLAS is held to its AVX2 (Haswell) kernels
// by the environment on an AVX-512 machine, Eigen's AVX-512 GEMM was the
// faster of the two, at 130–165 GFLOP/s on one core for the MLP's float32
// products, some 55–65% of the core's FMA peak (about 245 GFLOP/s at
// 3.8 GHz: two 512-bit FMAs a cycle). This is the usual packed design
// (Goto/BLIS), written once for both precisions over a register of W lanes
// (16 floats or 8 doubles): op(B) is packed in slivers of NR = 2W columns
// (two registers wide) and op(A) in slivers of MR = 12 rows, each k-major,
// so that the micro-kernel streams both with unit stride and keeps a 12×2W
// block of C in 24 accumulators: per k, two loads of B, twelve broadcasts of
// A and 24 FMAs. The B sliver (KC × NR elements, 32 KiB in either precision)
// stays in L1 while the A slivers of a row block (MC × KC) come from L2.
// Packing transposes where the operand's layout needs it with W×W register
// transposes, so that it costs a few percent of the products even for the
// 64-row shards of a training step. On pre-packed data the float32
// micro-kernel runs at about 220 GFLOP/s. float64 runs the same code at half
// the lanes; it serves the products that gradient checks, `--check` and
// `nabla diff --at` do in double (the figures: BENCHMARKS.md, GEMM).
namespace {

// Rows r[0..15] become columns: afterwards r[j][i] is the old r[i][j].
inline void transpose(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + c] holds columns 4L + c (L = 128-bit lane) of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  __m512 v[16];
  for (int c = 0; c < 4; ++c) {
    v[c] = _mm512_shuffle_f32x4(u[c], u[c + 4], 0x88);
    v[c + 4] = _mm512_shuffle_f32x4(u[c], u[c + 4], 0xdd);
    v[c + 8] = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0x88);
    v[c + 12] = _mm512_shuffle_f32x4(u[c + 8], u[c + 12], 0xdd);
  }
  for (int c = 0; c < 8; ++c) {
    r[c] = _mm512_shuffle_f32x4(v[c], v[c + 8], 0x88);
    r[c + 8] = _mm512_shuffle_f32x4(v[c], v[c + 8], 0xdd);
  }
}

// The same for 8 rows of 8 doubles. After the unpacks, t[2p] and t[2p + 1]
// hold the even and the odd columns of rows 2p, 2p + 1 in pairs; 0x88 picks
// 128-bit lanes (0, 2) of each source and 0xdd lanes (1, 3).
inline void transpose(__m512d r[8]) {
  __m512d t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  for (int p = 0; p < 2; ++p) {  // p = 0: columns 0, 2, 4, 6; p = 1: 1, 3, 5, 7
    u[4 * p] = _mm512_shuffle_f64x2(t[p], t[p + 2], 0x88);          // columns 0|4 of rows 0–3
    u[4 * p + 1] = _mm512_shuffle_f64x2(t[p], t[p + 2], 0xdd);      // columns 2|6 of rows 0–3
    u[4 * p + 2] = _mm512_shuffle_f64x2(t[p + 4], t[p + 6], 0x88);  // columns 0|4 of rows 4–7
    u[4 * p + 3] = _mm512_shuffle_f64x2(t[p + 4], t[p + 6], 0xdd);  // columns 2|6 of rows 4–7
  }
  for (int p = 0; p < 2; ++p) {
    r[p] = _mm512_shuffle_f64x2(u[4 * p], u[4 * p + 2], 0x88);
    r[p + 4] = _mm512_shuffle_f64x2(u[4 * p], u[4 * p + 2], 0xdd);
    r[p + 2] = _mm512_shuffle_f64x2(u[4 * p + 1], u[4 * p + 3], 0x88);
    r[p + 6] = _mm512_shuffle_f64x2(u[4 * p + 1], u[4 * p + 3], 0xdd);
  }
}

// One register of T and what the kernel does with it.
template <class T>
struct Simd;

template <>
struct Simd<float> {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int64_t W = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V load(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static void store(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
};

template <>
struct Simd<double> {
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int64_t W = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V load(const double* p) { return _mm512_load_pd(p); }
  static V load(Mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, V v) { _mm512_store_pd(p, v); }
  static void store(double* p, Mask m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
};

template <class T>
struct Blocking {
  static constexpr int64_t W = Simd<T>::W;
  static constexpr int64_t MR = 12, NR = 2 * W, KC = 256, MC = 120;
  static constexpr int64_t NC = 2048 / int64_t(sizeof(T));  // a KC × NC panel of op(B): 512 KiB
};

template <class T>
inline typename Simd<T>::Mask lanes(int64_t n) {  // the first min(n, W) lanes
  using Mask = typename Simd<T>::Mask;
  return n >= Simd<T>::W ? Mask(~Mask(0)) : static_cast<Mask>((1u << std::max<int64_t>(n, 0)) - 1);
}

// Packs `width` ≤ W vectors of a strided matrix, each `len` long along its
// contiguous dimension, into dst transposed: dst[k * stride + i] = src_i[k]
// for k < len, i < W (rows i ≥ width read as zeros), storing `keep` lanes.
template <class T>
inline void pack_transposed(const T* src, int64_t ld, int64_t width, int64_t len, T* dst, int64_t stride,
                            typename Simd<T>::Mask keep) {
  using S = Simd<T>;
  typename S::V r[S::W];
  for (int64_t k0 = 0; k0 < len; k0 += S::W) {
    const auto m = lanes<T>(len - k0);
    for (int64_t i = 0; i < S::W; ++i) r[i] = i < width ? S::load(m, src + i * ld + k0) : S::zero();
    transpose(r);
    const int64_t n = std::min<int64_t>(S::W, len - k0);
    for (int64_t k = 0; k < n; ++k) S::store(dst + (k0 + k) * stride, keep, r[k]);
  }
}

// op(B)[k0 : k0 + kc, j0 : j0 + nc] into slivers of NR columns: sliver s at
// Bp + s·kc·NR, row k of it at + k·NR; columns past nc are zeros.
template <class T>
void pack_b(bool tb, const T* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* Bp) {
  using S = Simd<T>;
  constexpr int64_t W = S::W, NR = Blocking<T>::NR;
  for (int64_t s = 0; s * NR < nc; ++s) {
    T* dst = Bp + s * kc * NR;
    const int64_t j = j0 + s * NR, w = std::min(NR, nc - s * NR);
    if (!tb) {  // B is K×N: row k of the sliver is contiguous
      const auto m0 = lanes<T>(w), m1 = lanes<T>(w - W);
      const T* src = B + k0 * ldb + j;
      for (int64_t k = 0; k < kc; ++k, src += ldb, dst += NR) {
        S::store(dst, S::load(m0, src));
        S::store(dst + W, S::load(m1, src + W));
      }
    } else {  // B is N×K: the sliver's columns are rows of B
      for (int64_t h = 0; h < 2; ++h) {
        const int64_t wh = std::min<int64_t>(W, w - W * h);
        if (wh <= 0) {
          for (int64_t k = 0; k < kc; ++k) S::store(dst + k * NR + W * h, S::zero());
          continue;
        }
        pack_transposed(B + (j + W * h) * ldb + k0, ldb, wh, kc, dst + W * h, NR, lanes<T>(W));
      }
    }
  }
}

// op(A)[i0 : i0 + mc, k0 : k0 + kc] into slivers of MR rows: sliver s at
// Ap + s·kc·MR, column k of it at + k·MR; rows past mc are zeros. A column
// of a sliver is one register (float: 12 of 16 lanes) or two (double: 8 + 4).
template <class T>
void pack_a(bool ta, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, T* Ap) {
  using S = Simd<T>;
  constexpr int64_t W = S::W, MR = Blocking<T>::MR;
  for (int64_t s = 0; s * MR < mc; ++s) {
    T* dst = Ap + s * kc * MR;
    const int64_t i = i0 + s * MR, h = std::min(MR, mc - s * MR);
    for (int64_t r0 = 0; r0 < MR; r0 += W) {  // rows r0 .. r0 + W of the sliver
      const auto keep = lanes<T>(MR - r0);
      if (ta) {  // A is K×M: column k of the sliver is contiguous
        const auto m = lanes<T>(h - r0);
        const T* src = A + k0 * lda + i + r0;
        for (int64_t k = 0; k < kc; ++k, src += lda) S::store(dst + k * MR + r0, keep, S::load(m, src));
      } else {  // A is M×K: the sliver's rows are rows of A
        pack_transposed(A + (i + r0) * lda + k0, lda, h - r0, kc, dst + r0, MR, keep);
      }
    }
  }
}

// C[0:mr, 0:nr] = alpha·Ap·Bp + (first ? beta·C : C), Ap a packed MR sliver
// and Bp a packed NR sliver of depth kc.
template <class T>
inline void micro_kernel(int64_t kc, const T* __restrict Ap, const T* __restrict Bp, T* C, int64_t ldc, int64_t mr,
                         int64_t nr, T alpha, T beta, bool first) {
  using S = Simd<T>;
  constexpr int64_t W = S::W, MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  typename S::V c0[MR], c1[MR];
  for (int64_t i = 0; i < MR; ++i) c0[i] = c1[i] = S::zero();
  for (int64_t k = 0; k < kc; ++k, Ap += MR, Bp += NR) {
    const auto b0 = S::load(Bp), b1 = S::load(Bp + W);
#pragma GCC unroll 12
    for (int64_t i = 0; i < MR; ++i) {
      const auto a = S::set1(Ap[i]);
      c0[i] = S::fmadd(a, b0, c0[i]);
      c1[i] = S::fmadd(a, b1, c1[i]);
    }
  }
  const auto m0 = lanes<T>(nr), m1 = lanes<T>(nr - W);
  const auto va = S::set1(alpha);
  const bool read = !first || beta != T(0);
  const auto scale = S::set1(first ? beta : T(1));
#pragma GCC unroll 12
  for (int64_t i = 0; i < MR; ++i) {
    if (i >= mr) break;
    T* row = C + i * ldc;
    auto x0 = S::mul(va, c0[i]), x1 = S::mul(va, c1[i]);
    if (read) {
      x0 = S::fmadd(scale, S::load(m0, row), x0);
      x1 = S::fmadd(scale, S::load(m1, row + W), x1);
    }
    S::store(row, m0, x0);
    S::store(row + W, m1, x1);
  }
}

struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

template <class T>
T* buffer(std::unique_ptr<T[], FreeDeleter>& b, size_t elements) {
  if (!b) {
    b.reset(static_cast<T*>(std::aligned_alloc(64, elements * sizeof(T))));
    if (!b) throw std::bad_alloc();
  }
  return b.get();
}

// Blocks of at most `step` that split n evenly, rounded up to `align`.
int64_t even_step(int64_t n, int64_t step, int64_t align) {
  const int64_t blocks = (n + step - 1) / step;
  const int64_t s = (n + blocks - 1) / blocks;
  return std::min(step, (s + align - 1) / align * align);
}

template <class T>
void gemm_packed(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                 int64_t ldb, T beta, T* C, int64_t ldc) {
  using P = Blocking<T>;
  // Packing buffers, one pair per thread and precision, kept for the thread's life.
  thread_local std::unique_ptr<T[], FreeDeleter> ap_buf, bp_buf;
  T* Ap = buffer(ap_buf, static_cast<size_t>(P::MC * P::KC));
  T* Bp = buffer(bp_buf, static_cast<size_t>(P::KC * P::NC));
  const int64_t kstep = even_step(K, P::KC, 16);
  for (int64_t jc = 0; jc < N; jc += P::NC) {
    const int64_t nc = std::min(P::NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kstep) {
      const int64_t kc = std::min(kstep, K - pc);
      pack_b(tb, B, ldb, pc, kc, jc, nc, Bp);
      for (int64_t ic = 0; ic < M; ic += P::MC) {
        const int64_t mc = std::min(P::MC, M - ic);
        pack_a(ta, A, lda, ic, mc, pc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += P::NR)
          for (int64_t ir = 0; ir < mc; ir += P::MR)
            micro_kernel(kc, Ap + ir * kc, Bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                         std::min(P::MR, mc - ir), std::min(P::NR, nc - jr), alpha, beta, pc == 0);
      }
    }
  }
}

}  // namespace

bool gemm_avx512_available() noexcept { return true; }

void gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_packed(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_packed(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#else  // no AVX-512 in this build

bool gemm_avx512_available() noexcept { return false; }

void gemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                 float*, int64_t) {
  std::abort();  // callers check gemm_avx512_available() first
}

void gemm_avx512(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*, int64_t,
                 double, double*, int64_t) {
  std::abort();
}

#endif

}  // namespace nabla::kernels::detail
