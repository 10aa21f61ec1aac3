// `nabla diff` end to end. The path of the built command comes from the
// environment variable NABLA_CLI (set by CMake for ctest); without it these
// tests are skipped.
#include <gtest/gtest.h>

#include "cli_path.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

struct CliRun {
  int code;
  std::string out;
};

// Runs the command; `out` is stdout and stderr together, or stdout alone.
CliRun nabla(const std::string& args, bool stdout_only = false) {
  const char* cli = nabla_cli_path();
  CliRun r{-1, ""};
  std::string cmd = std::string(cli) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class SymCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!nabla_cli_path()) GTEST_SKIP() << "NABLA_CLI is not set (path to the nabla command)";
  }
};

}  // namespace

TEST_F(SymCli, QuadraticForm) {
  CliRun r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x)cli");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "(A + A')*x\n");
}
TEST_F(SymCli, SeveralVariablesAndLayouts) {
  CliRun r = nabla(R"cli(diff "max(0, w'*x + b)" --let "w:vector(n) x:vector(n) b:scalar" --wrt w --wrt b)cli");
  EXPECT_EQ(r.out, "w: step(w'*x + b)*x\nb: step(w'*x + b)\n");
  r = nabla(R"cli(diff "W*x" --let "W:matrix(m,n) x:vector(n)" --wrt x --layout denominator)cli");
  EXPECT_EQ(r.out, "W'\n");
}
TEST_F(SymCli, AtValuesAndCheck) {
  std::string path = ::testing::TempDir() + "sym_cli_values.json";
  std::ofstream(path) << R"cli({"x": [1, 2], "A": [[1, 2], [3, 4]]})cli";
  CliRun r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --at )cli" + path + " --check");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("{\"derivative\": [12.0,21.0]}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check: ok"), std::string::npos) << r.out;
  r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --layout numerator --at )cli" + path);
  EXPECT_NE(r.out.find("{\"derivative\": [[12.0,21.0]]}"), std::string::npos) << r.out;
  r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --order 2 --at )cli" + path);
  EXPECT_NE(r.out.find("{\"derivative\": [[2.0,5.0],[5.0,8.0]]}"), std::string::npos) << r.out;
}
TEST_F(SymCli, CheckCrossChecksLogdetWithAutodiff) {
  CliRun r = nabla(R"cli(diff "logdet(X)" --let "X:matrix(n,n)" --wrt X --check)cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("check: symbolic vs autodiff: worst relative error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check: ok"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("finite differences only"), std::string::npos) << r.out;
}
TEST_F(SymCli, ErrorsAreOneLineWithExitCode2) {
  CliRun r = nabla(R"cli(diff "x'*A*y" --let "x:vector(n) A:matrix(n,n) y:vector(m)" --wrt x)cli");
  EXPECT_EQ(r.code, 2);
  // one line, then the expression with a caret under the column
  EXPECT_EQ(r.out, "nabla: error: col 5: '*' needs inner dimensions to agree: x'*A is 1×n, y is m×1\n"
                   "  x'*A*y\n"
                   "      ^\n");
  r = nabla(R"cli(diff "x'*A*)" --let "x:vector(n) A:matrix(n,n)" --wrt x)cli");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "nabla: error: col 6: unexpected ')'\n  x'*A*)\n       ^\n");
  r = nabla(R"cli(diff "sin(x)*" --let "x:scalar" --wrt x)cli");
  EXPECT_EQ(r.out, "nabla: error: col 8: unexpected end of expression\n  sin(x)*\n         ^\n");
}
TEST_F(SymCli, ExpressionsBeginningWithMinus) {
  CliRun r = nabla(R"cli(diff "-y'*log(softmax(z))" --let "y:vector(n) z:vector(n)" --wrt z)cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "sum(y)*softmax(z) - y\n");
  r = nabla(R"cli(diff --let "x:vector(n)" --wrt x -- "-x'*x")cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "-2*x\n");
  r = nabla(R"cli(diff -x --let "x:vector(n)" --wrt x)cli");
  EXPECT_EQ(r.out, "-eye(n)\n");
}
TEST_F(SymCli, UnknownOptionsAndStrayArguments) {
  CliRun r = nabla(R"cli(diff "x'*x" --let "x:vector(n)" --wrt x --wrtt y)cli");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "nabla: error: diff: unknown option '--wrtt' (see nabla diff --help)\n");
  r = nabla(R"cli(diff "x'*x" "y" --let "x:vector(n)" --wrt x)cli");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "nabla: error: diff: one expression expected, got 'x'*x' and 'y'\n");
  r = nabla(R"cli(diff --let "x:vector(n)" --wrt x)cli");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("the expression is required"), std::string::npos) << r.out;
}
TEST_F(SymCli, AtWritesOneJsonDocumentAndNeedsEveryValue) {
  std::string path = ::testing::TempDir() + "sym_cli_partial.json";
  std::ofstream(path) << R"cli({"x": [1, 2]})cli";
  // A is read by the expression and missing: an error naming it, and no partial output
  CliRun r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --at )cli" + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "nabla: error: --at " + path + ": no value for 'A' (declared A: n×n), which the expression reads\n");
  // a declared variable the expression does not read needs no value
  r = nabla(R"cli(diff "x'*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --at )cli" + path);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "{\"derivative\": [2.0,4.0]}\n");
  // with --check, stdout is still only the JSON document
  r = nabla(R"cli(diff "x'*x" --let "x:vector(n)" --wrt x --check --at )cli" + path, true);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "{\"derivative\": [2.0,4.0]}\n");
  r = nabla(R"cli(diff "x'*x" --let "x:vector(n)" --wrt x --format json --at )cli" + path, true);
  EXPECT_NE(r.out.find("\"value\":[2.0,4.0]}}"), std::string::npos) << r.out;
}
TEST_F(SymCli, JsonCarriesTheStepsWhenAsked) {
  CliRun r = nabla(R"cli(diff "sum(tanh(W*x))" --let "W:matrix(m,n) x:vector(n)" --wrt x --format json --steps)cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"steps\":[{\"rule\":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"intermediates\":[{\"name\":"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("element-wise chain rule"), std::string::npos) << r.out;
  r = nabla(R"cli(diff "sum(tanh(W*x))" --let "W:matrix(m,n) x:vector(n)" --wrt x --format json)cli");
  EXPECT_EQ(r.out.find("\"steps\""), std::string::npos) << r.out;
}
TEST_F(SymCli, FormatsAndSteps) {
  CliRun r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --format latex)cli");
  EXPECT_EQ(r.out, "\\left(A + A^{\\top}\\right) x\n");
  r = nabla(R"cli(diff "x'*A*x" --let "x:vector(n) A:matrix(n,n)" --wrt x --format json)cli");
  EXPECT_NE(r.out.find("\"text\":\"(A + A')*x\""), std::string::npos) << r.out;
  r = nabla(R"cli(diff "(y - max(0, w'*x + b))^2" --let "w:vector(n) x:vector(n) b:scalar y:scalar" --wrt w --steps)cli");
  EXPECT_NE(r.out.find("intermediate variables:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[element-wise chain rule]"), std::string::npos) << r.out;
}
TEST_F(SymCli, AHugeDerivationIsRefusedNotRunForMinutes) {
#if defined(__SANITIZE_ADDRESS__)
  // The default budget is sized for Release speed: under the sanitizers it
  // takes two minutes to spend. The refusal itself is tested there too, with
  // a small budget (SymBudget in sym_diff_test.cpp).
  GTEST_SKIP() << "the default work budget is spent in the Release tree only (minutes under the sanitizers)";
#endif
  // 4 KB of A*A*…*A*x: the derivative wrt A has 2000 terms of 2000 factors
  std::string chain;
  for (int i = 0; i < 2000; ++i) chain += "A*";
  CliRun r = nabla("diff \"sum(" + chain + "x)\" --let \"A:matrix(n,n) x:vector(n)\" --wrt A");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "nabla: error: differentiate: the derivation outgrew its budget of 60000000 units of work "
                   "(DiffOptions::max_work); its answer would be too large to use\n");
}
TEST_F(SymCli, SeveralVariablesAtOrderTwoGiveEveryBlock) {
  CliRun r = nabla(R"cli(diff "x*y" --let "x:scalar y:scalar" --wrt x --wrt y --order 2 --check)cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find("d²")), "x,x: 0\nx,y: 1\ny,x: 1\ny,y: 0\n");
  EXPECT_NE(r.out.find("d²/dxdy check: ok"), std::string::npos) << r.out;
  r = nabla(R"cli(diff "x'*A*y" --let "x:vector(n) y:vector(m) A:matrix(n,m)" --wrt x --wrt y --order 2 --format json)cli");
  EXPECT_NE(r.out.find("\"x,y\":{\"text\":\"A\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"y,x\":{\"text\":\"A'\""), std::string::npos) << r.out;
}
TEST_F(SymCli, AVariableExponent) {
  // a^b = exp(b*log(a)) for a > 0: d/da = b*a^(b-1), d/db = a^b*log(a)
  std::string path = ::testing::TempDir() + "sym_cli_ab.json";
  std::ofstream(path) << R"cli({"a": 1.7, "b": 0.6})cli";
  CliRun r = nabla(R"cli(diff "a^b" --let "a:scalar b:scalar" --wrt a --wrt b)cli");
  EXPECT_EQ(r.out, "a: exp(b*log(a))*b/a\nb: exp(b*log(a))*log(a)\n");
  r = nabla(R"cli(diff "a^b" --let "a:scalar b:scalar" --wrt a --wrt b --check --at )cli" + path, true);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "{\"derivative\": {\"a\": 0.48525685796159324, \"b\": 0.7295578272589054}}\n");
  r = nabla(R"cli(diff "sum(x.^c)" --let "x:vector(n) c:vector(m)" --wrt x)cli");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("needs a scalar exponent or one shaped like the base"), std::string::npos) << r.out;
}
TEST_F(SymCli, NamedSubexpressionsAndWrtOrder) {
  CliRun r = nabla(R"cli(diff "log(1 + exp(-y*w'*x))" --let "w:vector(n) x:vector(n) y:scalar" --wrt w --order 2)cli");
  EXPECT_EQ(r.out, "s1*(1 - s1)*y^2*x*x' where s1 = sigmoid(-y*w'*x)\n");
  r = nabla(R"cli(diff "log(1 + exp(-y*w'*x))" --let "w:vector(n) x:vector(n) y:scalar" --wrt w --order 2 --format json)cli");
  EXPECT_NE(r.out.find("\"where\":[{\"name\":\"s1\",\"text\":\"sigmoid(-y*w'*x)\""), std::string::npos) << r.out;
  // an expression after --wrt x is the expression, and a variable named twice counts once
  r = nabla(R"cli(diff --let "x:vector(n) y:vector(n)" --wrt x --wrt y --wrt x "x'*y")cli");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "x: y\ny: x\n");
}
