// kernels::gemm against a naive triple loop in long double: every transpose
// case, alpha/beta cases, empty and degenerate sizes, leading dimensions
// larger than the rows (sub-matrices), one and two threads, concurrent
// callers. ctest also runs these tests with NABLA_GEMM=openblas and
// NABLA_GEMM=eigen, so both backends and the block-parallel path are covered
// whatever the automatic choice is on the machine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/gemm_avx512.hpp"

namespace nabla::kernels {
namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  int64_t pad;  // extra elements per stored row (ld = cols + pad)
  double alpha, beta;
};

template <class T>
std::vector<T> random_buffer(size_t n, uint64_t seed) {
  std::vector<T> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<T>(static_cast<double>(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  return v;
}

// Runs one case and returns max |C − reference| / (K + 1).
template <class T>
using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*,
                        int64_t);

template <class T>
double run_case(const Case& c, bool nan_in_c = false, GemmFn<T> fn = &gemm<T>) {
  const int64_t ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K;  // A as stored
  const int64_t br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;  // B as stored
  const int64_t lda = ac + c.pad, ldb = bc + c.pad, ldc = c.N + c.pad;
  auto A = random_buffer<T>(static_cast<size_t>(std::max<int64_t>(ar * lda, 1)), 1);
  auto B = random_buffer<T>(static_cast<size_t>(std::max<int64_t>(br * ldb, 1)), 2);
  auto C = random_buffer<T>(static_cast<size_t>(std::max<int64_t>(c.M * ldc, 1)), 3);
  if (nan_in_c)
    for (auto& x : C) x = std::numeric_limits<T>::quiet_NaN();
  const auto C0 = C;
  fn(c.ta, c.tb, c.M, c.N, c.K, static_cast<T>(c.alpha), A.data(), std::max<int64_t>(lda, 1),
          B.data(), std::max<int64_t>(ldb, 1), static_cast<T>(c.beta), C.data(),
          std::max<int64_t>(ldc, 1));
  double err = 0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      long double acc = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        long double a = c.ta ? A[k * lda + i] : A[i * lda + k];
        long double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      long double ref = c.alpha * acc;
      if (c.beta != 0) ref += c.beta * static_cast<long double>(C0[i * ldc + j]);
      err = std::max(err, static_cast<double>(std::fabs(ref - C[i * ldc + j])));
    }
    // The padding after each row of C is never written.
    for (int64_t j = c.N; j < ldc && i * ldc + j < static_cast<int64_t>(C.size()); ++j)
      if (!(C[i * ldc + j] == C0[i * ldc + j]) && !(nan_in_c && std::isnan(C[i * ldc + j])))
        return std::numeric_limits<double>::infinity();
  }
  return err / static_cast<double>(c.K + 1);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const int64_t sizes[][3] = {{1, 1, 1},    {3, 5, 7},     {16, 1, 16},   {16, 16, 1},
                              {128, 10, 128}, {128, 128, 10}, {17, 33, 65},  {130, 70, 300},
                              {64, 300, 20},  {300, 64, 129}, {1, 40, 24},   {1, 1, 700},
                              {33, 1, 200},   {20, 30, 1},    {1, 2000, 3},  {3, 1, 2000}};
  for (auto& s : sizes)
    for (int t = 0; t < 4; ++t)
      for (int64_t pad : {0, 3}) out.push_back({bool(t & 2), bool(t & 1), s[0], s[1], s[2], pad, 1.0, 0.0});
  for (int t = 0; t < 4; ++t)
    for (double alpha : {-2.0, 0.5})
      for (double beta : {1.0, 0.25, -1.0})
        out.push_back({bool(t & 2), bool(t & 1), 70, 90, 110, 1, alpha, beta});
  // Vector products (M, N or K = 1); outer products with op(B) = Bᵀ take a loop
  // of their own (Note [Outer products]).
  const int64_t vectors[][3] = {{16, 1, 16}, {1, 16, 16}, {16, 16, 1}};
  for (auto& s : vectors)
    for (int t = 0; t < 4; ++t)
      for (double beta : {0.0, 1.0, -0.5}) out.push_back({bool(t & 2), bool(t & 1), s[0], s[1], s[2], 2, -1.5, beta});
  return out;
}

class GemmTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    saved_ = get_num_threads();
    set_num_threads(GetParam());
  }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_P(GemmTest, MatchesNaiveFloat64) {
  for (const Case& c : cases())
    EXPECT_LT(run_case<double>(c), 1e-14) << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M
                                          << " N=" << c.N << " K=" << c.K << " pad=" << c.pad
                                          << " alpha=" << c.alpha << " beta=" << c.beta;
}

TEST_P(GemmTest, MatchesNaiveFloat32) {
  for (const Case& c : cases())
    EXPECT_LT(run_case<float>(c), 2e-6) << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M
                                        << " N=" << c.N << " K=" << c.K << " pad=" << c.pad
                                        << " alpha=" << c.alpha << " beta=" << c.beta;
}

TEST_P(GemmTest, BetaZeroDoesNotReadC) {
  for (int t = 0; t < 4; ++t) {
    EXPECT_LT(run_case<double>({bool(t & 2), bool(t & 1), 40, 50, 60, 2, 1.0, 0.0}, true), 1e-14);
    EXPECT_LT(run_case<float>({bool(t & 2), bool(t & 1), 200, 150, 100, 0, 1.0, 0.0}, true), 2e-6);
  }
}

TEST_P(GemmTest, EmptyAndZeroDepth) {
  // K = 0: C = beta · C; M or N = 0: nothing to do (and nothing read).
  EXPECT_LT(run_case<double>({false, false, 4, 5, 0, 0, 1.0, 0.0}), 1e-15);
  EXPECT_LT(run_case<double>({true, true, 4, 5, 0, 1, 2.0, 0.5}), 1e-15);
  EXPECT_LT(run_case<float>({false, true, 0, 5, 3, 0, 1.0, 0.0}), 1e-15);
  EXPECT_LT(run_case<float>({true, false, 5, 0, 3, 0, 1.0, 1.0}), 1e-15);
  // alpha = 0 with NaN-free inputs: C = beta · C.
  EXPECT_LT(run_case<double>({false, false, 6, 7, 8, 0, 0.0, 3.0}), 1e-15);
}

template <class T>
void repeats_bit_for_bit() {
  const int64_t M = 256, N = 200, K = 300;  // split over the threads, and nabla's own kernel where it has one
  auto A = random_buffer<T>(M * K, 4), B = random_buffer<T>(K * N, 5);
  std::vector<T> C1(M * N), C2(M * N);
  gemm<T>(false, true, M, N, K, T(1), A.data(), K, B.data(), K, T(0), C1.data(), N);
  gemm<T>(false, true, M, N, K, T(1), A.data(), K, B.data(), K, T(0), C2.data(), N);
  EXPECT_EQ(C1, C2);
}

TEST_P(GemmTest, RepeatsBitForBit) {
  repeats_bit_for_bit<float>();
  repeats_bit_for_bit<double>();
}

TEST_P(GemmTest, ConcurrentCallers) {
  // Two threads calling gemm at once: each result must still be right (one of
  // them may find the helper pool busy and run on its own).
  double err[2] = {1, 1};
  std::thread t0([&] { err[0] = run_case<double>({false, false, 300, 200, 150, 0, 1.0, 0.0}); });
  std::thread t1([&] { err[1] = run_case<double>({true, true, 250, 220, 170, 1, 1.0, 0.5}); });
  t0.join();
  t1.join();
  EXPECT_LT(err[0], 1e-14);
  EXPECT_LT(err[1], 1e-14);
}

INSTANTIATE_TEST_SUITE_P(Threads, GemmTest, ::testing::Values(1, 2),
                         [](const auto& info) { return "threads" + std::to_string(info.param); });

TEST(GemmThreads, SetAndGet) {
  int saved = get_num_threads();
  EXPECT_GE(saved, 1);
  set_num_threads(3);
  EXPECT_EQ(get_num_threads(), 3);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  set_num_threads(0);  // back to the startup default
  EXPECT_GE(get_num_threads(), 1);
  set_num_threads(saved);
  EXPECT_EQ(get_num_threads(), saved);
}

TEST(GemmThreads, ShardsRunSerialKernelsConcurrently) {
  // run_shards: every shard runs, with single-threaded kernels inside (GEMM
  // through OpenBLAS or Eigen alike, called from both threads at once), and
  // the thread count is back afterwards.
  const int saved = get_num_threads();
  set_num_threads(2);
  std::vector<int> inner(4, -1);
  std::vector<double> err(4, 1.0);
  run_shards(4, [&](int s) {
    inner[static_cast<size_t>(s)] = get_num_threads();
    err[static_cast<size_t>(s)] = run_case<float>({bool(s & 1), bool(s & 2), 300, 200 + s, 250, 1, 1.0, 0.0});
  });
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(inner[static_cast<size_t>(s)], 1) << "shard " << s;
    EXPECT_LT(err[static_cast<size_t>(s)], 1e-6) << "shard " << s;
  }
  EXPECT_EQ(get_num_threads(), 2);
  set_num_threads(saved);
}

TEST(GemmThreads, ShardExceptionsReachTheCaller) {
  const int saved = get_num_threads();
  set_num_threads(2);
  std::vector<int> ran(3, 0);
  try {
    run_shards(3, [&](int s) {
      ran[static_cast<size_t>(s)] = 1;
      if (s >= 1) throw std::runtime_error("shard " + std::to_string(s));
    });
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "shard 1");  // the lowest failing shard's
  }
  EXPECT_EQ(ran, std::vector<int>({1, 1, 1}));  // the others still ran
  EXPECT_EQ(get_num_threads(), 2);
  set_num_threads(saved);
}

// nabla's packed AVX-512 kernel on its own (Note [AVX-512 GEMM]): shapes on
// both sides of its tile sizes (12 × 32 floats, 12 × 16 doubles), of its row
// and column blocks (120; 512 floats, 256 doubles) and of its depth blocks
// (K split evenly into blocks of at most 256), every transposition, row
// padding, and beta = 0 over a C full of NaN.
template <class T>
void packed_matches_reference(double tolerance) {
  const int64_t shapes[][3] = {{1, 16, 16},    {12, 32, 16},  {13, 33, 17},   {11, 31, 209},  {121, 48, 300},
                               {64, 513, 40},  {130, 17, 600}, {25, 100, 257}, {64, 256, 784}, {256, 784, 64},
                               {12, 16, 8},    {13, 17, 9},    {7, 257, 33},   {24, 255, 1}};
  for (auto& sh : shapes)
    for (int t = 0; t < 4; ++t)
      for (double beta : {0.0, 1.0, -0.5}) {
        const Case c{bool(t & 2), bool(t & 1), sh[0], sh[1], sh[2], beta == 1.0 ? 0 : 5, 0.75, beta};
        EXPECT_LT(run_case<T>(c, beta == 0.0, &detail::gemm_avx512), tolerance)
            << "M=" << c.M << " N=" << c.N << " K=" << c.K << " ta=" << c.ta << " tb=" << c.tb << " beta=" << beta;
      }
}

TEST(PackedGemm, Float32MatchesTheReference) {
  if (!detail::gemm_avx512_available()) GTEST_SKIP() << "built without AVX-512";
  packed_matches_reference<float>(1e-6);
}

TEST(PackedGemm, Float64MatchesTheReference) {
  if (!detail::gemm_avx512_available()) GTEST_SKIP() << "built without AVX-512";
  packed_matches_reference<double>(1e-15);
}

}  // namespace
}  // namespace nabla::kernels
