// Regressions of the simplifier: expressions whose simplified derivative once
// disagreed with the derivative as derived. Each is checked against autodiff
// and central differences, and compared with Derivative::raw.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "nabla/sym.hpp"

using namespace nabla::sym;

namespace {

double rel_diff(const nabla::Tensor& a, const nabla::Tensor& b) {
  auto x = a.contiguous().to_vector<double>(), y = b.contiguous().to_vector<double>();
  double worst = x.size() == y.size() ? 0 : INFINITY;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    worst = std::max(worst, std::fabs(x[i] - y[i]) / std::max(1.0, std::fabs(y[i])));
  return worst;
}

// Derives f by wrt, checks it against autodiff and central differences at
// three points, and compares the simplified derivative with the derivative as
// derived and with the gradient written out by hand.
void expect_checks(const std::string& expr, const std::string& let, const std::string& wrt,
                   const std::string& by_hand) {
  SCOPED_TRACE("d/d" + wrt + " " + expr);
  Declarations d = parse_declarations(let);
  Expr f = parse(expr, d);
  Derivative r = differentiate(f, wrt, d);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Bindings b = random_values(d, seed);
    CheckReport rep = check(f, wrt, r, b);
    EXPECT_TRUE(rep.autodiff_used);
    EXPECT_TRUE(rep.ok) << to_text(r.result) << ": autodiff error " << rep.autodiff_error << ", fd error "
                        << rep.fd_error << " " << rep.note;
    EXPECT_LE(rep.fd_error, rep.tolerance);
    EXPECT_LT(rel_diff(evaluate(r.result, b), evaluate(r.raw, b)), 1e-12) << to_text(r.result);
    EXPECT_LT(rel_diff(evaluate(r.result, b), evaluate(parse(by_hand, d), b)), 1e-12) << to_text(r.result);
  }
}

}  // namespace

// The simplifier's memo was keyed by node address: a node freed during
// simplification and a new one allocated at its address shared an entry, and
// a factor of a product went missing ((X' + eye(n))*X*X*(Q + Q') for the first).
TEST(SymRegression, TraceOfFiveFactorProduct) {
  expect_checks("tr(Q*X'*X'*X*X)", "Q:matrix(n,n) X:matrix(n,n)", "X",
                "X'*X*X*Q + X*X*Q*X' + X*X*Q'*X' + X'*X*X*Q'");
}
TEST(SymRegression, SumOfThreeBilinearForms) {
  expect_checks("a'*X'*Q*X*b + a'*X'*P*X*D'*b - a'*X'*P*X*D*b",
                "a:vector(n) b:vector(n) Q:matrix(n,n) P:matrix(n,n) D:matrix(n,n) X:matrix(n,n)", "X",
                "Q*X*b*a' + Q'*X*a*b' + P*X*D'*b*a' + P'*X*a*b'*D - P*X*D*b*a' - P'*X*a*b'*D'");
}
