// nabla's float32 GEMM for AVX-512 machines. See sgemm_avx512.hpp.
#include "sgemm_avx512.hpp"

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

// Note [AVX-512 SGEMM]: where OpenBLAS is held to its AVX2 (Haswell)
// kernels by the environment on an AVX-512 machine, Eigen's AVX-512 GEMM was
// the faster of the two, at 130–165 GFLOP/s on one core for the MLP's
// products, some 55–65% of the core's FMA peak (about 245 GFLOP/s at
// 3.8 GHz: two 512-bit FMAs a cycle). This is the usual packed design
// (Goto/BLIS): op(B) is packed in slivers of NR = 32 columns (two registers
// wide) and op(A) in slivers of MR = 12 rows, each k-major, so that the
// micro-kernel streams both with unit stride and keeps a 12×32 block of C in
// 24 accumulators: per k, two loads of B, twelve broadcasts of A and 24 FMAs.
// The B sliver (KC × 32 floats, 32 KiB) stays in L1 while the A slivers of a
// row block (MC × KC, 120 KiB) come from L2. Packing transposes where the
// operand's layout needs it with 16×16 register transposes, so that it costs
// a few percent of the products even for the 64-row shards of a training
// step. On pre-packed data the micro-kernel runs at about 220 GFLOP/s.
namespace {

constexpr int64_t MR = 12, NR = 32, KC = 256, MC = 120, NC = 512;

// Rows r[0..15] become columns: afterwards r[j][i] is the old r[i][j].
inline void transpose16(__m512 r[16]) {
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

inline __mmask16 lanes(int64_t n) {  // the first min(n, 16) lanes
  return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1);
}

// Packs `width` ≤ 16 vectors of a strided matrix, each `len` long along its
// contiguous dimension, into dst transposed: dst[k * stride + i] = src_i[k]
// for k < len, i < 16 (rows i ≥ width read as zeros), storing `keep` lanes.
inline void pack_transposed(const float* src, int64_t ld, int64_t width, int64_t len, float* dst, int64_t stride,
                            __mmask16 keep) {
  __m512 r[16];
  for (int64_t k0 = 0; k0 < len; k0 += 16) {
    const __mmask16 m = lanes(len - k0);
    for (int i = 0; i < 16; ++i)
      r[i] = i < width ? _mm512_maskz_loadu_ps(m, src + i * ld + k0) : _mm512_setzero_ps();
    transpose16(r);
    const int64_t n = std::min<int64_t>(16, len - k0);
    for (int64_t k = 0; k < n; ++k) _mm512_mask_storeu_ps(dst + (k0 + k) * stride, keep, r[k]);
  }
}

// op(B)[k0 : k0 + kc, j0 : j0 + nc] into slivers of NR columns: sliver s at
// Bp + s·kc·NR, row k of it at + k·NR; columns past nc are zeros.
void pack_b(bool tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* Bp) {
  for (int64_t s = 0; s * NR < nc; ++s) {
    float* dst = Bp + s * kc * NR;
    const int64_t j = j0 + s * NR, w = std::min(NR, nc - s * NR);
    if (!tb) {  // B is K×N: row k of the sliver is contiguous
      const __mmask16 m0 = lanes(w), m1 = lanes(w - 16);
      const float* src = B + k0 * ldb + j;
      for (int64_t k = 0; k < kc; ++k, src += ldb, dst += NR) {
        _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else {  // B is N×K: the sliver's columns are rows of B
      for (int h = 0; h < 2; ++h) {
        const int64_t wh = std::min<int64_t>(16, w - 16 * h);
        if (wh <= 0) {
          for (int64_t k = 0; k < kc; ++k) _mm512_store_ps(dst + k * NR + 16 * h, _mm512_setzero_ps());
          continue;
        }
        pack_transposed(B + (j + 16 * h) * ldb + k0, ldb, wh, kc, dst + 16 * h, NR, 0xffff);
      }
    }
  }
}

// op(A)[i0 : i0 + mc, k0 : k0 + kc] into slivers of MR rows: sliver s at
// Ap + s·kc·MR, column k of it at + k·MR; rows past mc are zeros.
void pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* Ap) {
  constexpr __mmask16 kRow = (1u << MR) - 1;
  for (int64_t s = 0; s * MR < mc; ++s) {
    float* dst = Ap + s * kc * MR;
    const int64_t i = i0 + s * MR, h = std::min(MR, mc - s * MR);
    if (ta) {  // A is K×M: column k of the sliver is contiguous
      const __mmask16 m = lanes(h);
      const float* src = A + k0 * lda + i;
      for (int64_t k = 0; k < kc; ++k, src += lda)
        _mm512_mask_storeu_ps(dst + k * MR, kRow, _mm512_maskz_loadu_ps(m, src));
    } else {  // A is M×K: the sliver's rows are rows of A
      pack_transposed(A + i * lda + k0, lda, h, kc, dst, MR, kRow);
    }
  }
}

// C[0:mr, 0:nr] = alpha·Ap·Bp + (first ? beta·C : C), Ap a packed MR sliver
// and Bp a packed NR sliver of depth kc.
inline void micro_kernel(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C, int64_t ldc,
                         int64_t mr, int64_t nr, float alpha, float beta, bool first) {
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, Ap += MR, Bp += NR) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
  }
  const __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const bool read = !first || beta != 0.0f;
  const __m512 scale = first ? vb : _mm512_set1_ps(1.0f);
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    float* row = C + i * ldc;
    __m512 x0 = _mm512_mul_ps(va, c0[i]), x1 = _mm512_mul_ps(va, c1[i]);
    if (read) {
      x0 = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(m0, row), x0);
      x1 = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(m1, row + 16), x1);
    }
    _mm512_mask_storeu_ps(row, m0, x0);
    _mm512_mask_storeu_ps(row + 16, m1, x1);
  }
}

struct FreeDeleter {
  void operator()(float* p) const noexcept { std::free(p); }
};

float* buffer(std::unique_ptr<float[], FreeDeleter>& b, size_t floats) {
  if (!b) {
    b.reset(static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float))));
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

}  // namespace

bool sgemm_avx512_available() noexcept { return true; }

void sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // Packing buffers, one pair per thread, kept for the thread's life.
  thread_local std::unique_ptr<float[], FreeDeleter> ap_buf, bp_buf;
  float* Ap = buffer(ap_buf, static_cast<size_t>(MC * KC));
  float* Bp = buffer(bp_buf, static_cast<size_t>(KC * NC));
  const int64_t kstep = even_step(K, KC, 16);
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kstep) {
      const int64_t kc = std::min(kstep, K - pc);
      pack_b(tb, B, ldb, pc, kc, jc, nc, Bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        pack_a(ta, A, lda, ic, mc, pc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            micro_kernel(kc, Ap + ir * kc, Bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, std::min(MR, mc - ir),
                         std::min(NR, nc - jr), alpha, beta, pc == 0);
      }
    }
  }
}

#else  // no AVX-512 in this build

bool sgemm_avx512_available() noexcept { return false; }

void sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t) {
  std::abort();  // callers check sgemm_avx512_available() first
}

#endif

}  // namespace nabla::kernels::detail
