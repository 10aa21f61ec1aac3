// Jacobians, Hessians and element-wise diagonals (issue: forward mode and
// Jacobians). Float32 throughout. The PyTorch side is bench/jacobian_torch.py;
// bench/run_jacobian.sh runs both and prints ratios.
//
//   jac_tanh_ax/N       jacobian(x ↦ tanh(Ax)), automatic mode (reverse, one batched pass)
//   jac_tanh_ax_fwd/N   the same in forward mode (one batched forward pass)
//   jac_tanh_ax_hand/N  the hand formula diag(1 − tanh²(Ax))·A, the floor
//   jac_diag_tanh/N     jacobian_diagonal(tanh) on N = 10⁶ elements
//   forward_tanh/N      one forward pass tanh(x) on the same input
//   hess_quad/N         hessian(x ↦ xᵀAx)
//   hess_sum_tanh/N     hessian(x ↦ Σ tanh(Ax))
#include <benchmark/benchmark.h>

#include <cmath>

#include "nabla/nabla.hpp"

namespace {

using namespace nabla;

struct Problem {
  Tensor a, x;
  explicit Problem(int64_t n) {
    Generator gen(7);
    a = randn({n, n}, gen) * (1.0 / std::sqrt(static_cast<double>(n)));
    x = randn({n}, gen);
  }
};

void jac_tanh_ax(benchmark::State& st) {
  Problem p(st.range(0));
  auto f = [&p](const Tensor& x) { return tanh(matmul(p.a, x)); };
  for (auto _ : st) benchmark::DoNotOptimize(jacobian(f, p.x));
}

void jac_tanh_ax_fwd(benchmark::State& st) {
  Problem p(st.range(0));
  auto f = [&p](const Tensor& x) { return tanh(matmul(p.a, x)); };
  JacobianOptions o;
  o.mode = JacobianMode::forward;
  for (auto _ : st) benchmark::DoNotOptimize(jacobian(f, p.x, o));
}

void jac_tanh_ax_hand(benchmark::State& st) {
  Problem p(st.range(0));
  for (auto _ : st) {
    Tensor y = tanh(matmul(p.a, p.x));
    benchmark::DoNotOptimize(unsqueeze(1.0 - y * y, 1) * p.a);
  }
}

void jac_diag_tanh(benchmark::State& st) {
  Generator gen(7);
  Tensor x = randn({st.range(0)}, gen);
  auto f = [](const Tensor& t) { return tanh(t); };
  for (auto _ : st) benchmark::DoNotOptimize(jacobian_diagonal(f, x));
}

void forward_tanh(benchmark::State& st) {
  Generator gen(7);
  Tensor x = randn({st.range(0)}, gen);
  for (auto _ : st) benchmark::DoNotOptimize(tanh(x));
}

void hess_quad(benchmark::State& st) {
  Problem p(st.range(0));
  auto f = [&p](const Tensor& x) { return dot(x, matmul(p.a, x)); };
  for (auto _ : st) benchmark::DoNotOptimize(hessian(f, p.x));
}

void hess_sum_tanh(benchmark::State& st) {
  Problem p(st.range(0));
  auto f = [&p](const Tensor& x) { return sum(tanh(matmul(p.a, x))); };
  for (auto _ : st) benchmark::DoNotOptimize(hessian(f, p.x));
}

}  // namespace

BENCHMARK(jac_tanh_ax)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(jac_tanh_ax_fwd)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(jac_tanh_ax_hand)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(jac_diag_tanh)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(forward_tanh)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(hess_quad)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(hess_sum_tanh)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
