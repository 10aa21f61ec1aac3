// Forward mode, jvp/vjp, Jacobians in both layouts and modes, Hessians, hvp and
// the diagonal of element-wise Jacobians, with the values the seed notes give
// (002: Jacobians, layouts, element-wise and scalar-expansion rules; 003: the
// identities and product rules; 004: softmax and tanh).
#include <gtest/gtest.h>

#include <cmath>

#include "autodiff/engine.hpp"
#include "autodiff/test_helpers.hpp"
#include "graph/autograd_meta.hpp"
#include "nabla/nabla.hpp"
#include "nabla/nn_functional.hpp"

namespace nabla {
namespace {

constexpr auto kF = kFloat64;

using test::expect_close;

JacobianOptions opts(JacobianMode m, JacobianLayout l = JacobianLayout::numerator) {
  JacobianOptions o;
  o.mode = m;
  o.layout = l;
  return o;
}

const JacobianMode kModes[] = {JacobianMode::automatic, JacobianMode::forward, JacobianMode::reverse};

// ---- seed 002 ------------------------------------------------------------------------

TEST(JacNotes, TwoFunctionsOfTwoVariables) {
  // f(x, y) = [3x²y, 2x + y⁸]: J = [[6yx, 3x²], [2, 8y⁷]]
  auto f = [](const Tensor& v) {
    Tensor x = v.select(0, 0), y = v.select(0, 1);
    return stack({3.0 * x * x * y, 2.0 * x + pow(y, 8.0)});
  };
  Tensor v = tensor({1.5, 0.8}, kF);
  double x = 1.5, y = 0.8;
  Tensor want = tensor({{6 * y * x, 3 * x * x}, {2, 8 * std::pow(y, 7)}}, kF);
  for (JacobianMode m : kModes) expect_close(jacobian(f, v, opts(m)), want);
  expect_close(jacobian(f, v, opts(JacobianMode::reverse, JacobianLayout::denominator)), want.t().contiguous());
}

TEST(JacNotes, IdentityIsI) {
  Generator gen(1);
  Tensor x = randn({5}, gen, kF);
  for (JacobianMode m : kModes) expect_close(jacobian([](const Tensor& t) { return t; }, x, opts(m)), eye(5, kF));
}

TEST(JacNotes, ElementwiseBinaryOpsAreDiagonal) {
  Generator gen(2);
  Tensor w = randn({4}, gen, kF), x = uniform({4}, 0.5, 2, gen, kF);
  // ∂(w ⊙ x)/∂w = diag(x), ∂(w ⊙ x)/∂x = diag(w); ∂(w/x)/∂w = diag(1/x); ∂(w+x)/∂x = I
  auto mul2 = [](const std::vector<Tensor>& v) { return v[0] * v[1]; };
  auto div2 = [](const std::vector<Tensor>& v) { return v[0] / v[1]; };
  auto add2 = [](const std::vector<Tensor>& v) { return v[0] + v[1]; };
  auto sub2 = [](const std::vector<Tensor>& v) { return v[0] - v[1]; };
  for (JacobianMode m : kModes) {
    auto jm = jacobian(mul2, {w, x}, opts(m));
    expect_close(jm[0], diag(x));
    expect_close(jm[1], diag(w));
    auto jd = jacobian(div2, {w, x}, opts(m));
    expect_close(jd[0], diag(1.0 / x));
    expect_close(jd[1], diag(-w / (x * x)));
    expect_close(jacobian(add2, {w, x}, opts(m))[1], eye(4, kF));
    expect_close(jacobian(sub2, {w, x}, opts(m))[1], -eye(4, kF));
  }
}

TEST(JacNotes, ScalarExpansion) {
  Generator gen(3);
  Tensor x = randn({4}, gen, kF), z = tensor({1.7}, kF).reshape({});
  auto add2 = [](const std::vector<Tensor>& v) { return v[0] + v[1]; };
  auto mul2 = [](const std::vector<Tensor>& v) { return v[0] * v[1]; };
  for (JacobianMode m : kModes) {
    auto ja = jacobian(add2, {x, z}, opts(m));
    expect_close(ja[0], eye(4, kF));          // ∂(x + z)/∂x = I
    expect_close(ja[1], ones({4, 1}, kF));    // ∂(x + z)/∂z = 1⃗
    auto jm = jacobian(mul2, {x, z}, opts(m));
    expect_close(jm[0], eye(4, kF) * 1.7);    // ∂(xz)/∂x = Iz
    expect_close(jm[1], x.reshape({4, 1}));   // ∂(xz)/∂z = x
  }
}

TEST(JacNotes, SumIsOnesTransposed) {
  Generator gen(4);
  Tensor x = randn({6}, gen, kF);
  for (JacobianMode m : kModes) expect_close(jacobian([](const Tensor& t) { return sum(t); }, x, opts(m)), ones({1, 6}, kF));
  expect_close(jacobian([](const Tensor& t) { return sum(t); }, x, opts(JacobianMode::reverse, JacobianLayout::denominator)),
               ones({6, 1}, kF));
}

TEST(JacNotes, VectorChainRule) {
  // y = [ln(x²), sin(3x)] for scalar x: ∂y/∂x = [2/x, 3cos(3x)]
  Tensor x = full({1}, 0.7, kF);
  auto f = [](const Tensor& t) { return concat({log(t * t), sin(3.0 * t)}); };
  Tensor want = tensor(std::vector<double>{2 / 0.7, 3 * std::cos(2.1)}, {2, 1}, kF);
  for (JacobianMode m : kModes) expect_close(jacobian(f, x, opts(m)), want);
}

TEST(JacNotes, LinearMapLayouts) {
  // ∂(Ax)/∂x = A (numerator), Aᵀ (denominator); ∂(xᵀA)/∂x = Aᵀ (numerator)
  Generator gen(5);
  Tensor a = randn({3, 5}, gen, kF), x = randn({5}, gen, kF), u = randn({3}, gen, kF);
  auto ax = [a](const Tensor& t) { return matmul(a, t); };
  auto xa = [a](const Tensor& t) { return matmul(t, a); };
  for (JacobianMode m : kModes) {
    expect_close(jacobian(ax, x, opts(m)), a);
    expect_close(jacobian(ax, x, opts(m, JacobianLayout::denominator)), a.t().contiguous());
    expect_close(jacobian(xa, u, opts(m)), a.t().contiguous());
    expect_close(jacobian(xa, u, opts(m, JacobianLayout::denominator)), a);
  }
}

// ---- seed 003 ------------------------------------------------------------------------

TEST(JacNotes, ProductRulesOnSmoothFunctions) {
  // ∂(yᵀz)/∂x = zᵀ ∂y/∂x + yᵀ ∂z/∂x; ∂(yᵀAz)/∂x = zᵀAᵀ ∂y/∂x + yᵀA ∂z/∂x
  Generator gen(6);
  Tensor b = randn({4, 3}, gen, kF), c = randn({4, 3}, gen, kF), a = randn({4, 4}, gen, kF), x = randn({3}, gen, kF);
  auto yf = [b](const Tensor& t) { return tanh(matmul(b, t)); };
  auto zf = [c](const Tensor& t) { return sin(matmul(c, t)) + t.sum(); };
  Tensor y = yf(x), z = zf(x);
  Tensor jy = jacobian(yf, x), jz = jacobian(zf, x);
  for (JacobianMode m : kModes) {
    Tensor j1 = jacobian([&](const Tensor& t) { return dot(yf(t), zf(t)); }, x, opts(m));
    expect_close(j1.reshape({3}), matmul(z, jy) + matmul(y, jz));
    Tensor j2 = jacobian([&](const Tensor& t) { return dot(yf(t), matmul(a, zf(t))); }, x, opts(m));
    expect_close(j2.reshape({3}), matmul(matmul(z, a.t()), jy) + matmul(matmul(y, a), jz));
  }
}

TEST(JacNotes, LogisticAndTanh) {
  Generator gen(7);
  Tensor x = randn({5}, gen, kF);
  Tensor s = sigmoid(x);
  expect_close(jacobian_diagonal([](const Tensor& t) { return sigmoid(t); }, x), s * (1.0 - s));  // σ' = σ(1−σ)
  Tensor ch = cosh(x);
  expect_close(jacobian_diagonal([](const Tensor& t) { return tanh(t); }, x), 1.0 / (ch * ch));  // tanh' = 1/cosh²
  for (JacobianMode m : kModes) expect_close(jacobian([](const Tensor& t) { return tanh(t); }, x, opts(m)), diag(1.0 / (ch * ch)));
}

TEST(JacNotes, SoftmaxJacobian) {
  // ∂softmax(x)/∂x = diag(s) − s sᵀ   (seed 004)
  Generator gen(8);
  Tensor x = randn({5}, gen, kF);
  Tensor s = softmax(x, 0);
  for (JacobianMode m : kModes)
    expect_close(jacobian([](const Tensor& t) { return softmax(t, 0); }, x, opts(m)), diag(s) - outer(s, s));
}

TEST(HessNotes, QuadraticFormIsAPlusAT) {
  Generator gen(9);
  Tensor a = randn({6, 6}, gen, kF), x = randn({6}, gen, kF), v = randn({6}, gen, kF);
  auto f = [a](const Tensor& t) { return dot(t, matmul(a, t)); };
  expect_close(hessian(f, x), a + a.t());
  expect_close(hvp(f, x, v), matmul(a + a.t(), v));
}

TEST(HessNotes, SumTanhAgainstHandFormula) {
  // f = Σ tanh(Ax): ∇f = Aᵀ(1 − t²), H = Aᵀ diag(−2t(1 − t²)) A with t = tanh(Ax)
  Generator gen(10);
  Tensor a = randn({4, 5}, gen, kF) * 0.5, x = randn({5}, gen, kF);
  Tensor t = tanh(matmul(a, x));
  Tensor want = matmul(matmul(a.t(), diag(-2.0 * t * (1.0 - t * t))), a);
  auto f = [a](const Tensor& u) { return sum(tanh(matmul(a, u))); };
  expect_close(hessian(f, x), want, 1e-12);
  // against create_graph double backward, row by row
  for (int i = 0; i < 5; ++i) {
    Tensor xr = x.detach().requires_grad_();
    Tensor g = grad({f(xr)}, {xr}, {}, true, true)[0];
    Tensor row = grad({g.select(0, i)}, {xr})[0];
    expect_close(row, hessian(f, x).select(0, i));
  }
}

TEST(HessNotes, DiagonalDirectionsAgreeWithDenseOnes) {
  // hessian() marks its identity directions diagonal for a vector x (matmul's
  // JVP then scales instead of multiplying, products keep the mark): the same
  // Hessian as with x of shape [n, 1], whose directions are not marked, and as
  // double backward row by row
  Generator gen(24);
  const int64_t n = 6;
  Tensor a = randn({n, n}, gen, kF), b = randn({4, n}, gen, kF), c = randn({4, n}, gen, kF),
         x = randn({n}, gen, kF);
  auto f = [&](const Tensor& u) {
    return dot(u, matmul(a, u)) + dot(matmul(b, u), matmul(c, u)) + sum(u * u * sin(u)) +
           sum(tanh(matmul(b, exp(u * 0.3)))) + dot(matmul(u, a), u * 2.0);
  };
  Tensor h = hessian(f, x);
  Tensor h_dense = hessian([&](const Tensor& u) { return f(u.reshape({n})); }, x.reshape({n, 1})).reshape({n, n});
  expect_close(h, h_dense, 1e-12);
  for (int i = 0; i < n; ++i) {
    Tensor xr = x.detach().requires_grad_();
    Tensor g = grad({f(xr)}, {xr}, {}, true, true)[0];
    expect_close(grad({g.select(0, i)}, {xr})[0], h.select(0, i), 1e-11);
  }
  // forward-mode Jacobians take the same marked directions
  auto j = [&](const Tensor& u) { return tanh(matmul(b, u)) * u.sum() + matmul(c, sin(u)); };
  expect_close(jacobian(j, x, opts(JacobianMode::forward)), jacobian(j, x, opts(JacobianMode::reverse)));
}

TEST(HessNotes, EveryElementwiseRuleSecondOrder) {
  // hessian() takes f'' of each element-wise op from its rule (Note
  // [Second-order element-wise VJPs]); double backward with create_graph
  // recomputes it as ops: the two must agree for every function of
  // nabla/elementwise.def, on x inside its domain and away from kinks
  Generator gen(25);
  const int64_t n = 5;
  Tensor a = randn({n, n}, gen, kF) * 0.3, x = uniform({n}, 0.4, 1.6, gen, kF);
  std::vector<std::pair<const char*, Tensor (*)(const Tensor&)>> fs;
#define NABLA_ELEMENTWISE(NAME, ...) fs.emplace_back(#NAME, static_cast<Tensor (*)(const Tensor&)>(&NAME));
#include "nabla/elementwise.def"
  ASSERT_GE(fs.size(), 18u);
  for (auto [name, fn] : fs) {
    SCOPED_TRACE(name);
    auto f = [&, fn](const Tensor& u) { return sum(fn(matmul(a, u) * 0.5 + 1.0) * u); };
    Tensor h = hessian(f, x);
    for (int i = 0; i < n; ++i) {
      Tensor xr = x.detach().requires_grad_();
      Tensor g = grad({f(xr)}, {xr}, {}, true, true)[0];
      expect_close(grad({g.select(0, i)}, {xr}, {}, false, false, true)[0], h.select(0, i), 1e-10);
    }
  }
}

TEST(HessNotes, ThroughFusedOps) {
  // forward-over-reverse through linear, cross_entropy, softmax, norm and prod
  Generator gen(11);
  Tensor w = randn({3, 4}, gen, kF), bias = randn({3}, gen, kF), x = randn({8}, gen, kF);
  Tensor labels = tensor(std::vector<double>{0, 2}, {2}, kF);
  auto f = [&](const Tensor& u) {
    Tensor z = linear(tanh(u.reshape({2, 4})), w, bias);
    return cross_entropy(z, labels) + norm(u) + prod(u * 0.3 + 1.0) + sum(softmax(u, 0) * u);
  };
  Tensor h = hessian(f, x);
  for (int i = 0; i < 8; ++i) {
    Tensor xr = x.detach().requires_grad_();
    Tensor g = grad({f(xr)}, {xr}, {}, true, true)[0];
    expect_close(grad({g.select(0, i)}, {xr})[0], h.select(0, i), 1e-10);
  }
}

TEST(HessNotes, HigherOrderByCreateGraph) {
  // d³/dx³ x⁵ = 60x² to any order by repeated grad with create_graph
  Tensor x = tensor({1.3}, kF).reshape({}).requires_grad_();
  Tensor y = pow(x, 5.0);
  Tensor g1 = grad({y}, {x}, {}, true, true)[0];
  Tensor g2 = grad({g1}, {x}, {}, true, true)[0];
  Tensor g3 = grad({g2}, {x}, {}, true, true)[0];
  Tensor g4 = grad({g3}, {x}, {}, true, true)[0];
  EXPECT_NEAR(g3.item(), 60 * 1.3 * 1.3, 1e-10);
  EXPECT_NEAR(g4.item(), 120 * 1.3, 1e-10);
}

// ---- forward mode, jvp and vjp -----------------------------------------------------------

TEST(FwdMode, JvpOfAxIsAv) {
  Generator gen(12);
  Tensor a = randn({3, 4}, gen, kF), x = randn({4}, gen, kF), v = randn({4}, gen, kF);
  JvpResult r = jvp([a](const Tensor& t) { return tanh(matmul(a, t)); }, x, v);
  Tensor y = tanh(matmul(a, x));
  expect_close(r.output, y);
  expect_close(r.tangent, (1.0 - y * y) * matmul(a, v));
  EXPECT_FALSE(r.output.requires_grad());
}

TEST(FwdMode, VjpPullbackCallableManyTimes) {
  Generator gen(13);
  Tensor a = randn({3, 4}, gen, kF), x = randn({4}, gen, kF);
  VjpResult r = vjp([a](const Tensor& t) { return matmul(a, t); }, x);
  for (int i = 0; i < 3; ++i) {
    Tensor u = randn({3}, gen, kF);
    expect_close(r.pullback(u)[0], matmul(u, a));
  }
}

TEST(FwdMode, BatchedShapeOps) {
  // shape ops and reductions carry k directions: the forward Jacobian of a
  // function made of them matches the reverse one
  Generator gen(14);
  Tensor x = randn({2, 3, 4}, gen, kF);
  auto f = [](const Tensor& t) {
    Tensor p = t.permute({2, 0, 1}).reshape({4, 6});
    Tensor q = concat({p.slice(1, 1, 5), p.transpose(0, 1).slice(0, 0, 4)}, 1);
    return stack({sum(q, {0}), max(q, 0), mean(q, {0}), logsumexp(q, 0)}).unsqueeze(0).expand({2, 4, 8});
  };
  expect_close(jacobian(f, x, opts(JacobianMode::forward)), jacobian(f, x, opts(JacobianMode::reverse)));
}

TEST(FwdMode, ForwardAndReverseAgreeOnAnMlp) {
  Generator gen(15);
  Tensor w1 = randn({7, 5}, gen, kF), w2 = randn({3, 7}, gen, kF), x = randn({4, 5}, gen, kF);
  auto f = [&](const Tensor& t) { return log_softmax(matmul(relu(linear(t, w1)), w2.t()), 1); };
  Tensor jf = jacobian(f, x, opts(JacobianMode::forward)), jr = jacobian(f, x, opts(JacobianMode::reverse));
  EXPECT_EQ(jf.shape(), (Shape{12, 20}));
  expect_close(jf, jr);
}

// ---- the diagonal of element-wise Jacobians --------------------------------------------------

TEST(JacDiagonal, ElementwiseChainIsDetected) {
  Generator gen(16);
  Tensor x = uniform({50}, 0.5, 2, gen, kF);
  auto f = [](const Tensor& t) { return exp(sin(t) * 2.0) / t + sqrt(t); };
  Tensor d = jacobian_diagonal(f, x);
  Tensor full = jacobian(f, x, opts(JacobianMode::reverse));
  expect_close(diag(full), d);
  expect_close(jacobian(f, x), full);  // automatic mode takes the diagonal path
}

TEST(JacDiagonal, NonElementwiseIsRefused) {
  Tensor x = tensor({1.0, 2.0}, kF);
  EXPECT_THROW(jacobian_diagonal([](const Tensor& t) { return t * sum(t); }, x), Error);
  EXPECT_THROW(jacobian_diagonal([](const Tensor& t) { return softmax(t, 0); }, x), Error);
}

// ---- the compact diagonal seed of reverse Jacobians (Note [Compact diagonal batches]) ----

// The reverse Jacobian with the dense m×m identity as the seed: the path before
// compact seeds (marked diagonal: element-wise VJPs and A x skip its zeros), or
// with `plain` an unmarked identity, through every VJP's general rule.
Tensor dense_seed_jacobian(const TensorFn& f, const Tensor& x, bool plain) {
  Tensor xr = x.detach().requires_grad_();
  Tensor y = f(xr);
  Tensor seed = eye(y.numel(), y.dtype());
  if (!plain) set_diag_batch(seed, true);
  Tensor g = grad_batched({y}, {xr}, {seed}, 1, false)[0];
  set_diag_batch(g, false);
  return g.reshape({y.numel(), x.numel()}).contiguous();
}

TEST(JacCompactSeed, MatchesTheDenseSeedAndFiniteDifferences) {
  // chains that keep the seed compact (element-wise ops, then A x), that end it
  // early (add, mul, a reduction, softmax, reshape: expanded), and A x with A
  // as a second input (its ∂/∂A needs the dense seed)
  Generator gen(21);
  Tensor a = randn({7, 5}, gen, kF) * 0.4, b = randn({7, 7}, gen, kF) * 0.3, x = randn({5}, gen, kF);
  std::vector<TensorFn> fs = {
      [a](const Tensor& t) { return tanh(matmul(a, t)); },
      [a](const Tensor& t) { return exp(sigmoid(tanh(matmul(a, t)))); },
      [a, b](const Tensor& t) { return tanh(matmul(b, sin(matmul(a, t)))); },
      [a](const Tensor& t) { return tanh(matmul(a, t)) * 2.0 + sin(matmul(a, t)); },
      [a](const Tensor& t) { return tanh(matmul(a, t) + sum(t)); },
      [a](const Tensor& t) { return softmax(tanh(matmul(a, t)), 0); },
      [a](const Tensor& t) { return tanh(matmul(a, t).reshape({7, 1}).reshape({7})); },
      [a](const Tensor& t) { return tanh(matmul(a, t)) * matmul(a, t); },
  };
  for (size_t i = 0; i < fs.size(); ++i) {
    SCOPED_TRACE(i);
    Tensor j = jacobian(fs[i], x, opts(JacobianMode::reverse));
    // bit for bit the former path where it kept the diagonal
    EXPECT_TRUE(equal(j, dense_seed_jacobian(fs[i], x, false)));
    expect_close(j, dense_seed_jacobian(fs[i], x, true));
    expect_close(j, numeric_jacobian(fs[i], x), 1e-7);
    expect_close(jacobian(fs[i], x, opts(JacobianMode::reverse, JacobianLayout::denominator)), j.t().contiguous());
  }
  // two inputs: A x with A requiring grad too
  auto two = [](const std::vector<Tensor>& v) { return tanh(matmul(v[0], v[1])); };
  std::vector<Tensor> jr = jacobian(two, {a, x}, opts(JacobianMode::reverse));
  std::vector<Tensor> jf = jacobian(two, {a, x}, opts(JacobianMode::forward));
  ASSERT_EQ(jr.size(), 2u);
  expect_close(jr[0], jf[0]);
  expect_close(jr[1], jf[1]);
  expect_close(jr[1], jacobian(fs[0], x));
}

TEST(JacCompactSeed, Float32AndCreateGraph) {
  Generator gen(22);
  Tensor a = randn({30, 30}, gen) * 0.2, x = randn({30}, gen);
  auto f = [a](const Tensor& t) { return tanh(matmul(a, t)); };
  Tensor y = tanh(matmul(a, x));
  Tensor hand = unsqueeze(1.0 - y * y, 1) * a;  // diag(1 − tanh²(Ax)) A
  Tensor j = jacobian(f, x);
  EXPECT_EQ(j.dtype(), kFloat32);
  expect_close(j, hand, 1e-6);
  // create_graph keeps the dense seed: the Jacobian can be differentiated again
  JacobianOptions o = opts(JacobianMode::reverse);
  o.create_graph = true;
  Tensor xd = x.to(kF);
  Tensor jd = jacobian([&](const Tensor& t) { return tanh(matmul(a.to(kF), t)); }, xd, o);
  expect_close(jd, hand.to(kF), 1e-6);
}

TEST(JacCompactSeed, CompactGradientsAddUp) {
  // two outputs seeded compact reach x through element-wise ops alone: the
  // sum stays compact in the pass and comes back as the dense diag(tanh' + sin')
  Generator gen(23);
  Tensor x = randn({6}, gen, kF);
  Tensor xr = x.detach().requires_grad_();
  Tensor y1 = tanh(xr), y2 = sin(xr);
  Tensor s1 = ones({6}, kF), s2 = ones({6}, kF);
  set_diag_compact(s1);
  set_diag_compact(s2);
  Tensor g = grad_batched({y1, y2}, {xr}, {s1, s2}, 1, false)[0];
  EXPECT_FALSE(is_diag_compact(g));
  Tensor t = tanh(x);
  expect_close(g, diag(1.0 - t * t + cos(x)));
  // a compact seed needs a vector output of its length and one batch dim
  Tensor bad = ones({5}, kF);
  set_diag_compact(bad);
  EXPECT_THROW(grad_batched({tanh(xr)}, {xr}, {bad}, 1, false), Error);
}

}  // namespace
}  // namespace nabla
