// inv, det, logdet and solve: forward values worked by hand, X⁻¹X = I on
// random well-conditioned matrices up to 64×64 in float32 and float64,
// batches, gradcheck of the first and second order, JVPs against central
// differences, forward vs reverse Jacobians, the Hessian of log det, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "autodiff/test_helpers.hpp"
#include "nabla/nabla.hpp"

namespace nabla {
namespace {

constexpr auto kF = kFloat64;

using test::expect_close;

// randn + n·I: eigenvalues within about √n of n, so well conditioned.
Tensor well_conditioned(const Shape& s, Generator& gen, DType dt = kF) {
  const int64_t n = s[s.size() - 1];
  return randn(s, gen, dt) + eye(n, dt) * static_cast<double>(n);
}

std::string msg_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

const Tensor k2 = tensor({{4.0, 7.0}, {2.0, 6.0}}, kF);  // det 10
// det 1, with an integer inverse (not symmetric, so a transpose slip shows)
const Tensor k3 = tensor({{1.0, 2.0, 3.0}, {0.0, 1.0, 4.0}, {5.0, 6.0, 0.0}}, kF);
const Tensor k3inv = tensor({{-24.0, 18.0, 5.0}, {20.0, -15.0, -4.0}, {-5.0, 4.0, 1.0}}, kF);

// ---- forward ------------------------------------------------------------------------------

TEST(Decomp, TwoByTwoByHand) {
  expect_close(inv(k2), tensor({{0.6, -0.7}, {-0.2, 0.4}}, kF));
  EXPECT_EQ(det(k2).shape(), Shape{});
  EXPECT_NEAR(det(k2).item(), 10.0, 1e-13);
  EXPECT_NEAR(logdet(k2).item(), std::log(10.0), 1e-14);
  // 4x + 7y = 1, 2x + 6y = 2
  expect_close(solve(k2, tensor({1.0, 2.0}, kF)), tensor({-0.8, 0.6}, kF));
  expect_close(solve(k2, tensor({{1.0, 0.0}, {2.0, 1.0}}, kF)), tensor({{-0.8, -0.7}, {0.6, 0.4}}, kF));
}

TEST(Decomp, ThreeByThreeByHand) {
  expect_close(inv(k3), k3inv, 1e-12);
  EXPECT_NEAR(det(k3).item(), 1.0, 1e-12);
  EXPECT_NEAR(logdet(k3).item(), 0.0, 1e-12);
  // symmetric tridiagonal: det = 2·(12 − 1) − 1·4 = 18, X⁻¹ = adj X / 18
  Tensor s = tensor({{2.0, 1.0, 0.0}, {1.0, 3.0, 1.0}, {0.0, 1.0, 4.0}}, kF);
  EXPECT_NEAR(det(s).item(), 18.0, 1e-12);
  expect_close(inv(s), tensor({{11.0, -4.0, 1.0}, {-4.0, 8.0, -2.0}, {1.0, -2.0, 5.0}}, kF) / 18.0);
  expect_close(solve(k3, tensor({1.0, 1.0, 1.0}, kF)), tensor({-1.0, 1.0, 0.0}, kF));
  // float32 gives the same values to its precision
  Tensor k3f = k3.to(kFloat32);
  EXPECT_EQ(inv(k3f).dtype(), kFloat32);
  expect_close(inv(k3f).to(kF), k3inv, 1e-4);
  EXPECT_NEAR(det(k3f).item(), 1.0, 1e-4);
}

TEST(Decomp, SignsSingularAndEmpty) {
  Tensor swap = tensor({{0.0, 1.0}, {1.0, 0.0}}, kF);
  EXPECT_EQ(det(swap).item(), -1.0);
  EXPECT_TRUE(std::isnan(logdet(swap).item()));  // log of a negative determinant
  EXPECT_EQ(logdet(-eye(2, kF)).item(), 0.0);     // det(−I₂) = 1: two negative pivots
  EXPECT_TRUE(std::isnan(logdet(-eye(3, kF)).item()));
  Tensor sing = tensor({{1.0, 2.0}, {2.0, 4.0}}, kF);
  EXPECT_EQ(det(sing).item(), 0.0);
  EXPECT_EQ(logdet(sing).item(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(det(zeros({3, 3}, kFloat32)).item(), 0.0);
  // 0×0: the empty product
  EXPECT_EQ(det(zeros({0, 0}, kF)).item(), 1.0);
  EXPECT_EQ(logdet(zeros({0, 0}, kF)).item(), 0.0);
  EXPECT_EQ(inv(zeros({0, 0}, kF)).shape(), (Shape{0, 0}));
  EXPECT_EQ(det(zeros({2, 0, 0}, kF)).to_vector<double>(), (std::vector<double>{1, 1}));
  // large determinants: log det from the pivots, no overflow
  EXPECT_NEAR(logdet(eye(200, kFloat32) * 1e3).item(), 200 * std::log(1e3), 0.05);
  EXPECT_TRUE(std::isinf(det(eye(200, kFloat32) * 1e3).item()));
}

class InvTimesA : public ::testing::TestWithParam<int64_t> {};

TEST_P(InvTimesA, IsIdentityFloat64AndFloat32) {
  const int64_t n = GetParam();
  for (DType dt : {kFloat64, kFloat32}) {
    SCOPED_TRACE(dt == kF ? "float64" : "float32");
    Generator gen(100 + n);
    Tensor a = well_conditioned({n, n}, gen, dt);
    Tensor y = inv(a);
    EXPECT_EQ(y.dtype(), dt);
    const double tol = dt == kF ? 1e-13 : 2e-6;
    expect_close(matmul(y, a).to(kF), eye(n, kF), tol);
    expect_close(matmul(a, y).to(kF), eye(n, kF), tol);
    // solve agrees with the product by the inverse
    Tensor b = randn({n, 3}, gen, dt);
    expect_close(solve(a, b).to(kF), matmul(y, b).to(kF), dt == kF ? 1e-12 : 1e-5);
    expect_close(matmul(a, solve(a, b)).to(kF), b.to(kF), dt == kF ? 1e-12 : 1e-5);
  }
}
INSTANTIATE_TEST_SUITE_P(Sizes, InvTimesA, ::testing::Values(1, 2, 3, 5, 17, 64));

TEST(Decomp, DetIsTheProductOfATriangularDiagonal) {
  // det of a triangular matrix is the product of its diagonal; det(AB) = det A det B
  Tensor u = tensor({{2.0, 5.0, -1.0}, {0.0, -3.0, 7.0}, {0.0, 0.0, 0.5}}, kF);
  EXPECT_NEAR(det(u).item(), -3.0, 1e-14);
  EXPECT_NEAR(det(u.t()).item(), -3.0, 1e-14);
  Generator gen(3);
  Tensor a = well_conditioned({4, 4}, gen), b = well_conditioned({4, 4}, gen);
  EXPECT_NEAR(det(matmul(a, b)).item(), det(a).item() * det(b).item(), 1e-10 * std::fabs(det(a).item() * det(b).item()));
  EXPECT_NEAR(logdet(matmul(a, b)).item(), logdet(a).item() + logdet(b).item(), 1e-12);
}

TEST(Decomp, NonContiguousInputs) {
  Tensor t = k3.t();  // a transposed view
  ASSERT_FALSE(t.is_contiguous());
  expect_close(inv(t), k3inv.t().contiguous(), 1e-12);
  EXPECT_NEAR(det(t).item(), 1.0, 1e-12);
  Tensor wide = stack({k3, zeros_like(k3)}, -1).select(-1, 0);  // strided
  ASSERT_FALSE(wide.is_contiguous());
  expect_close(inv(wide), k3inv, 1e-12);
  expect_close(solve(k2, tensor({{1.0, 2.0}, {0.0, 1.0}}, kF).t()), tensor({{-0.8, -0.7}, {0.6, 0.4}}, kF));
}

TEST(Decomp, BatchesMatchTheirMatrices) {
  Generator gen(4);
  Tensor a = well_conditioned({2, 3, 4, 4}, gen);
  Tensor y = inv(a), d = det(a), l = logdet(a);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4, 4}));
  EXPECT_EQ(d.shape(), (Shape{2, 3}));
  EXPECT_EQ(l.shape(), (Shape{2, 3}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      Tensor m = a.select(0, i).select(0, j);
      expect_close(y.select(0, i).select(0, j), inv(m));
      EXPECT_NEAR(d.at({i, j}), det(m).item(), 1e-12 * std::fabs(det(m).item()));
      EXPECT_NEAR(l.at({i, j}), logdet(m).item(), 1e-12);
    }
  // solve broadcasts the batch dims: A [2, 1, 3, 3], B [4, 3, 2] → [2, 4, 3, 2]
  Tensor as = well_conditioned({2, 1, 3, 3}, gen), bs = randn({4, 3, 2}, gen, kF);
  Tensor x = solve(as, bs);
  ASSERT_EQ(x.shape(), (Shape{2, 4, 3, 2}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) expect_close(x.select(0, i).select(0, j), solve(as.select(0, i).select(0, 0), bs.select(0, j)));
  // one matrix against a batch of right-hand sides, and a vector against a batch of matrices
  Tensor a2 = well_conditioned({3, 3}, gen);
  Tensor x2 = solve(a2, bs);
  for (int j = 0; j < 4; ++j) expect_close(x2.select(0, j), matmul(inv(a2), bs.select(0, j)));
  Tensor v = randn({3}, gen, kF);
  Tensor x3 = solve(as, v);
  ASSERT_EQ(x3.shape(), (Shape{2, 1, 3}));
  expect_close(x3.select(0, 1).select(0, 0), matmul(inv(as.select(0, 1).select(0, 0)), v));
}

// ---- gradients ----------------------------------------------------------------------------

TEST(DecompGrad, KnownGradients) {
  // ∂ det [[a, b], [c, d]] = [[d, −c], [−b, a]];  ∂ log det X = X⁻ᵀ;  ∂ tr(X⁻¹) = −X⁻ᵀX⁻ᵀ
  Tensor x = k2.clone().requires_grad_();
  expect_close(grad({det(x)}, {x})[0], tensor({{6.0, -2.0}, {-7.0, 4.0}}, kF));
  expect_close(grad({logdet(x)}, {x})[0], tensor({{0.6, -0.2}, {-0.7, 0.4}}, kF));
  Tensor yt = inv(k2).t();
  expect_close(grad({trace(inv(x))}, {x})[0], -matmul(yt, yt));
  // solve(A, b) for b: ∂(uᵀA⁻¹b)/∂b = A⁻ᵀu; for A: −A⁻ᵀu xᵀ
  Tensor a = k3.clone().requires_grad_(), b = tensor({1.0, 1.0, 1.0}, kF).requires_grad_();
  Tensor u = tensor({1.0, -2.0, 0.5}, kF);
  std::vector<Tensor> g = grad({dot(u, solve(a, b))}, {a, b});
  Tensor lam = matmul(k3inv.t(), u);
  expect_close(g[1], lam);
  expect_close(g[0], -outer(lam, tensor({-1.0, 1.0, 0.0}, kF)));
}

// One function of each kind; the cases the generic checks below iterate over.
struct Case {
  std::string name;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  std::vector<Tensor> inputs;
};

std::vector<Case> cases() {
  Generator gen(7);
  auto wc = [&](const Shape& s) { return well_conditioned(s, gen); };
  auto rn = [&](const Shape& s) { return randn(s, gen, kF); };
  using V = const std::vector<Tensor>&;
  return {
      {"inv", [](V x) { return inv(x[0]); }, {wc({3, 3})}},
      {"inv_batch", [](V x) { return inv(x[0]); }, {wc({2, 3, 3})}},
      {"inv_1x1", [](V x) { return inv(x[0]); }, {wc({1, 1})}},
      {"det", [](V x) { return det(x[0]); }, {wc({3, 3})}},
      {"det_batch", [](V x) { return det(x[0]); }, {wc({2, 3, 3})}},
      {"det_negative", [](V x) { return det(x[0]); }, {rn({3, 3}) - eye(3, kF) * 3.0}},
      {"logdet", [](V x) { return logdet(x[0]); }, {wc({4, 4})}},
      {"logdet_batch", [](V x) { return logdet(x[0]); }, {wc({3, 2, 2})}},
      {"solve_matrix", [](V x) { return solve(x[0], x[1]); }, {wc({3, 3}), rn({3, 2})}},
      {"solve_vector", [](V x) { return solve(x[0], x[1]); }, {wc({3, 3}), rn({3})}},
      {"solve_batch", [](V x) { return solve(x[0], x[1]); }, {wc({2, 3, 3}), rn({2, 3, 2})}},
      {"solve_broadcast", [](V x) { return solve(x[0], x[1]); }, {wc({2, 1, 3, 3}), rn({3, 3, 1})}},
      {"solve_matrix_batch_rhs", [](V x) { return solve(x[0], x[1]); }, {wc({3, 3}), rn({2, 3, 2})}},
      {"inv_in_a_chain", [](V x) { return sum(tanh(matmul(inv(x[0]), x[1]))) * logdet(x[0]); },
       {wc({3, 3}), rn({3, 2})}},
  };
}

class DecompCase : public ::testing::TestWithParam<size_t> {
 protected:
  Case c = cases()[GetParam()];
};

std::string case_name(const ::testing::TestParamInfo<size_t>& i) { return cases()[i.param].name; }

TEST_P(DecompCase, Gradcheck) {
  GradcheckResult r = gradcheck(c.fn, c.inputs);
  EXPECT_TRUE(r.ok) << r;
}

TEST_P(DecompCase, GradcheckOfTheGradient) {
  // g(x) = ∂⟨u, f(x)⟩/∂x, built with create_graph, must itself pass gradcheck
  auto fn = c.fn;
  auto g = [fn](const std::vector<Tensor>& xs) {
    Tensor y = fn(xs);
    Generator gen(5);
    Tensor u = randn(y.shape(), gen, kF);
    std::vector<Tensor> gs = grad({y}, xs, {u}, true, true, true);
    std::vector<Tensor> flat;
    for (const Tensor& t : gs) flat.push_back(reshape(t, {-1}));
    return concat(flat);
  };
  GradcheckResult r = gradcheck(g, c.inputs);
  EXPECT_TRUE(r.ok) << r;
}

TEST_P(DecompCase, JvpMatchesFiniteDifferences) {
  Generator gen(11);
  std::vector<Tensor> vs;
  for (const Tensor& x : c.inputs) vs.push_back(randn(x.shape(), gen, kF));
  JvpResult r = jvp(c.fn, c.inputs, vs);
  expect_close(r.output, c.fn(c.inputs), 0);
  const double eps = 1e-6;
  std::vector<Tensor> plus, minus;
  for (size_t i = 0; i < vs.size(); ++i) {
    plus.push_back(c.inputs[i] + vs[i] * eps);
    minus.push_back(c.inputs[i] - vs[i] * eps);
  }
  Tensor fd = (c.fn(plus) - c.fn(minus)) / (2 * eps);
  expect_close(r.tangent, fd, 1e-6);
  // and ⟨u, J v⟩ = ⟨Jᵀu, v⟩ against reverse mode
  Tensor u = randn(r.output.shape(), gen, kF);
  std::vector<Tensor> jtu = vjp(c.fn, c.inputs).pullback(u);
  double lhs = sum(u * r.tangent).item(), rhs = 0;
  for (size_t i = 0; i < vs.size(); ++i) rhs += sum(jtu[i] * vs[i]).item();
  EXPECT_NEAR(lhs, rhs, 1e-10 * std::max(1.0, std::fabs(lhs)));
}

TEST_P(DecompCase, JacobianForwardEqualsReverse) {
  // one batched forward pass against one batched backward pass (VJPs with a batch axis)
  JacobianOptions fw, rv;
  fw.mode = JacobianMode::forward;
  rv.mode = JacobianMode::reverse;
  std::vector<Tensor> jf = jacobian(c.fn, c.inputs, fw), jr = jacobian(c.fn, c.inputs, rv);
  ASSERT_EQ(jf.size(), jr.size());
  for (size_t i = 0; i < jf.size(); ++i) expect_close(jf[i], jr[i], 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Ops, DecompCase, ::testing::Range<size_t>(0, cases().size()), case_name);

TEST(DecompGrad, HessianOfLogdet) {
  // ∂² log det X / ∂Xᵢⱼ ∂Xₖₗ = −(X⁻¹)ⱼₖ (X⁻¹)ₗᵢ, X flattened row-major
  Generator gen(21);
  const int64_t n = 3;
  Tensor x = well_conditioned({n, n}, gen);
  Tensor y = inv(x);
  std::vector<double> want(n * n * n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < n; ++k)
        for (int64_t l = 0; l < n; ++l) want[(i * n + j) * n * n + k * n + l] = -y.at({j, k}) * y.at({l, i});
  Tensor h = hessian([](const Tensor& t) { return logdet(t); }, x);
  expect_close(h, tensor(want, {n * n, n * n}, kF), 1e-12);
  // the same by double backward, row by row
  Tensor xr = x.detach().requires_grad_();
  Tensor g = reshape(grad({logdet(xr)}, {xr}, {}, true, true)[0], {-1});
  for (int64_t r = 0; r < n * n; ++r) expect_close(reshape(grad({g.select(0, r)}, {xr}, {}, true)[0], {-1}), h.select(0, r));
}

TEST(DecompGrad, HessianOfDetAndOfAQuadraticSolve) {
  // det of 2×2: H is the constant permutation pairing a↔d, b↔c (with signs)
  Tensor x = tensor({{1.5, 0.3}, {-0.7, 2.0}}, kF);
  Tensor hd = hessian([](const Tensor& t) { return det(t); }, x);
  expect_close(hd, tensor({{0.0, 0.0, 0.0, 1.0}, {0.0, 0.0, -1.0, 0.0}, {0.0, -1.0, 0.0, 0.0}, {1.0, 0.0, 0.0, 0.0}}, kF));
  // f(b) = bᵀ A⁻¹ b: H = A⁻¹ + A⁻ᵀ
  Generator gen(22);
  Tensor a = well_conditioned({4, 4}, gen), b = randn({4}, gen, kF);
  Tensor hs = hessian([a](const Tensor& t) { return dot(t, solve(a, t)); }, b);
  expect_close(hs, inv(a) + inv(a).t(), 1e-12);
}

TEST(DecompGrad, RecordsOnlyWhenAsked) {
  Tensor x = k2.clone().requires_grad_();
  {
    NoGradGuard ng;
    EXPECT_FALSE(inv(x).requires_grad());
    EXPECT_FALSE(det(x).requires_grad());
  }
  EXPECT_EQ(inv(x).grad_fn_name(), "invBackward");
  EXPECT_EQ(det(x).grad_fn_name(), "detBackward");
  EXPECT_EQ(logdet(x).grad_fn_name(), "logdetBackward");
  EXPECT_EQ(solve(x, k2).grad_fn_name(), "solveBackward");
  // an in-place write to the saved output is refused at backward
  Tensor y = inv(x);
  {
    NoGradGuard ng;
    y.mul_(2.0);
  }
  EXPECT_THROW(y.sum().backward(), Error);
}

// ---- errors -------------------------------------------------------------------------------

TEST(DecompErrors, OneLineMessagesNameTheOpAndShape) {
  EXPECT_EQ(msg_of([] { inv(zeros({3})); }), "inv: expects a matrix or a batch of matrices [..., n, n], got [3]");
  EXPECT_EQ(msg_of([] { det(zeros({})); }), "det: expects a matrix or a batch of matrices [..., n, n], got []");
  EXPECT_EQ(msg_of([] { logdet(zeros({2, 3})); }), "logdet: expects square matrices, got [2,3]");
  EXPECT_EQ(msg_of([] { inv(zeros({4, 2, 3})); }), "inv: expects square matrices, got [4,2,3]");
  EXPECT_EQ(msg_of([] { solve(zeros({2, 3}), zeros({2})); }), "solve: expects square matrices, got [2,3]");
  EXPECT_EQ(msg_of([] { solve(zeros({2, 2}), zeros({3})); }),
            "solve: A [2,2] and B [3] do not align (expects B [..., 2, k] or [2])");
  EXPECT_EQ(msg_of([] { solve(zeros({2, 2}), zeros({3, 1})); }),
            "solve: A [2,2] and B [3,1] do not align (expects B [..., 2, k] or [2])");
  EXPECT_EQ(msg_of([] { solve(eye(2), zeros({2}, kF)); }),
            "solve: dtypes differ (float32 [2,2] and float64 [2]); convert one with .to()");
  EXPECT_EQ(msg_of([] { solve(eye(2).expand({3, 2, 2}), zeros({2, 2, 1})); }),
            "solve: the batch dims of A [3,2,2] and B [2,2,1] do not broadcast");
}

TEST(DecompErrors, SingularMatrices) {
  Tensor sing = tensor({{1.0, 2.0}, {2.0, 4.0}}, kF);
  EXPECT_EQ(msg_of([&] { inv(sing); }), "inv: matrix [2,2] is singular (reciprocal condition number 0)");
  EXPECT_EQ(msg_of([&] { inv(zeros({3, 3})); }), "inv: matrix [3,3] is singular (reciprocal condition number 0)");
  EXPECT_EQ(msg_of([&] { solve(sing, tensor({1.0, 1.0}, kF)); }),
            "solve: matrix [2,2] is singular (reciprocal condition number 0)");
  Tensor batch = stack({eye(2, kF), sing, eye(2, kF)});
  EXPECT_EQ(msg_of([&] { inv(batch); }), "inv: matrix 1 of the batch [3,2,2] is singular (reciprocal condition number 0)");
  // singular to working precision: rank 2 with rounding in the last pivot
  Tensor r2 = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}, kF);
  std::string m = msg_of([&] { inv(r2); });
  EXPECT_EQ(m.rfind("inv: matrix [3,3] is singular (reciprocal condition number ", 0), 0u) << m;
  EXPECT_THROW(inv(r2.to(kFloat32)), Error);
  Tensor nan = tensor({{1.0, std::nan("")}, {0.0, 1.0}}, kF);
  EXPECT_EQ(msg_of([&] { inv(nan); }), "inv: matrix [2,2] has non-finite entries");
  // det's gradient needs X⁻¹: at a singular matrix it says so rather than returning NaNs
  Tensor xs = sing.clone().requires_grad_();
  EXPECT_EQ(msg_of([&] { det(xs).backward(); }),
            "det (gradient): matrix [2,2] is singular (reciprocal condition number 0)");
}

}  // namespace
}  // namespace nabla
