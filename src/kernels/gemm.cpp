// GEMM: C = alpha · op(A) · op(B) + beta · C over row-major buffers, through
// OpenBLAS (cblas_?gemm), Eigen 3.4 or nabla's own AVX-512 kernel
// (gemm_avx512.cpp), chosen per call by shape and dtype (see Note [GEMM
// backend choice] below); outer products with op(B) = Bᵀ by a loop of their
// own (Note [Outer products]).
//
// Threads. OpenBLAS has its own pthread pool; Eigen and the own kernel are
// single-threaded. For more than one thread on those paths,
// C is cut into as many blocks as threads (rows or columns, whichever makes
// the threads re-pack the smaller operand) and a helper pool of our own
// (parallel.cpp) runs the blocks; the caller works on blocks too, and takes over any block no
// helper has started, so a descheduled helper never stalls it. Helpers poll
// for the next job briefly, then sleep on a futex (Note [Spinning helpers]);
// they are sent to sleep before a multi-threaded OpenBLAS call, so that no two
// pools spin against each other. Block boundaries depend only on the shape and the thread count, so a
// run repeats bit for bit on the same machine and thread count.
#include "gemm.hpp"

#include <cblas.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "../tensor/small_alloc.hpp"
#include "nabla/error.hpp"
#include "parallel.hpp"
#include "gemm_avx512.hpp"
#include "vmath.hpp"  // NABLA_SIMDLEN

namespace nabla::kernels {
namespace {

// ---- backend choice -----------------------------------------------------------
//
// Note [GEMM backend choice]
// Which library is faster depends first on the vector width each one runs
// with: Eigen's is fixed when this file is compiled (-march=native: AVX-512
// where the compiler sees it, else AVX2), OpenBLAS picks its kernel at run
// time (OPENBLAS_CORETYPE=Haswell pins AVX2 kernels even on AVX-512 CPUs).
// GFLOP/s below are medians from bench/gemm_bench (ours) and from the peer
// measurements of BENCHMARKS.md, float32 unless noted, shapes M×K×N.
//
// (a) Eigen wider than OpenBLAS (AVX-512 Eigen, AVX2 OpenBLAS; Zen 5 with the
//     environment pinning OpenBLAS to Haswell). One thread, Eigen vs OpenBLAS:
//     128×784×256 166 vs 115, 128×256×128 161 vs 114, 1024² 152 vs 117,
//     float64 81 vs 53 on the same MLP shape, 128×10×128 ("A·Bᵀ") 100 vs 87;
//     N = 10 with op(A) = Aᵀ is the one loss (128×128×10 TN: 46 vs 62; float64
//     36 vs 36). Two threads: Eigen on two threads 272–321 vs OpenBLAS 196–215
//     on the MLP shapes, 331 vs 229 at 1024². On Zen 4 (same pinning): Eigen
//     1.3–1.4× OpenBLAS on the MLP shapes in both precisions, and with N = 10
//     and op(A) = Aᵀ OpenBLAS ahead in float32 (TN 55 vs 39, TT 49 vs 42) but
//     not in float64 (31 vs 29, 32 vs 28 for Eigen). So: Eigen, block-parallel
//     on our pool when threads > 1, except float32 Aᵀ·op(B) with N < 16.
// (b) Same width (AVX2 both: a CPU or VM without AVX-512). One thread,
//     OpenBLAS vs Eigen: 128×784×256 76 vs 51, 784×128×256 72 vs 55,
//     128×256×128 72 vs 53, 1024² 75 vs 49, float64 33 vs 21 — OpenBLAS's
//     hand-written kernels win by 1.3–1.5× — but with a short inner
//     dimension OpenBLAS's packing is not paid back: 128×10×128 30 vs 41
//     (float64 17 vs 21), 128×16×128 1.13–1.19× in Eigen's favour, 128×32×128
//     a tie. Tiny products are dominated by call overhead: W·x (16×16×1)
//     0.17 vs 0.05 µs, 16×1×16 0.18 vs 0.11 µs, 16³ 0.35 vs 0.27 µs; 32³ a tie;
//     64³ 0.94 vs 1.08 µs. So: Eigen for K ≤ 16 or M·N·K ≤ 8192, else OpenBLAS
//     with its own threads.
// (c) In case (a), float32 products with N ≥ 16, K ≥ 16 and M·N·K > 8192 go to
//     nabla's own packed AVX-512 kernel (Note [AVX-512 GEMM] in
//     gemm_avx512.cpp): one thread, 157–194 vs Eigen's 122–145 GFLOP/s
//     (1.22–1.48×) on the MLP's 64- and 128-row products and at 1024², all
//     four transpositions (BENCHMARKS.md); block-parallel on our pool like
//     Eigen. NABLA_GEMM=eigen turns it off. float64 (measured with
//     OPENBLAS_CORETYPE=Haswell on the Intel Xeon of case (d), which
//     reproduces this case's OpenBLAS but not Zen's cores): own 68–79
//     against Eigen's 58–71 GFLOP/s with M ≥ 128 and N ≥ 64 (1.08–1.18×;
//     128×10×128 1.62–1.75×), behind Eigen with M = 64 (0.88–1.06) and at
//     1024² (0.96–0.99). So float64 takes it for M ≥ 128 and N ≥ 16 up to
//     2²⁷, as in case (d).
// (d) OpenBLAS on its AVX-512 (SkylakeX) kernels, float32: Intel Xeon
//     (Sapphire Rapids), OPENBLAS_CORETYPE unset, one thread, own kernel /
//     OpenBLAS / Eigen (NABLA_GEMM=own gemm_bench): the MLP's products with
//     N, K ≥ 64 160–183 / 130–167 / 125–166 (own 1.01–1.20× the better peer,
//     all four transpositions, M = 64 and 128); but OpenBLAS has small-matrix
//     kernels for this core: 64³ NN/TN/TT 185–213 vs 133 (NT: own 130,
//     Eigen 127, OpenBLAS 108), 128×10×128 NN/TN 167–175 vs own 111 (NT/TT:
//     own 105–111 vs 78–86), 128×128×10 OpenBLAS except NT (Eigen 55 vs 48);
//     at 1024² OpenBLAS 148–160 vs own 131–147. Tiny products (16×16×1,
//     16×1×16): OpenBLAS 19–25 where op(A) is read down its stored columns
//     (W·x TN/TT, g·xᵀ with K = 1 and B not transposed), else Eigen 7–13 vs
//     OpenBLAS 5. So: M·N·K ≤ 8192 by that layout rule; up to 2¹⁸ OpenBLAS
//     except NT (own, Eigen for N < 16) and TT with K < 16 (own); above,
//     own for N ≥ 16 up to 2²⁷, OpenBLAS beyond and for N < 16.
//     float64, one thread, quiet host, own / OpenBLAS / Eigen: own 74–84
//     against 68–76 for the better peer (1.08–1.15×) on the products with
//     M ≥ 128 and N ≥ 64 — 128×784×256, 784×128×256, 256×64×784,
//     128×64×256 — and a tie at 128×256×128; with M = 64 (the shards) Eigen
//     or OpenBLAS by 0–8% (64×256×128 own 64–68 vs Eigen 68–72: the 12-row
//     tile wastes a sixth of its last sliver), and OpenBLAS at 1024² (74–76
//     vs 65–70). OpenBLAS's small-matrix kernels win up to 2¹⁸ (64³ NN
//     95–99 vs 60–66; tiny ones 11–20), except NT, where it has none (own
//     70 vs Eigen 42 at 128×10×128, N < 16 Eigen). So: up to 2¹⁸ OpenBLAS
//     except NT (own, Eigen for N < 16); above, own for M ≥ 128 and
//     N ≥ 16 up to 2²⁷; else Eigen except N ≥ 512 and TN with K ≥ 512
//     (OpenBLAS); OpenBLAS beyond 2²⁷.
// The choice is a fixed function of what the build and OpenBLAS report, the
// shape and the dtype (the thread count only splits the chosen kernel's
// work, on block edges fixed by the shape), not a timing taken at start-up:
// a calibration cached per machine could pick another backend after a noisy
// run, or on the next machine of a pool, and each backend rounds
// differently, so one machine and thread count would no longer repeat its
// results bit for bit.

enum class Backend { openblas, eigen, packed };
enum class Mode { automatic, openblas, eigen, own };

// NABLA_GEMM=openblas|eigen|own forces one backend (for measurements; `own`
// is nabla's AVX-512 kernel where the build has it, Eigen
// otherwise); anything else, or unset, is the automatic choice.
Mode mode_from_env() {
  const char* s = std::getenv("NABLA_GEMM");
  if (s && std::strcmp(s, "openblas") == 0) return Mode::openblas;
  if (s && std::strcmp(s, "eigen") == 0) return Mode::eigen;
  if (s && std::strcmp(s, "own") == 0) return Mode::own;
  return Mode::automatic;
}

// Does OpenBLAS run an AVX-512 kernel? (Its core names as of 0.3.21.)
bool openblas_is_avx512() {
  const char* core = openblas_get_corename();
  if (!core) return false;
  std::string c(core);
  for (char& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c.find("skylakex") != std::string::npos || c.find("cooperlake") != std::string::npos ||
         c.find("sapphirerapids") != std::string::npos;
}

struct Policy {
  Mode mode;
  bool eigen_wider;  // case (a) of the note
  bool packed;       // nabla's AVX-512 kernel is in this build: case (c)
  bool blas_avx512;  // OpenBLAS runs its AVX-512 kernels: case (d)
};

Policy make_policy() {
#ifdef EIGEN_VECTORIZE_AVX512
  const bool eigen_avx512 = true;
#else
  const bool eigen_avx512 = false;
#endif
  const bool blas512 = openblas_is_avx512();
  return Policy{mode_from_env(), eigen_avx512 && !blas512, detail::gemm_avx512_available(), blas512};
}

// Read once, when the library is loaded (OpenBLAS, a dependency, is set up
// before): a plain object, so that a tiny product pays no guard for it.
const Policy g_policy = make_policy();

inline const Policy& policy() { return g_policy; }

inline Backend choose(bool f32, bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  const Policy& p = policy();
  if (p.mode == Mode::openblas) return Backend::openblas;
  if (p.mode == Mode::eigen) return Backend::eigen;
  if (p.mode == Mode::own) return p.packed ? Backend::packed : Backend::eigen;
  const int64_t mnk = M * N * K;
  if (p.blas_avx512 && f32) {  // case (d)
    if (mnk <= 8192) return (K == 1 ? !tb : ta) ? Backend::openblas : Backend::eigen;
    if (mnk <= (int64_t{1} << 18)) {  // OpenBLAS's small-matrix kernels
      if (ta == tb) return tb && K < 16 && p.packed ? Backend::packed : Backend::openblas;
      if (!tb) return Backend::openblas;  // TN
      return N >= 16 && p.packed ? Backend::packed : Backend::eigen;  // NT
    }
    if (N < 16 || mnk > (int64_t{1} << 27) || !p.packed) return Backend::openblas;
    return Backend::packed;
  }
  if (p.blas_avx512) {  // case (d), float64
    const bool nt = tb && !ta;
    if (mnk <= (int64_t{1} << 18)) {
      if (!nt) return Backend::openblas;
      return N >= 16 && p.packed ? Backend::packed : Backend::eigen;
    }
    if (mnk > (int64_t{1} << 27)) return Backend::openblas;
    if (M >= 128 && N >= 16 && p.packed) return Backend::packed;
    if (N >= 512 || (ta && !tb && K >= 512)) return Backend::openblas;
    return Backend::eigen;
  }
  if (mnk <= 8192) return Backend::eigen;  // call overhead dominates: Eigen's is the lowest
  if (p.eigen_wider) {
    if (f32 && p.packed && N >= 16 && K >= 16) return Backend::packed;
    if (!f32 && p.packed && M >= 128 && N >= 16 && mnk <= (int64_t{1} << 27)) return Backend::packed;
    return f32 && ta && N < 16 ? Backend::openblas : Backend::eigen;
  }
  return K <= 16 ? Backend::eigen : Backend::openblas;
}

// ---- threads --------------------------------------------------------------------

std::atomic<int> g_threads{0};  // 0 until first use: then the startup default

int default_threads() {
  static const int n = std::max(1, openblas_get_num_threads());
  return n;
}

// Set inside a shard of run_shards: every kernel on this thread runs serially.
NABLA_TLS bool t_serial = false;

int threads_now() {
  if (t_serial) return 1;
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : default_threads();
}

// ---- Eigen --------------------------------------------------------------------------

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T, class CMap, class L, class R>
void eigen_product(CMap& c, const L& a, const R& b, T alpha, T beta) {
  if (beta == T(0)) {
    c.noalias() = alpha * a * b;  // C is not read: NaNs in it do not propagate
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

// C[m×n] = alpha · op(A) · op(B) + beta · C with Eigen maps over the buffers.
// Strided maps (a run-time row stride) cost Eigen ~0.13 µs more per call than
// dense ones (W·x, 16×16: 0.19 vs 0.06 µs), which matters for tiny products,
// so dense buffers — the usual case — get dense maps.
template <class T, bool Strided>
void eigen_run(bool ta, bool tb, int64_t m, int64_t n, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using S = std::conditional_t<Strided, Eigen::OuterStride<>, Eigen::Stride<0, 0>>;
  auto map = [](auto* p, int64_t rows, int64_t cols, int64_t ld) {
    using M = Eigen::Map<std::conditional_t<std::is_const_v<std::remove_pointer_t<decltype(p)>>,
                                            const RowMat<T>, RowMat<T>>,
                         Eigen::Unaligned, S>;
    if constexpr (Strided) return M(p, rows, cols, S(ld));
    else return M(p, rows, cols);
  };
  auto a = map(A, ta ? K : m, ta ? m : K, lda);
  auto b = map(B, tb ? n : K, tb ? K : n, ldb);
  auto c = map(C, m, n, ldc);
  if (!ta && !tb) eigen_product(c, a, b, alpha, beta);
  else if (!ta && tb) eigen_product(c, a, b.transpose(), alpha, beta);
  else if (ta && !tb) eigen_product(c, a.transpose(), b, alpha, beta);
  else eigen_product(c, a.transpose(), b.transpose(), alpha, beta);
}

// One block of C: rows [r0, r1) × columns [c0, c1), by Eigen or, with
// `packed`, by nabla's AVX-512 kernel.
template <class T>
void gemm_block(bool packed, bool ta, bool tb, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t K,
                T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const int64_t m = r1 - r0, n = c1 - c0;
  // op(A)[r0:r1, :] — stored rows r0.. of A, or stored columns r0.. of Aᵀ.
  const T* a = ta ? A + r0 : A + r0 * lda;
  // op(B)[:, c0:c1] — stored columns c0.. of B, or stored rows c0.. of Bᵀ.
  const T* b = tb ? B + c0 * ldb : B + c0;
  T* c = C + r0 * ldc + c0;
  if (packed) {
    detail::gemm_avx512(ta, tb, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const bool dense = lda == (ta ? m : K) && ldb == (tb ? K : n) && ldc == n;
  if (dense) eigen_run<T, false>(ta, tb, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
  else eigen_run<T, true>(ta, tb, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void split_gemm(bool packed, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  // Split only when each thread gets enough work to pay for waking a helper
  // and re-packing the operand it shares with the others.
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const bool split_rows = M >= N;  // each block re-packs op(B) (K×N) or op(A) (M×K)
  const int64_t extent = split_rows ? M : N;
  int blocks = threads;
  if (flops < 4e6) blocks = 1;
  blocks = static_cast<int>(std::min<int64_t>(blocks, extent / 32));
  if (blocks <= 1) {
    gemm_block(packed, ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Block edges on multiples of 16 (whole SIMD registers for the kernel).
  auto edge = [&](int i) -> int64_t {
    if (i >= blocks) return extent;
    int64_t e = extent * i / blocks;
    return std::min<int64_t>(extent, (e + 8) / 16 * 16);
  };
  std::function<void(int)> job = [&](int i) {
    int64_t lo = edge(i), hi = edge(i + 1);
    if (lo >= hi) return;
    if (split_rows) gemm_block(packed, ta, tb, lo, hi, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_block(packed, ta, tb, 0, M, lo, hi, K, alpha, A, lda, B, ldb, beta, C, ldc);
  };
  run_blocks(threads, blocks, job);
}

// ---- OpenBLAS --------------------------------------------------------------------------

void blas_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemm(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ---- outer products --------------------------------------------------------------------
//
// Note [Outer products]
// C = alpha · a bᵀ + beta · C with K = 1 and op(B) = Bᵀ (B stored N×1: the
// layouts NT and TT) — g·xᵀ in the backward pass of W·x with a column
// vector x — runs 4–5× slower in both libraries than the arithmetic needs:
// 16×1×16 float32 (gemm_bench, Intel Xeon, one thread): OpenBLAS 4.9–5.0
// GFLOP/s, Eigen 7.0–7.8 (70–100 ns for 256 products), float64 3.8–11.6 and
// 5.4–6.0. A row-by-row loop does it in 23 ns (22 GFLOP/s in float32, 14 in
// float64). The other vector layouts stay with the libraries: loops of our
// own measured slower than the better of them for W·x (a dot product per
// row, whose horizontal sums cost more than OpenBLAS's kernel: 7.0 against
// 10.8–12.9 GFLOP/s) and no faster for NN and TN outer products (18–22
// against 18–26). The order of every sum is fixed by the shape, so results
// repeat bit for bit.
constexpr int64_t kVecMax = 1024;  // longest strided vector copied to the stack

// C = alpha · a bᵀ + beta · C, a[i·as] for i < m, b[j·bs] for j < n.
template <class T>
inline void outer(int64_t m, int64_t n, T alpha, const T* a, int64_t as, const T* b, int64_t bs, T beta,
                  T* __restrict C, int64_t ldc) {
  T buf[kVecMax];
  if (bs != 1) {
    for (int64_t j = 0; j < n; ++j) buf[j] = b[j * bs];
    b = buf;
  }
  const T* __restrict bv = b;
  if (beta == T(0)) {  // C is not read
    for (int64_t i = 0; i < m; ++i) {
      const T ai = alpha * a[i * as];
      T* __restrict row = C + i * ldc;
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
      for (int64_t j = 0; j < n; ++j) row[j] = ai * bv[j];
    }
  } else {
    for (int64_t i = 0; i < m; ++i) {
      const T ai = alpha * a[i * as];
      T* __restrict row = C + i * ldc;
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
      for (int64_t j = 0; j < n; ++j) row[j] = ai * bv[j] + beta * row[j];
    }
  }
}

// ---- entry --------------------------------------------------------------------------------

// Everything but the tiny products (gemm_impl): checks, C = beta·C,
// threads. Out of line, so that a tiny product's call stays short.
template <class T>
[[gnu::noinline]] void gemm_general(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  NABLA_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {  // C = beta · C (BLAS semantics: beta = 0 does not read C)
    for (int64_t i = 0; i < M; ++i) {
      T* row = C + i * ldc;
      if (beta == T(0)) std::fill(row, row + N, T(0));
      else if (beta != T(1)) for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
    return;
  }
  const Backend backend = choose(std::is_same_v<T, float>, ta, tb, M, N, K);
  const int threads = threads_now();
  if (backend != Backend::openblas) {
    split_gemm(backend == Backend::packed, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
    return;
  }
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  NABLA_CHECK(M <= kMax && N <= kMax && K <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
              "gemm: sizes exceed the BLAS integer range (M=", M, " N=", N, " K=", K, ")");
  if (threads > 1) park_helpers();  // OpenBLAS's threads need the cores (Note [Spinning helpers])
  blas_gemm(ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

template <class T>
inline void gemm_impl(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  // Tiny products (M·N·K ≤ 8192) are never split (split_gemm's floor is
  // 4 MFLOP), so they skip the thread bookkeeping: their cost is the call.
  constexpr int64_t kTiny = 8192, kMax = std::numeric_limits<int>::max();
  const bool tiny = M > 0 && N > 0 && K > 0 && M <= kTiny && N <= kTiny && K <= kTiny && M * N * K <= kTiny &&
                    alpha != T(0) && lda <= kMax && ldb <= kMax && ldc <= kMax;
  if (!tiny) return gemm_general(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (K == 1 && tb && N <= kVecMax && policy().mode == Mode::automatic)
    return outer(M, N, alpha, A, ta ? 1 : lda, B, ldb, beta, C, ldc);  // Note [Outer products]
  const Backend backend = choose(std::is_same_v<T, float>, ta, tb, M, N, K);
  if (backend == Backend::openblas)
    return blas_gemm(ta, tb, int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
  gemm_block(backend == Backend::packed, ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_impl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_impl(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void set_num_threads(int n) {
  default_threads();  // capture the startup default before changing it
  int t = n > 0 ? n : default_threads();
  g_threads.store(t, std::memory_order_relaxed);
  openblas_set_num_threads(t);
}

int get_num_threads() { return threads_now(); }

// Note [Shards]: OpenBLAS splits one product over its own threads and
// synchronizes them for every product; at the MLP's sizes on two cores that
// left a fifth of a training step in its scheduler and sched_yield, and
// reached about half of the two cores' FMA peak. Independent work — the two
// halves of a batch — runs better the other way round: one shard per core,
// each doing whole products single-threaded, with one synchronization per
// shard instead of one per product. OpenBLAS's own count goes to one for
// the duration (its threads would otherwise spin beside ours, the thread
// trap), and t_serial keeps nabla's element-wise and Eigen splits inline.
void run_shards(int shards, const std::function<void(int)>& fn) {
  if (shards <= 0) return;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(shards));
  auto shard = [&](int s) {
    const bool was = t_serial;
    t_serial = true;
    try {
      fn(s);
    } catch (...) {
      errors[static_cast<size_t>(s)] = std::current_exception();
    }
    t_serial = was;
  };
  const int threads = threads_now();
  if (threads > 1 && shards > 1) {
    openblas_set_num_threads(1);
    run_blocks(threads, shards, shard);
    openblas_set_num_threads(threads);
  } else {
    for (int s = 0; s < shards; ++s) shard(s);
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace nabla::kernels
