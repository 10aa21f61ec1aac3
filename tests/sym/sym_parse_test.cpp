// Parser, declarations, printers: errors with columns, precedence, round trip
// on seeded random expressions, simplify() numerically equal to its input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "nabla/error.hpp"
#include "nabla/generator.hpp"
#include "nabla/ops.hpp"
#include "nabla/sym.hpp"

using namespace nabla::sym;

namespace {

std::string error_of(const std::string& expr, const std::string& let) {
  try {
    parse(expr, parse_declarations(let));
  } catch (const nabla::Error& e) {
    return e.what();
  }
  return "";
}

const char* kLet = "x:vector(n) y:vector(n) A:matrix(n,n) B:matrix(n,n) s:scalar t:scalar";

}  // namespace

TEST(SymParse, InnerDimensionErrorPointsAtTheOperator) {
  EXPECT_EQ(error_of("x'*A*y", "x:vector(n) A:matrix(n,n) y:vector(m)"),
            "col 5: '*' needs inner dimensions to agree: x'*A is 1×n, y is m×1");
  EXPECT_EQ(error_of("A*y", "A:matrix(n,n) y:vector(m)"),
            "col 2: '*' needs inner dimensions to agree: A is n×n, y is m×1");
}
TEST(SymParse, OtherErrorsCarryColumns) {
  EXPECT_EQ(error_of("x + y", "x:vector(n) y:vector(m)"), "col 3: '+' needs equal shapes: x is n×1, y is m×1");
  EXPECT_EQ(error_of("x .* z", kLet).substr(0, 28), "col 6: unknown variable 'z' ");
  EXPECT_EQ(error_of("(x + y", kLet), "col 7: expected ')' at the end");
  EXPECT_EQ(error_of("x + ", kLet), "col 5: unexpected end of expression");
  EXPECT_EQ(error_of("A / x", kLet).substr(0, 35), "col 3: '/' divides by a scalar only");
  EXPECT_EQ(error_of("x .^ A", kLet),
            "col 3: '.^' needs a scalar exponent or one shaped like the base: x is n×1, A is n×n");
  EXPECT_EQ(error_of("tr(x)", kLet), "col 1: tr needs a square matrix: x is n×1");
  EXPECT_EQ(error_of("foo(x)", kLet), "col 1: unknown function 'foo'");
  EXPECT_EQ(error_of("x # y", kLet), "col 3: unexpected character '#'");
  EXPECT_EQ(error_of("max(1, x)", kLet), "col 1: max supports max(0, x) only (relu)");
}
TEST(SymParse, DeclarationErrors) {
  EXPECT_THROW(parse_declarations("x:vektor(n)"), nabla::Error);
  EXPECT_THROW(parse_declarations("x:vector(n) x:scalar"), nabla::Error);
  EXPECT_THROW(parse_declarations("x:vector(0)"), nabla::Error);
  EXPECT_THROW(parse_declarations("n:scalar x:vector(n)"), nabla::Error);
  auto d = parse_declarations("x : vector(3), A:matrix(m, 3); b:scalar r:rowvector(k)");
  EXPECT_EQ(d.vars.at("x").str(), "3×1");
  EXPECT_EQ(d.vars.at("A").str(), "m×3");
  EXPECT_EQ(d.vars.at("b").str(), "1×1");
  EXPECT_EQ(d.vars.at("r").str(), "1×k");
}
TEST(SymParse, PrecedenceAndCanonicalForms) {
  auto d = parse_declarations(kLet);
  auto txt = [&](const char* e) { return to_text(parse(e, d)); };
  EXPECT_EQ(txt("-x'*A*x"), "-x'*A*x");
  EXPECT_EQ(txt("(A*B)'"), "B'*A'");
  EXPECT_EQ(txt("x + x"), "2*x");
  EXPECT_EQ(txt("x'*A + x'*A'"), "x'*A + x'*A'");
  EXPECT_EQ(to_text(simplify(parse("x'*A + x'*A'", d))), "x'*(A + A')");
  EXPECT_EQ(to_text(simplify(parse("sum(x .* y)", d))), "x'*y");
  EXPECT_EQ(txt("eye(n)*A + 0*B"), "A");
  EXPECT_EQ(txt("(A')'"), "A");
  EXPECT_EQ(txt("2*s*3"), "6*s");
  EXPECT_EQ(txt("s^2*s^-2"), "1");
  EXPECT_EQ(txt("x ./ y"), "x ./ y");
  EXPECT_EQ(txt("s/t/2"), "s/2/t");  // an exact rational coefficient prints as one
  EXPECT_EQ(txt("dot(x, y)"), "x'*y");
  EXPECT_EQ(txt("[x; y]'"), "[x; y]'");
  EXPECT_EQ(txt("1 + x"), "x + 1");
  EXPECT_EQ(txt("x - 2^3"), "x - 8");
}
TEST(SymParse, HashConsing) {
  auto d = parse_declarations(kLet);
  EXPECT_EQ(parse("A*x + y", d), parse("y + A * x", d));
  EXPECT_NE(parse("A*x", d), parse("A'*x", d));
}
TEST(SymPrint, Latex) {
  auto d = parse_declarations(kLet);
  EXPECT_EQ(to_latex(parse("(A + A')*x", d)), "\\left(A + A^{\\top}\\right) x");
  EXPECT_EQ(to_latex(parse("inv(A)'", d)), "A^{-\\top}");
  EXPECT_EQ(to_latex(parse("2*x/s", d)), "\\frac{2 x}{s}");
  EXPECT_EQ(to_latex(parse("x .* sigmoid(y)", d)), "x \\odot \\sigma\\left(y\\right)");
}
TEST(SymPrint, JsonTreeHasShapes) {
  auto d = parse_declarations(kLet);
  std::string j = to_json(parse("A*x", d));
  EXPECT_NE(j.find("\"op\":\"mul\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"shape\":[\"n\",\"1\"]"), std::string::npos) << j;
}

// ---- seeded random expressions -------------------------------------------------

namespace {

struct RandomExpr {
  nabla::Generator g;
  Declarations d = parse_declarations(kLet);
  explicit RandomExpr(uint64_t seed) : g(seed) {}
  int pick(int n) { return int(g.below(uint64_t(n))); }

  Expr vec(int depth) {
    if (depth <= 0) return d.var(pick(2) ? "x" : "y");
    switch (pick(9)) {
      case 0: return mul(mat(depth - 1), vec(depth - 1));
      case 1: return add(vec(depth - 1), vec(depth - 1));
      case 2: return sub(vec(depth - 1), vec(depth - 1));
      case 3: return hadamard(vec(depth - 1), vec(depth - 1));
      case 4: return mul(scal(depth - 1), vec(depth - 1));
      case 5: return func(pick(2) ? nabla::sym::Fn::tanh : nabla::sym::Fn::sigmoid, vec(depth - 1));
      case 6: return func(nabla::sym::Fn::softmax, vec(depth - 1));
      case 7: return add(vec(depth - 1), scal(depth - 1));
      default: return d.var(pick(2) ? "x" : "y");
    }
  }
  Expr scal(int depth) {
    if (depth <= 0) return pick(3) ? d.var(pick(2) ? "s" : "t") : constant(1 + pick(3));
    switch (pick(8)) {
      case 0: return mul(transpose(vec(depth - 1)), vec(depth - 1));
      case 1: return func(nabla::sym::Fn::sum, vec(depth - 1));
      case 2: return func(nabla::sym::Fn::tr, mat(depth - 1));
      case 3: return func(nabla::sym::Fn::norm2, vec(depth - 1));
      case 4: return power(scal(depth - 1), 2);
      case 5: return mul(scal(depth - 1), scal(depth - 1));
      case 6: return func(nabla::sym::Fn::exp, scal(depth - 1));
      default: return d.var(pick(2) ? "s" : "t");
    }
  }
  Expr mat(int depth) {
    if (depth <= 0) return d.var(pick(2) ? "A" : "B");
    switch (pick(7)) {
      case 0: return mul(mat(depth - 1), mat(depth - 1));
      case 1: return add(mat(depth - 1), mat(depth - 1));
      case 2: return transpose(mat(depth - 1));
      case 3: return mul(vec(depth - 1), transpose(vec(depth - 1)));
      case 4: return mul(scal(depth - 1), mat(depth - 1));
      case 5: return func(nabla::sym::Fn::diag, vec(depth - 1));
      default: return d.var(pick(2) ? "A" : "B");
    }
  }
};

double max_rel_diff(const nabla::Tensor& a, const nabla::Tensor& b) {
  auto x = a.contiguous().to_vector<double>(), y = b.contiguous().to_vector<double>();
  double w = 0;
  for (size_t i = 0; i < x.size(); ++i) w = std::max(w, std::fabs(x[i] - y[i]) / std::max(1.0, std::fabs(y[i])));
  return w;
}

}  // namespace

TEST(SymRoundTrip, PrintThenParseIsIdentity) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    RandomExpr r(seed);
    Expr e = r.pick(3) == 0 ? r.scal(3) : r.pick(2) ? r.vec(3) : r.mat(3);
    std::string s = to_text(e);
    Expr back = parse(s, r.d);
    EXPECT_EQ(back, e) << "seed " << seed << ": " << s << " → " << to_text(back);
  }
}

TEST(SymSimplify, NumericallyEqualOnRandomInputs) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    RandomExpr r(1000 + seed);
    Expr e = r.pick(2) ? r.scal(3) : r.vec(3);
    Expr s = simplify(e);
    Bindings b = random_values(r.d, seed);
    EXPECT_LT(max_rel_diff(evaluate(s, b), evaluate(e, b)), 1e-9) << to_text(e) << "  vs  " << to_text(s);
  }
}

TEST(SymSimplify, GradientsOfRandomScalarsMatchFiniteDifferences) {
  for (uint64_t seed = 0; seed < 60; ++seed) {
    RandomExpr r(5000 + seed);
    Expr f = r.scal(3);
    for (const char* w : {"x", "A", "s"}) {
      Derivative d = differentiate(f, w, r.d);
      CheckReport rep = check(f, w, d, random_values(r.d, seed));
      EXPECT_TRUE(rep.ok) << "d/d" << w << " " << to_text(f) << " = " << to_text(d.result) << ": fd "
                          << rep.fd_error << " ad " << rep.autodiff_error;
    }
  }
}

TEST(SymSimplify, RulesHaveNames) {
  auto names = rule_names();
  EXPECT_GE(names.size(), 8u);
  std::vector<RuleApplication> trace;
  auto d = parse_declarations(kLet);
  simplify(parse("x'*A + x'*A'", d), &trace);
  ASSERT_FALSE(trace.empty());
  EXPECT_NE(trace[0].rule.find("left factor"), std::string::npos);
}

TEST(SymEval, ValuesBindDimensions) {
  auto d = parse_declarations("x:vector(n) A:matrix(m,n) b:scalar");
  Bindings b = read_values(R"({"x": [1, 2, 3], "A": [[1, 0, 0], [0, 1, 0]], "b": 2})", d);
  EXPECT_EQ(b.dims.at("n"), 3);
  EXPECT_EQ(b.dims.at("m"), 2);
  auto v = evaluate(parse("b*A*x", d), b).to_vector<double>();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], 2);
  EXPECT_EQ(v[1], 4);
  EXPECT_THROW(read_values(R"({"x": [1, 2], "A": [[1, 0, 0]]})", d), nabla::Error);
  EXPECT_THROW(read_values(R"({"z": 1})", d), nabla::Error);
  EXPECT_THROW(read_values(R"([1)", d), nabla::Error);
  EXPECT_THROW(read_values(R"({"A": [[1], [2, 3]]})", d), nabla::Error);
}
TEST(SymEval, InverseAndDeterminantByLU) {
  auto d = parse_declarations("X:matrix(2,2)");
  Bindings b = read_values(R"({"X": [[4, 7], [2, 6]]})", d);
  EXPECT_NEAR(evaluate(parse("det(X)", d), b).item(), 10, 1e-12);
  EXPECT_NEAR(evaluate(parse("logdet(X)", d), b).item(), std::log(10.0), 1e-12);
  auto inv = evaluate(parse("inv(X)*X", d), b).contiguous().to_vector<double>();
  EXPECT_NEAR(inv[0], 1, 1e-12);
  EXPECT_NEAR(inv[1], 0, 1e-12);
}
TEST(SymEval, JsonOfValues) {
  EXPECT_EQ(tensor_to_json(nabla::tensor(std::vector<double>{1.0, 2.0}, nabla::Shape{2, 1}, nabla::kFloat64), true), "[1.0,2.0]");
  EXPECT_EQ(tensor_to_json(nabla::tensor(std::vector<double>{1.0, 2.0}, nabla::Shape{1, 2}, nabla::kFloat64), true), "[[1.0,2.0]]");
  EXPECT_EQ(tensor_to_json(nabla::tensor(std::vector<double>{3.0}, nabla::Shape{1, 1}, nabla::kFloat64), true), "3.0");
}
TEST(SymSteps, NamesIntermediatesAndRules) {
  auto d = parse_declarations("w:vector(n) x:vector(n) b:scalar y:scalar");
  DiffOptions o;
  o.steps = true;
  Derivative r = differentiate(parse("(y - max(0, w'*x + b))^2", d), "w", d, o);
  std::string s = format_steps(r);
  EXPECT_NE(s.find("u = w'*x + b"), std::string::npos) << s;
  EXPECT_NE(s.find("v = relu(u)"), std::string::npos) << s;
  EXPECT_NE(s.find("p = y - v"), std::string::npos) << s;
  EXPECT_NE(s.find("[element-wise chain rule]"), std::string::npos) << s;
  EXPECT_NE(s.find("[product rule]"), std::string::npos) << s;
}
