// Code generation (sym::emit_code, `nabla diff --emit`): the generated NumPy
// and PyTorch functions run under /usr/bin/python3 and must give the values
// that evaluating f and its derivatives gives, at seeded random values; the
// generated C++ is compiled into this binary (tests/CMakeLists.txt generates
// it with the built command) and compared the same way.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"
#include "nabla/sym.hpp"

#if __has_include("codegen_generated.hpp")
#include "codegen_generated.hpp"
#define NABLA_HAVE_GENERATED_CPP 1
#endif

namespace {

using namespace nabla;
using namespace nabla::sym;

struct Case {
  std::string expr, let;
  std::vector<std::string> wrt;
  int order = 1;
};

// The ops of the grammar, each in at least one case; shared subexpressions
// (tanh(W*x + b) in f and both gradients) among them.
const std::vector<Case> kCases = {
    {"sum(tanh(W*x + b))", "W:matrix(m,n) x:vector(n) b:vector(m)", {"x", "W", "b"}},
    {"-y'*log(softmax(W*x))", "y:vector(m) W:matrix(m,n) x:vector(n)", {"x", "W"}},
    {"logdet(X) + tr(inv(X)*A) + det(X)", "X:matrix(n,n) A:matrix(n,n)", {"X"}},
    {"norm2(A*x - c)^2 + sum(diag(A)) + s^3/2", "A:matrix(n,n) x:vector(n) c:vector(n) s:scalar", {"x", "A", "s"}},
    {"sigmoid(w'*x + c)", "w:vector(n) x:vector(n) c:scalar", {"w"}, 2},
    {"sum(softplus(x) .* erf(x) + exp(x) ./ (1 + x.^2) + sqrt(abs(x) + 1) + atan(x) + asinh(x))", "x:vector(n)",
     {"x"}},
    {"sum(sin(x) .* cos(x) + sinh(x) .* cosh(x)) + r*x + x'*diag(x)*x", "x:vector(n) r:rowvector(n)", {"x", "r"}},
    {"[x; 2*x]'*[x; x]", "x:vector(n)", {"x"}},
    // tensor-valued: Kronecker products and the commutation matrix; by a scalar, shaped like f
    {"A*X*B + X' + tanh(X)", "A:matrix(n,n) X:matrix(n,n) B:matrix(n,n)", {"X"}},
    {"inv(A + t*B)", "A:matrix(n,n) B:matrix(n,n) t:scalar", {"t"}},
};

std::vector<Derivative> derive(const Case& c, Expr& f, Declarations& d) {
  d = parse_declarations(c.let);
  f = parse(c.expr, d);
  DiffOptions o;
  o.order = c.order;
  std::vector<Derivative> ds;
  for (auto& w : c.wrt) ds.push_back(differentiate(f, w, d, o));
  return ds;
}

// {"x": [...], ...} of the bindings, for the Python side.
std::string values_json(const Declarations& d, const Bindings& b) {
  std::string o = "{";
  for (size_t i = 0; i < d.order.size(); ++i)
    o += (i ? ", \"" : "\"") + d.order[i] + "\": " + tensor_to_json(b.values.at(d.order[i]), false);
  return o + "}";
}

void expect_same(const Tensor& want, const std::vector<double>& got, const std::string& what) {
  std::vector<double> w = want.contiguous().to_vector<double>();
  ASSERT_EQ(w.size(), got.size()) << what;
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_NEAR(got[i], w[i], 1e-9 * std::max(1.0, std::abs(w[i]))) << what << " [" << i << "]";
}

std::string run(const std::string& cmd, int& code) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// All cases in one Python process (importing torch takes seconds).
void check_python(Target t) {
  const std::string dir = ::testing::TempDir();
  const std::string prefix = t == Target::numpy ? "gen_np_" : "gen_torch_";
  const std::string to_list = t == Target::numpy ? "o.tolist()" : "o.numpy().tolist()";
  std::ofstream driver(dir + prefix + "run.py");
  driver << "import importlib, json, sys\nsys.path.insert(0, " << nlohmann::json(dir).dump() << ")\nres = []\n";
  for (size_t k = 0; k < kCases.size(); ++k) {
    Expr f;
    Declarations d;
    std::vector<Derivative> ds = derive(kCases[k], f, d);
    std::vector<std::pair<std::string, Expr>> outs;
    for (size_t i = 0; i < ds.size(); ++i) outs.push_back({kCases[k].wrt[i], ds[i].result});
    const std::string mod = prefix + std::to_string(k);
    std::ofstream(dir + mod + ".py") << emit_code(t, "derivatives", f, outs, d);
    std::ofstream(dir + mod + ".json") << values_json(d, random_values(d, 7 + k));
    driver << "v = json.load(open(" << nlohmann::json(dir + mod + ".json").dump() << "))\n"
           << "res.append([" << to_list << " for o in importlib.import_module('" << mod
           << "').derivatives(**v)])\n";
  }
  driver << "print(json.dumps(res))\n";
  driver.close();
  int code = -1;
  std::string out = run("/usr/bin/python3 " + dir + prefix + "run.py", code);
  ASSERT_EQ(code, 0) << out;
  nlohmann::json all = nlohmann::json::parse(out);
  ASSERT_EQ(all.size(), kCases.size()) << out;
  auto flat = [](const nlohmann::json& a) {
    std::vector<double> v;
    for (auto& row : a)
      for (auto& x : row) v.push_back(x.get<double>());
    return v;
  };
  for (size_t k = 0; k < kCases.size(); ++k) {
    const Case& c = kCases[k];
    SCOPED_TRACE(c.expr);
    Expr f;
    Declarations d;
    std::vector<Derivative> ds = derive(c, f, d);
    Bindings b = random_values(d, 7 + k);
    const nlohmann::json& j = all[k];
    ASSERT_EQ(j.size(), ds.size() + 1);
    expect_same(evaluate(f, b), flat(j[0]), "f");
    for (size_t i = 0; i < ds.size(); ++i) expect_same(evaluate(ds[i].result, b), flat(j[i + 1]), "d/d" + c.wrt[i]);
  }
}

TEST(SymCodegen, NumpyComputesWhatEvaluateDoes) { check_python(Target::numpy); }
TEST(SymCodegen, TorchComputesWhatEvaluateDoes) { check_python(Target::torch); }

TEST(SymCodegen, SharedSubexpressionsAreComputedOnce) {
  Expr f;
  Declarations d;
  std::vector<Derivative> ds = derive(kCases[0], f, d);
  std::vector<std::pair<std::string, Expr>> outs;
  for (size_t i = 0; i < ds.size(); ++i) outs.push_back({kCases[0].wrt[i], ds[i].result});
  for (Target t : {Target::numpy, Target::torch, Target::cpp}) {
    std::string code = emit_code(t, "derivatives", f, outs, d);
    // past the docstring (Python) or the signature (C++), tanh is computed once
    size_t body = t == Target::cpp ? code.find(") {\n") : code.rfind("\"\"\"");
    ASSERT_NE(body, std::string::npos) << code;
    size_t n = 0;
    for (size_t p = code.find("tanh(", body); p != std::string::npos; p = code.find("tanh(", p + 1)) ++n;
    EXPECT_EQ(n, 1u) << code;
  }
}

TEST(SymCodegen, RefusesNamesThatClash) {
  for (const char* name : {"np", "t1", "d_x", "lambda", "double"}) {
    Declarations d = parse_declarations(std::string(name) + ":vector(n)");
    Expr f = parse(std::string("sum(") + name + ")", d);
    try {
      emit_code(Target::numpy, "g", f, {}, d);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("emit: the variable '") + name +
                                           "' would clash with a keyword or a name the generated code defines; "
                                           "rename it");
    }
  }
}

#ifdef NABLA_HAVE_GENERATED_CPP
// codegen_generated.hpp holds `nabla diff "sum(tanh(W*x + b))" --wrt x --wrt W
// --wrt b --emit cpp` and the same for kCases[2] and kCases[8], written by the built command.
TEST(SymCodegen, CppComputesWhatEvaluateDoes) {
  for (size_t k : {size_t(0), size_t(2), size_t(8)}) {
    const Case& c = kCases[k];
    SCOPED_TRACE(c.expr);
    Expr f;
    Declarations d;
    std::vector<Derivative> ds = derive(c, f, d);
    Bindings b = random_values(d, 11);
    std::vector<Tensor> got;
    if (k == 0) got = codegen_case0(b.values.at("W"), b.values.at("x"), b.values.at("b"));
    else if (k == 2) got = codegen_case2(b.values.at("X"), b.values.at("A"));
    else got = codegen_case8(b.values.at("A"), b.values.at("X"), b.values.at("B"));
    ASSERT_EQ(got.size(), ds.size() + 1);
    expect_same(evaluate(f, b), got[0].to_vector<double>(), "f");
    for (size_t i = 0; i < ds.size(); ++i)
      expect_same(evaluate(ds[i].result, b), got[i + 1].contiguous().to_vector<double>(), "d/d" + c.wrt[i]);
  }
}
#endif

}  // namespace
