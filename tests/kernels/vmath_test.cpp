// kernels::vm (exp, log, tanh, sigmoid, softplus) against long-double
// references, in ulps of the result type, over dense random grids, random bit
// patterns (every exponent) and the special values. Each function runs in an
// `omp simd` loop over an array, as the ops call it, so the SIMD code is what
// is checked (the test binary is compiled with the library's flags).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/vmath.hpp"

namespace nabla::kernels::vm {
namespace {

// |got − ref| in ulps of ref rounded to T (the spacing above |ref|); ±inf and
// NaN must match exactly (reported as 0 or 1e9).
template <class T>
double ulps(T got, long double ref) {
  if (std::isnan(ref)) return std::isnan(got) ? 0 : 1e9;
  const T r = static_cast<T>(ref);
  if (std::isinf(r)) return got == r ? 0 : 1e9;
  if (std::isnan(got) || std::isinf(got)) return 1e9;
  const T a = std::fabs(r);
  T spacing = std::nextafter(a, std::numeric_limits<T>::infinity()) - a;
  return static_cast<double>(std::fabs(static_cast<long double>(got) - ref) / spacing);
}

template <class T>
struct Worst {
  double ulp = 0;
  T at = 0;
};

template <class T, class F, class R>
Worst<T> worst(const std::vector<T>& xs, F f, R ref) {
  std::vector<T> ys(xs.size());
  const T* x = xs.data();
  T* y = ys.data();
  const int64_t n = static_cast<int64_t>(xs.size());
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  Worst<T> w;
  for (int64_t i = 0; i < n; ++i) {
    double e = ulps<T>(y[i], ref(static_cast<long double>(x[i])));
    if (e > w.ulp) w = {e, x[i]};
  }
  return w;
}

template <class T>
std::vector<T> specials() {
  using L = std::numeric_limits<T>;
  return {T(0),          -T(0),        L::denorm_min(), -L::denorm_min(), L::min(),   -L::min(),
          L::max(),      -L::max(),    L::infinity(),   -L::infinity(),   L::quiet_NaN(), T(1),
          T(-1),         T(1e-30),     T(-1e-30),       T(88.72),         T(-88.72),  T(-103.9),
          T(-104.1),     T(88.73),     T(709.78),       T(709.79),        T(-745.1),  T(-745.2),
          T(0.41421356), T(1.4142135), T(0.70710678),   T(9.5),           T(19.5),    T(30)};
}

template <class T>
std::vector<T> uniform(double lo, double hi, int n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v = specials<T>();
  for (int i = 0; i < n; ++i) v.push_back(static_cast<T>(d(g)));
  return v;
}

// Random bit patterns with the sign cleared: every exponent, subnormals included.
template <class T>
std::vector<T> positive_bits(int n, uint64_t seed) {
  using U = typename FloatTraits<T>::U;
  std::mt19937_64 g(seed);
  std::vector<T> v = specials<T>();
  for (int i = 0; i < n; ++i) {
    U b = static_cast<U>(g()) & (~U{0} >> 1);
    T x;
    std::memcpy(&x, &b, sizeof x);
    v.push_back(x);
  }
  return v;
}

template <class T>
std::vector<T> signed_bits(int n, uint64_t seed) {
  std::vector<T> v = positive_bits<T>(n, seed);
  for (size_t i = 0; i < v.size(); i += 2) v[i] = -v[i];
  return v;
}

long double ref_sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double ref_softplus(long double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

constexpr int kN = 200'000;

template <class T>
class VectorMath : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VectorMath, Types);

#define EXPECT_WITHIN(w, bound, name)                                                            \
  EXPECT_LE((w).ulp, bound) << name << ": worst " << (w).ulp << " ulp at x = " << std::hexfloat \
                            << (w).at

TYPED_TEST(VectorMath, ExpWithinOneUlp) {
  using T = TypeParam;
  auto f = [](T x) { return exp(x); };
  auto r = [](long double x) { return std::exp(x); };
  const double lim = std::is_same_v<T, float> ? 110 : 750;
  EXPECT_WITHIN(worst<T>(uniform<T>(-lim, lim, kN, 1), f, r), 1.0, "exp wide");
  EXPECT_WITHIN(worst<T>(uniform<T>(-2, 2, kN, 2), f, r), 1.0, "exp [-2, 2]");
  EXPECT_WITHIN(worst<T>(signed_bits<T>(kN, 3), f, r), 1.0, "exp bits");
}

TYPED_TEST(VectorMath, LogWithinOneUlp) {
  using T = TypeParam;
  auto f = [](T x) { return log(x); };
  auto r = [](long double x) { return std::log(x); };
  EXPECT_WITHIN(worst<T>(positive_bits<T>(kN, 4), f, r), 1.0, "log bits");
  EXPECT_WITHIN(worst<T>(uniform<T>(0.5, 2, kN, 5), f, r), 1.0, "log [0.5, 2]");
  EXPECT_WITHIN(worst<T>(signed_bits<T>(kN, 6), f, r), 1.0, "log of negatives is NaN");
}

TYPED_TEST(VectorMath, TanhWithinFourUlps) {
  using T = TypeParam;
  auto f = [](T x) { return tanh(x); };
  auto r = [](long double x) { return std::tanh(x); };
  EXPECT_WITHIN(worst<T>(uniform<T>(-25, 25, kN, 7), f, r), 4.0, "tanh [-25, 25]");
  EXPECT_WITHIN(worst<T>(uniform<T>(-0.7, 0.7, kN, 8), f, r), 4.0, "tanh [-0.7, 0.7]");
  EXPECT_WITHIN(worst<T>(signed_bits<T>(kN, 9), f, r), 4.0, "tanh bits");
}

TYPED_TEST(VectorMath, SigmoidWithinFourUlps) {
  using T = TypeParam;
  auto f = [](T x) { return sigmoid(x); };
  EXPECT_WITHIN(worst<T>(uniform<T>(-30, 30, kN, 10), f, ref_sigmoid), 4.0, "sigmoid [-30, 30]");
  EXPECT_WITHIN(worst<T>(signed_bits<T>(kN, 11), f, ref_sigmoid), 4.0, "sigmoid bits");
}

TYPED_TEST(VectorMath, SoftplusWithinFourUlps) {
  using T = TypeParam;
  auto f = [](T x) { return softplus(x); };
  EXPECT_WITHIN(worst<T>(uniform<T>(-40, 40, kN, 12), f, ref_softplus), 4.0, "softplus [-40, 40]");
  EXPECT_WITHIN(worst<T>(signed_bits<T>(kN, 13), f, ref_softplus), 4.0, "softplus bits");
}

TYPED_TEST(VectorMath, SpecialValuesExactly) {
  using T = TypeParam;
  using L = std::numeric_limits<T>;
  const T inf = L::infinity(), nan = L::quiet_NaN();
  EXPECT_EQ(exp(T(0)), T(1));
  EXPECT_EQ(exp(inf), inf);
  EXPECT_EQ(exp(-inf), T(0));
  EXPECT_TRUE(std::isnan(exp(nan)));
  EXPECT_EQ(log(T(1)), T(0));
  EXPECT_EQ(log(T(0)), -inf);
  EXPECT_EQ(log(-T(0)), -inf);
  EXPECT_EQ(log(inf), inf);
  EXPECT_TRUE(std::isnan(log(T(-1))));
  EXPECT_TRUE(std::isnan(log(nan)));
  EXPECT_EQ(tanh(inf), T(1));
  EXPECT_EQ(tanh(-inf), T(-1));
  EXPECT_TRUE(std::signbit(tanh(-T(0))));
  EXPECT_EQ(tanh(L::denorm_min()), L::denorm_min());
  EXPECT_TRUE(std::isnan(tanh(nan)));
  EXPECT_EQ(sigmoid(T(0)), T(0.5));
  EXPECT_EQ(sigmoid(inf), T(1));
  EXPECT_EQ(sigmoid(-inf), T(0));
  EXPECT_TRUE(std::isnan(sigmoid(nan)));
  EXPECT_EQ(softplus(inf), inf);
  EXPECT_EQ(softplus(-inf), T(0));
  EXPECT_EQ(softplus(T(1000)), T(1000));
  EXPECT_TRUE(std::isnan(softplus(nan)));
}

}  // namespace
}  // namespace nabla::kernels::vm
