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

CliRun nabla(const std::string& args) {
  const char* cli = nabla_cli_path();
  CliRun r{-1, ""};
  std::string cmd = std::string(cli) + " " + args + " 2>&1";
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
  EXPECT_EQ(r.out, "nabla: error: col 5: '*' needs inner dimensions to agree: x'*A is 1×n, y is m×1\n");
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
