// numeric_jacobian: the one central-difference routine (gradcheck and the
// symbolic engine's check are built on it).
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.hpp"

namespace nabla {
namespace {

// f(x) = [x₀², x₀x₁, sin x₁]: J = [[2x₀, 0], [x₁, x₀], [0, cos x₁]].
TEST(NumericJacobian, MatchesTheJacobianByHand) {
  Tensor x = tensor({0.7, -1.3}, kFloat64);
  Tensor j = numeric_jacobian(
      [](const Tensor& t) { return stack({t.select(0, 0) * t.select(0, 0), t.select(0, 0) * t.select(0, 1),
                                          sin(t.select(0, 1))}); },
      x);
  ASSERT_EQ(j.shape(), (Shape{3, 2}));
  const double want[3][2] = {{1.4, 0}, {-1.3, 0.7}, {0, std::cos(-1.3)}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c) EXPECT_NEAR(j.select(0, r).select(0, c).item(), want[r][c], 1e-8) << r << "," << c;
}

TEST(NumericJacobian, ShapesFlattenRowMajor) {
  Tensor x = tensor({{1.0, 2.0}, {3.0, 4.0}}, kFloat64);  // f = Xᵀ: ∂(Xᵀ)ᵢⱼ/∂Xₖₗ = [i = l][j = k]
  Tensor j = numeric_jacobian([](const Tensor& t) { return t.t().contiguous(); }, x);
  ASSERT_EQ(j.shape(), (Shape{4, 4}));
  const double want[4][4] = {{1, 0, 0, 0}, {0, 0, 1, 0}, {0, 1, 0, 0}, {0, 0, 0, 1}};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(j.select(0, r).select(0, c).item(), want[r][c], 1e-9);
  // a scalar input and output
  Tensor s = numeric_jacobian([](const Tensor& t) { return exp(t); }, full({}, 0.5, kFloat64));
  ASSERT_EQ(s.shape(), (Shape{1, 1}));
  EXPECT_NEAR(s.item(), std::exp(0.5), 1e-8);
}

TEST(NumericJacobian, InputsThatRequireGradLetFDifferentiate) {
  // f(x) = ∂(Σ x³)/∂x = 3x², so J = diag(6x)
  Tensor x = tensor({0.5, -2.0}, kFloat64).requires_grad_(true);
  Tensor j = numeric_jacobian(
      [](const Tensor& t) {
        EXPECT_TRUE(t.requires_grad());
        return grad({sum(t * t * t)}, {t}, {}, false, true)[0];
      },
      x);
  EXPECT_NEAR(j.select(0, 0).select(0, 0).item(), 3.0, 1e-6);
  EXPECT_NEAR(j.select(0, 1).select(0, 1).item(), -12.0, 1e-6);
  EXPECT_NEAR(j.select(0, 0).select(0, 1).item(), 0.0, 1e-6);
}

TEST(NumericJacobian, Errors) {
  Tensor x = tensor({1.0}, kFloat64);
  EXPECT_THROW(numeric_jacobian([](const Tensor& t) { return t.to(kFloat32); }, x), Error);
  EXPECT_THROW(numeric_jacobian([](const Tensor& t) { return t; }, x, 0.0), Error);
  EXPECT_THROW(numeric_jacobian([](const Tensor& t) { return t; }, Tensor()), Error);
}

}  // namespace
}  // namespace nabla
