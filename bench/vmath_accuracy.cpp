// Exhaustive float32 accuracy of nabla's vector math (src/kernels/vmath.hpp)
// and of SLEEF's u10 and u35 functions (bench/vmath_sleef.hpp): every one of
// the 2³² float bit patterns through exp, log, tanh, sigmoid and softplus,
// each against a double-precision reference (glibc's exp, log, log1p, tanh in
// double: their error, well under 10⁻⁸ float ulp, does not show).
//
//   build/release/bench/vmath_accuracy [--threads=N] [--step=S] [--ops=exp,log,...]
//
// --step=S checks every S-th bit pattern only (a quick run; the default 1 is
// all 2³²). The error of y against the reference r is |y − r| in units of the
// spacing of float32 above |r| rounded to float32 (the unit of
// tests/kernels/vmath_test.cpp); a reference that is ±inf or NaN must be met
// exactly, and a miss is counted as "special". Prints, per function and
// implementation, the largest error and where, and how many inputs are off by
// more than 1 ulp. A benchmark, not a test: it takes minutes.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "kernels/vmath.hpp"
#include "vmath_sleef.hpp"

namespace {

namespace vm = nabla::kernels::vm;
namespace sl = nabla::bench::sleef;

using Kernel = void (*)(const float*, float*, int64_t);

template <class F>
[[gnu::flatten]] void nabla_map(const float* x, float* y, int64_t n, F f) {
#pragma omp simd simdlen(NABLA_SIMDLEN(float))
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

#define NABLA_K(fn) [](const float* x, float* y, int64_t n) { nabla_map(x, y, n, [](float v) { return vm::fn(v); }); }
#define SLEEF_K(fn) [](const float* x, float* y, int64_t n) { sl::map(x, y, n, [](sl::V v) { return sl::fn(v); }); }

double ref_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}
double ref_softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

struct Impl {
  const char* name;
  Kernel k;
};
struct Op {
  const char* name;
  double (*ref)(double);
  std::vector<Impl> impls;
};

const std::vector<Op>& all_ops() {
  static const std::vector<Op> o = {
      {"exp", [](double x) { return std::exp(x); }, {{"nabla", NABLA_K(exp)}, {"sleef_u10", SLEEF_K(exp_u10)}}},
      {"log",
       [](double x) { return std::log(x); },
       {{"nabla", NABLA_K(log)}, {"sleef_u10", SLEEF_K(log_u10)}, {"sleef_u35", SLEEF_K(log_u35)}}},
      {"tanh",
       [](double x) { return std::tanh(x); },
       {{"nabla", NABLA_K(tanh)}, {"sleef_u10", SLEEF_K(tanh_u10)}, {"sleef_u35", SLEEF_K(tanh_u35)}}},
      {"sigmoid", ref_sigmoid, {{"nabla", NABLA_K(sigmoid)}, {"sleef_u10", SLEEF_K(sigmoid_u10)}}},
      {"softplus", ref_softplus, {{"nabla", NABLA_K(softplus)}, {"sleef_u10", SLEEF_K(softplus_u10)}}},
  };
  return o;
}

constexpr double kSpecial = 1e30;

double ulps(float got, double ref) {
  if (std::isnan(ref)) return std::isnan(got) ? 0 : kSpecial;
  const float r = static_cast<float>(ref);
  if (std::isinf(r)) return got == r ? 0 : kSpecial;
  if (!std::isfinite(got)) return kSpecial;
  const float a = std::fabs(r);
  const double spacing = double(std::nextafter(a, std::numeric_limits<float>::infinity())) - double(a);
  return std::fabs(double(got) - ref) / spacing;
}

struct Tally {
  double worst = 0;
  float at = 0;
  uint64_t over1 = 0, special = 0;
  float special_at = 0;
  void add(const Tally& o) {
    if (o.worst > worst) worst = o.worst, at = o.at;
    if (o.special && !special) special_at = o.special_at;
    over1 += o.over1;
    special += o.special;
  }
};

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  uint64_t step = 1;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = static_cast<unsigned>(std::atoi(argv[i] + 10));
    else if (std::strncmp(argv[i], "--step=", 7) == 0) step = std::strtoull(argv[i] + 7, nullptr, 10);
    else if (std::strncmp(argv[i], "--ops=", 6) == 0) only = std::string(",") + (argv[i] + 6) + ",";
    else {
      std::fprintf(stderr, "vmath_accuracy: unknown argument '%s' (--threads=N, --step=S, --ops=LIST)\n", argv[i]);
      return 2;
    }
  }
  if (threads == 0 || step == 0) {
    std::fprintf(stderr, "vmath_accuracy: --threads and --step must be positive\n");
    return 2;
  }
  std::vector<const Op*> ops;
  for (const Op& op : all_ops())
    if (only.empty() || only.find(std::string(",") + op.name + ",") != std::string::npos) ops.push_back(&op);
  if (ops.empty()) {
    std::fprintf(stderr, "vmath_accuracy: --ops names none of exp, log, tanh, sigmoid, softplus\n");
    return 2;
  }

  constexpr uint64_t kTotal = uint64_t{1} << 32, kChunk = uint64_t{1} << 16;
  const uint64_t chunks = kTotal / kChunk;
  std::atomic<uint64_t> next{0};
  std::vector<std::vector<std::vector<Tally>>> per(threads);  // [thread][op][impl]
  auto work = [&](unsigned t) {
    auto& mine = per[t];
    mine.resize(ops.size());
    for (size_t o = 0; o < ops.size(); ++o) mine[o].resize(ops[o]->impls.size());
    std::vector<float> x, y(kChunk);
    x.reserve(kChunk);
    std::vector<double> r(kChunk);
    for (uint64_t c; (c = next.fetch_add(1)) < chunks;) {
      x.clear();
      const uint64_t lo = c * kChunk, hi = lo + kChunk;
      for (uint64_t b = (lo + step - 1) / step * step; b < hi; b += step) {
        const uint32_t bits = static_cast<uint32_t>(b);
        float v;
        std::memcpy(&v, &bits, sizeof v);
        x.push_back(v);
      }
      const int64_t n = static_cast<int64_t>(x.size());
      if (n == 0) continue;
      for (size_t o = 0; o < ops.size(); ++o) {
        for (int64_t i = 0; i < n; ++i) r[i] = ops[o]->ref(double(x[i]));
        for (size_t k = 0; k < ops[o]->impls.size(); ++k) {
          ops[o]->impls[k].k(x.data(), y.data(), n);
          Tally& tl = mine[o][k];
          for (int64_t i = 0; i < n; ++i) {
            const double e = ulps(y[i], r[i]);
            if (e >= kSpecial) {
              if (!tl.special) tl.special_at = x[i];
              ++tl.special;
              continue;
            }
            if (e > 1.0) ++tl.over1;
            if (e > tl.worst) tl.worst = e, tl.at = x[i];
          }
        }
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
  for (auto& th : pool) th.join();

  std::printf("float32, %s inputs (step %llu), error in ulps of the double reference\n",
              step == 1 ? "all 2^32" : "a subset of the", static_cast<unsigned long long>(step));
  std::printf("%-9s %-10s %10s %16s %12s %9s %s\n", "op", "impl", "max ulp", "at x", "> 1 ulp", "special", "first special x");
  for (size_t o = 0; o < ops.size(); ++o)
    for (size_t k = 0; k < ops[o]->impls.size(); ++k) {
      Tally all;
      for (unsigned t = 0; t < threads; ++t) all.add(per[t][o][k]);
      std::printf("%-9s %-10s %10.3f %16.9g %12llu %9llu", ops[o]->name, ops[o]->impls[k].name, all.worst,
                  double(all.at), static_cast<unsigned long long>(all.over1),
                  static_cast<unsigned long long>(all.special));
      if (all.special) std::printf(" %.9g", double(all.special_at));
      std::printf("\n");
    }
  return 0;
}
