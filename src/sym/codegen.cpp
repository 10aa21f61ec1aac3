// Code generation: one function, in C++ over nabla's public API, in NumPy or
// in PyTorch, that computes f and its derivatives at given values. The
// expressions are hash-consed, so a subexpression shared by f and any
// derivative is one node: every node reached twice or more becomes a local,
// computed once, in the order the outputs first need it.
#include <cctype>
#include <functional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

namespace {

bool is_leaf(const Expr& e) {
  return e->op == Op::constant || e->op == Op::variable || e->op == Op::dim;
}

// A number as each language reads it: C++ gets a double literal.
std::string number(double v, Target t) {
  std::string s = format_number(v);
  if (t == Target::cpp && s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos &&
      s.find("nan") == std::string::npos)
    s += ".0";
  return s;
}

struct Emitter {
  Target t;
  std::unordered_map<const Node*, int> uses;
  std::unordered_map<const Node*, std::string> local;
  std::set<std::string> helpers;  // Python helper functions the code calls
  std::ostringstream body;
  int next = 0;
  std::string indent;

  bool py() const { return t != Target::cpp; }
  const char* lib() const { return t == Target::numpy ? "np" : "torch"; }

  void count(const Expr& e) {
    if (uses[e.get()]++ > 0) return;  // children counted once, on the first visit
    for (auto& a : e->args) count(a);
  }

  std::string dims(const Shape& s) const {
    if (t == Target::cpp) return "{" + s.rows.str() + ", " + s.cols.str() + "}";
    return s.rows.str() + ", " + s.cols.str();
  }
  // A 1×1 value from a 0-d one.
  std::string as11(const std::string& v) const {
    if (t == Target::cpp) return "nabla::reshape(" + v + ", {1, 1})";
    return lib() + std::string(".reshape(") + v + ", (1, 1))";
  }
  std::string f64() const { return t == Target::numpy ? "" : t == Target::torch ? ", dtype=torch.float64" : ", nabla::kFloat64"; }

  std::string call(const std::string& np, const std::string& torch, const std::string& cpp) const {
    return t == Target::numpy ? np : t == Target::torch ? torch : cpp;
  }

  std::string elementwise(Fn f, const std::string& a) {
    if (t == Target::cpp) return "nabla::" + std::string(fn_name(f)) + "(" + a + ")";
    const bool np = t == Target::numpy;
    const std::string L = lib();
    switch (f) {
      case Fn::log: case Fn::exp: case Fn::sqrt: case Fn::abs: case Fn::sign: case Fn::sin: case Fn::cos:
      case Fn::sinh: case Fn::cosh: case Fn::tanh:
        return L + "." + fn_name(f) + "(" + a + ")";
      case Fn::sigmoid: return np ? (helpers.insert("sigmoid"), "_sigmoid(" + a + ")") : "torch.sigmoid(" + a + ")";
      case Fn::relu: return np ? "np.maximum(" + a + ", 0.0)" : "torch.relu(" + a + ")";
      case Fn::step: return "(" + a + " > 0)" + (np ? ".astype(np.float64)" : ".double()");
      case Fn::softplus: return np ? "np.logaddexp(0.0, " + a + ")" : "torch.nn.functional.softplus(" + a + ")";
      case Fn::square: return L + ".square(" + a + ")";
      case Fn::atan: return np ? "np.arctan(" + a + ")" : "torch.atan(" + a + ")";
      case Fn::asinh: return np ? "np.arcsinh(" + a + ")" : "torch.asinh(" + a + ")";
      case Fn::erf: return np ? (helpers.insert("erf"), "_erf(" + a + ")") : "torch.special.erf(" + a + ")";
      default: break;
    }
    throw Error(std::string("emit: no ") + (np ? "NumPy" : "PyTorch") + " form for '" + fn_name(f) + "'",
                ErrorKind::internal);
  }

  std::string func(const Expr& e, const std::string& a) {
    const Expr& x = e->args[0];
    switch (e->fn) {
      case Fn::sum: return t == Target::numpy ? "np.sum(" + a + ", keepdims=True)" : as11(call("", "torch.sum(" + a + ")", "nabla::sum(" + a + ")"));
      case Fn::tr: return as11(call("np.trace(" + a + ")", "torch.trace(" + a + ")", "nabla::trace(" + a + ")"));
      case Fn::det: return as11(call("np.linalg.det(" + a + ")", "torch.linalg.det(" + a + ")", "nabla::det(" + a + ")"));
      case Fn::logdet:
        return as11(call("np.log(np.linalg.det(" + a + "))", "torch.logdet(" + a + ")", "nabla::logdet(" + a + ")"));
      case Fn::inv: return call("np.linalg.inv(" + a + ")", "torch.linalg.inv(" + a + ")", "nabla::inv(" + a + ")");
      case Fn::softmax:
        if (t == Target::numpy) helpers.insert("softmax");
        return call("_softmax(" + a + ")", "torch.softmax(" + a + ", 0)", "nabla::softmax(" + a + ", 0)");
      case Fn::norm2:
        return as11(call("np.linalg.norm(" + a + ")", "torch.linalg.norm(" + a + ")", "nabla::norm(" + a + ")"));
      case Fn::vec: return py() ? operand(x) + ".T.reshape(-1, 1)" : "nabla::reshape(nabla::transpose(" + a + ", 0, 1).contiguous(), {-1, 1})";
      case Fn::diag:
        if (x->shape.is_vector() || x->shape.cols.is_one())  // a vector's diagonal matrix
          return call("np.diagflat(" + a + ")", "torch.diag(" + a + ".reshape(-1))",
                      "nabla::diag(nabla::reshape(" + a + ", {-1}))");
        // a square matrix's diagonal, as a column
        return call("np.diag(" + a + ").reshape(-1, 1)", "torch.diag(" + a + ").reshape(-1, 1)",
                    "nabla::reshape(nabla::diag(" + a + "), {-1, 1})");
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
        return elementwise(e->fn, a);
    }
    throw Error("emit: unknown function", ErrorKind::internal);
  }

  std::string matmul(const std::string& a, const std::string& b) const {
    return py() ? a + " @ " + b : "nabla::matmul(" + a + ", " + b + ")";
  }

  // The code of e (a local's name when e has one), emitting the locals it needs first.
  std::string gen(const Expr& e) {
    auto it = local.find(e.get());
    if (it != local.end()) return it->second;
    std::string code = build(e);
    if (uses[e.get()] > 1 && !is_leaf(e)) {
      std::string name = "t" + std::to_string(++next);
      body << indent << (py() ? "" : "const nabla::Tensor ") << name << " = " << code << (py() ? "\n" : ";\n");
      local[e.get()] = name;
      return name;
    }
    return code;
  }
  // Operands of operators are parenthesized unless they are atoms: a name, a
  // number, a call f(…) whose parenthesis closes at the end, or a name's .T.
  static bool atom(const std::string& s) {
    size_t i = 0;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '.' || s[i] == ':'))
      ++i;
    if (i == s.size()) return i > 0;
    if (i == 0 || s[i] != '(' || s.back() != ')') return false;
    int depth = 0;
    for (size_t j = i; j < s.size(); ++j) {
      depth += s[j] == '(' ? 1 : s[j] == ')' ? -1 : 0;
      if (depth == 0 && j + 1 < s.size()) return false;  // f(a) + g(b)
    }
    return true;
  }
  std::string operand(const Expr& e) {
    std::string s = gen(e);
    return atom(s) ? s : "(" + s + ")";
  }

  std::string build(const Expr& e) {
    switch (e->op) {
      case Op::constant: return number(e->value, t);
      case Op::variable: return e->name;
      case Op::dim: return t == Target::cpp ? "double(" + e->name + ")" : "float(" + e->name + ")";
      case Op::zero: return call("np.zeros((" + dims(e->shape) + "))", "torch.zeros(" + dims(e->shape) + f64() + ")",
                                 "nabla::zeros(" + dims(e->shape) + f64() + ")");
      case Op::identity: return call("np.eye(" + e->shape.rows.str() + ")", "torch.eye(" + e->shape.rows.str() + f64() + ")",
                                     "nabla::eye(" + e->shape.rows.str() + f64() + ")");
      case Op::ones: return call("np.ones((" + dims(e->shape) + "))", "torch.ones(" + dims(e->shape) + f64() + ")",
                                 "nabla::ones(" + dims(e->shape) + f64() + ")");
      case Op::add: {
        std::string s;
        for (size_t i = 0; i < e->args.size(); ++i) {
          double c = e->coefs[i];
          std::string term = operand(e->args[i]);
          if (std::abs(c) != 1) term = number(std::abs(c), t) + " * " + term;
          s += i == 0 ? (c < 0 ? "-" + term : term) : (c < 0 ? " - " : " + ") + term;
        }
        return s;
      }
      case Op::mul: {
        std::vector<std::string> parts;
        if (e->value != 1) parts.push_back(number(e->value, t));
        for (int i = 0; i < e->nscalars; ++i) parts.push_back(operand(e->args[size_t(i)]));
        std::string chain;
        for (size_t i = size_t(e->nscalars); i < e->args.size(); ++i) {
          std::string f = operand(e->args[i]);
          chain = chain.empty() ? f : (py() ? chain + " @ " + f : matmul(chain, f));
        }
        if (!chain.empty()) parts.push_back(chain);
        std::string s;
        for (auto& p : parts) s += (s.empty() ? "" : " * ") + p;
        return s;
      }
      case Op::hadamard: {
        std::string s;
        for (auto& a : e->args) s += (s.empty() ? "" : " * ") + operand(a);
        return s;
      }
      case Op::power: {
        std::string a = operand(e->args[0]);
        if (e->value == -1) return "1.0 / " + a;
        if (e->value == 2) return a + " * " + a;
        if (e->value == 0.5) return call("np.sqrt(" + a + ")", "torch.sqrt(" + a + ")", "nabla::sqrt(" + a + ")");
        return py() ? a + " ** " + number(e->value, t) : "nabla::pow(" + a + ", " + number(e->value, t) + ")";
      }
      case Op::transpose: {
        std::string a = operand(e->args[0]);
        return py() ? a + ".T" : "nabla::transpose(" + a + ", 0, 1)";
      }
      case Op::vcat: {
        std::string s;
        for (auto& a : e->args) s += (s.empty() ? "" : ", ") + gen(a);
        return call("np.vstack([" + s + "])", "torch.cat([" + s + "], 0)", "nabla::concat({" + s + "}, 0)");
      }
      case Op::kron:
        helpers.insert("kron");
        return call("np.kron(" + gen(e->args[0]) + ", " + gen(e->args[1]) + ")",
                    // torch.kron views its operands: a transposed one must be copied first
                    "torch.kron(" + operand(e->args[0]) + ".contiguous(), " + operand(e->args[1]) + ".contiguous())",
                    "kron(" + gen(e->args[0]) + ", " + gen(e->args[1]) + ")");
      case Op::commutation: {
        helpers.insert("commutation");
        const Shape& b = e->args[0]->shape;
        return call("_", "_", "") + "commutation(" + b.rows.str() + ", " + b.cols.str() + ")";
      }
      case Op::func: return func(e, gen(e->args[0]));
    }
    throw Error("emit: unknown expression", ErrorKind::internal);
  }
};

std::string output_name(const std::string& wrt) { return "d_" + wrt; }

// A declared name the generated code could not use as its own: a keyword of
// the language, or a name the code itself defines (modules, locals, helpers).
bool reserved(const std::string& v) {
  static const std::set<std::string> words = {
      "np", "torch", "math", "nabla", "f", "False", "None", "True", "and", "as", "assert", "async", "await",
      "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
      "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
      "with", "yield", "auto", "bool", "case", "char", "const", "default", "delete", "do", "double", "enum",
      "float", "goto", "int", "long", "new", "operator", "private", "public", "short", "signed", "sizeof",
      "static", "struct", "switch", "template", "this", "throw", "typedef", "union", "unsigned", "using",
      "virtual", "void", "volatile", "int64_t", "std"};
  if (words.count(v) || v.rfind("d_", 0) == 0 || v.rfind("_", 0) == 0) return true;
  return v.size() > 1 && v[0] == 't' && v.find_first_not_of("0123456789", 1) == std::string::npos;
}

}  // namespace

std::string emit_code(Target target, const std::string& name, const Expr& f,
                      const std::vector<std::pair<std::string, Expr>>& derivatives, const Declarations& decls) {
  Emitter em{target, {}, {}, {}, {}, 0, "    "};
  if (target == Target::cpp) em.indent = "  ";
  std::vector<std::pair<std::string, Expr>> outs{{"f", f}};
  for (auto& [w, d] : derivatives) outs.push_back({output_name(w), d});
  for (auto& o : outs) em.count(o.second);
  for (const std::string& v : decls.order)
    NABLA_CHECK(!reserved(v), "emit: the variable '", v, "' would clash with a keyword or a name the generated ",
                "code defines; rename it");

  // Arguments: every declared variable, in declaration order; dimensions are
  // read off the first shape that has each one alone.
  const bool py = target != Target::cpp;
  std::ostringstream head, prologue;
  std::set<std::string> bound;
  for (size_t i = 0; i < decls.order.size(); ++i) {
    const std::string& v = decls.order[i];
    head << (i ? ", " : "") << (py ? v : "const nabla::Tensor& " + v + "_in");
  }
  const char* L = target == Target::numpy ? "np" : "torch";
  for (const std::string& v : decls.order) {
    const Shape& s = decls.vars.at(v);
    if (py)
      prologue << em.indent << v << " = " << L << ".as" << (target == Target::numpy ? "array" : "_tensor") << "(" << v
               << ", dtype=" << L << ".float64)\n";
    auto bind = [&](const Dim& d, const std::string& size) {
      std::string sym = d.as_symbol();
      if (sym.empty() || !bound.insert(sym).second) return;
      prologue << em.indent << (py ? "" : "const int64_t ") << sym << " = " << size << (py ? "\n" : ";\n");
    };
    const std::string src = py ? v : v + "_in";
    const std::string size = py ? (target == Target::numpy ? src + ".size" : src + ".numel()") : src + ".numel()";
    if (s.is_col()) bind(s.rows, size);
    else if (s.is_row()) bind(s.cols, size);
    else if (!s.is_scalar()) {
      bind(s.rows, py ? src + ".shape[0]" : src + ".size(0)");
      bind(s.cols, py ? src + ".shape[1]" : src + ".size(1)");
    }
  }
  for (const std::string& d : decls.dims)
    NABLA_CHECK(bound.count(d), "emit: the dimension '", d, "' is not the size of any variable alone, so the ",
                "generated code could not read it off its arguments");
  for (const std::string& v : decls.order) {
    const Shape& s = decls.vars.at(v);
    if (py) prologue << em.indent << v << " = " << v << ".reshape(" << em.dims(s) << ")\n";
    else
      prologue << em.indent << "const nabla::Tensor " << v << " = nabla::reshape(" << v << "_in.to(nabla::kFloat64), "
               << em.dims(s) << ");\n";
  }

  std::vector<std::string> results;
  for (auto& [oname, e] : outs) {
    std::string code = em.gen(e);
    // every output 2-d, a scalar 1×1, as evaluate() gives it
    if (py)
      code = std::string(L) + ".reshape(" + L + (target == Target::numpy ? ".asarray(" : ".as_tensor(") + code +
             ", dtype=" + L + ".float64), (" + em.dims(e->shape) + "))";
    else if (e->op == Op::constant)
      code = "nabla::full(" + em.dims(e->shape) + ", " + number(e->value, target) + ", nabla::kFloat64)";
    else
      code = "nabla::reshape(" + code + ", " + em.dims(e->shape) + ")";
    results.push_back(code);
  }

  std::ostringstream out;
  std::string doc = "f = " + to_text(f);
  for (auto& [w, d] : derivatives) doc += "; " + output_name(w) + " = " + to_text(d);
  if (py) {
    out << "# Generated by nabla diff --emit " << (target == Target::numpy ? "numpy" : "torch") << ".\n";
    out << (target == Target::numpy ? "import numpy as np\n" : "import torch\n");
    if (em.helpers.count("erf")) out << "import math\n";
    out << "\n";
    if (em.helpers.count("sigmoid")) out << "def _sigmoid(a):\n    return 1.0 / (1.0 + np.exp(-a))\n\n";
    if (em.helpers.count("softmax"))
      out << "def _softmax(a):\n    e = np.exp(a - np.max(a))\n    return e / np.sum(e)\n\n";
    if (em.helpers.count("erf")) out << "_erf = np.vectorize(math.erf, otypes=[np.float64])\n\n";
    if (em.helpers.count("commutation")) {  // K: vec(Mᵀ) = K vec(M) for M m×n
      out << "def _commutation(m, n):\n    k = " << L << ".zeros((m * n, m * n)"
          << (target == Target::torch ? ", dtype=torch.float64" : "") << ")\n"
          << "    for i in range(m):\n        for j in range(n):\n            k[j + n * i, i + m * j] = 1.0\n"
          << "    return k\n\n";
    }
    out << "def " << name << "(" << head.str() << "):\n";
    out << "    \"\"\"Returns (f, " ;
    for (size_t i = 0; i < derivatives.size(); ++i) out << (i ? ", " : "") << output_name(derivatives[i].first);
    out << "), each 2-d (a scalar is 1x1).\n\n    " << doc << "\n    \"\"\"\n";
    out << prologue.str() << em.body.str();
    out << "    return (";
    for (size_t i = 0; i < results.size(); ++i) out << (i ? ",\n            " : "") << results[i];
    out << (results.size() == 1 ? ",)\n" : ")\n");
  } else {
    out << "// Generated by nabla diff --emit cpp.\n// " << doc << "\n";
    out << "#include <vector>\n\n#include \"nabla/nabla.hpp\"\n\n";
    out << "// Returns {f, ";
    for (size_t i = 0; i < derivatives.size(); ++i) out << (i ? ", " : "") << output_name(derivatives[i].first);
    out << "}, each 2-d float64 (a scalar is 1x1).\n";
    out << "inline std::vector<nabla::Tensor> " << name << "(" << head.str() << ") {\n";
    out << prologue.str();
    if (em.helpers.count("kron"))  // blocks a_ij b
      out << "  const auto kron = [](const nabla::Tensor& a, const nabla::Tensor& b) {\n"
          << "    return nabla::reshape(nabla::reshape(a, {a.size(0), 1, a.size(1), 1}) *\n"
          << "                              nabla::reshape(b, {1, b.size(0), 1, b.size(1)}),\n"
          << "                          {a.size(0) * b.size(0), a.size(1) * b.size(1)});\n  };\n";
    if (em.helpers.count("commutation"))  // K: vec(Mᵀ) = K vec(M) for M m×n
      out << "  const auto commutation = [](int64_t m, int64_t n) {\n"
          << "    std::vector<double> k(size_t(m * n * m * n), 0.0);\n"
          << "    for (int64_t i = 0; i < m; ++i)\n"
          << "      for (int64_t j = 0; j < n; ++j) k[size_t((j + n * i) * m * n + i + m * j)] = 1.0;\n"
          << "    return nabla::tensor(k, {m * n, m * n}, nabla::kFloat64);\n  };\n";
    out << em.body.str();
    out << "  return {";
    for (size_t i = 0; i < results.size(); ++i) out << (i ? ",\n          " : "") << results[i];
    out << "};\n}\n";
  }
  return out.str();
}

}  // namespace nabla::sym
