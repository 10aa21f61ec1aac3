// A hand-written lexer and Pratt parser for matrix expressions, and the
// reader of shape declarations. Errors carry the 1-based column.
//
// Precedence, lowest first: + -  <  * / .* ./  <  unary -  <  ^ .^ (right)
// <  postfix '  <  atoms (numbers, names, calls, ( ), [a; b]).
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

namespace {

enum class Tok { end, number, ident, op };

struct Token {
  Tok kind = Tok::end;
  std::string text;
  double number = 0;
  int col = 0;  // 1-based
};

[[noreturn]] void fail(int col, const std::string& msg) {
  throw Error("col " + std::to_string(col) + ": " + msg, ErrorKind::parse);
}

std::vector<Token> lex(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int col = int(i) + 1;
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    if (std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j < s.size() && s[j] == '.' && !(j + 1 < s.size() && (s[j + 1] == '*' || s[j + 1] == '/' || s[j + 1] == '^'))) {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
          j = k;
        }
      }
      Token t;
      t.kind = Tok::number;
      t.text = s.substr(i, j - i);
      t.number = std::strtod(t.text.c_str(), nullptr);
      if (!std::isfinite(t.number)) fail(col, "number '" + t.text + "' is out of range");
      t.col = col;
      out.push_back(t);
      i = j;
      continue;
    }
    if (std::isalpha(c) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::ident, s.substr(i, j - i), 0, col});
      i = j;
      continue;
    }
    if (c == '.' && i + 1 < s.size() && (s[i + 1] == '*' || s[i + 1] == '/' || s[i + 1] == '^')) {
      out.push_back({Tok::op, s.substr(i, 2), 0, col});
      i += 2;
      continue;
    }
    if (std::string("+-*/^'()[];,:=").find(char(c)) != std::string::npos) {
      out.push_back({Tok::op, std::string(1, char(c)), 0, col});
      ++i;
      continue;
    }
    if (c >= 0x80) fail(col, "unexpected non-ASCII character");
    fail(col, std::string("unexpected character '") + char(c) + "'");
  }
  Token e;
  e.kind = Tok::end;
  e.col = int(s.size()) + 1;
  out.push_back(e);
  return out;
}


bool is_reserved(const std::string& name) {
  Fn f;
  return lookup_fn(name, f) || name == "max" || name == "dot" || name == "eye" || name == "ones" ||
         name == "zeros" || name == "mean" || name == "logsumexp" || name == "where" || name == "kron" ||
         name == "commutation";
}

constexpr int kMaxDepth = 256;

class Parser {
 public:
  Parser(const std::string& text, const Declarations& d) : toks_(lex(text)), decls_(d) {}

  // "E where s1 = e1, s2 = e2" (the named form of to_text_named): the names
  // are bound first, each able to use the ones before it, then E with them.
  Expr parse_all() {
    size_t where = 0, depth = 0;
    for (size_t i = 0; i < toks_.size() && !where; ++i) {
      const Token& t = toks_[i];
      if (t.kind == Tok::op && (t.text == "(" || t.text == "[")) ++depth;
      if (t.kind == Tok::op && (t.text == ")" || t.text == "]") && depth > 0) --depth;
      if (t.kind == Tok::ident && t.text == "where" && depth == 0) where = i;
    }
    if (where) {
      pos_ = where + 1;
      do {
        const Token name = next();
        if (name.kind != Tok::ident || decls_.vars.count(name.text) || decls_.is_dim(name.text) ||
            is_reserved(name.text) || lets_.count(name.text))
          fail(name.col, "where: expected a new name, found '" + name.text + "'");
        expect("=");
        lets_[name.text] = expr(0);
      } while (is_op(",") && (++pos_, true));
      if (peek().kind != Tok::end) fail(peek().col, "unexpected '" + peek().text + "'");
      toks_[where].kind = Tok::end;  // E ends where the names begin
      pos_ = 0;
    }
    Expr e = expr(0);
    if (peek().kind != Tok::end) fail(peek().col, "unexpected '" + peek().text + "'");
    return e;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  Token next() { return toks_[pos_++]; }
  bool is_op(const char* s) const { return peek().kind == Tok::op && peek().text == s; }
  void expect(const char* s) {
    if (!is_op(s)) {
      const Token& t = peek();
      fail(t.col, std::string("expected '") + s + "'" +
                      (t.kind == Tok::end ? " at the end" : ", found '" + t.text + "'"));
    }
    ++pos_;
  }

  static int infix_prec(const Token& t) {
    if (t.kind != Tok::op) return -1;
    const std::string& s = t.text;
    if (s == "+" || s == "-") return 1;
    if (s == "*" || s == "/" || s == ".*" || s == "./") return 2;
    if (s == "^" || s == ".^") return 4;
    if (s == "'") return 5;
    return -1;
  }

  // Runs a constructor; its shape errors get the operator's column.
  template <class F>
  Expr at(int col, F&& f) {
    try {
      return f();
    } catch (const Error& e) {
      std::string w = e.what();
      if (w.rfind("col ", 0) == 0) throw;
      fail(col, w);
    }
  }

  Expr expr(int min_prec) {
    if (++depth_ > kMaxDepth) fail(peek().col, "expression nested too deeply");
    Expr left = prefix();
    for (;;) {
      const Token& t = peek();
      int p = infix_prec(t);
      if (p < 0 || p < min_prec) break;
      Token op = next();
      if (op.text == "'") {
        left = transpose(left);
        continue;
      }
      Expr right = expr(op.text == "^" || op.text == ".^" ? p : p + 1);
      left = binary(op, left, right);
    }
    --depth_;
    return left;
  }

  Expr binary(const Token& op, const Expr& a, const Expr& b) {
    const std::string& s = op.text;
    auto shapes = [&](const char* what) {
      return "'" + s + "' " + what + ": " + to_text(a) + " is " + a->shape.str() + ", " + to_text(b) + " is " +
             b->shape.str();
    };
    if (s == "+" || s == "-") {
      if (!a->shape.is_scalar() && !b->shape.is_scalar() && a->shape != b->shape)
        fail(op.col, shapes("needs equal shapes"));
      return at(op.col, [&] { return s == "+" ? add(a, b) : sub(a, b); });
    }
    if (s == "*") {
      if (!a->shape.is_scalar() && !b->shape.is_scalar() && a->shape.cols != b->shape.rows)
        fail(op.col, shapes("needs inner dimensions to agree"));
      return at(op.col, [&] { return mul(a, b); });
    }
    if (s == "/") {
      if (!b->shape.is_scalar())
        fail(op.col, "'/' divides by a scalar only: " + to_text(b) + " is " + b->shape.str() +
                         " (use ./ for element-wise division)");
      if (b->is_const(0)) fail(op.col, "division by zero");
      return at(op.col, [&] { return divide(a, b); });
    }
    if (s == ".*" || s == "./") {
      if (!a->shape.is_scalar() && !b->shape.is_scalar() && a->shape != b->shape)
        fail(op.col, shapes("needs equal shapes"));
      if (s == "./" && b->is_const(0)) fail(op.col, "division by zero");
      return at(op.col, [&] { return s == ".*" ? hadamard(a, b) : hadamard(a, power(b, -1)); });
    }
    // ^ and .^ with a variable exponent: a^b = exp(b log a), element-wise, for a > 0.
    if (b->op != Op::constant) {
      if (!b->shape.is_scalar() && b->shape != a->shape)
        fail(op.col, shapes("needs a scalar exponent or one shaped like the base"));
      return at(op.col, [&] {
        return func(Fn::exp, b->shape.is_scalar() ? mul(b, func(Fn::log, a)) : hadamard(b, func(Fn::log, a)));
      });
    }
    if (a->is_const(0) && b->value < 0) fail(op.col, "division by zero");
    return at(op.col, [&] { return power(a, b->value); });
  }

  Expr prefix() {
    Token t = next();
    if (t.kind == Tok::number) return constant(t.number);
    if (t.kind == Tok::op && t.text == "-") {
      Expr a = expr(3);
      return neg(a);
    }
    if (t.kind == Tok::op && t.text == "+") return expr(3);
    if (t.kind == Tok::op && t.text == "(") {
      Expr e = expr(0);
      expect(")");
      return e;
    }
    if (t.kind == Tok::op && t.text == "[") {
      std::vector<Expr> parts{expr(0)};
      while (is_op(";")) {
        ++pos_;
        parts.push_back(expr(0));
      }
      expect("]");
      for (auto& p : parts)
        if (p->shape.cols != parts[0]->shape.cols)
          fail(t.col, "'[;]' needs equal column counts: " + to_text(parts[0]) + " is " + parts[0]->shape.str() +
                          ", " + to_text(p) + " is " + p->shape.str());
      return at(t.col, [&] { return vcat(parts); });
    }
    if (t.kind == Tok::ident) {
      if (is_op("(")) return call(t);
      if (auto l = lets_.find(t.text); l != lets_.end()) return l->second;
      auto it = decls_.vars.find(t.text);
      if (it != decls_.vars.end()) return variable(t.text, it->second);
      if (decls_.is_dim(t.text)) return dim_value(t.text);
      if (is_reserved(t.text)) fail(t.col, "'" + t.text + "' is a function: write " + t.text + "(...)");
      fail(t.col, "unknown variable '" + t.text + "' (declare it with --let, e.g. " + t.text + ":vector(n))");
    }
    if (t.kind == Tok::end) fail(t.col, "unexpected end of expression");
    fail(t.col, "unexpected '" + t.text + "'");
  }

  Dim to_dim(const Expr& e, int col) {
    if (e->op == Op::constant && e->value == std::floor(e->value) && e->value >= 1 && e->value < 1e9)
      return Dim(int64_t(e->value));
    if (e->op == Op::dim) return Dim::symbol(e->name);
    if (e->op == Op::add) {
      Dim d = 0;
      for (size_t i = 0; i < e->args.size(); ++i) {
        double c = e->coefs[i];
        if (c != std::floor(c) || std::fabs(c) > 1e6) break;
        Dim one = e->args[i]->is_const(1) ? Dim(1) : to_dim(e->args[i], col);
        for (int k = 0; k < int(std::fabs(c)); ++k) d = c > 0 ? d + one : d - one;
      }
      return d;
    }
    if (e->op == Op::power && e->value == std::floor(e->value) && e->value >= 1 && e->value <= 8) {  // m*m
      Dim one = to_dim(e->args[0], col), d = 1;
      for (int k = 0; k < int(e->value); ++k) d = d * one;
      return d;
    }
    if (e->op == Op::mul && e->value == std::floor(e->value) && e->value >= 1 && e->value < 1e9) {  // m*n
      Dim d = int64_t(e->value);
      for (const Expr& f : e->args) {
        const bool pw = f->op == Op::power && f->value == std::floor(f->value) && f->value >= 1 && f->value <= 8;
        Dim one = to_dim(pw ? f->args[0] : f, col);
        for (int k = 0; k < (pw ? int(f->value) : 1); ++k) d = d * one;
      }
      return d;
    }
    fail(col, "expected a dimension (a positive integer or a dimension symbol), got " + to_text(e));
  }

  Expr call(const Token& name) {
    expect("(");
    std::vector<Expr> args;
    std::vector<int> cols;
    if (!is_op(")")) {
      cols.push_back(peek().col);
      args.push_back(expr(0));
      while (is_op(",")) {
        ++pos_;
        cols.push_back(peek().col);
        args.push_back(expr(0));
      }
    }
    expect(")");
    const std::string& n = name.text;
    auto arity = [&](size_t lo, size_t hi) {
      if (args.size() < lo || args.size() > hi)
        fail(name.col, n + " takes " + std::to_string(lo) + (hi != lo ? "–" + std::to_string(hi) : "") +
                           " argument" + (hi > 1 ? "s" : "") + ", got " + std::to_string(args.size()));
    };
    Fn f;
    if (lookup_fn(n, f)) {
      arity(1, 1);
      return at(name.col, [&] { return func(f, args[0]); });
    }
    if (n == "max") {
      arity(2, 2);
      if (args[0]->is_const(0)) return func(Fn::relu, args[1]);
      if (args[1]->is_const(0)) return func(Fn::relu, args[0]);
      fail(name.col, "max supports max(0, x) only (relu)");
    }
    if (n == "dot") {
      arity(2, 2);
      const Expr& a = args[0];
      const Expr& b = args[1];
      auto len = [](const Shape& s) { return s.is_row() ? s.cols : s.rows; };
      bool ok = (a->shape.is_vector() || a->shape.is_scalar()) && (b->shape.is_vector() || b->shape.is_scalar()) &&
                len(a->shape) == len(b->shape);
      if (!ok)
        fail(name.col, "dot needs two vectors of one length: " + to_text(a) + " is " + a->shape.str() + ", " +
                           to_text(b) + " is " + b->shape.str());
      Expr ca = a->shape.is_row() ? transpose(a) : a;
      Expr cb = b->shape.is_row() ? transpose(b) : b;
      return mul(transpose(ca), cb);
    }
    if (n == "mean") {  // mean(X) = sum(X)/(rows·cols)
      arity(1, 1);
      const Shape& s = args[0]->shape;
      auto count = [&](const Dim& d) -> Expr {
        if (d.is_const()) return constant(double(d.constant()));
        if (!d.as_symbol().empty()) return dim_value(d.as_symbol());
        fail(name.col, "mean of " + to_text(args[0]) + ": its size " + s.str() + " is not a product of dimensions");
      };
      return divide(func(Fn::sum, args[0]), mul(count(s.rows), count(s.cols)));
    }
    if (n == "logsumexp") {  // logsumexp(x) = log(sum(exp(x)))
      arity(1, 1);
      return at(name.col, [&] { return func(Fn::log, func(Fn::sum, func(Fn::exp, args[0]))); });
    }
    if (n == "kron") {
      arity(2, 2);
      return at(name.col, [&] { return kron(args[0], args[1]); });
    }
    if (n == "commutation") {
      arity(2, 2);
      return commutation(to_dim(args[0], cols[0]), to_dim(args[1], cols[1]));
    }
    if (n == "eye") {
      arity(1, 1);
      return identity(to_dim(args[0], cols[0]));
    }
    if (n == "ones" || n == "zeros") {
      arity(1, 2);
      Shape s{to_dim(args[0], cols[0]), args.size() > 1 ? to_dim(args[1], cols[1]) : Dim(1)};
      return n == "ones" ? ones(s) : zero(s);
    }
    fail(name.col, "unknown function '" + n + "'");
  }

  std::vector<Token> toks_;
  std::map<std::string, Expr> lets_;  // the names of a where clause
  size_t pos_ = 0;
  const Declarations& decls_;
  int depth_ = 0;
};

}  // namespace

Expr parse(const std::string& text, const Declarations& decls) {
  NABLA_CHECK_KIND(text.size() <= 100000, ErrorKind::parse, "expression too long (", text.size(), " bytes)");
  return Parser(text, decls).parse_all();
}

Declarations parse_declarations(const std::string& text) {
  Declarations d;
  std::vector<Token> t = lex(text);
  size_t i = 0;
  auto want = [&](const char* s) {
    if (!(t[i].kind == Tok::op && t[i].text == s))
      fail(t[i].col, std::string("declarations: expected '") + s + "'" +
                         (t[i].kind == Tok::end ? " at the end" : ", found '" + t[i].text + "'"));
    ++i;
  };
  auto add_dim = [&](const std::string& s) {
    if (!d.is_dim(s)) d.dims.push_back(s);
  };
  auto dim = [&]() -> Dim {
    const Token& k = t[i];
    if (k.kind == Tok::number) {
      if (k.number != std::floor(k.number) || k.number < 1 || k.number > 1e9)
        fail(k.col, "declarations: a dimension must be a positive integer, got " + k.text);
      ++i;
      return Dim(int64_t(k.number));
    }
    if (k.kind == Tok::ident) {
      if (is_reserved(k.text)) fail(k.col, "declarations: '" + k.text + "' is a function name");
      add_dim(k.text);
      ++i;
      return Dim::symbol(k.text);
    }
    fail(k.col, "declarations: expected a dimension");
  };
  while (t[i].kind != Tok::end) {
    if (t[i].kind == Tok::op && (t[i].text == "," || t[i].text == ";")) {
      ++i;
      continue;
    }
    if (t[i].kind != Tok::ident) fail(t[i].col, "declarations: expected a name, found '" + t[i].text + "'");
    Token name = t[i++];
    if (is_reserved(name.text)) fail(name.col, "declarations: '" + name.text + "' is a function name");
    if (d.vars.count(name.text)) fail(name.col, "declarations: '" + name.text + "' is declared twice");
    want(":");
    if (t[i].kind != Tok::ident) fail(t[i].col, "declarations: expected scalar, vector(n), rowvector(n) or matrix(m,n)");
    Token type = t[i++];
    Shape s;
    if (type.text == "scalar") {
      s = Shape{};
    } else if (type.text == "vector" || type.text == "rowvector") {
      want("(");
      Dim n = dim();
      want(")");
      s = type.text == "vector" ? Shape{n, 1} : Shape{1, n};
    } else if (type.text == "matrix") {
      want("(");
      Dim r = dim();
      want(",");
      Dim c = dim();
      want(")");
      s = Shape{r, c};
    } else {
      fail(type.col, "declarations: unknown type '" + type.text + "' (scalar, vector(n), rowvector(n), matrix(m,n))");
    }
    d.vars[name.text] = s;
    d.order.push_back(name.text);
  }
  for (auto& v : d.order)
    if (d.is_dim(v)) throw Error("declarations: '" + v + "' is both a variable and a dimension", ErrorKind::parse);
  return d;
}

}  // namespace nabla::sym
