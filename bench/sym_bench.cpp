// nabla::sym speed: derive + simplify each test expression (target < 10 ms
// each), and evaluating a derived symbolic Hessian at n = 1000 against
// nabla's autodiff (double backward, one row per pass). The PyTorch side of
// the comparison is bench/sym_hessian_torch.py (same n, same threads).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "nabla/autograd.hpp"
#include "nabla/generator.hpp"
#include "nabla/ops.hpp"
#include "nabla/functional.hpp"
#include "nabla/sym.hpp"

namespace {

using namespace nabla;

struct Item {
  const char* name;
  const char* expr;
  const char* let;
  const char* wrt;
  int order;
};

const Item kItems[] = {
    {"quadratic_form", "x'*A*x", "x:vector(n) A:matrix(n,n)", "x", 1},
    {"trace_linear", "tr(A*X)", "A:matrix(n,m) X:matrix(m,n)", "X", 1},
    {"least_squares", "norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", 1},
    {"logdet", "logdet(X)", "X:matrix(n,n)", "X", 1},
    {"bilinear", "a'*X*b", "a:vector(m) X:matrix(m,n) b:vector(n)", "X", 1},
    {"trace_quadratic", "tr(X'*A*X)", "A:matrix(m,m) X:matrix(m,n)", "X", 1},
    {"inverse", "a'*inv(X)*b", "a:vector(n) X:matrix(n,n) b:vector(n)", "X", 1},
    {"neuron", "max(0, w'*x + b)", "w:vector(n) x:vector(n) b:scalar", "w", 1},
    {"mse_relu", "sum((y - max(0, X*w + b)).^2)/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)", "w", 1},
    {"logistic", "-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))", "X:matrix(N,n) w:vector(n) y:vector(N)",
     "w", 1},
    {"softmax_xent", "-y'*log(softmax(W*x))", "W:matrix(m,n) x:vector(n) y:vector(m)", "W", 1},
    {"two_layer", "norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
     "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "A1", 1},
    {"hessian_quadratic", "x'*A*x", "x:vector(n) A:matrix(n,n)", "x", 2},
    {"hessian_least_squares", "norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", 2},
    {"hessian_logistic", "-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))",
     "X:matrix(N,n) w:vector(n) y:vector(N)", "w", 2},
};

void BM_DeriveSimplify(benchmark::State& state) {
  const Item& it = kItems[state.range(0)];
  state.SetLabel(it.name);
  auto decls = sym::parse_declarations(it.let);
  sym::DiffOptions o;
  o.order = it.order;
  for (auto _ : state) {
    sym::Expr f = sym::parse(it.expr, decls);
    sym::Derivative d = sym::differentiate(f, it.wrt, decls, o);
    benchmark::DoNotOptimize(d.result);
  }
}
BENCHMARK(BM_DeriveSimplify)->DenseRange(0, int(sizeof kItems / sizeof kItems[0]) - 1)->Unit(benchmark::kMicrosecond);

// ---- Hessians at n = 1000 -----------------------------------------------------------

constexpr int64_t kN = 1000;

sym::Bindings values(const sym::Declarations& d) {
  sym::Bindings b;
  b.dims["n"] = kN;
  b.dims["m"] = kN;
  return sym::random_values(d, 7, b);
}

void BM_SymbolicHessian(benchmark::State& state, const char* expr, const char* let) {
  auto decls = sym::parse_declarations(let);
  sym::DiffOptions o;
  o.order = 2;
  sym::Derivative d = sym::differentiate(sym::parse(expr, decls), "x", decls, o);
  auto h = sym::lower(d.result);
  sym::Bindings b = values(decls);
  for (auto _ : state) benchmark::DoNotOptimize(h(b));
}

// Autodiff: nabla::hessian (forward-over-reverse: n tangent directions through
// one gradient computation) of the same expression evaluated on Tensors.
void BM_AutodiffHessian(benchmark::State& state, const char* expr, const char* let) {
  auto decls = sym::parse_declarations(let);
  sym::Expr f = sym::parse(expr, decls);
  sym::Bindings b = values(decls);
  Tensor x0 = b.values["x"];
  for (auto _ : state) {
    Tensor h = hessian(
        [&](const Tensor& x) {
          sym::Bindings bx = b;
          bx.values["x"] = x;
          return sym::evaluate(f, bx);
        },
        x0);
    benchmark::DoNotOptimize(h);
  }
}

const char* kQuad = "x'*A*x";
const char* kQuadLet = "x:vector(n) A:matrix(n,n)";
const char* kLsq = "norm2(A*x - b)^2";
const char* kLsqLet = "A:matrix(m,n) x:vector(n) b:vector(m)";

BENCHMARK_CAPTURE(BM_SymbolicHessian, quadratic_n1000, kQuad, kQuadLet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_AutodiffHessian, quadratic_n1000, kQuad, kQuadLet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SymbolicHessian, least_squares_n1000, kLsq, kLsqLet)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_AutodiffHessian, least_squares_n1000, kLsq, kLsqLet)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
