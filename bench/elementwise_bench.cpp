// Element-wise ops through the public API against the memory-bound floor.
//
//   build/release/bench/elementwise_bench [Google Benchmark flags]
//
// add, mul, relu, tanh, exp, sigmoid, log, softplus on 10⁶ contiguous float32 values (inputs made once,
// outside the timing; no gradient recorded), each call allocating its result
// as user code does, against std::memcpy of 10⁶ floats. Bandwidth counts every
// byte read and written: 12 MB per call for a binary op, 8 MB for a unary op
// and for memcpy (4 MB read + 4 MB written). The table at the end gives each
// op's bandwidth as a percentage of memcpy's, from the same run. Times are wall
// time: runs of 2¹⁷ elements or more are split over nabla's threads
// (src/kernels/parallel.hpp), so the calling thread's CPU time would undercount.
// `--threads=N` sets nabla's thread count (default: its own default, the
// GEMM's); memcpy is one thread either way.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"
#include "nabla/train.hpp"
#include "summary.hpp"

namespace {

constexpr int64_t kN = 1'000'000;

struct Inputs {
  nabla::Tensor a, b, pos;
  Inputs() {
    nabla::Generator gen(1);
    a = nabla::uniform({kN}, -2.0, 2.0, gen);
    b = nabla::uniform({kN}, -2.0, 2.0, gen);
    pos = nabla::uniform({kN}, 0.01, 4.0, gen);  // for log
  }
};
const Inputs& inputs() {
  static const Inputs in;
  return in;
}

void set_bytes(benchmark::State& state, int arrays) {
  state.counters["GB/s"] = benchmark::Counter(double(arrays) * kN * sizeof(float) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_memcpy(benchmark::State& state) {
  std::vector<float> src(kN, 1.0f), dst(kN);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kN * sizeof(float));
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2);
}

template <class F>
void unary(benchmark::State& state, F f, bool positive = false) {
  const nabla::Tensor& a = positive ? inputs().pos : inputs().a;
  for (auto _ : state) {
    nabla::Tensor y = f(a);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_bytes(state, 2);
}

template <class F>
void binary(benchmark::State& state, F f) {
  const nabla::Tensor &a = inputs().a, &b = inputs().b;
  for (auto _ : state) {
    nabla::Tensor y = f(a, b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_bytes(state, 3);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      nabla::train::set_threads(std::atoi(argv[i] + 10));
      continue;
    }
    args.push_back(argv[i]);
  }
  bool reps_given = false;
  for (char* a : args)
    if (std::strstr(a, "benchmark_repetitions")) reps_given = true;
  std::string reps = "--benchmark_repetitions=7", agg = "--benchmark_report_aggregates_only=true",
              inter = "--benchmark_enable_random_interleaving=true";
  if (!reps_given) args.push_back(reps.data());
  args.push_back(agg.data());
  args.push_back(inter.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());

  using nabla::Tensor;
  const std::vector<std::string> ops = {"add", "mul", "relu", "tanh", "exp", "sigmoid", "log", "softplus"};
  benchmark::RegisterBenchmark("memcpy", BM_memcpy)->UseRealTime();
  benchmark::RegisterBenchmark("add", [](benchmark::State& s) {
    binary(s, [](const Tensor& a, const Tensor& b) { return nabla::add(a, b); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("mul", [](benchmark::State& s) {
    binary(s, [](const Tensor& a, const Tensor& b) { return nabla::mul(a, b); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("relu", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::relu(a); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("tanh", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::tanh(a); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("exp", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::exp(a); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("sigmoid", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::sigmoid(a); });
  })->UseRealTime();
  benchmark::RegisterBenchmark("log", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::log(a); }, true);
  })->UseRealTime();
  benchmark::RegisterBenchmark("softplus", [](benchmark::State& s) {
    unary(s, [](const Tensor& a) { return nabla::softplus(a); });
  })->UseRealTime();
  nabla::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);

  const auto* mc = rep.find("memcpy");
  if (mc) {
    double mbw = mc->counters.at("GB/s");
    std::printf("\n10^6 float32, median of repetitions; %% of memcpy = op GB/s / memcpy GB/s\n");
    std::printf("%-8s %10s %9s %11s\n", "op", "time (us)", "GB/s", "% memcpy");
    std::printf("%-8s %10.1f %9.1f %10.0f%%\n", "memcpy", 8e-3 * kN / mbw, mbw, 100.0);
    for (const auto& op : ops) {
      const auto* r = rep.find(op);
      if (!r) continue;
      double bw = r->counters.at("GB/s");
      const double bytes = (op == "add" || op == "mul" ? 12.0 : 8.0) * kN;
      std::printf("%-8s %10.1f %9.1f %10.0f%%%s\n", op.c_str(), bytes * 1e-3 / bw, bw,
                  100.0 * bw / mbw, bw < 0.7 * mbw ? "  below 70%" : "");
    }
  }
  // One line per op for bench/run_elementwise.sh: RESULT <op> <µs>
  for (const auto& op : std::vector<std::string>{"memcpy", "add", "mul", "relu", "tanh", "exp", "sigmoid", "log", "softplus"})
    if (const auto* r = rep.find(op))
      std::printf("RESULT %s %.1f\n", op.c_str(),
                  (op == "add" || op == "mul" ? 12.0 : 8.0) * kN * 1e-3 / r->counters.at("GB/s"));
  benchmark::Shutdown();
  return 0;
}
