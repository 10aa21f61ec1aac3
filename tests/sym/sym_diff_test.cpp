// Derivations: the identities of seed 003, the derivations of seeds 002 and
// 004, the Matrix Cookbook classics, layouts and Hessians. Each is checked for
// its printed form and numerically (autodiff and central differences, f64).
#include "sym/sym_test_util.hpp"

using nabla::sym::Layout;
using nabla::sym::testing::Case;
using nabla::sym::testing::expect_derivative;

// ---- seed 003: identities (denominator layout, as the notes write them) --------

// ∂(yᵀz)/∂x = (∂y/∂x) z + (∂z/∂x) y with y = Ax, z = Bx.
TEST(SymSeed003, ProductRuleInnerProduct) {
  expect_derivative({"(A*x)'*(B*x)", "x:vector(n) A:matrix(m,n) B:matrix(m,n)", "x", "(A'*B + B'*A)*x"});
}
// ∂(yᵀAz)/∂x = (∂y/∂x) A z + (∂z/∂x) Aᵀ y with y = Px, z = Qx.
TEST(SymSeed003, ProductRuleBilinear) {
  expect_derivative({"(P*x)'*C*(Q*x)", "x:vector(n) P:matrix(m,n) Q:matrix(k,n) C:matrix(m,k)", "x",
                     "(P'*C*Q + Q'*C'*P)*x"});
}
// ∂(y z)/∂x = y ∂z/∂x + (∂y/∂x) zᵀ with scalar y = aᵀx and vector z = Bx.
TEST(SymSeed003, ProductRuleScalarTimesVector) {
  expect_derivative({"(a'*x)*(B*x)", "x:vector(n) a:vector(n) B:matrix(m,n)", "x", "(a*x' + (a'*x)*eye(n))*B'",
                     Layout::denominator});
}
// ∂z/∂x = (∂y/∂x)(∂z/∂y): z = tanh(y), y = Ax.
TEST(SymSeed003, ChainRuleVector) {
  expect_derivative({"tanh(A*x)", "x:vector(n) A:matrix(m,n)", "x", "A'*diag(1 - tanh(A*x).^2)", Layout::denominator});
}
// ∂z/∂X_ij = tr((∂z/∂Y)ᵀ ∂Y/∂X_ij): z = sum(exp(Y)), Y = AX.
TEST(SymSeed003, ChainRuleMatrix) {
  expect_derivative({"sum(exp(A*X))", "A:matrix(m,k) X:matrix(k,n)", "X", "A'*exp(A*X)"});
}
// ∂g/∂x = (∂g/∂u)ᵀ ∂u/∂x for scalar x: g = exp(u), u = x a.
TEST(SymSeed003, ChainRuleScalarVariable) {
  expect_derivative({"exp(s*a)", "s:scalar a:vector(n)", "s", "exp(s*a) .* a"});
}
TEST(SymSeed003, IdentityJacobian) { expect_derivative({"x", "x:vector(n)", "x", "eye(n)"}); }
TEST(SymSeed003, LinearMapDenominator) {
  expect_derivative({"A*x", "x:vector(n) A:matrix(m,n)", "x", "A'", Layout::denominator});
}
TEST(SymSeed003, RowLinearMapDenominator) {
  expect_derivative({"x'*A", "x:vector(n) A:matrix(n,m)", "x", "A", Layout::denominator});
}
TEST(SymSeed003, ElementwiseIsDiagonal) { expect_derivative({"exp(x)", "x:vector(n)", "x", "diag(exp(x))"}); }
TEST(SymSeed003, LogisticDerivative) {
  expect_derivative({"sigmoid(x)", "x:vector(n)", "x", "diag(sigmoid(x) .* (1 - sigmoid(x)))"});
}

// ---- seed 002: scalars, vectors, the neuron, the MSE loss ------------------------

TEST(SymSeed002, ScalarGradient) {
  expect_derivative({"3*x^2*y", "x:scalar y:scalar", "x", "6*x*y"});
  expect_derivative({"3*x^2*y", "x:scalar y:scalar", "y", "3*x^2"});
  expect_derivative({"2*x + y^8", "x:scalar y:scalar", "y", "8*y^7"});
}
TEST(SymSeed002, VectorChainRuleOfScalar) {
  expect_derivative({"[log(x^2); sin(3*x)]", "x:scalar", "x", "[2/x; 3*cos(3*x)]"});
}
TEST(SymSeed002, ScalarExpansion) {
  expect_derivative({"x + z", "x:vector(n) z:scalar", "x", "eye(n)"});
  expect_derivative({"x + z", "x:vector(n) z:scalar", "z", "ones(n)"});
  expect_derivative({"x*z", "x:vector(n) z:scalar", "z", "x"});
  expect_derivative({"x*z", "x:vector(n) z:scalar", "x", "z*eye(n)"});
}
TEST(SymSeed002, SumReduction) {
  expect_derivative({"sum(x)", "x:vector(n)", "x", "ones(n)"});
  expect_derivative({"sum(x)", "x:vector(n)", "x", "ones(1,n)", Layout::numerator});
}
TEST(SymSeed002, DotProductIsSum) { expect_derivative({"sum(w .* x)", "w:vector(n) x:vector(n)", "w", "x"}); }
TEST(SymSeed002, ElementwiseBinary) {
  expect_derivative({"w .* x", "w:vector(n) x:vector(n)", "w", "diag(x)"});
}
TEST(SymSeed002, NeuronWeights) {
  expect_derivative({"max(0, w'*x + b)", "w:vector(n) x:vector(n) b:scalar", "w", "step(w'*x + b)*x"});
}
TEST(SymSeed002, NeuronBias) {
  expect_derivative({"max(0, w'*x + b)", "w:vector(n) x:vector(n) b:scalar", "b", "step(w'*x + b)"});
}
TEST(SymSeed002, MseLossWeights) {
  expect_derivative({"sum((y - max(0, X*w + b)).^2)/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)", "w",
                     "-2*X'*((y - relu(X*w + b)) .* step(X*w + b))/N"});
}
TEST(SymSeed002, MseLossBias) {
  expect_derivative({"sum((y - max(0, X*w + b)).^2)/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)", "b",
                     "-2*(y - relu(X*w + b))'*step(X*w + b)/N"});
}
// Without the activation: ∂C/∂w = (2/N) Xᵀ e with e = Xw + b − y.
TEST(SymSeed002, LinearMse) {
  expect_derivative({"norm2(X*w + b - y)^2/N", "X:matrix(N,n) w:vector(n) b:scalar y:vector(N)", "w",
                     "2*X'*(X*w - y + b)/N"});
}

// ---- seed 004: the N-layer network -----------------------------------------------

// Two layers, f = tanh: K2 = 2(Y2 − Y) ⊙ f2'(X2), with tanh' = 1 − tanh², ∂L/∂A2 = K2 Y1ᵀ.
TEST(SymSeed004, TwoLayerOuter) {
  expect_derivative({"norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
                     "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "A2",
                     "2*((tanh(A2*tanh(A1*y0 + B1) + B2) - y) .* (1 - tanh(A2*tanh(A1*y0 + B1) + B2).^2))*tanh(A1*y0 + B1)'"});
}
// K1 = A2ᵀ K2 ⊙ f1'(X1), ∂L/∂A1 = K1 Y0ᵀ.
TEST(SymSeed004, TwoLayerInner) {
  expect_derivative(
      {"norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
       "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "A1",
       "2*((A2'*((tanh(A2*tanh(A1*y0 + B1) + B2) - y) .* (1 - tanh(A2*tanh(A1*y0 + B1) + B2).^2))) .* "
       "(1 - tanh(A1*y0 + B1).^2))*y0'"});
}
// ∂L/∂B_i = K_i.
TEST(SymSeed004, TwoLayerBias) {
  expect_derivative({"norm2(tanh(A2*tanh(A1*y0 + B1) + B2) - y)^2",
                     "y0:vector(n) A1:matrix(h,n) B1:vector(h) A2:matrix(m,h) B2:vector(m) y:vector(m)", "B2",
                     "2*((tanh(A2*tanh(A1*y0 + B1) + B2) - y) .* (1 - tanh(A2*tanh(A1*y0 + B1) + B2).^2))"});
}
// Three layers with softmax on top: the recursion goes through every layer.
TEST(SymSeed004, ThreeLayers) {
  Case c{"norm2(softmax(A3*tanh(A2*tanh(A1*y0)))- y)^2",
         "y0:vector(n) A1:matrix(h,n) A2:matrix(h,h) A3:matrix(m,h) y:vector(m)", "A1", ""};
  auto d = nabla::sym::parse_declarations(c.let);
  auto r = nabla::sym::differentiate(nabla::sym::parse(c.expr, d), "A1", d);
  c.expected = nabla::sym::to_text(r.result);
  EXPECT_NE(c.expected.find("*y0'"), std::string::npos) << c.expected;  // ∂L/∂A1 = K1 y0ᵀ
  expect_derivative(c);
}

// ---- Matrix Cookbook classics -----------------------------------------------------

TEST(SymCookbook, BilinearForm) { expect_derivative({"a'*X*b", "a:vector(m) X:matrix(m,n) b:vector(n)", "X", "a*b'"}); }
TEST(SymCookbook, LogDet) { expect_derivative({"logdet(X)", "X:matrix(n,n)", "X", "inv(X)'"}); }
TEST(SymCookbook, Det) { expect_derivative({"det(X)", "X:matrix(n,n)", "X", "det(X)*inv(X)'"}); }
TEST(SymCookbook, TraceQuadratic) {
  expect_derivative({"tr(X'*A*X)", "A:matrix(m,m) X:matrix(m,n)", "X", "(A + A')*X"});
}
TEST(SymCookbook, TraceLinear) { expect_derivative({"tr(A*X)", "A:matrix(n,m) X:matrix(m,n)", "X", "A'"}); }
TEST(SymCookbook, QuadraticForm) { expect_derivative({"x'*A*x", "x:vector(n) A:matrix(n,n)", "x", "(A + A')*x"}); }
TEST(SymCookbook, LeastSquares) {
  expect_derivative({"norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", "2*A'*(A*x - b)"});
}
TEST(SymCookbook, Inverse) {
  expect_derivative({"a'*inv(X)*b", "a:vector(n) X:matrix(n,n) b:vector(n)", "X", "-inv(X)'*a*b'*inv(X)'"});
}
TEST(SymCookbook, LogisticRegression) {
  expect_derivative({"sum(log(1 + exp(-y .* (X*w))))", "X:matrix(N,n) w:vector(n) y:vector(N)", "w",
                     "-X'*(sigmoid(-((X*w) .* y)) .* y)"});  // exp(u) ./ (exp(u) + 1) is the logistic function
}
TEST(SymCookbook, LogisticRegressionSigmoid) {
  expect_derivative({"-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))",
                     "X:matrix(N,n) w:vector(n) y:vector(N)", "w",
                     "X'*(sigmoid(X*w) - y)"});
}
TEST(SymCookbook, SoftmaxCrossEntropy) {
  expect_derivative({"-y'*log(softmax(W*x))", "W:matrix(m,n) x:vector(n) y:vector(m)", "W",
                     "(sum(y)*softmax(W*x) - y)*x'"});
}
TEST(SymCookbook, Norm) { expect_derivative({"norm2(x)", "x:vector(n)", "x", "x/norm2(x)"}); }

// ---- layouts ----------------------------------------------------------------------

TEST(SymLayout, JacobianNumeratorIsMByN) {
  expect_derivative({"A*x", "x:vector(n) A:matrix(m,n)", "x", "A", Layout::numerator});
}
TEST(SymLayout, JacobianDenominatorIsTranspose) {
  expect_derivative({"A*x", "x:vector(n) A:matrix(m,n)", "x", "A'", Layout::denominator});
}
TEST(SymLayout, GradientNumeratorIsRow) {
  expect_derivative({"x'*A*x", "x:vector(n) A:matrix(n,n)", "x", "x'*(A + A')", Layout::numerator});
}
TEST(SymLayout, GradientDenominatorIsColumn) {
  expect_derivative({"x'*A*x", "x:vector(n) A:matrix(n,n)", "x", "(A + A')*x", Layout::denominator});
}
TEST(SymLayout, MatrixGradientNumeratorIsTransposed) {
  expect_derivative({"tr(A*X)", "A:matrix(n,m) X:matrix(m,n)", "X", "A", Layout::numerator});
}
TEST(SymLayout, VectorByScalar) {
  expect_derivative({"s*x", "s:scalar x:vector(n)", "s", "x", Layout::numerator});
  expect_derivative({"s*x", "s:scalar x:vector(n)", "s", "x'", Layout::denominator});
}
TEST(SymLayout, ShapesFollowTheLayout) {
  auto d = nabla::sym::parse_declarations("x:vector(n) W:matrix(m,n)");
  auto f = nabla::sym::parse("W*x", d);
  nabla::sym::DiffOptions o;
  o.layout = Layout::numerator;
  auto num = nabla::sym::differentiate(f, "x", d, o);
  o.layout = Layout::denominator;
  auto den = nabla::sym::differentiate(f, "x", d, o);
  EXPECT_EQ(num.shape.str(), "m×n");
  EXPECT_EQ(den.shape.str(), "n×m");
}

// ---- Hessians ---------------------------------------------------------------------

TEST(SymHessian, QuadraticForm) { expect_derivative({"x'*A*x", "x:vector(n) A:matrix(n,n)", "x", "A + A'", Layout::automatic, 2}); }
TEST(SymHessian, LeastSquares) {
  expect_derivative({"norm2(A*x - b)^2", "A:matrix(m,n) x:vector(n) b:vector(m)", "x", "2*A'*A", Layout::automatic, 2});
}
TEST(SymHessian, Logistic) {
  Case c{"-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))", "X:matrix(N,n) w:vector(n) y:vector(N)", "w",
         "X'*diag(sigmoid(X*w) .* (1 - sigmoid(X*w)))*X", Layout::automatic, 2};
  expect_derivative(c);
}
TEST(SymHessian, Scalar) { expect_derivative({"x^3 + 2*x", "x:scalar", "x", "6*x", Layout::automatic, 2}); }
// By a matrix, the Hessian is ∂vec(∇f)/∂vec(X)ᵀ (tests/sym/sym_tensor_test.cpp).
TEST(SymHessian, MatrixVariableIsInVecForm) {
  auto d = nabla::sym::parse_declarations("X:matrix(n,n)");
  nabla::sym::DiffOptions o;
  o.order = 2;
  nabla::sym::Derivative r = nabla::sym::differentiate(nabla::sym::parse("tr(X*X)", d), "X", d, o);
  EXPECT_TRUE(r.vec_form);
  EXPECT_EQ(nabla::sym::to_text(r.result), "2*commutation(n,n)");
}

// ---- Row vectors under diag -----------------------------------------------------
// diag of a row r is written diag(r'); diag(v') = diag(v) only for a column v.
// The two rules once undid each other and recursed until the stack ran out
// (found by the parser fuzzer).
TEST(SymRowVectors, DiagOfARowIsDiagOfItsTranspose) {
  auto d = nabla::sym::parse_declarations("r:rowvector(n) v:vector(n)");
  using nabla::sym::Fn;
  auto r = nabla::sym::parse("r", d), v = nabla::sym::parse("v", d);
  EXPECT_EQ(to_text(nabla::sym::func(Fn::diag, r)), "diag(r')");
  EXPECT_EQ(nabla::sym::func(Fn::diag, r), nabla::sym::func(Fn::diag, nabla::sym::transpose(r)));
  EXPECT_EQ(nabla::sym::func(Fn::diag, nabla::sym::transpose(v)), nabla::sym::func(Fn::diag, v));
  EXPECT_EQ(to_text(nabla::sym::func(Fn::diag, v)), "diag(v)");
}
TEST(SymRowVectors, ElementwiseProductWithARow) {
  expect_derivative({"r*sum(x .* r')", "x:vector(n) r:rowvector(n)", "x", "r'*r"});
  expect_derivative({"diag(r)*x", "x:vector(n) r:rowvector(n)", "x", "diag(r')"});
  expect_derivative({"r*sum(softmax(x) .* r')", "x:vector(n) r:rowvector(n)", "x",
                     "r'*r*(diag(softmax(x)) - softmax(x)*softmax(x)')"});
}

// Note [Work budget]: a derivation whose answer grows without bound stops
// with a one-line error instead of running for minutes.
TEST(SymBudget, AGrowingDerivationStopsAtItsBudget) {
  using namespace nabla::sym;
  Declarations d = parse_declarations("A:matrix(n,n) x:vector(n)");
  std::string chain;
  for (int i = 0; i < 12; ++i) chain += "A*";
  Expr f = parse("sum(" + chain + "x)", d);
  DiffOptions small;
  small.max_work = 2000;
  try {
    differentiate(f, "A", d, small);
    FAIL() << "no error past the budget";
  } catch (const nabla::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "differentiate: the derivation outgrew its budget of 2000 units of work (DiffOptions::max_work); "
              "its answer would be too large to use");
  }
  // the default budget is far above what the same derivative needs, and a
  // budget applies to one derivation only: the next one starts afresh
  Derivative ok = differentiate(f, "A", d);
  EXPECT_NE(to_text(ok.result).find("A'"), std::string::npos);
  EXPECT_NO_THROW(differentiate(parse("x'*A*x", d), "x", d, small));
}

// Mixed second derivatives ∂²f/∂x∂y (DiffOptions::then_wrt): the Jacobian by
// y of the gradient by x, checked against autodiff and finite differences.
TEST(SymMixed, SecondDerivativesAcrossVariables) {
  using namespace nabla::sym;
  Declarations d = parse_declarations("x:vector(n) y:vector(m) A:matrix(n,m) s:scalar t:scalar");
  struct C {
    std::string f, x, y, expected;
  };
  for (const C& c : std::vector<C>{{"s*t", "s", "t", "1"},
                                   {"x'*A*y", "x", "y", "A"},
                                   {"x'*A*y", "y", "x", "A'"},
                                   {"sum(exp(x))*(y'*y)", "x", "y", "2*exp(x)*y'"},
                                   {"s^2*t^3", "s", "t", "6*s*t^2"}}) {
    SCOPED_TRACE(c.f + " by " + c.x + ", " + c.y);
    DiffOptions o;
    o.order = 2;
    o.then_wrt = c.y;
    Expr f = parse(c.f, d);
    Derivative r = differentiate(f, c.x, d, o);
    EXPECT_EQ(to_text(r.result), c.expected);
    EXPECT_EQ(r.second, c.y);
    CheckReport rep = check(f, c.x, r, random_values(d, 3));
    EXPECT_TRUE(rep.ok) << rep.autodiff_error << " " << rep.fd_error;
    EXPECT_TRUE(rep.autodiff_used);
    // denominator layout: the transpose
    o.layout = Layout::denominator;
    Derivative rt = differentiate(f, c.x, d, o);
    EXPECT_EQ(rt.shape, r.shape.t());
    EXPECT_TRUE(check(f, c.x, rt, random_values(d, 4)).ok);
  }
  // by a matrix: ∂vec(∇ₓf)/∂vec(A)ᵀ = ∂vec(A*y)/∂vec(A)ᵀ = y' ⊗ I
  DiffOptions o;
  o.order = 2;
  o.then_wrt = "A";
  Derivative ra = differentiate(parse("x'*A*y", d), "x", d, o);
  EXPECT_TRUE(ra.vec_form);
  EXPECT_EQ(to_text(ra.result), "kron(y', eye(n))");
  EXPECT_TRUE(check(parse("x'*A*y", d), "x", ra, random_values(d, 5)).ok);
}

// mean and logsumexp; the softmax form recognized; exact rationals printed as such.
TEST(SymForms, MeanLogSumExpSoftmaxAndRationals) {
  using nabla::sym::testing::expect_derivative;
  expect_derivative({"logsumexp(x)", "x:vector(n)", "x", "softmax(x)"});
  expect_derivative({"logsumexp(x)", "x:vector(n)", "x", "diag(softmax(x)) - softmax(x)*softmax(x)'", Layout::automatic, 2});
  expect_derivative({"logsumexp(W*x) - y'*W*x", "W:matrix(m,n) x:vector(n) y:vector(m)", "W", "(softmax(W*x) - y)*x'"});
  expect_derivative({"mean((X*w - y).^2)", "X:matrix(m,n) w:vector(n) y:vector(m)", "w", "2*X'*(X*w - y)/m"});
  expect_derivative({"mean(x .* x)", "x:vector(3)", "x", "2*x/3"});
  expect_derivative({"mean(A)", "A:matrix(m,n)", "A", "ones(m,n)/m/n"});
  expect_derivative({"x'*x/3", "x:vector(n)", "x", "2*x/3"});
  using namespace nabla::sym;
  Declarations d = parse_declarations("x:vector(n) s:scalar");
  EXPECT_EQ(to_text(parse("s^(1/3)", d)), "s^(1/3)");
  EXPECT_EQ(to_latex(parse("x/3", d)), "\\frac{x}{3}");
  EXPECT_EQ(to_text(parse("0.1*s", d)), "s/10");
  EXPECT_EQ(to_text(parse("1 - 1/3", d)), "0.6666666666666667");  // not the double nearest 2/3
  EXPECT_THROW(parse("mean(x, x)", d), nabla::Error);
}

TEST(SymForms, LogisticAndSoftplus) {
  using nabla::sym::testing::expect_derivative;
  expect_derivative({"sum(log(exp(z) + 1))", "z:vector(n)", "z", "sigmoid(z)"});
  expect_derivative({"sum(log(1 + exp(-z)))", "z:vector(n)", "z", "-sigmoid(-z)"});
  expect_derivative({"log(1 + exp(-y*w'*x))", "w:vector(n) x:vector(n) y:scalar", "w", "-sigmoid(-y*w'*x)*y*x"});
  expect_derivative({"log(1 + exp(-y*w'*x))", "w:vector(n) x:vector(n) y:scalar", "w",
                     "sigmoid(-y*w'*x)*(1 - sigmoid(-y*w'*x))*y^2*x*x'", Layout::automatic, 2});
  using namespace nabla::sym;
  Declarations d = parse_declarations("z:vector(n) s:scalar");
  EXPECT_EQ(to_text(simplify(parse("log(exp(z) + 1)", d))), "softplus(z)");
  EXPECT_EQ(to_text(simplify(parse("exp(s)/(1 + exp(s))", d))), "sigmoid(s)");
}

TEST(SymForms, ACommonCoefficientIsFactored) {
  using nabla::sym::testing::expect_derivative;
  expect_derivative({"0.5*(x'*A*x)", "x:vector(n) A:matrix(n,n)", "x", "(A + A')*x/2"});
  expect_derivative({"tr(X*A*X')/2", "X:matrix(n,n) A:matrix(n,n)", "X", "X*(A + A')/2"});
  using namespace nabla::sym;
  Declarations d = parse_declarations("x:vector(n) y:vector(n)");
  EXPECT_EQ(to_text(simplify(parse("3*x - 3*y", d))), "3*(x - y)");
  EXPECT_EQ(to_text(simplify(parse("3*x - 2*y", d))), "3*x - 2*y");  // no common coefficient
}

TEST(SymForms, RepeatedSubexpressionsAreNamedOnce) {
  using namespace nabla::sym;
  Declarations d = parse_declarations("w:vector(n) x:vector(n) y:scalar A:matrix(n,n) s1:scalar");
  DiffOptions o;
  o.order = 2;
  Expr h = differentiate(parse("log(1 + exp(-y*w'*x))", d), "w", d, o).result;
  NamedForm nf = name_repeated(h, d);
  // s1 is declared, so the first free name is s2
  EXPECT_EQ(nf.text, "s2*(1 - s2)*y^2*x*x' where s2 = sigmoid(-y*w'*x)");
  EXPECT_EQ(nf.latex, "s_{2} \\left(1 - s_{2}\\right) {y}^{2} x x^{\\top},\\quad\\text{where } s_{2} = "
                      "\\sigma\\left(-y w^{\\top} x\\right)");
  ASSERT_EQ(nf.names.size(), 1u);
  EXPECT_EQ(parse(nf.text, d), h);  // the named form parses back to the same expression
  // nested names, innermost first; each definition uses the ones before it
  Expr g = parse("tanh(tanh(A*x) + x)' * tanh(tanh(A*x) + x) + sum(tanh(A*x))", d);
  NamedForm ng = name_repeated(g, d);
  EXPECT_EQ(ng.text, "s3'*s3 + sum(s2) where s2 = tanh(A*x), s3 = tanh(s2 + x)");
  EXPECT_EQ(parse(ng.text, d), g);
  // nothing repeated: the plain text
  EXPECT_EQ(name_repeated(parse("x'*A*x", d), d).text, "x'*A*x");
  EXPECT_THROW(parse("s2 where s2 = x, s2 = x", d), nabla::Error);  // a name bound twice
  EXPECT_THROW(parse("t where x = w", d), nabla::Error);           // a declared name
}
