// Printers: text (the input syntax), LaTeX, JSON. Text and LaTeX share one
// precedence table and one walk; they differ only in their tokens.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

std::string format_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

// v is the double nearest p/q, and the parser reads "p/q" back as v (it
// computes p·(1/q)), for the smallest 1 < q ≤ 1000: 0.3333333333333333 prints
// as 1/3, and 1 − 1/3 (not the double nearest 2/3) stays a decimal.
bool as_fraction(double v, long long& p, long long& q) {
  if (!std::isfinite(v) || v == std::floor(v) || std::fabs(v) > 1e9) return false;
  for (q = 2; q <= 1000; ++q) {
    p = std::llround(v * double(q));
    if (double(p) / double(q) == v && double(p) * (1.0 / double(q)) == v) return true;
  }
  return false;
}

// The one precedence table: a child is parenthesized when its precedence is
// lower than what its position requires.
enum Prec : int { kAdd = 1, kMul = 2, kNeg = 3, kPow = 4, kPostfix = 5, kAtom = 6 };

struct Printed {
  std::string s;
  int prec;
};

class Printer {
 public:
  Printer(bool latex, const std::map<const Node*, std::string>* names) : latex_(latex), names_(names) {}

  Printed print(const Expr& e) {
    if (names_) {
      auto it = names_->find(e.get());
      if (it != names_->end()) return {it->second, kAtom};
    }
    switch (e->op) {
      case Op::constant: {
        long long p, q;
        if (as_fraction(e->value, p, q)) {
          const long long ap = p < 0 ? -p : p;
          if (latex_) return {std::string(p < 0 ? "-" : "") + "\\frac{" + std::to_string(ap) + "}{" + std::to_string(q) + "}", p < 0 ? kNeg : kAtom};
          return {std::to_string(p) + "/" + std::to_string(q), p < 0 ? kNeg : kMul};
        }
        return {format_number(e->value), e->value < 0 ? kNeg : kAtom};
      }
      case Op::variable:
      case Op::dim:
        return {e->name, kAtom};
      case Op::zero:
        if (latex_) return {"0", kAtom};
        return {e->shape.cols.is_one() ? "zeros(" + e->shape.rows.str() + ")"
                                       : "zeros(" + e->shape.rows.str() + "," + e->shape.cols.str() + ")",
                kAtom};
      case Op::identity:
        return {latex_ ? "I" : "eye(" + e->shape.rows.str() + ")", kAtom};
      case Op::ones:
        if (latex_) return {e->shape.cols.is_one() ? "\\mathbf{1}" : "\\mathbf{1}\\mathbf{1}^{\\top}", kAtom};
        return {e->shape.cols.is_one() ? "ones(" + e->shape.rows.str() + ")"
                                       : "ones(" + e->shape.rows.str() + "," + e->shape.cols.str() + ")",
                kAtom};
      case Op::add: return print_add(e);
      case Op::mul: return print_mul(e);
      case Op::hadamard: return print_hadamard(e);
      case Op::power: return print_power(e->args[0], e->value, !e->shape.is_scalar());
      case Op::transpose: {
        const Expr& a = e->args[0];
        if (latex_ && a->op == Op::func && a->fn == Fn::inv) return {wrap(a->args[0], kPostfix) + "^{-\\top}", kPostfix};
        return {wrap(a, kPostfix) + (latex_ ? "^{\\top}" : "'"), kPostfix};
      }
      case Op::func: return print_func(e);
      case Op::vcat: {
        std::string s = latex_ ? "\\begin{bmatrix} " : "[";
        for (size_t i = 0; i < e->args.size(); ++i) {
          if (i) s += latex_ ? " \\\\ " : "; ";
          s += print(e->args[i]).s;
        }
        s += latex_ ? " \\end{bmatrix}" : "]";
        return {s, kAtom};
      }
      case Op::kron:
        if (latex_) return {wrap_factor(e->args[0]) + " \\otimes " + wrap_factor(e->args[1]), kMul};
        return {"kron(" + print(e->args[0]).s + ", " + print(e->args[1]).s + ")", kAtom};
      case Op::commutation: {
        const Shape& b = e->args[0]->shape;
        if (latex_) return {"K_{" + b.rows.str() + "," + b.cols.str() + "}", kAtom};
        return {"commutation(" + b.rows.str() + "," + b.cols.str() + ")", kAtom};
      }
    }
    return {"?", kAtom};
  }

 private:
  std::string paren(const std::string& s) const { return latex_ ? "\\left(" + s + "\\right)" : "(" + s + ")"; }

  std::string wrap(const Expr& e, int need) {
    Printed p = print(e);
    return p.prec < need ? paren(p.s) : p.s;
  }

  // A term c*s*ones(shape) of a non-scalar sum prints as its scalar c*s.
  static Expr expanded_scalar(const Expr& t, const Shape& shape) {
    if (shape.is_scalar()) return nullptr;
    if (t->op == Op::ones) return constant(1);
    if (t->op == Op::mul && !t->args.empty() && t->args.back()->op == Op::ones &&
        size_t(t->nscalars) + 1 == t->args.size()) {
      std::vector<Expr> fs{constant(t->value)};
      for (int i = 0; i < t->nscalars; ++i) fs.push_back(t->args[i]);
      return mul(fs);
    }
    return nullptr;
  }

  Printed print_add(const Expr& e) {
    std::string s;
    // Start with the first positive term: y - u rather than -u + y.
    std::vector<size_t> order;
    for (size_t i = 0; i < e->args.size(); ++i) order.push_back(i);
    for (size_t i = 0; i < order.size(); ++i)
      if (e->coefs[i] > 0) {
        std::rotate(order.begin(), order.begin() + i, order.begin() + i + 1);
        break;
      }
    // Only beside a term that keeps the sum's shape: s*ones(m) + ones(m) is not s + 1.
    bool shaped = false;
    for (auto& t : e->args)
      if (!expanded_scalar(t, e->shape)) shaped = true;
    for (size_t k = 0; k < order.size(); ++k) {
      size_t i = order[k];
      double c = e->coefs[i];
      Expr t = e->args[i];
      if (Expr sc = shaped ? expanded_scalar(t, e->shape) : nullptr) t = sc;
      bool negative = c < 0;
      Expr shown = scale(k == 0 ? c : std::fabs(c), t);
      Printed p = print(shown);
      std::string ps = p.prec <= kAdd ? paren(p.s) : p.s;
      if (k == 0) {
        s = ps;
      } else {
        s += negative ? " - " : " + ";
        s += ps;
      }
    }
    return {s, kAdd};
  }

  Printed print_mul(const Expr& e) {
    std::vector<std::string> num, den;
    double c = e->value;
    bool negative = c < 0;
    double ac = std::fabs(c);
    long long fp, fq;
    if (as_fraction(ac, fp, fq)) {  // 2/3·x prints as 2*x/3
      if (fp != 1) num.push_back(std::to_string(fp));
      den.push_back(std::to_string(fq));
    } else if (ac != 1) {
      num.push_back(format_number(ac));
    }
    for (int i = 0; i < e->nscalars; ++i) {
      const Expr& f = e->args[i];
      if (f->op == Op::power && f->value < 0) {
        Printed p = print_power(f->args[0], -f->value, false);
        den.push_back(p.prec <= kMul ? paren(p.s) : p.s);
      } else {
        num.push_back(wrap_factor(f));
      }
    }
    for (size_t i = e->nscalars; i < e->args.size(); ++i) num.push_back(wrap_factor(e->args[i]));
    std::string s;
    const char* sep = latex_ ? " " : "*";
    if (num.empty()) num.push_back("1");
    for (size_t i = 0; i < num.size(); ++i) {
      if (i) s += (latex_ && std::isdigit(static_cast<unsigned char>(num[i][0]))) ? " \\cdot " : sep;
      s += num[i];
    }
    if (!den.empty()) {
      if (latex_) {
        std::string d;
        for (size_t i = 0; i < den.size(); ++i) d += (i ? " " : "") + den[i];
        s = "\\frac{" + s + "}{" + d + "}";
      } else {
        for (auto& d : den) s += "/" + d;
      }
    }
    if (negative) return {"-" + s, kNeg};
    return {s, kMul};
  }

  std::string wrap_factor(const Expr& f) {
    Printed p = print(f);
    return p.prec <= kNeg ? paren(p.s) : p.s;
  }

  Printed print_hadamard(const Expr& e) {
    std::vector<std::string> num, den;
    for (auto& f : e->args) {
      if (f->op == Op::power && f->value < 0) {
        Printed p = print_power(f->args[0], -f->value, true);
        den.push_back(p.prec <= kNeg ? paren(p.s) : p.s);
      } else {
        num.push_back(wrap_factor(f));
      }
    }
    if (num.empty()) {
      num.swap(den);
      for (size_t i = 0; i < e->args.size(); ++i) num[i] = wrap_factor(e->args[i]);
    }
    std::string s;
    for (size_t i = 0; i < num.size(); ++i) s += (i ? (latex_ ? " \\odot " : " .* ") : "") + num[i];
    for (auto& d : den) s += (latex_ ? " \\oslash " : " ./ ") + d;
    return {s, kMul};
  }

  // An exponent: a fraction in parentheses (text) or as p/q (LaTeX, inside braces).
  std::string exponent(double v) const {
    long long p, q;
    if (!as_fraction(v, p, q)) return format_number(v);
    std::string f = std::to_string(p) + "/" + std::to_string(q);
    return latex_ ? f : "(" + f + ")";
  }

  Printed print_power(const Expr& base, double p, bool elementwise) {
    if (p == 1) return print(base);
    std::string b = wrap(base, kPostfix);
    if (latex_) {
      if (base->op == Op::func && base->fn != Fn::abs && base->fn != Fn::norm2 && base->fn != Fn::sqrt &&
          fn_is_elementwise(base->fn) == false)
        b = paren(print(base).s);
      return {"{" + b + "}^{" + std::string(elementwise ? "\\circ " : "") + exponent(p) + "}", kPow};
    }
    return {b + (elementwise ? ".^" : "^") + exponent(p), kPow};
  }

  Printed print_func(const Expr& e) {
    const Expr& a = e->args[0];
    if (!latex_) return {std::string(fn_name(e->fn)) + "(" + print(a).s + ")", kAtom};
    std::string inner = print(a).s;
    switch (e->fn) {
      case Fn::norm2: return {"\\left\\lVert " + inner + " \\right\\rVert_2", kAtom};
      case Fn::inv: return {wrap(a, kPostfix) + "^{-1}", kPostfix};
      case Fn::det: return {"\\det" + paren(inner), kAtom};
      case Fn::logdet: return {"\\log\\det" + paren(inner), kAtom};
      case Fn::sum: case Fn::tr: case Fn::softmax: case Fn::diag: case Fn::vec:
        return {"\\operatorname{" + std::string(fn_name(e->fn)) + "}" + paren(inner), kAtom};
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
        return {elementwise_latex(e->fn, inner, paren(inner)), kAtom};
    }
    return {inner, kAtom};
  }

  bool latex_;
  const std::map<const Node*, std::string>* names_;
};

const char* op_name(Op op) {
  switch (op) {
    case Op::constant: return "constant";
    case Op::variable: return "variable";
    case Op::dim: return "dim";
    case Op::zero: return "zeros";
    case Op::identity: return "eye";
    case Op::ones: return "ones";
    case Op::add: return "add";
    case Op::mul: return "mul";
    case Op::hadamard: return "hadamard";
    case Op::power: return "power";
    case Op::transpose: return "transpose";
    case Op::func: return "func";
    case Op::vcat: return "vcat";
    case Op::kron: return "kron";
    case Op::commutation: return "commutation";
  }
  return "?";
}

nlohmann::json json_of(const Expr& e) {
  nlohmann::json j;
  j["op"] = e->op == Op::func ? fn_name(e->fn) : op_name(e->op);
  j["shape"] = {e->shape.rows.str(), e->shape.cols.str()};
  switch (e->op) {
    case Op::constant: j["value"] = e->value; break;
    case Op::variable: case Op::dim: j["name"] = e->name; break;
    case Op::mul:
      j["coef"] = e->value;
      j["scalars"] = e->nscalars;
      break;
    case Op::power: j["exponent"] = e->value; break;
    case Op::add: j["coefs"] = e->coefs; break;
    default: break;
  }
  if (!e->args.empty()) {
    j["args"] = nlohmann::json::array();
    for (auto& a : e->args) j["args"].push_back(json_of(a));
  }
  j["text"] = to_text(e);
  return j;
}

}  // namespace

std::string to_text(const Expr& e) { return Printer(false, nullptr).print(e).s; }
std::string to_text(const Expr& e, const std::map<const Node*, std::string>& names) {
  return Printer(false, &names).print(e).s;
}
std::string to_latex(const Expr& e) { return Printer(true, nullptr).print(e).s; }
std::string to_latex(const Expr& e, const std::map<const Node*, std::string>& names) {
  return Printer(true, &names).print(e).s;
}
std::string to_json(const Expr& e) { return json_of(e).dump(); }

}  // namespace nabla::sym

namespace nabla::sym {

NamedForm name_repeated(const Expr& e, const Declarations& decls) {
  // The nodes in post-order (children first); walked in reverse, parents come
  // before children, and each node's count of printed occurrences is final
  // when it is reached: a named node is printed once, in its definition.
  std::vector<Expr> post;
  std::unordered_set<const Node*> seen{e.get()};
  std::vector<std::pair<Expr, size_t>> stack{{e, 0}};
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->args.size()) {
      const Expr& c = n->args[i++];
      if (seen.insert(c.get()).second) stack.push_back({c, 0});
    } else {
      post.push_back(n);
      stack.pop_back();
    }
  }
  std::unordered_map<const Node*, uint64_t> occ{{e.get(), 1}};
  std::unordered_set<const Node*> named;
  for (auto it = post.rbegin(); it != post.rend(); ++it) {
    const Node* n = it->get();
    const bool leaf = n->op == Op::constant || n->op == Op::variable || n->op == Op::dim;
    if (n != e.get() && occ[n] >= 2 && n->size >= 4 && !leaf) named.insert(n);
    const uint64_t times = named.count(n) ? 1 : occ[n];
    for (auto& a : n->args) occ[a.get()] += times;
  }
  NamedForm out;
  std::map<const Node*, std::string> text_names, latex_names;
  int k = 0;
  for (const Expr& n : post) {  // innermost first
    if (!named.count(n.get())) continue;
    std::string name;
    do name = "s" + std::to_string(++k);
    while (decls.vars.count(name) || decls.is_dim(name));
    text_names[n.get()] = name;
    latex_names[n.get()] = "s_{" + name.substr(1) + "}";
    out.names.push_back({name, n});
  }
  // Each definition shows its node by its operands, with the inner names.
  std::string defs, ldefs;
  for (auto& [name, n] : out.names) {
    std::map<const Node*, std::string> tn = text_names, ln = latex_names;
    tn.erase(n.get());
    ln.erase(n.get());
    defs += (defs.empty() ? "" : ", ") + name + " = " + to_text(n, tn);
    ldefs += (ldefs.empty() ? "" : ",\\; ") + latex_names[n.get()] + " = " + to_latex(n, ln);
  }
  out.text = to_text(e, text_names);
  out.latex = to_latex(e, latex_names);
  if (!defs.empty()) {
    out.text += " where " + defs;
    out.latex += ",\\quad\\text{where } " + ldefs;
  }
  return out;
}

}  // namespace nabla::sym
