// Modules: parameters, initializers, layers, losses, train/eval modes.
#include <gtest/gtest.h>

#include <sstream>

#include <cmath>

#include "nabla/nabla.hpp"
#include "nabla/nn.hpp"
#include "nabla/nn_functional.hpp"

using namespace nabla;

TEST(NnLinear, ShapesParametersAndForward) {
  Generator g(3);
  nn::Linear lin(4, 3, g, {.dtype = kFloat64});
  EXPECT_EQ(lin.weight.shape(), (Shape{3, 4}));
  EXPECT_EQ(lin.bias.shape(), (Shape{3}));
  EXPECT_EQ(lin.num_parameters(), 15);
  double bound = 0.5;  // 1/√4
  for (double v : lin.weight.to_vector<double>()) EXPECT_LE(std::fabs(v), bound);
  Tensor x = randn({5, 4}, g, kFloat64);
  Tensor y = lin(x);
  Tensor ref = matmul(x, lin.weight.t()) + lin.bias;
  EXPECT_TRUE(allclose(y, ref, 1e-12, 1e-12));
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return nabla::linear(in[0], in[1], in[2]); },
                     {x, lin.weight, lin.bias});
  EXPECT_TRUE(r.ok) << r;
  auto named = lin.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_THROW(lin(randn({5, 3}, g, kFloat64)), Error);
}

TEST(NnLinear, SameSeedSameWeights) {
  Generator a(7), b(7), c(8);
  nn::Linear l1(10, 5, a), l2(10, 5, b), l3(10, 5, c);
  EXPECT_TRUE(equal(l1.weight, l2.weight));
  EXPECT_FALSE(equal(l1.weight, l3.weight));
}

TEST(NnInit, XavierAndKaimingMoments) {
  Generator g(1);
  Tensor w = empty({400, 300}, kFloat64);
  nn::init::xavier_uniform_(w, g);
  double a = std::sqrt(6.0 / 700.0);
  std::vector<double> v = w.to_vector<double>();
  double mx = 0, ss = 0;
  for (double x : v) mx = std::max(mx, std::fabs(x)), ss += x * x;
  EXPECT_LE(mx, a);
  EXPECT_NEAR(ss / static_cast<double>(v.size()), a * a / 3, 0.02 * a * a);
  nn::init::kaiming_normal_(w, g);
  v = w.to_vector<double>();
  ss = 0;
  for (double x : v) ss += x * x;
  EXPECT_NEAR(ss / static_cast<double>(v.size()), 2.0 / 300.0, 0.03 * 2.0 / 300.0);
}

TEST(NnSequential, MlpStructureSummaryAndNames) {
  Generator g(0);
  auto net = nn::mlp({784, 256, 128, 10}, "relu", "none", g);
  EXPECT_EQ(net->size(), 5u);  // Linear ReLU Linear ReLU Linear
  EXPECT_EQ(net->num_parameters(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  auto names = net->named_parameters();
  EXPECT_EQ(names.front().first, "0.weight");
  EXPECT_EQ(names.back().first, "4.bias");
  std::string s = net->summary(784);
  EXPECT_NE(s.find("total parameters: 235146"), std::string::npos) << s;
  // Aligned: every row as long as the header, the counts right-aligned under "parameters".
  std::istringstream lines(s);
  std::string header, line;
  std::getline(lines, header);
  while (std::getline(lines, line) && !line.starts_with("total"))
    EXPECT_EQ(line.size(), header.size()) << "\n" << s;
  EXPECT_NE(s.find("Linear(in_features=784, out_features=256, bias=true)  [N, 256]"), std::string::npos) << s;
  EXPECT_THROW(net->summary(100), Error);
  EXPECT_THROW(nn::mlp({4, 2}, "swish", "none", g), Error);
}

TEST(NnActivations, MatchFunctions) {
  Generator g(2);
  Tensor x = randn({3, 4}, g, kFloat64);
  EXPECT_TRUE(equal(nn::ReLU()(x), relu(x)));
  EXPECT_TRUE(equal(nn::Tanh()(x), tanh(x)));
  EXPECT_TRUE(equal(nn::Sigmoid()(x), sigmoid(x)));
  EXPECT_TRUE(equal(nn::Softmax(1)(x), softmax(x, 1)));
  EXPECT_TRUE(equal(nn::LogSoftmax(1)(x), log_softmax(x, 1)));
  // GELU(x) = x Φ(x): GELU(1) = 0.8413447460685429
  EXPECT_NEAR(gelu(tensor({1.0}, kFloat64)).item(), 0.8413447460685429, 1e-15);
  auto r = gradcheck([](const std::vector<Tensor>& in) { return gelu(in[0]); }, {x});
  EXPECT_TRUE(r.ok) << r;
}

TEST(NnDropout, TrainAndEvalModes) {
  nn::Dropout d(0.5, 11);
  Tensor x = ones({1000}, kFloat64);
  Tensor y = d(x);
  int zeros = 0;
  for (double v : y.to_vector<double>()) {
    EXPECT_TRUE(v == 0.0 || v == 2.0);
    zeros += v == 0.0;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  d.eval();
  EXPECT_TRUE(equal(d(x), x));
}

TEST(NnLoss, MseMatchesNotes) {
  // seed 002 §6: C = (1/N) Σ (yᵢ − ŷᵢ)², ∂C/∂ŷ = (2/N)(ŷ − y)
  Tensor yhat = tensor({1.0, 2.0, 4.0}, kFloat64).requires_grad_();
  Tensor y = tensor({0.0, 2.0, 1.0}, kFloat64);
  Tensor c = mse_loss(yhat, y);
  EXPECT_NEAR(c.item(), (1.0 + 0.0 + 9.0) / 3.0, 1e-15);
  c.backward();
  EXPECT_TRUE(allclose(yhat.grad(), tensor({2.0 / 3, 0.0, 2.0}, kFloat64), 1e-15, 1e-15));
  EXPECT_NEAR(mse_loss(yhat, y, Reduction::sum).item(), 10.0, 1e-15);
}

TEST(NnLoss, CrossEntropyStableAndCorrect) {
  Tensor z = tensor({{1000.0, 0.0, -1000.0}, {1.0, 2.0, 3.0}}, kFloat64).requires_grad_();
  Tensor t = tensor({0.0, 2.0}, kFloat64);
  Tensor l = cross_entropy(z, t, Reduction::none);
  EXPECT_NEAR(l.at({0}), 0.0, 1e-12);
  EXPECT_NEAR(l.at({1}), std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, 1e-12);
  cross_entropy(z, t).backward();
  // ∂ℓ/∂z = (softmax(z) − onehot(t)) / B
  Tensor expect = (softmax(z.detach(), 1) - one_hot(t, 3, kFloat64)) * 0.5;
  EXPECT_TRUE(allclose(z.grad(), expect, 1e-12, 1e-14));
  EXPECT_THROW(cross_entropy(z, tensor({0.0, 3.0}, kFloat64)), Error);
  EXPECT_THROW(cross_entropy(z, tensor({0.0}, kFloat64)), Error);
}

TEST(NnLoss, BinaryCrossEntropyWithLogits) {
  Tensor z = tensor({-800.0, 0.0, 3.0}, kFloat64);
  Tensor y = tensor({0.0, 1.0, 1.0}, kFloat64);
  Tensor l = binary_cross_entropy_with_logits(z, y, Reduction::none);
  EXPECT_NEAR(l.at({0}), 0.0, 1e-12);
  EXPECT_NEAR(l.at({1}), std::log(2.0), 1e-15);
  EXPECT_NEAR(l.at({2}), std::log1p(std::exp(-3.0)), 1e-15);
  Generator g(5);
  Tensor zz = randn({4, 3}, g, kFloat64), yy = rand({4, 3}, g, kFloat64);
  auto r = gradcheck([&](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], yy); }, {zz});
  EXPECT_TRUE(r.ok) << r;
}

TEST(NnLoss, NllLossRejectsLabelsOutsideTheClasses) {
  Tensor lp = log_softmax(tensor({{0.1, 0.2, 0.3}, {0.3, 0.2, 0.1}}), 1);
  EXPECT_NEAR(nll_loss(lp, tensor(std::vector<double>{2, 0})).item(), -(lp.at({0, 2}) + lp.at({1, 0})) / 2, 1e-6);
  // -1 would be read from the end (class 2) by gather; it is no class index
  for (double bad : {-1.0, 3.0, 0.5}) {
    try {
      nll_loss(lp, tensor(std::vector<double>{0, bad}));
      ADD_FAILURE() << "label " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::index);
      EXPECT_NE(std::string(e.what()).find("is not a class index in [0, 3)"), std::string::npos) << e.what();
    }
  }
}
