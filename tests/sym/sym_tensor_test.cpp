// Derivatives of any shape by any shape: by a scalar (a matrix-valued f's
// derivative, shaped like f), and by a vector or matrix in vec form,
// ∂vec(f)/∂vec(X)ᵀ, with its index notation and its value as a tensor.
// Each is checked for its printed form and numerically (autodiff and central
// differences, f64), as every derivation is.
#include <gtest/gtest.h>

#include "nabla/ops.hpp"
#include "sym/sym_test_util.hpp"

using nabla::sym::Layout;
using nabla::sym::testing::Case;
using nabla::sym::testing::expect_derivative;

namespace {

nabla::sym::Derivative derive(const std::string& expr, const std::string& let, const std::string& wrt,
                              Layout layout = Layout::automatic, int order = 1) {
  auto d = nabla::sym::parse_declarations(let);
  nabla::sym::DiffOptions o;
  o.layout = layout;
  o.order = order;
  return nabla::sym::differentiate(nabla::sym::parse(expr, d), wrt, d, o);
}

std::string index_of(const std::string& expr, const std::string& let, const std::string& wrt,
                     Layout layout = Layout::automatic, int order = 1) {
  auto ix = nabla::sym::index_notation(derive(expr, let, wrt, layout, order));
  return ix ? *ix : "(none)";
}

}  // namespace

// ---- by a scalar: shaped like f ------------------------------------------------

TEST(SymTensorByScalar, InverseOfAnAffineMatrix) {
  expect_derivative({"inv(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", "t",
                     "-inv(t*B + A)*B*inv(t*B + A)"});
}
TEST(SymTensorByScalar, ElementwiseOfAProduct) {
  expect_derivative({"sin(log(t)*A*B)", "A:matrix(m,k) B:matrix(k,n) t:scalar", "t",
                     "(cos(log(t)*A*B) .* (A*B))/t"});
}
TEST(SymTensorByScalar, BothLayoutsAreShapedLikeF) {
  for (Layout l : {Layout::numerator, Layout::denominator}) {
    auto d = derive("t*A*B", "A:matrix(m,k) B:matrix(k,n) t:scalar", "t", l);
    EXPECT_EQ(nabla::sym::to_text(d.result), "A*B");
    EXPECT_EQ(d.shape.str(), "m×n");
    EXPECT_FALSE(d.vec_form);
  }
}
TEST(SymTensorByScalar, SecondDerivativeThroughMatrices) {
  // d²/dt² det(A + tB) = det(M)·(tr(M⁻¹B)² − tr(M⁻¹BM⁻¹B)), M = A + tB
  auto d = derive("det(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", "t", Layout::automatic, 2);
  EXPECT_EQ(nabla::sym::to_text(d.result), "tr(inv(t*B + A)*B)^2*det(t*B + A) - tr(inv(t*B + A)*B*inv(t*B + A)*B)*det(t*B + A)");
  expect_derivative({"det(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", "t",
                     nabla::sym::to_text(d.result), Layout::automatic, 2});
}

// ---- by a vector or a matrix: vec form -----------------------------------------

TEST(SymTensorVecForm, LinearInX) {
  expect_derivative({"A*X", "A:matrix(m,k) X:matrix(k,n)", "X", "kron(eye(n), A)"});
  EXPECT_EQ(index_of("A*X", "A:matrix(m,k) X:matrix(k,n)", "X"), "∂f_{ij}/∂X_{kl} = A_{ik} δ_{jl}");
  expect_derivative({"X*B", "B:matrix(k,n) X:matrix(m,k)", "X", "kron(B', eye(m))"});
  EXPECT_EQ(index_of("X*B", "B:matrix(k,n) X:matrix(m,k)", "X"), "∂f_{ij}/∂X_{kl} = B_{lj} δ_{ik}");
  expect_derivative({"A*X*B", "A:matrix(m,k) X:matrix(k,p) B:matrix(p,n)", "X", "kron(B', A)"});
  EXPECT_EQ(index_of("A*X*B", "A:matrix(m,k) X:matrix(k,p) B:matrix(p,n)", "X"), "∂f_{ij}/∂X_{kl} = A_{ik} B_{lj}");
}
TEST(SymTensorVecForm, VectorByMatrix) {
  expect_derivative({"W*x", "W:matrix(m,n) x:vector(n)", "W", "kron(x', eye(m))"});
  EXPECT_EQ(index_of("W*x", "W:matrix(m,n) x:vector(n)", "W"), "∂f_{i}/∂W_{kl} = x_{l} δ_{ik}");
  expect_derivative({"tanh(W*x + b)", "W:matrix(m,n) x:vector(n) b:vector(m)", "W",
                     "diag(1 - tanh(W*x + b).^2)*kron(x', eye(m))"});
}
TEST(SymTensorVecForm, MatrixByVector) {
  expect_derivative({"x*y'", "x:vector(m) y:vector(n)", "x", "kron(y, eye(m))"});
  EXPECT_EQ(index_of("x*y'", "x:vector(m) y:vector(n)", "x"), "∂f_{ij}/∂x_{k} = y_{j} δ_{ik}");
}
TEST(SymTensorVecForm, TransposeIsTheCommutationMatrix) {
  expect_derivative({"X'", "X:matrix(m,n)", "X", "commutation(m,n)"});
  EXPECT_EQ(index_of("X'", "X:matrix(m,n)", "X"), "∂f_{ij}/∂X_{kl} = δ_{il} δ_{jk}");
}
TEST(SymTensorVecForm, InverseAndGram) {
  expect_derivative({"inv(X)", "X:matrix(n,n)", "X", "-kron(inv(X)', inv(X))"});
  EXPECT_EQ(index_of("inv(X)", "X:matrix(n,n)", "X"), "∂f_{ij}/∂X_{kl} = -inv(X)_{ik} inv(X)_{lj}");
  expect_derivative({"X'*X", "X:matrix(m,n)", "X", "kron(eye(n), X') + kron(X', eye(n))*commutation(m,n)"});
}
TEST(SymTensorVecForm, ElementwiseOfAProduct) {
  expect_derivative({"tanh(A*X)", "A:matrix(m,k) X:matrix(k,n)", "X", "diag(vec(1 - tanh(A*X).^2))*kron(eye(n), A)"});
  EXPECT_EQ(index_of("tanh(A*X)", "A:matrix(m,k) X:matrix(k,n)", "X"),
            "∂f_{ij}/∂X_{kl} = (1 - tanh(A*X).^2)_{ij} A_{ik} δ_{jl}");
}
TEST(SymTensorVecForm, HessianByAMatrix) {
  // ∂vec(∇logdet X)/∂vec(X)ᵀ with ∇ = inv(X)'
  expect_derivative({"logdet(X)", "X:matrix(n,n)", "X", "-commutation(n,n)*kron(inv(X)', inv(X))",
                     Layout::automatic, 2});
}

// ---- the value as a tensor ------------------------------------------------------

// ∂(AX)_ij/∂X_kl = A_ik δ_jl, as a nested array of shape f.shape + X.shape
// (numerator) or X.shape + f.shape (denominator).
TEST(SymTensorValue, ShapedAsJaxJacobian) {
  using namespace nabla::sym;
  Declarations decls = parse_declarations("A:matrix(2,3) X:matrix(3,4)");
  Expr f = parse("A*X", decls);
  Bindings b = random_values(decls, 7);
  std::vector<double> a = b.values["A"].contiguous().to_vector<double>();
  for (Layout l : {Layout::numerator, Layout::denominator}) {
    DiffOptions o;
    o.layout = l;
    Derivative d = differentiate(f, "X", decls, o);
    ASSERT_TRUE(d.vec_form);
    nabla::Tensor t = derivative_tensor(d, evaluate_derivative(d, b), b);
    const bool den = l == Layout::denominator;
    ASSERT_EQ(t.dim(), 4);
    EXPECT_EQ(t.size(0), den ? 3 : 2);
    EXPECT_EQ(t.size(3), den ? 4 : 4);
    std::vector<double> v = t.contiguous().to_vector<double>();
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 3; ++k)
          for (int q = 0; q < 4; ++q) {
            const size_t at = den ? size_t(((k * 4 + q) * 2 + i) * 4 + j) : size_t(((i * 4 + j) * 3 + k) * 4 + q);
            EXPECT_DOUBLE_EQ(v[at], j == q ? a[size_t(i * 3 + k)] : 0.0) << i << j << k << q;
          }
  }
  EXPECT_EQ(tensor_to_json(nabla::reshape(nabla::arange(0, 8, 1, nabla::kFloat64), {2, 2, 2}), false),
            "[[[0.0,1.0],[2.0,3.0]],[[4.0,5.0],[6.0,7.0]]]");
}

// Products in the index form are distributed over sums; an entry of a
// product is printed with the fewer transposes.
TEST(SymTensorIndex, SumsAndTransposes) {
  EXPECT_EQ(index_of("X*X", "X:matrix(n,n)", "X"), "∂f_{ij}/∂X_{kl} = X_{ik} δ_{jl} + X_{lj} δ_{ik}");
  EXPECT_EQ(index_of("X'*X", "X:matrix(m,n)", "X"), "∂f_{ij}/∂X_{kl} = X_{ki} δ_{jl} + X_{kj} δ_{il}");
  EXPECT_EQ(index_of("sum(X*X)", "X:matrix(n,n)", "X", Layout::automatic, 2), "∂(∇f)_{ij}/∂X_{kl} = δ_{jk} + δ_{il}");
  EXPECT_EQ(index_of("inv(A*X)", "X:matrix(n,n) A:matrix(n,n)", "X"),
            "∂f_{ij}/∂X_{kl} = -inv(X)_{ik} (inv(X)*inv(A))_{lj}");
  expect_derivative({"inv(A*X)", "X:matrix(n,n) A:matrix(n,n)", "X", "-kron(inv(A)'*inv(X)', inv(X))"});
  expect_derivative({"sum(X*X)", "X:matrix(n,n)", "X",
                     "(kron(eye(n), ones(n,n)) + kron(ones(n,n), eye(n)))*commutation(n,n)", Layout::automatic, 2});
}

// det and inv of a product of square factors split: det(X*X*X) = det(X)^3.
TEST(SymTensorIndex, DeterminantOfAPower) {
  expect_derivative({"det(X*X*X)", "X:matrix(n,n)", "X", "3*det(X)^3*inv(X)'"});
  expect_derivative({"logdet(A*X)", "X:matrix(n,n) A:matrix(n,n)", "X", "inv(X)'"});
}
