// The backward engine: seeding, accumulation, graph lifetime, grad(),
// grad mode, in-place safety, traversal cost and depth, higher order, kinks.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "graph/node.hpp"
#include "nabla/nabla.hpp"

namespace nabla {
namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

Tensor f64(std::initializer_list<double> v, bool rg = false) {
  return tensor(v, TensorOptions().dtype(kFloat64).requires_grad(rg));
}

template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a nabla::Error";
  return {};
}

void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol) << "at " << i;
}

// An identity op that counts how often its VJP runs (a probe for the engine).
int g_probe_calls = 0;
Tensor probe(const Tensor& x) {
  Tensor y = x.detach().clone();
  if (should_record({&x}))
    record(y, "probe", {&x}, [](const Tensor& g, const VjpCtx& ctx) {
      ++g_probe_calls;
      ctx.set(0, g);
    });
  return y;
}

// ---- seeding ------------------------------------------------------------------------

TEST(Engine, BackwardOnScalar) {
  Tensor x = f64({1, 2, 3}, true);
  Tensor y = sum(x * x * 3.0);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn_name(), "sumBackward");
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn_name(), "");
  EXPECT_FALSE(x.grad().defined());
  y.backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{6, 12, 18}));
  EXPECT_EQ(x.grad().dtype(), kFloat64);
  // A leaf root receives the seed directly.
  Tensor s = scalar_tensor(2.0, TensorOptions().dtype(kFloat64).requires_grad());
  s.backward();
  EXPECT_EQ(s.grad().item(), 1.0);
}

TEST(Engine, BackwardWithUpstreamGradient) {
  Tensor x = f64({1, 2, 3}, true);
  Tensor y = x * x;  // non-scalar
  y.backward(f64({1, 10, 100}));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 40, 600}));
  Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}, TensorOptions().dtype(kFloat64).requires_grad());
  Tensor b = matmul(a, f64({1, -1}));  // [2]
  b.backward(f64({2, 3}));
  // ∂(Ab)/∂A with upstream g: g bᵀ
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{2, -2, 3, -3}));
  // Several outputs at once: Σ gᵢ·yᵢ.
  Tensor z = f64({1, 2}, true);
  backward({z * 2.0, sum(z * z)}, {f64({1, 1}), scalar_tensor(1.0, kFloat64)});
  EXPECT_EQ(vals(z.grad()), (std::vector<double>{4, 6}));
}

TEST(Engine, NonScalarWithoutGradientIsAnError) {
  Tensor x = f64({1, 2, 3}, true);
  Tensor y = x * 2.0;
  EXPECT_EQ(error_of([&] { y.backward(); }),
            "backward: output of shape [3] is not a scalar; pass a gradient of that shape");
  EXPECT_EQ(error_of([&] { y.backward(f64({1, 2})); }),
            "backward: gradient of shape [2] does not match output of shape [3]");
  EXPECT_EQ(error_of([&] { y.backward(ones({3})); }), "backward: gradient is float32, output is float64");
  Tensor c = f64({1, 2});
  EXPECT_EQ(error_of([&] { sum(c).backward(); }), "backward: output 0 does not require grad and has no grad_fn");
}

TEST(Engine, GradientsAccumulateUntilZeroGrad) {
  Tensor x = f64({1, -2}, true);
  sum(x * x).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, -4}));
  sum(x * 3.0).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{5, -1}));
  Tensor held = x.grad();  // a handle the user keeps must not change under them
  sum(x).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{6, 0}));
  EXPECT_EQ(vals(held), (std::vector<double>{5, -1}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(x * 2.0).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 2}));
}

TEST(Engine, AccumulationNeverWritesThroughSharedOrBroadcastGrads) {
  // sum's VJP hands out a broadcast (stride-0) view of the seed; with
  // create_graph it becomes .grad() as is. A later plain backward must not add
  // into that view in place (every element aliases one number).
  Tensor x = zeros({3}, TensorOptions().dtype(kFloat64).requires_grad());
  sum(x).backward(Tensor(), false, true);
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{1, 1, 1}));
  sum(x).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 2, 2}));
  // A gradient set to a view of the user's buffer: accumulation leaves the buffer alone.
  Tensor buf = zeros({2, 3}, kFloat64);
  Tensor w = zeros({3}, TensorOptions().dtype(kFloat64).requires_grad());
  w.set_grad(buf.select(0, 1));
  sum(w * 2.0).backward();
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(vals(buf), std::vector<double>(6, 0.0));
}

// Note [Shared gradients]: the first gradient into a leaf is stored as it is,
// and copied at the end of the pass only if something else still sees it.
TEST(Engine, LeafGradientsNeverAliasTheSeedOrEachOther) {
  Tensor seed = f64({1, 2, 3});
  // add hands the same gradient to both inputs, which here are the seed itself
  Tensor a = f64({0, 0, 0}, true), b = f64({0, 0, 0}, true);
  (a + b).backward(seed);
  EXPECT_NE(a.grad().raw_data(), b.grad().raw_data());
  EXPECT_NE(a.grad().raw_data(), seed.raw_data());
  a.mutable_grad().mul_(10.0);  // as an optimizer or a clipping step would
  EXPECT_EQ(vals(seed), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{10, 20, 30}));
  // a leaf that receives the seed directly (it is the output)
  Tensor c = f64({0, 0, 0}, true);
  c.backward(seed);
  EXPECT_NE(c.grad().raw_data(), seed.raw_data());
  // grad() results do not alias the seed either
  Tensor d = f64({4, 5, 6}, true);
  auto gd = grad({d + 1.0}, {d}, {seed});
  EXPECT_NE(gd[0].raw_data(), seed.raw_data());
  EXPECT_EQ(vals(gd[0]), (std::vector<double>{1, 2, 3}));
  // a broadcast gradient (sum's VJP) becomes a dense buffer of its own
  Tensor e = f64({1, 1, 1}, true);
  sum(e).backward();
  EXPECT_TRUE(e.grad().is_contiguous());
  EXPECT_EQ(vals(e.mutable_grad().mul_(2.0)), (std::vector<double>{2, 2, 2}));
}

TEST(Engine, ScalarSeedIsNeverExposed) {
  // backward() on a rank-0 output seeds it with a shared one; writing into
  // any gradient it reached must not change the next pass's seed
  Tensor x = scalar_tensor(3.0, TensorOptions().dtype(kFloat64).requires_grad());
  x.backward();  // the output is the leaf itself
  EXPECT_EQ(x.grad().item(), 1.0);
  x.mutable_grad().mul_(5.0);
  Tensor v = f64({1, 2}, true);
  sum(v).backward();
  v.mutable_grad().fill_(7.0);
  auto g = grad({x * 1.0}, {x});
  EXPECT_EQ(g[0].item(), 1.0);
  g[0].fill_(9.0);
  (x * 2.0).backward();
  EXPECT_EQ(x.grad().item(), 7.0);  // 5 + 2
  Tensor z = scalar_tensor(1.0, TensorOptions().dtype(kFloat64).requires_grad());
  z.backward(Tensor(), false, true);  // create_graph keeps gradients as they are: a fresh seed
  z.mutable_grad().fill_(4.0);
  Tensor w = scalar_tensor(2.0, TensorOptions().dtype(kFloat64).requires_grad());
  (w * 3.0).backward();
  EXPECT_EQ(w.grad().item(), 3.0);
}

TEST(Engine, LeafKeepsAGradientTheEngineNoLongerShares) {
  // y = a + 2w: the same gradient goes to the leaf a and to the mul node; once
  // that node has run, nothing else holds it, and a keeps it without a copy
  // (its values are right either way, which is what this test asserts)
  Tensor a = f64({0, 0}, true), w = f64({1, 1}, true);
  Tensor y = a + w * 2.0;
  y.backward(f64({3, 4}));
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{3, 4}));
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{6, 8}));
  a.mutable_grad().add_(1.0);
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{6, 8}));
  // and a second pass accumulates into both correctly
  (a + w * 2.0).backward(f64({1, 1}));
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{5, 6}));
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{8, 10}));
}

TEST(Engine, GradientsOnlyWhereRequested) {
  Tensor a = f64({1, 2}, true), c = f64({5, 6}, true);
  Tensor b = f64({3, 4});  // a constant in the middle
  Tensor y = concat({a, b, c});
  EXPECT_EQ(y.grad_fn_name(), "concatBackward");
  sum(y * arange(6, kFloat64)).backward();
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{0, 1}));
  EXPECT_EQ(vals(c.grad()), (std::vector<double>{4, 5}));
  EXPECT_FALSE(b.grad().defined());
  // a float32 leaf behind a conversion gets a float32 gradient
  Tensor f = tensor({1.0, 2.0}, TensorOptions().requires_grad());
  sum(f.to(kFloat64) * 3.0).backward();
  EXPECT_EQ(f.grad().dtype(), kFloat32);
  EXPECT_EQ(vals(f.grad()), (std::vector<double>{3, 3}));
  // a leaf that requires grad but is not reached keeps an undefined gradient
  Tensor unused = f64({1}, true);
  sum(a * 2.0).backward();
  EXPECT_FALSE(unused.grad().defined());
}

// ---- graph lifetime -----------------------------------------------------------------

TEST(Engine, SecondBackwardNeedsRetainGraph) {
  Tensor x = f64({1, 2}, true);
  Tensor y = sum(exp(x));
  y.backward();
  std::string msg = error_of([&] { y.backward(); });
  EXPECT_NE(msg.find("backward through the graph a second time"), std::string::npos) << msg;
  EXPECT_NE(msg.find("retain_graph=true"), std::string::npos) << msg;

  Tensor a = f64({1, 2}, true);
  Tensor z = sum(a * a * a);
  z.backward(Tensor(), /*retain_graph=*/true);
  expect_near(vals(a.grad()), {3, 12}, 1e-12);
  z.backward(Tensor(), true);
  expect_near(vals(a.grad()), {6, 24}, 1e-12);
  z.backward();  // the last one may free the graph
  expect_near(vals(a.grad()), {9, 36}, 1e-12);
  EXPECT_THROW(z.backward(), Error);
}

// ---- grad() -------------------------------------------------------------------------

TEST(Engine, GradDoesNotTouchDotGrad) {
  Tensor x = f64({1, 2, 3}, true);
  Tensor y = sum(x * x);
  std::vector<Tensor> g = grad({y}, {x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(vals(g[0]), (std::vector<double>{2, 4, 6}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(g[0].requires_grad());
}

TEST(Engine, GradWithRespectToIntermediates) {
  Tensor x = f64({1, 2}, true);
  Tensor h = x * 3.0;  // non-leaf
  Tensor y = sum(h * h);
  std::vector<Tensor> g = grad({y}, {h, x});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{6, 12}));   // 2h
  EXPECT_EQ(vals(g[1]), (std::vector<double>{18, 36}));  // 18x
  // The output itself as an input: ∂y/∂y = 1.
  Tensor y2 = sum(x * x);
  EXPECT_EQ(grad({y2}, {y2})[0].item(), 1.0);
  // An intermediate used twice on different paths gets both contributions.
  Tensor u = x * 2.0;
  Tensor v = sum(u * u) + sum(exp(u));
  std::vector<double> gu = vals(grad({v}, {u})[0]);
  expect_near(gu, {2 * 2 + std::exp(2.0), 2 * 4 + std::exp(4.0)}, 1e-12);
}

TEST(Engine, AllowUnused) {
  Tensor x = f64({1, 2}, true), z = f64({5}, true);
  Tensor y = sum(x);
  std::string msg = error_of([&] { grad({y}, {x, z}, {}, true); });
  EXPECT_NE(msg.find("grad: input 1 of shape [1] was not used"), std::string::npos) << msg;
  std::vector<Tensor> g = grad({y}, {x, z}, {}, false, false, /*allow_unused=*/true);
  EXPECT_EQ(vals(g[0]), (std::vector<double>{1, 1}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{0}));
  EXPECT_EQ(g[1].shape(), (Shape{1}));
  Tensor c = f64({1});
  EXPECT_THROW(grad({sum(x)}, {c}), Error);       // input needs requires_grad
  EXPECT_THROW(grad({sum(x)}, {x, x}), Error);    // listed twice
}

// ---- grad mode and detach -----------------------------------------------------------

TEST(Engine, NoGradGuardDisablesRecording) {
  Tensor x = f64({1, 2}, true);
  EXPECT_TRUE(is_grad_enabled());
  {
    NoGradGuard ng;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = x * 2.0 + exp(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    EXPECT_EQ(y.grad_fn_name(), "");
    {
      AutoGradMode on(true);
      EXPECT_TRUE((x * 2.0).requires_grad());
    }
    EXPECT_FALSE(is_grad_enabled());
    x.mul_(2.0);  // in-place on a leaf is allowed without grad mode
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_EQ(vals(x), (std::vector<double>{2, 4}));
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Engine, DetachCutsTheGraph) {
  Tensor x = f64({1, 2}, true);
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.raw_data(), x.raw_data());
  sum(d * x).backward();  // d is a constant: the gradient is d, not 2x
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{1, 2}));
  Tensor h = exp(x);
  EXPECT_FALSE(h.detach().requires_grad());
  EXPECT_THROW(h.requires_grad_(false), Error);
}

// ---- in-place safety ------------------------------------------------------------------

TEST(Engine, InPlaceOnLeafRequiringGradThrows) {
  Tensor x = f64({1, 2}, true);
  std::string msg = error_of([&] { x.add_(1.0); });
  EXPECT_NE(msg.find("add_: in-place update of a tensor that requires grad"), std::string::npos) << msg;
  EXPECT_THROW(x.zero_(), Error);
  EXPECT_THROW(x.copy_(f64({3, 4})), Error);
  EXPECT_THROW((x * 2.0).mul_(2.0), Error);  // non-leaf too
  EXPECT_THROW(x.t().fill_(0.0), Error);     // and views of it
  EXPECT_EQ(vals(x), (std::vector<double>{1, 2}));
}

TEST(Engine, InPlaceChangeOfSavedValueIsDetected) {
  {  // an input saved by mul
    Tensor x = f64({1, 2}, true);
    Tensor w = f64({3, 4});
    Tensor y = sum(x * w);
    w.mul_(2.0);
    std::string msg = error_of([&] { y.backward(); });
    EXPECT_NE(msg.find("modified in place"), std::string::npos) << msg;
  }
  {  // through a view of the saved tensor
    Tensor x = f64({1, 2}, true);
    Tensor w = f64({3, 4});
    Tensor y = sum(x * w);
    w.slice(0, 0, 1).fill_(0.0);
    EXPECT_THROW(y.backward(), Error);
  }
  {  // an output whose value the VJP reuses (∂eˣ = eˣ)
    Tensor x = f64({1, 2}, true);
    Tensor e = exp(x);
    Tensor y = sum(e);
    e.detach().mul_(0.0);
    EXPECT_THROW(y.backward(), Error);
  }
  {  // softmax reuses its output too
    Tensor x = f64({1, 2, 3}, true);
    Tensor s = softmax(x, 0);
    Tensor y = sum(s * f64({1, 0, 0}));
    s.detach().fill_(0.25);
    EXPECT_THROW(y.backward(), Error);
  }
  {  // the condition of where decides where the gradient goes
    Tensor a = f64({1, 2}, true), b = f64({3, 4}, true);
    Tensor c = f64({1, 0});
    Tensor y = sum(where(c, a, b));
    c.fill_(0.0);
    EXPECT_THROW(y.backward(), Error);
  }
  {  // untouched values: fine
    Tensor x = f64({1, 2}, true);
    Tensor w = f64({3, 4});
    Tensor y = sum(x * w);
    Tensor other = f64({0, 0});
    other.add_(1.0);
    y.backward();
    EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 4}));
  }
}

// ---- traversal ----------------------------------------------------------------------------

TEST(Engine, EachNodeRunsOnceOnSharedSubexpressions) {
  // y ← y·y + y, 50 times: every step uses y three times, so a per-path
  // traversal would take 3^50 steps. dy_{k+1}/dy_k = 2y_k + 1.
  Tensor x = scalar_tensor(-0.5, TensorOptions().dtype(kFloat64).requires_grad());
  g_probe_calls = 0;
  Tensor y = x;
  double v = -0.5, dv = 1.0;
  for (int k = 0; k < 50; ++k) {
    y = probe(y * y + y);
    dv *= 2 * v + 1;
    v = v * v + v;
  }
  auto t0 = std::chrono::steady_clock::now();
  y.backward();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 1.0);
  EXPECT_EQ(g_probe_calls, 50);
  EXPECT_NEAR(y.item(), v, 1e-15);
  EXPECT_NEAR(x.grad().item(), dv, 1e-12 * std::fabs(dv));
}

TEST(Engine, DiamondGraphVisitsSharedNodeOnce) {
  Tensor x = f64({1, 2}, true);
  g_probe_calls = 0;
  Tensor p = probe(x * 2.0);
  Tensor y = sum(sin(p) + cos(p) + p * p);
  y.backward();
  EXPECT_EQ(g_probe_calls, 1);
  std::vector<double> want;
  for (double xi : {1.0, 2.0}) {
    double pi = 2 * xi;
    want.push_back(2 * (std::cos(pi) - std::sin(pi) + 2 * pi));
  }
  expect_near(vals(x.grad()), want, 1e-12);
}

TEST(Engine, VeryDeepChainNeitherOverflowsNorLeaks) {
  constexpr int kDepth = 100000;
  Tensor x = scalar_tensor(1.0, TensorOptions().dtype(kFloat64).requires_grad());
  Tensor half = scalar_tensor(0.5, kFloat64), two = scalar_tensor(2.0, kFloat64);
  {
    Tensor y = x;
    for (int i = 0; i < kDepth; ++i) y = y * (i % 2 ? half : two);  // each node captures its operands
    EXPECT_EQ(y.item(), 1.0);
    y.backward();  // the sweep is iterative
    EXPECT_EQ(x.grad().item(), 1.0);
  }  // the graph dies here, kDepth nodes deep
  {
    Tensor y = x;
    for (int i = 0; i < kDepth; ++i) y = sin(y);
    // dropped without a backward: the VJPs still hold their captures
  }
  {
    Tensor y = x;
    for (int i = 0; i < kDepth; ++i) y = y.reshape(i % 2 ? Shape{} : Shape{1});
    EXPECT_EQ(grad({y}, {x})[0].item(), 1.0);
  }
}

// ---- higher order ---------------------------------------------------------------------------

TEST(Engine, CreateGraphGivesSecondDerivatives) {
  Tensor x = f64({0.5, -1.5, 2.0}, true);
  for (int form = 0; form < 2; ++form) {
    Tensor y = form == 0 ? sum(pow(x, 3.0)) : sum(x * x * x);
    std::vector<Tensor> g = grad({y}, {x}, {}, false, /*create_graph=*/true);
    EXPECT_TRUE(g[0].requires_grad());
    expect_near(vals(g[0]), {0.75, 6.75, 12.0}, 1e-12);  // 3x²
    std::vector<Tensor> h = grad({sum(g[0])}, {x});
    expect_near(vals(h[0]), {3.0, -9.0, 12.0}, 1e-12);  // 6x
  }
  // backward(create_graph) leaves a differentiable .grad()
  Tensor z = f64({0.3, 0.7}, true);
  sum(sin(z) * z).backward(Tensor(), false, true);
  Tensor gz = z.grad();
  EXPECT_TRUE(gz.requires_grad());
  std::vector<Tensor> hz = grad({sum(gz)}, {z});
  // d/dz (cos z · z + sin z) = 2cos z − z sin z
  expect_near(vals(hz[0]), {2 * std::cos(0.3) - 0.3 * std::sin(0.3), 2 * std::cos(0.7) - 0.7 * std::sin(0.7)},
              1e-12);
  // z.grad() now holds a graph that refers back to z (as in PyTorch, a reference
  // cycle between a leaf and its differentiable gradient): clearing it frees both.
  z.zero_grad();
}

TEST(Engine, HessianVectorProductMatchesFiniteDifferences) {
  Generator gen(11);
  Tensor a = randn({4, 3}, gen, kFloat64);
  Tensor x0 = randn({3}, gen, kFloat64);
  Tensor v = randn({3}, gen, kFloat64);
  auto gradient = [&](const Tensor& xv, bool create) {
    Tensor x = xv.detach().clone().requires_grad_();
    Tensor f = sum(tanh(matmul(a, x)));
    return std::make_pair(x, grad({f}, {x}, {}, false, create)[0]);
  };
  auto [x, g] = gradient(x0, true);
  Tensor hv = grad({dot(g, v)}, {x})[0];
  const double eps = 1e-5;
  Tensor gp = gradient(x0 + v * eps, false).second;
  Tensor gm = gradient(x0 - v * eps, false).second;
  Tensor fd = (gp - gm) / (2 * eps);
  expect_near(vals(hv), vals(fd), 1e-7);
  // and the closed form: H = Aᵀ diag(−2 tanh(z)(1 − tanh²z)) A, z = A x
  Tensor t = tanh(matmul(a, x0));
  Tensor d = -2.0 * t * (1.0 - t * t);
  Tensor h = matmul(a.t(), matmul(diag(d), a));
  expect_near(vals(hv), vals(matmul(h, v)), 1e-12);
}

// ---- kinks (Note [Kinks]) --------------------------------------------------------------------

TEST(Engine, DocumentedKinks) {
  Tensor x = f64({-1, 0, 2}, true);
  sum(relu(x)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{0, 0, 1}));  // relu'(0) = 0

  Tensor a = f64({-2, 0, 3}, true);
  sum(abs(a)).backward();
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{-1, 0, 1}));  // |x|'(0) = 0

  Tensor m = f64({1, 3, 3, 2}, true);
  max(m).backward();
  EXPECT_EQ(vals(m.grad()), (std::vector<double>{0, 1, 0, 0}));  // first maximal element
  Tensor n = f64({2, 1, 5, 1}, true);
  min(n).backward();
  EXPECT_EQ(vals(n.grad()), (std::vector<double>{0, 1, 0, 0}));

  Tensor r = tensor({{3.0, 3.0, 1.0}, {0.0, 4.0, 4.0}}, TensorOptions().dtype(kFloat64).requires_grad());
  sum(max(r, 1)).backward();
  EXPECT_EQ(vals(r.grad()), (std::vector<double>{1, 0, 0, 0, 1, 0}));

  Tensor p = f64({1, 2}, true), q = f64({1, 3}, true);
  sum(maximum(p, q)).backward();  // tie at index 0 goes to the first argument
  EXPECT_EQ(vals(p.grad()), (std::vector<double>{1, 0}));
  EXPECT_EQ(vals(q.grad()), (std::vector<double>{0, 1}));

  Tensor c = f64({-1, 0.5, 1, 2}, true);
  sum(clamp(c, -1.0, 1.0)).backward();  // boundaries pass the gradient
  EXPECT_EQ(vals(c.grad()), (std::vector<double>{1, 1, 1, 0}));

  Tensor s = f64({0, 0}, true);
  sum(maximum(s, 0.0)).backward();  // max(x, c) at a tie: x
  EXPECT_EQ(vals(s.grad()), (std::vector<double>{1, 1}));

  Tensor z = f64({0, 1}, true);
  sum(pow(z, 0.0)).backward();  // d/dx x⁰ = 0, also at 0
  EXPECT_EQ(vals(z.grad()), (std::vector<double>{0, 0}));

  Tensor v = zeros({3}, TensorOptions().dtype(kFloat64).requires_grad());
  norm(v).backward();  // ‖x‖'(0) = 0, not nan
  EXPECT_EQ(vals(v.grad()), (std::vector<double>{0, 0, 0}));
  Tensor w = f64({3, -4}, true);
  norm(w).backward();
  expect_near(vals(w.grad()), {0.6, -0.8}, 1e-15);

  Tensor base = f64({0, 0, 2}, true), ex = f64({2, 0, 3}, true);
  sum(pow(base, ex)).backward();  // ∂aᵇ/∂b at a = 0: 0ᵇ is constant for b > 0
  std::vector<double> gb = vals(ex.grad());
  EXPECT_EQ(gb[0], 0.0);
  EXPECT_EQ(gb[1], 0.0);
  EXPECT_DOUBLE_EQ(gb[2], 8 * std::log(2.0));
  EXPECT_EQ(vals(base.grad())[0], 0.0);  // ∂aᵇ/∂a = b·a^(b−1) = 0 at a = 0, b = 2
}

// ---- threads and gradcheck itself -------------------------------------------------------------

TEST(Engine, IndependentGraphsInParallelThreads) {
  constexpr int kThreads = 4, kRounds = 200;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([t, &wrong] {
      for (int r = 0; r < kRounds; ++r) {
        Tensor x = tensor({1.0 + t, 2.0 + r}, TensorOptions().dtype(kFloat64).requires_grad());
        Tensor h = x * x;
        Tensor y = sum(h * 2.0 + sin(h));  // ∂/∂x = 4x + 2x cos(x²)
        std::vector<Tensor> g = grad({y}, {x});
        std::vector<double> xv = vals(x), gv = vals(g[0]);
        for (size_t i = 0; i < 2; ++i)
          if (std::fabs(gv[i] - (4 * xv[i] + 2 * xv[i] * std::cos(xv[i] * xv[i]))) > 1e-9) ++wrong[t];
        {
          NoGradGuard ng;  // grad mode is per thread
          if ((x * 2.0).requires_grad()) ++wrong[t];
        }
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(Gradcheck, PassesCorrectAndFailsWrongGradients) {
  Tensor x = f64({0.3, -1.2, 2.0});
  GradcheckResult ok = gradcheck([](const std::vector<Tensor>& v) { return sin(v[0]) * v[0]; }, {x});
  EXPECT_TRUE(ok.ok) << ok;
  ASSERT_EQ(ok.inputs.size(), 1u);
  EXPECT_LT(ok.inputs[0].max_abs_error, 1e-8);
  // a VJP that is off by a factor of two
  auto twice_sin = [](const Tensor& in) {
    Tensor y = sin(in.detach());
    if (should_record({&in}))
      record(y, "bad_sin", {&in}, [in](const Tensor& g, const VjpCtx& ctx) { ctx.set(0, 2.0 * g * cos(in.detach())); });
    return y;
  };
  GradcheckResult bad = gradcheck([&](const std::vector<Tensor>& v) { return sum(twice_sin(v[0])); }, {x});
  EXPECT_FALSE(bad.ok);
  EXPECT_NEAR(bad.inputs[0].max_abs_error, std::cos(0.3), 1e-6);  // |2cos − cos| at the largest cos
  EXPECT_EQ(bad.summary().rfind("gradcheck FAILED; input 0: max abs error ", 0), 0u) << bad.summary();
  // float32 inputs are checked in float64
  GradcheckResult f32 = gradcheck([](const std::vector<Tensor>& v) {
    EXPECT_EQ(v[0].dtype(), kFloat64);
    return exp(v[0]);
  }, {tensor({0.5, 1.0})});
  EXPECT_TRUE(f32.ok) << f32;
}

}  // namespace
}  // namespace nabla
