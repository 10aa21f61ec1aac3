// GEMM: nabla::kernels::gemm against raw OpenBLAS (cblas_?gemm) and raw Eigen
// 3.4 on the shapes of the MLP 784-256-128-10 at batch 128, a 1024 square and
// the tiny products of bench/overhead_bench,
// all four transpose cases, float32 and float64, in one run.
//
//   build/release/bench/gemm_bench [--threads=1,2] [Google Benchmark flags]
//
// Shapes are M×K×N: C[M,N] = op(A)[M,K] · op(B)[K,N], all row-major; "NT"
// means B is stored N×K and used transposed (as y = x Wᵀ with W [out,in]).
// Each case runs the three backends back to back with the same buffers; the
// table printed at the end gives GFLOP/s (2MNK / time, median over
// repetitions; time is the calling thread's CPU time for one thread, wall
// time for more) and nabla / max(OpenBLAS, Eigen). OpenBLAS runs with the
// thread count of the row; the raw Eigen peer is always single-threaded (the
// library is built without OpenMP). Repetitions are interleaved at random by
// default, so that the drift of a shared machine hits every backend alike.
#include <cblas.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/gemm.hpp"
#include "summary.hpp"

namespace {

struct Shape {
  const char* role;
  int64_t M, K, N;
};
// M×K×N. The MLP rows are the products of a training step at batch 128.
const Shape kShapes[] = {
    {"L1 784->256", 128, 784, 256},     // x[128,784] · W1
    {"L1 dW", 784, 128, 256},           // xᵀ · dY (the TN product of backprop)
    {"L2 256->128", 128, 256, 128},     // h1 · W2
    {"L3 128->10", 128, 128, 10},       // h2 · W3
    {"L3 dX", 128, 10, 128},            // dY[128,10] · W3ᵀ (K = 10)
    // One shard of a data-parallel step at batch 128 on two threads (64 rows):
    // y = x·Wᵀ (NT), dW = dYᵀ·x (TN, K = 64), dX = dY·W (NN).
    {"shard L1", 64, 784, 256},
    {"shard L1 dW", 256, 64, 784},
    {"shard L2", 64, 256, 128},
    {"shard L2 dW", 128, 64, 256},
    {"shard L2 dX", 64, 128, 256},
    {"square", 1024, 1024, 1024},
    {"tiny W.x", 16, 16, 1},            // the overhead benchmark's W x
    {"tiny outer", 16, 1, 16},          // its backward, g xᵀ
    {"small", 64, 64, 64},
};
const char* kTrans[] = {"NN", "NT", "TN", "TT"};

enum class Backend { nabla, cblas, eigen };
const char* name(Backend b) {
  return b == Backend::nabla ? "nabla" : b == Backend::cblas ? "openblas" : "eigen";
}

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
void eigen_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C) {
  Eigen::Map<const RowMat<T>> a(A, ta ? K : M, ta ? M : K), b(B, tb ? N : K, tb ? K : N);
  Eigen::Map<RowMat<T>> c(C, M, N);
  if (!ta && !tb) c.noalias() = a * b;
  else if (!ta && tb) c.noalias() = a * b.transpose();
  else if (ta && !tb) c.noalias() = a.transpose() * b;
  else c.noalias() = a.transpose() * b.transpose();
}

void cblas_gemm(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B,
                int ldb, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
void cblas_gemm(bool ta, bool tb, int M, int N, int K, const double* A, int lda, const double* B,
                int ldb, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0, A, lda, B, ldb, 0.0, C, ldc);
}

template <class T>
struct Buffer {
  std::unique_ptr<T, decltype(&std::free)> p{nullptr, &std::free};
  explicit Buffer(size_t n, unsigned seed) {
    size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
    p.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; ++i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      p.get()[i] = static_cast<T>(static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5);
    }
  }
  T* get() const { return p.get(); }
};

template <class T>
void run(benchmark::State& state, Backend be, Shape s, int trans, int threads) {
  const bool ta = trans & 2, tb = trans & 1;
  const int64_t M = s.M, K = s.K, N = s.N;
  const int64_t lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  Buffer<T> A(M * K, 1), B(K * N, 2), C(M * N, 3), R(M * N, 4);
  nabla::kernels::set_num_threads(threads);  // also OpenBLAS's count
  openblas_set_num_threads(threads);
  auto call = [&](T* out) {
    switch (be) {
      case Backend::nabla:
        nabla::kernels::gemm<T>(ta, tb, M, N, K, T(1), A.get(), lda, B.get(), ldb, T(0), out, ldc);
        break;
      case Backend::cblas:
        cblas_gemm(ta, tb, int(M), int(N), int(K), A.get(), int(lda), B.get(), int(ldb), out,
                   int(ldc));
        break;
      case Backend::eigen:
        eigen_gemm<T>(ta, tb, M, N, K, A.get(), B.get(), out);
        break;
    }
  };
  // Check against OpenBLAS once, outside the timing.
  call(C.get());
  cblas_gemm(ta, tb, int(M), int(N), int(K), A.get(), int(lda), B.get(), int(ldb), R.get(), int(ldc));
  double err = 0, scale = 0;
  for (int64_t i = 0; i < M * N; ++i) {
    err = std::max(err, std::abs(double(C.get()[i]) - double(R.get()[i])));
    scale = std::max(scale, std::abs(double(R.get()[i])));
  }
  const double tol = (sizeof(T) == 4 ? 1e-5 : 1e-13) * double(K);
  if (!(err <= tol * std::max(scale, 1.0))) {
    state.SkipWithError("result differs from OpenBLAS");
    return;
  }
  for (auto _ : state) {
    call(C.get());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(M) * double(N) * double(K) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

std::string key(const char* dt, const Shape& s, int trans, int threads) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "gemm/%s/%ldx%ldx%ld/%s/threads:%d", dt, long(s.M), long(s.K),
                long(s.N), kTrans[trans], threads);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {1, 2};
  std::vector<char*> args;
  bool interleave_given = false, reps_given = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      thread_counts.clear();
      for (char* p = argv[i] + 10; *p;) {
        thread_counts.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
      continue;
    }
    if (std::strstr(argv[i], "benchmark_enable_random_interleaving")) interleave_given = true;
    if (std::strstr(argv[i], "benchmark_repetitions")) reps_given = true;
    args.push_back(argv[i]);
  }
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  std::string reps = "--benchmark_repetitions=5";
  std::string min_time = "--benchmark_min_time=0.05";
  if (!interleave_given) args.push_back(interleave.data());
  if (!reps_given) {
    args.push_back(reps.data());
    args.push_back(min_time.data());
  }
  std::string agg = "--benchmark_report_aggregates_only=true";
  args.push_back(agg.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());

  const Backend backends[] = {Backend::nabla, Backend::cblas, Backend::eigen};
  for (int t : thread_counts)
    for (const Shape& s : kShapes)
      for (int tr = 0; tr < 4; ++tr)
        for (int dt = 0; dt < 2; ++dt)
          for (Backend be : backends) {
            std::string k = key(dt ? "f64" : "f32", s, tr, t) + "/" + name(be);
            auto* b = dt ? benchmark::RegisterBenchmark(k.c_str(), run<double>, be, s, tr, t)
                         : benchmark::RegisterBenchmark(k.c_str(), run<float>, be, s, tr, t);
            b->Unit(benchmark::kMicrosecond);
            // One thread: the caller's CPU time, which a busy machine disturbs
            // least. More: wall time, since the work is spread over threads.
            if (t > 1) b->UseRealTime();
          }

  nabla::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  std::printf("\nGFLOP/s (median of repetitions); ratio = nabla / max(openblas, eigen)\n");
  std::printf("%-4s %-7s %-14s %-16s %2s %9s %9s %9s %7s\n", "thr", "dtype", "role", "MxKxN", "tr",
              "nabla", "openblas", "eigen", "ratio");
  int below = 0, cases = 0;
  double worst = 1e9;
  for (int t : thread_counts)
    for (int dt = 0; dt < 2; ++dt)
      for (const Shape& s : kShapes)
        for (int tr = 0; tr < 4; ++tr) {
          std::string k = key(dt ? "f64" : "f32", s, tr, t);
          double g[3] = {0, 0, 0};
          bool all = true;
          for (int i = 0; i < 3; ++i) {
            const auto* r = rep.find(k + "/" + name(backends[i]));
            if (!r) { all = false; continue; }
            auto it = r->counters.find("GFLOP/s");
            g[i] = it == r->counters.end() ? 0 : it->second;
          }
          if (!all) continue;
          double ratio = g[0] / std::max(g[1], g[2]);
          ++cases;
          if (ratio < 0.95) ++below;
          worst = std::min(worst, ratio);
          char mkn[32];
          std::snprintf(mkn, sizeof mkn, "%ldx%ldx%ld", long(s.M), long(s.K), long(s.N));
          std::printf("%-4d %-7s %-14s %-16s %2s %9.1f %9.1f %9.1f %7.3f%s\n", t,
                      dt ? "float64" : "float32", s.role, mkn, kTrans[tr], g[0], g[1], g[2], ratio,
                      ratio < 0.95 ? "  <0.95" : "");
        }
  if (cases)
    std::printf("%d cases; worst ratio %.3f; %d below 0.95\n", cases, worst, below);
  benchmark::Shutdown();
  return 0;
}
