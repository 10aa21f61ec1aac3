// The worked examples of the seed notes (002: gradients, Jacobians, the ReLU
// neuron and the MSE gradient; 003: identities; 004: the N-layer network),
// with the values the notes give, computed by autodiff and compared with the
// closed forms.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "nabla/nabla.hpp"

namespace nabla {
namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

Tensor var(std::initializer_list<double> v) { return tensor(v, TensorOptions().dtype(kFloat64).requires_grad()); }
Tensor scalar_var(double v) { return scalar_tensor(v, TensorOptions().dtype(kFloat64).requires_grad()); }

void expect_close(const Tensor& got, const Tensor& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<double> a = vals(got), b = vals(want);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tol * std::max(1.0, std::fabs(b[i]))) << "at " << i;
}

// Jacobian ∂y/∂x in numerator layout (rows: outputs), one reverse pass per row.
Tensor jacobian_rows(const Tensor& y, const Tensor& x) {
  std::vector<Tensor> rows;
  for (int64_t i = 0; i < y.numel(); ++i) {
    Tensor e = zeros({y.numel()}, kFloat64);
    e.set({i}, 1.0);
    rows.push_back(grad({y}, {x}, {e.reshape(y.shape())}, /*retain_graph=*/true)[0].reshape({x.numel()}));
  }
  return stack(rows);
}

// ---- 002 §3–4: gradients and Jacobians -----------------------------------------------

TEST(Notes002, GradientOf3x2y) {
  // ∇(3x²y) = [6yx, 3x²]
  for (auto [xv, yv] : {std::pair{2.0, -3.0}, std::pair{-0.5, 4.0}}) {
    Tensor x = scalar_var(xv), y = scalar_var(yv);
    Tensor f = 3.0 * x * x * y;
    f.backward();
    EXPECT_DOUBLE_EQ(x.grad().item(), 6 * yv * xv);
    EXPECT_DOUBLE_EQ(y.grad().item(), 3 * xv * xv);
  }
}

TEST(Notes002, GradientOf2xPlusY8AndTheJacobian) {
  // ∇(2x + y⁸) = [2, 8y⁷]; stacked with ∇(3x²y): J = [[6yx, 3x²], [2, 8y⁷]]
  const double xv = 1.5, yv = 1.1;
  Tensor x = scalar_var(xv), y = scalar_var(yv);
  Tensor g = 2.0 * x + pow(y, 8.0);
  g.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 2.0);
  EXPECT_NEAR(y.grad().item(), 8 * std::pow(yv, 7), 1e-12);

  Tensor v = var({xv, yv});
  Tensor fx = 3.0 * v.select(0, 0) * v.select(0, 0) * v.select(0, 1);
  Tensor gx = 2.0 * v.select(0, 0) + pow(v.select(0, 1), 8.0);
  Tensor jac = jacobian_rows(stack({fx, gx}), v);
  expect_close(jac, tensor({{6 * yv * xv, 3 * xv * xv}, {2.0, 8 * std::pow(yv, 7)}}, kFloat64), 1e-12);
}

TEST(Notes002, IdentityJacobianAndScalarExpansion) {
  Tensor x = var({1, 2, 3});
  expect_close(jacobian_rows(x * 1.0, x), eye(3, kFloat64), 0);  // ∂x/∂x = I
  // y = x + z, scalar z: ∂y/∂x = I, ∂y/∂z = 1⃗
  Tensor z = scalar_var(0.5);
  Tensor y = x + z;
  expect_close(jacobian_rows(y, x), eye(3, kFloat64), 0);
  expect_close(jacobian_rows(y, z), ones({3, 1}, kFloat64), 0);
  // y = x z: ∂y/∂x = I z, ∂y/∂z = x
  Tensor yz = x * z;
  expect_close(jacobian_rows(yz, x), eye(3, kFloat64) * 0.5, 1e-15);
  expect_close(jacobian_rows(yz, z), tensor(std::vector<double>{1, 2, 3}, {3, 1}, kFloat64), 0);
  // element-wise binary: ∂(w ⊙ x)/∂w = diag(x)
  Tensor w = var({4, 5, 6});
  expect_close(jacobian_rows(w * x, w), diag(x.detach()), 0);
}

TEST(Notes002, SumGradientIsOnesTransposed) {
  // ∂sum(x)/∂x = 1⃗ᵀ
  Tensor x = var({0.3, -2, 7, 1e3});
  sum(x).backward();
  EXPECT_EQ(vals(x.grad()), std::vector<double>(4, 1.0));
  Tensor m = zeros({2, 3}, TensorOptions().dtype(kFloat64).requires_grad());
  expect_close(jacobian_rows(sum(m), m), ones({1, 6}, kFloat64), 0);
}

TEST(Notes002, TotalDerivativeOfXPlusX2) {
  // d/dx (x + x²) = 1 + 2x: two paths from x to y
  for (double xv : {-2.0, 0.0, 0.25, 3.0}) {
    Tensor x = scalar_var(xv);
    Tensor y = x + x * x;
    y.backward();
    EXPECT_DOUBLE_EQ(x.grad().item(), 1 + 2 * xv);
  }
}

TEST(Notes002, VectorChainRule) {
  // y = [ln(x²), sin(3x)]: dy/dx = [2/x, 3cos(3x)]
  const double xv = 0.7;
  Tensor x = scalar_var(xv);
  Tensor y = stack({log(x * x), sin(3.0 * x)});
  expect_close(jacobian_rows(y, x), tensor(std::vector<double>{2 / xv, 3 * std::cos(3 * xv)}, {2, 1}, kFloat64), 1e-14);
}

// ---- 002 §5: the ReLU neuron ---------------------------------------------------------------

TEST(Notes002, ReluNeuronGradient) {
  // activation = max(0, w·x + b): ∂/∂w = xᵀ and ∂/∂b = 1 where w·x + b > 0, else 0⃗ᵀ and 0
  Tensor x = tensor({0.5, -1.0, 2.0}, kFloat64);
  for (double bv : {1.0, -5.0}) {
    Tensor w = var({1.0, 0.5, 0.25});
    Tensor b = scalar_var(bv);
    Tensor act = relu(dot(w, x) + b);
    act.backward();
    bool active = 0.5 - 0.5 + 0.5 + bv > 0;
    EXPECT_EQ(vals(w.grad()), active ? vals(x) : std::vector<double>(3, 0.0));
    EXPECT_EQ(b.grad().item(), active ? 1.0 : 0.0);
    EXPECT_EQ(act.item(), active ? 0.5 + bv : 0.0);
  }
  // the kink itself: z = 0 counts as inactive (0 for z ≤ 0)
  Tensor w = var({1.0, 1.0, 0.0});
  Tensor b = scalar_var(0.5);
  relu(dot(w, x) + b).backward();
  EXPECT_EQ(vals(w.grad()), std::vector<double>(3, 0.0));
  EXPECT_EQ(b.grad().item(), 0.0);
}

// ---- 002 §6: the MSE loss gradient -----------------------------------------------------------

TEST(Notes002, MseLossGradientMatchesClosedForm) {
  // C = (1/N) Σ (yᵢ − max(0, w·xᵢ + b))²;  eᵢ = w·xᵢ + b − yᵢ
  // ∂C/∂w = (2/N) Σ_{active i} eᵢ xᵢᵀ,  ∂C/∂b = (2/N) Σ_{active i} eᵢ
  Generator gen(2024);
  const int64_t N = 16, d = 5;
  Tensor X = randn({N, d}, gen, kFloat64);
  Tensor y = randn({N}, gen, kFloat64);
  for (double bias : {10.0, 0.1}) {  // all active; then a mix
    Tensor w = randn({d}, gen, kFloat64).requires_grad_();
    Tensor b = scalar_var(bias);
    Tensor z = matmul(X, w) + b;
    Tensor C = mean(square(y - relu(z)));
    C.backward();

    std::vector<double> Xv = vals(X), yv = vals(y), wv = vals(w), zv = vals(z);
    std::vector<double> gw(d, 0.0);
    double gb = 0;
    int active = 0;
    for (int64_t i = 0; i < N; ++i) {
      if (zv[i] <= 0) continue;
      ++active;
      double e = zv[i] - yv[i];
      for (int64_t j = 0; j < d; ++j) gw[j] += 2.0 / N * e * Xv[i * d + j];
      gb += 2.0 / N * e;
    }
    if (bias > 1) EXPECT_EQ(active, N);
    else EXPECT_TRUE(active > 0 && active < N) << active;
    expect_close(w.grad(), tensor(gw, {d}, kFloat64), 1e-12);
    EXPECT_NEAR(b.grad().item(), gb, 1e-12);
  }
}

// ---- 003: identities ----------------------------------------------------------------------------

TEST(Notes003, LinearMapJacobians) {
  Generator gen(3);
  Tensor A = randn({3, 4}, gen, kFloat64);
  Tensor x = randn({4}, gen, kFloat64).requires_grad_();
  // numerator layout: ∂(Ax)/∂x = A (the notes' denominator-layout Aᵀ, transposed)
  expect_close(jacobian_rows(matmul(A, x), x), A, 1e-15);
  Tensor u = randn({3}, gen, kFloat64).requires_grad_();
  // ∂(uᵀA)/∂u = Aᵀ in numerator layout
  expect_close(jacobian_rows(matmul(u, A), u), A.t().contiguous(), 1e-15);
  // ∂(yᵀAz)/∂z = Aᵀ y  (product rule 2 with y constant)
  Tensor z = randn({4}, gen, kFloat64).requires_grad_();
  Tensor yv = randn({3}, gen, kFloat64);
  dot(yv, matmul(A, z)).backward();
  expect_close(z.grad(), matmul(A.t(), yv), 1e-14);
}

TEST(Notes003, LogisticDerivative) {
  // σ'(x) = σ(x)(1 − σ(x)); the Jacobian is diag(σ ⊙ (1 − σ))
  Tensor x = var({-3, -0.5, 0, 0.5, 3, 40});
  sum(sigmoid(x)).backward();
  std::vector<double> want;
  for (double v : vals(x)) {
    double s = 1 / (1 + std::exp(-v));
    want.push_back(s * (1 - s));
  }
  expect_close(x.grad(), tensor(want, {6}, kFloat64), 1e-15);
  Tensor s = sigmoid(x.detach());
  Tensor x2 = x.detach().clone().requires_grad_();
  expect_close(jacobian_rows(sigmoid(x2), x2), diag(s * (1.0 - s)), 1e-15);
}

// ---- 004: tanh and softmax derivatives ---------------------------------------------------------

TEST(Notes004, TanhDerivativeIsInverseCoshSquared) {
  Tensor x = var({-2, -0.3, 0, 0.8, 5});
  sum(tanh(x)).backward();
  std::vector<double> want;
  for (double v : vals(x)) want.push_back(1 / (std::cosh(v) * std::cosh(v)));
  expect_close(x.grad(), tensor(want, {5}, kFloat64), 1e-15);
}

TEST(Notes004, SoftmaxJacobianIsDiagMinusOuter) {
  // ∂softmax/∂x = diag(s) − s sᵀ
  Tensor x = var({0.1, -1.2, 2.0, 0.5});
  Tensor s = softmax(x, 0);
  Tensor sd = s.detach();
  Tensor J = diag(sd) - outer(sd, sd);
  expect_close(jacobian_rows(s, x), J, 1e-15);
  // a VJP with an arbitrary v: vᵀ(diag(s) − s sᵀ)
  Tensor v = tensor({1.0, -2.0, 0.5, 3.0}, kFloat64);
  Tensor g = grad({s}, {x}, {v})[0];
  expect_close(g, matmul(v, J), 1e-15);
  // log_softmax: ∂/∂x = I − 1⃗ sᵀ
  Tensor x2 = x.detach().clone().requires_grad_();
  expect_close(jacobian_rows(log_softmax(x2, 0), x2), eye(4, kFloat64) - outer(ones({4}, kFloat64), sd), 1e-15);
  // along the rows of a matrix
  Tensor m = tensor({{0.1, -1.2, 2.0}, {3.0, 3.0, -4.0}}, TensorOptions().dtype(kFloat64).requires_grad());
  Tensor sm = softmax(m, 1);
  Tensor Jm = jacobian_rows(sm, m);  // [6, 6], block diagonal
  for (int64_t r = 0; r < 2; ++r) {
    Tensor sr = sm.detach().select(0, r);
    Tensor block = Jm.slice(0, 3 * r, 3 * r + 3).slice(1, 3 * r, 3 * r + 3);
    expect_close(block.contiguous(), diag(sr) - outer(sr, sr), 1e-15);
    Tensor off = Jm.slice(0, 3 * r, 3 * r + 3).slice(1, 3 * (1 - r), 3 * (1 - r) + 3);
    expect_close(off.contiguous(), zeros({3, 3}, kFloat64), 0);
  }
}

TEST(Notes004, SoftmaxIsStableAtPlusMinus1000) {
  for (DType dt : {kFloat64, kFloat32}) {
    Tensor x = tensor({1000.0, -1000.0, 0.0, 999.0}, TensorOptions().dtype(dt).requires_grad());
    Tensor s = softmax(x, 0);
    Tensor ls = log_softmax(x, 0);
    const double e = std::exp(-1.0), z = 1 + e;
    std::vector<double> sv = vals(s), lv = vals(ls);
    double tol = dt == kFloat64 ? 1e-15 : 1e-6;
    EXPECT_NEAR(sv[0], 1 / z, tol);
    EXPECT_EQ(sv[1], 0.0);
    EXPECT_EQ(sv[2], 0.0);
    EXPECT_NEAR(sv[3], e / z, tol);
    double lz = 1000 + std::log(z);
    EXPECT_NEAR(lv[0], 1000 - lz, 1e-6);
    EXPECT_NEAR(lv[1], -1000 - lz, 1e-3);
    EXPECT_NEAR(lv[2], -lz, 1e-4);
    EXPECT_NEAR(lv[3], 999 - lz, 1e-6);
    sum(ls * tensor({1.0, 0.0, 0.0, 0.0}, dt)).backward();
    std::vector<double> g = vals(x.grad());  // e₀ − s
    for (double v : g) EXPECT_TRUE(std::isfinite(v));
    EXPECT_NEAR(g[0], 1 - 1 / z, tol);
    EXPECT_NEAR(g[3], -e / z, tol);
    Tensor lse = logsumexp(x.detach(), 0);
    EXPECT_NEAR(lse.item(), lz, dt == kFloat64 ? 1e-12 : 1e-3);
    Tensor x2 = tensor({-1000.0, -1000.0}, dt);
    EXPECT_EQ(vals(softmax(x2, 0)), (std::vector<double>{0.5, 0.5}));
    EXPECT_NEAR(vals(log_softmax(x2, 0))[0], -std::log(2.0), 1e-6);
  }
}

// ---- 004: the N-layer network and its backprop recursion ---------------------------------------

struct Net {
  std::vector<Tensor> A, B;  // A_i [n_i, n_{i−1}], B_i [n_i, 1]
};

Net make_net(const std::vector<int64_t>& sizes, Generator& gen) {
  Net net;
  for (size_t i = 1; i < sizes.size(); ++i) {
    net.A.push_back((randn({sizes[i], sizes[i - 1]}, gen, kFloat64) * 0.7).requires_grad_());
    net.B.push_back((randn({sizes[i], 1}, gen, kFloat64) * 0.3).requires_grad_());
  }
  return net;
}

// Compares autodiff with the recursion K_n = 2(Y_n − Y) ⊙ f'(X_n),
// K_i = (A_{i+1}ᵀ K_{i+1}) ⊙ f'(X_i), ∂L/∂A_i = K_i Y_{i−1}ᵀ, ∂L/∂B_i = K_i
// (summed over the columns of a batch), with f = tanh and f' = 1/cosh².
void check_backprop(const Net& net, const Tensor& X0, const Tensor& Y) {
  const size_t n = net.A.size();
  // autodiff
  Tensor Yi = X0;
  for (size_t i = 0; i < n; ++i) Yi = tanh(matmul(net.A[i], Yi) + net.B[i]);
  Tensor d = Yi - Y;
  Tensor L = X0.shape()[1] == 1 ? matmul(d.t(), d) : sum(d * d);  // (Y_n − Y)ᵀ(Y_n − Y)
  std::vector<Tensor> params;
  for (size_t i = 0; i < n; ++i) {
    params.push_back(net.A[i]);
    params.push_back(net.B[i]);
  }
  std::vector<Tensor> auto_grads = grad({L}, params);

  // by hand, with nabla matmuls and no graph
  NoGradGuard ng;
  std::vector<Tensor> Xs, Ys{X0};
  for (size_t i = 0; i < n; ++i) {
    Xs.push_back(matmul(net.A[i].detach(), Ys.back()) + net.B[i].detach());
    Ys.push_back(tanh(Xs.back()));
  }
  auto fprime = [](const Tensor& X) { return 1.0 / square(cosh(X)); };
  std::vector<Tensor> K(n);
  K[n - 1] = 2.0 * (Ys[n] - Y) * fprime(Xs[n - 1]);
  for (size_t i = n - 1; i-- > 0;) K[i] = matmul(net.A[i + 1].detach().t(), K[i + 1]) * fprime(Xs[i]);
  for (size_t i = 0; i < n; ++i) {
    Tensor dA = matmul(K[i], Ys[i].t());
    Tensor dB = sum(K[i], {1}, true);
    SCOPED_TRACE("layer " + std::to_string(i + 1));
    expect_close(auto_grads[2 * i], dA, 1e-12);
    expect_close(auto_grads[2 * i + 1], dB, 1e-12);
  }
  // and the loss value itself
  Tensor e = Ys[n] - Y;
  EXPECT_NEAR(L.detach().sum().item(), sum(e * e).item(), 1e-12);
}

TEST(Notes004, NLayerBackpropRecursionSingleColumn) {
  Generator gen(4);
  Net net = make_net({4, 6, 5, 3, 2}, gen);
  Tensor X0 = randn({4, 1}, gen, kFloat64);
  Tensor Y = randn({2, 1}, gen, kFloat64) * 0.5;
  check_backprop(net, X0, Y);
}

TEST(Notes004, NLayerBackpropRecursionBatchOfColumns) {
  Generator gen(5);
  Net net = make_net({3, 7, 4, 2}, gen);
  Tensor X0 = randn({3, 9}, gen, kFloat64);  // nine samples as columns
  Tensor Y = randn({2, 9}, gen, kFloat64) * 0.5;
  check_backprop(net, X0, Y);
}

}  // namespace
}  // namespace nabla
