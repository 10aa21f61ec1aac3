// nabla's vector math (src/kernels/vmath.hpp) against SLEEF's, kernel against
// kernel: one thread, 10⁶ float32 inputs in a loop over arrays (no tensors,
// no allocation), the inputs of bench/elementwise_bench (uniform on [−2, 2],
// [0.01, 4] for log) plus a wide range (uniform on [−50, 50], [1e−30, 1e30]
// log-uniform for log) where the special-case paths of each side come in.
//
//   build/release/bench/vmath_bench [Google Benchmark flags]
//
// SLEEF's variants: u10 (max error 1.0 ulp) and u35 (3.5 ulp) where SLEEF has
// both (tanh, log); exp and log1p only come as u10. sigmoid and softplus are
// composed from SLEEF's exp and log1p (bench/vmath_sleef.hpp). The accuracy
// of each, over every float32 input, is bench/vmath_accuracy's job. The table
// at the end gives ns per element (median of repetitions) and SLEEF time /
// nabla time (above 1: nabla is faster).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/vmath.hpp"
#include "summary.hpp"
#include "vmath_sleef.hpp"

namespace {

namespace vm = nabla::kernels::vm;
namespace sl = nabla::bench::sleef;

constexpr int64_t kN = 1'000'000;

struct Inputs {
  std::vector<float> real, pos, real_wide, pos_wide;
  Inputs() : real(kN), pos(kN), real_wide(kN), pos_wide(kN) {
    std::mt19937 g(1);
    std::uniform_real_distribution<float> u(-2.0f, 2.0f), up(0.01f, 4.0f), uw(-50.0f, 50.0f), ue(-69.0f, 69.0f);
    for (int64_t i = 0; i < kN; ++i) {
      real[i] = u(g);
      pos[i] = up(g);
      real_wide[i] = uw(g);
      pos_wide[i] = std::exp(ue(g));
    }
  }
};
const Inputs& inputs() {
  static const Inputs in;
  return in;
}

// The loop the element-wise ops run (src/kernels/elementwise.hpp's map1).
template <class F>
[[gnu::flatten]] void nabla_map(const float* x, float* y, int64_t n, F f) {
#pragma omp simd simdlen(NABLA_SIMDLEN(float))
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class Run>
void bench(benchmark::State& state, const std::vector<float>& x, Run run) {
  std::vector<float> y(x.size());
  for (auto _ : state) {
    run(x.data(), y.data(), static_cast<int64_t>(x.size()));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["ns/elem"] =
      benchmark::Counter(double(x.size()), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

struct Impl {
  std::string name;
  void (*run)(const float*, float*, int64_t);
};
struct Op {
  std::string name;
  bool positive;
  std::vector<Impl> impls;  // nabla first
};

#define NABLA_IMPL(fn) Impl{"nabla", [](const float* x, float* y, int64_t n) { nabla_map(x, y, n, [](float v) { return vm::fn(v); }); }}
#define SLEEF_IMPL(label, fn) Impl{label, [](const float* x, float* y, int64_t n) { sl::map(x, y, n, [](sl::V v) { return sl::fn(v); }); }}

const std::vector<Op>& ops() {
  static const std::vector<Op> o = {
      {"exp", false, {NABLA_IMPL(exp), SLEEF_IMPL("sleef_u10", exp_u10)}},
      {"log", true, {NABLA_IMPL(log), SLEEF_IMPL("sleef_u10", log_u10), SLEEF_IMPL("sleef_u35", log_u35)}},
      {"tanh", false, {NABLA_IMPL(tanh), SLEEF_IMPL("sleef_u10", tanh_u10), SLEEF_IMPL("sleef_u35", tanh_u35)}},
      {"sigmoid", false, {NABLA_IMPL(sigmoid), SLEEF_IMPL("sleef_u10", sigmoid_u10)}},
      {"softplus", false, {NABLA_IMPL(softplus), SLEEF_IMPL("sleef_u10", softplus_u10)}},
  };
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool reps_given = false;
  for (char* a : args)
    if (std::strstr(a, "benchmark_repetitions")) reps_given = true;
  std::string reps = "--benchmark_repetitions=7", agg = "--benchmark_report_aggregates_only=true",
              inter = "--benchmark_enable_random_interleaving=true", min_time = "--benchmark_min_time=0.05";
  if (!reps_given) {
    args.push_back(reps.data());
    args.push_back(min_time.data());
  }
  args.push_back(agg.data());
  args.push_back(inter.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());

  const char* ranges[] = {"narrow", "wide"};
  for (const Op& op : ops())
    for (int w = 0; w < 2; ++w)
      for (const Impl& im : op.impls) {
        const std::vector<float>& x = op.positive ? (w ? inputs().pos_wide : inputs().pos)
                                                  : (w ? inputs().real_wide : inputs().real);
        benchmark::RegisterBenchmark((op.name + "/" + ranges[w] + "/" + im.name).c_str(),
                                     [&x, run = im.run](benchmark::State& s) { bench(s, x, run); })
            ->Unit(benchmark::kMicrosecond);
      }
  nabla::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  std::printf("\n10^6 float32, one thread, ns per element (median); ratio = SLEEF time / nabla time\n");
  std::printf("%-9s %-7s %8s %10s %7s %10s %7s\n", "op", "range", "nabla", "sleef_u10", "ratio", "sleef_u35", "ratio");
  for (const Op& op : ops())
    for (int w = 0; w < 2; ++w) {
      auto ns = [&](const std::string& impl) {
        const auto* r = rep.find(op.name + "/" + ranges[w] + "/" + impl);
        return r ? r->counters.at("ns/elem") : 0.0;
      };
      const double a = ns("nabla"), b = ns("sleef_u10"), c = ns("sleef_u35");
      if (a <= 0) continue;
      std::printf("%-9s %-7s %8.3f %10.3f %7.2f", op.name.c_str(), ranges[w], a * 1e9, b * 1e9, b / a);
      if (c > 0) std::printf(" %10.3f %7.2f\n", c * 1e9, c / a);
      else std::printf(" %10s %7s\n", "-", "-");
    }
  benchmark::Shutdown();
  return 0;
}
