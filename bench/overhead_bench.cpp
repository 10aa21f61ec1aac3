// Framework overhead on a tiny graph: y = sum(tanh(W x + b)), W 16×16, b and
// x of size 16, float32 — the time is almost all bookkeeping (allocation,
// graph recording, the backward walk), not arithmetic.
//
//   build/release/bench/overhead_bench [Google Benchmark flags]
//   bench/run_overhead.sh [build dir]     # this and PyTorch side by side
//
// Variants, as in bench/overhead_torch.py:
//   forward_nograd    forward under NoGradGuard
//   forward_record    forward with W, b requiring grad (graph built, unused)
//   forward_backward  forward + y.backward(), gradients reset every iteration
//   forward_grad      forward + grad({y}, {W, b})
// Prints "RESULT <variant> <cpu µs> <wall µs>" per iteration (medians of the
// repetitions; CPU time of the calling thread, and wall time) at the end, and
// "RESULT_MIN ..." with the fastest repetition.
// --loop=N runs N forward+backward iterations without the benchmark harness
// (for instruction counts under callgrind).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"
#include "summary.hpp"

namespace {

struct Graph {
  nabla::Tensor W, b, x;
  Graph() {
    nabla::Generator gen(0);
    W = nabla::randn({16, 16}, gen).requires_grad_();
    b = nabla::randn({16}, gen).requires_grad_();
    x = nabla::randn({16}, gen);
  }
  nabla::Tensor forward() const { return nabla::sum(nabla::tanh(nabla::matmul(W, x) + b)); }
};

// The gradients against their closed form, once, before timing:
// ∂y/∂b = 1 − h², ∂y/∂W = (1 − h²) xᵀ with h = tanh(W x + b).
bool check(Graph& g) {
  g.W.zero_grad();
  g.b.zero_grad();
  g.forward().backward();
  nabla::NoGradGuard ng;
  nabla::Tensor h = nabla::tanh(nabla::matmul(g.W, g.x) + g.b);
  nabla::Tensor db = 1.0 - h * h;
  double e1 = nabla::max(nabla::abs(g.b.grad() - db)).item();
  double e2 = nabla::max(nabla::abs(g.W.grad() - nabla::outer(db, g.x))).item();
  return e1 < 1e-5 && e2 < 1e-5;
}

void forward_nograd(benchmark::State& state) {
  Graph g;
  nabla::NoGradGuard ng;
  for (auto _ : state) benchmark::DoNotOptimize(g.forward().raw_data());
}

void forward_record(benchmark::State& state) {
  Graph g;
  for (auto _ : state) benchmark::DoNotOptimize(g.forward().raw_data());
}

void forward_backward(benchmark::State& state) {
  Graph g;
  if (!check(g)) {
    state.SkipWithError("gradient differs from the closed form");
    return;
  }
  for (auto _ : state) {
    g.W.zero_grad();  // as W.grad = None in PyTorch
    g.b.zero_grad();
    g.forward().backward();
    benchmark::DoNotOptimize(g.W.grad().raw_data());
  }
}

void forward_grad(benchmark::State& state) {
  Graph g;
  for (auto _ : state) {
    auto gr = nabla::grad({g.forward()}, {g.W, g.b});
    benchmark::DoNotOptimize(gr[0].raw_data());
  }
}

}  // namespace

// --loop=N: N plain forward+backward iterations and nothing else, for counting
// instructions (valgrind --tool=callgrind; the count per iteration is the
// difference between --loop=2N and --loop=N, divided by N).
int loop_only(long n) {
  Graph g;
  double acc = 0;
  for (long i = 0; i < n; ++i) {
    g.W.zero_grad();
    g.b.zero_grad();
    g.forward().backward();
    acc += g.b.grad().at({0});
  }
  std::printf("loop %ld checksum %.6f\n", n, acc);
  return 0;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--loop=", 7) == 0) return loop_only(std::atol(argv[i] + 7));
  std::vector<char*> args(argv, argv + argc);
  bool reps_given = false;
  for (char* a : args)
    if (std::strstr(a, "benchmark_repetitions")) reps_given = true;
  std::string reps = "--benchmark_repetitions=5", agg = "--benchmark_report_aggregates_only=true";
  if (!reps_given) args.push_back(reps.data());
  args.push_back(agg.data());
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  const char* names[] = {"forward_nograd", "forward_record", "forward_backward", "forward_grad"};
  // the fastest repetition as well as the median: on a shared host other
  // tenants only ever add time, so the minimum is the steadier estimate
  auto min_of = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  benchmark::RegisterBenchmark(names[0], forward_nograd)->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", min_of);
  benchmark::RegisterBenchmark(names[1], forward_record)->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", min_of);
  benchmark::RegisterBenchmark(names[2], forward_backward)->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", min_of);
  benchmark::RegisterBenchmark(names[3], forward_grad)->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", min_of);
  nabla::bench::SummaryReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  std::printf("\n");
  for (const char* nm : names)
    if (const auto* r = rep.find(nm)) std::printf("RESULT %s %.3f %.3f\n", nm, r->cpu_ns * 1e-3, r->real_ns * 1e-3);
  for (const char* nm : names)
    if (const auto* r = rep.find_min(nm)) std::printf("RESULT_MIN %s %.3f %.3f\n", nm, r->cpu_ns * 1e-3, r->real_ns * 1e-3);
  benchmark::Shutdown();
  return 0;
}
