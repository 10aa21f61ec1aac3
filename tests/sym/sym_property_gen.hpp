// Random well-typed symbolic expressions and the three properties every one
// of them must have, shared by the unit suite (tests/sym/sym_property_test.cpp,
// seeded) and the fuzz target (tests/fuzz/sym_property_fuzz.cpp, the fuzzer's
// bytes):
//
//   1. simplify() does not change the value: simplify(e) = e, and the
//      simplified derivative equals the derivative as derived (Derivative::raw);
//   2. the symbolic derivative equals the numeric engine's autodiff of the
//      lowered expression (nabla::grad), or central finite differences where
//      the engine cannot differentiate it (inv/det/logdet in an engine
//      without those ops);
//   3. the printed text parses back to the same value.
//
// Every choice the generator makes comes from a Choices: a seeded stream, or a
// byte string read one byte per choice. 0 is always the simplest choice (a
// leaf), so a string that runs out ends the expression. Values are drawn so
// that each expression is defined at its point: denominators, logs and square
// roots take positive operands, inv/det/logdet take matrices whose symmetric
// part is positive definite (invertible, positive determinant), and a point
// where relu/abs/step/sign/norm2 sits at its kink is skipped.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/ops.hpp"
#include "nabla/sym.hpp"

namespace nabla::sym::property {

// The variables every generated expression draws from.
inline constexpr const char* kLet =
    "s:scalar t:scalar x:vector(n) y:vector(n) z:vector(m) r:rowvector(n) A:matrix(n,n) B:matrix(n,n) "
    "W:matrix(m,n)";

class Choices {
 public:
  explicit Choices(uint64_t seed) : state_(seed ^ 0x5DEECE66Dull) {}
  Choices(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // A number in [0, n); 0 once the bytes have run out.
  int below(int n) {
    if (n <= 1) return 0;
    if (data_) return pos_ < size_ ? int(data_[pos_++] % unsigned(n)) : 0;
    return int(next() % uint64_t(n));
  }
  // Uniform in [lo, hi).
  double uniform(double lo, double hi) {
    double u;
    if (data_) {
      uint32_t v = 0;
      for (int i = 0; i < 2; ++i) v = v << 8 | (pos_ < size_ ? data_[pos_++] : 0x5Au);
      u = (double(v) + 0.5) / 65536.0;
    } else {
      u = double(next() >> 11) * 0x1.0p-53;
    }
    return lo + (hi - lo) * u;
  }

 private:
  uint64_t next() {  // splitmix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_ = 0;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0, pos_ = 0;
};

// A dimension of a generated shape: 1, n or m.
enum class D { one, n, m };

class Generator {
 public:
  Generator(Choices& c, int depth) : c_(c), depth_(depth) {}

  const Declarations& decls() const { return d_; }

  // A top-level expression: mostly scalars (they have gradients), some
  // vectors (Jacobians) and matrices.
  Expr top() {
    switch (c_.below(8)) {
      case 0: return gen(D::n, D::one, depth_);
      case 1: return gen(D::n, D::n, depth_);
      case 2: return gen(D::m, D::n, depth_);
      case 3: return gen(D::m, D::one, depth_);
      default: return gen(D::one, D::one, depth_);
    }
  }

  // Values at which every generated expression is defined: entries in
  // [-1, 1), square matrices with n + 1 added to the diagonal (so that their
  // symmetric part is positive definite), n in 2..4, m in 1..3.
  Bindings values(Choices& v) const {
    Bindings b;
    b.dims["n"] = 2 + v.below(3);
    b.dims["m"] = 1 + v.below(3);
    for (auto& name : d_.order) {
      const Shape& s = d_.vars.at(name);
      int64_t r = s.rows.eval(b.dims), k = s.cols.eval(b.dims);
      std::vector<double> data(size_t(r * k));
      for (auto& e : data) e = v.uniform(-1, 1);
      if (r == k && r > 1)
        for (int64_t i = 0; i < r; ++i) data[size_t(i * r + i)] += double(r + 1);
      b.values[name] = tensor(data, nabla::Shape{r, k}, TensorOptions(kFloat64));
    }
    return b;
  }

  // Leave out inv, det and logdet.
  bool linalg = true;

  Expr gen(D r, D k, int depth) {
    if (depth <= 0) return leaf(r, k);
    bool scalar = r == D::one && k == D::one;
    switch (c_.below(13)) {
      case 0: return leaf(r, k);
      case 1: {  // a linear combination of two or three terms
        std::vector<Expr> ts;
        for (int i = 0, terms = 2 + c_.below(2); i < terms; ++i) ts.push_back(scale(coef(), gen(r, k, depth - 1)));
        return add(ts);
      }
      case 2: return sub(gen(r, k, depth - 1), gen(r, k, depth - 1));
      case 3: {  // a product of two or three factors through random inner dimensions
        D a = dim(), b = c_.below(2) ? dim() : k;
        if (b == k) return mul(gen(r, a, depth - 1), gen(a, k, depth - 1));
        return mul({gen(r, a, depth - 1), gen(a, b, depth - 1), gen(b, k, depth - 1)});
      }
      case 4: return mul(gen(D::one, D::one, depth - 1), gen(r, k, depth - 1));
      case 5:
        if (scalar) return mul(gen(r, k, depth - 1), gen(r, k, depth - 1));
        return hadamard(gen(r, k, depth - 1), gen(r, k, depth - 1));
      case 6: return elementwise(r, k, depth);
      case 7: return transpose(gen(k, r, depth - 1));
      case 8:
        if (!scalar && c_.below(2)) return hadamard(gen(r, k, depth - 1), power(positive(r, k, depth - 1), -1));
        return divide(gen(r, k, depth - 1), positive(D::one, D::one, depth - 1));
      case 9: {
        static const double kPositive[] = {-1, 0.5, -2, 1.5, -0.5};
        if (c_.below(2)) return power(gen(r, k, depth - 1), c_.below(2) ? 2 : 3);
        return power(positive(r, k, depth - 1), kPositive[c_.below(5)]);
      }
      case 10: return add(gen(r, k, depth - 1), constant(coef()));  // a scalar added to a matrix is s*ones
      case 11:
      case 12: return structural(r, k, depth);
    }
    return leaf(r, k);
  }

 private:
  Dim dim_of(D x) const { return x == D::one ? Dim(1) : Dim::symbol(x == D::n ? "n" : "m"); }
  D dim() { return D(c_.below(3)); }
  double coef() {
    static const double k[] = {1, -1, 2, -0.5, 3, 0.25};
    return k[c_.below(6)];
  }
  Expr var(const char* name) { return d_.var(name); }

  Expr leaf(D r, D k) {
    if (r != D::one || k != D::one)
      if (c_.below(12) == 0) return ones(Shape{dim_of(r), dim_of(k)});
    int p = c_.below(3);
    switch (int(r) * 3 + int(k)) {
      case 0:  // 1×1
        return p == 0 ? var("s") : p == 1 ? var("t") : constant(coef());
      case 1: return p == 0 ? var("r") : transpose(var(p == 1 ? "x" : "y"));  // 1×n
      case 2: return transpose(var("z"));                                       // 1×m
      case 3: return var(p == 0 ? "y" : "x");                                   // n×1
      case 4: return p == 0 ? identity(dim_of(D::n)) : var(p == 1 ? "A" : "B");  // n×n
      case 5: return transpose(var("W"));                                       // n×m
      case 6: return var("z");                                                  // m×1
      case 7: return var("W");                                                  // m×n
      default:                                                                  // m×m
        return p == 0 ? identity(dim_of(D::m)) : p == 1 ? mul(var("z"), transpose(var("z")))
                                                        : mul(var("W"), transpose(var("W")));
    }
  }

  Expr elementwise(D r, D k, int depth) {
    Expr a = gen(r, k, depth - 1);
    switch (c_.below(14)) {
      case 0: return func(Fn::tanh, a);
      case 1: return func(Fn::sigmoid, a);
      case 2: return func(Fn::sin, a);
      case 3: return func(Fn::cos, a);
      case 4: return func(Fn::exp, func(Fn::tanh, a));
      case 5: return func(Fn::exp, a);
      case 6: return func(Fn::sinh, a);
      case 7: return func(Fn::cosh, a);
      case 8: return func(Fn::log, positive(r, k, depth - 1));
      case 9: return func(Fn::sqrt, positive(r, k, depth - 1));
      case 10: return func(Fn::abs, a);
      case 11: return func(Fn::relu, a);
      case 12: return hadamard(func(Fn::step, a), gen(r, k, depth - 1));
      default: return hadamard(func(Fn::sign, a), c_.below(2) ? a : gen(r, k, depth - 1));
    }
  }

  // Positive at every point values() draws.
  Expr positive(D r, D k, int depth) {
    Expr a = gen(r, k, depth - 1);
    bool scalar = r == D::one && k == D::one;
    switch (c_.below(scalar ? 9 : 5)) {
      case 0: return func(Fn::sigmoid, a);
      case 1: return add(constant(1), power(a, 2));
      case 2: return func(Fn::exp, func(Fn::tanh, a));
      case 3: return add(constant(0.5), func(Fn::abs, a));
      case 4: return func(Fn::exp, scale(0.5, func(Fn::sin, a)));
      case 5: {
        D v = c_.below(2) ? D::n : D::m;
        return add(constant(1), power(func(Fn::norm2, gen(v, D::one, depth - 1)), 2));
      }
      case 6: {
        Expr u = gen(D::n, D::one, depth - 1);
        return add(mul(transpose(u), u), constant(0.25));
      }
      case 7: return linalg ? func(Fn::det, pd(c_.below(2) ? D::n : D::m, depth - 1)) : func(Fn::exp, a);
      default: return func(Fn::tr, pd(c_.below(2) ? D::n : D::m, depth - 1));
    }
  }

  // A square matrix whose symmetric part is positive definite at the points
  // values() draws: invertible, with a positive determinant.
  Expr pd(D n, int depth) {
    Dim nd = dim_of(n);
    if (n == D::m) {
      switch (c_.below(3)) {
        case 0: return add(identity(nd), mul(var("z"), transpose(var("z"))));
        case 1: return add(identity(nd), mul({var("W"), var(c_.below(2) ? "A" : "B"), transpose(var("W"))}));
        default: {
          Expr g = gen(D::m, dim(), depth - 1);
          return add(identity(nd), mul(g, transpose(g)));
        }
      }
    }
    switch (c_.below(8)) {
      case 0: return var("A");
      case 1: return transpose(var("B"));
      case 2: return add(var("A"), var("B"));
      case 3: return add(var("A"), scale(0.5, transpose(var("B"))));
      case 4: return mul(var("A"), var("B"));
      case 5: {
        Expr g = gen(dim(), D::n, depth - 1);
        return add(c_.below(2) ? identity(nd) : var("A"), mul(transpose(g), g));
      }
      case 6: return add(var("B"), mul(positive(D::one, D::one, depth - 1), identity(nd)));
      default: return linalg ? func(Fn::inv, var(c_.below(2) ? "A" : "B")) : var("A");
    }
  }

  // The shape-specific forms: reductions to scalars, diag, softmax, inverses, [a; b].
  Expr structural(D r, D k, int depth) {
    if (r == D::one && k == D::one) {
      switch (c_.below(10)) {
        case 0: {
          D s = c_.below(2) ? D::n : D::m;
          return func(Fn::tr, gen(s, s, depth - 1));
        }
        case 1: return func(Fn::sum, gen(dim(), dim(), depth - 1));
        case 2: return func(Fn::norm2, gen(c_.below(2) ? D::n : D::m, D::one, depth - 1));
        case 3: return mul(transpose(gen(D::n, D::one, depth - 1)), gen(D::n, D::one, depth - 1));
        case 4:
          if (linalg) return func(c_.below(2) ? Fn::logdet : Fn::det, pd(c_.below(2) ? D::n : D::m, depth - 1));
          return func(Fn::tr, gen(D::n, D::n, depth - 1));
        case 5: {
          Expr u = vcat({gen(D::n, D::one, depth - 1), gen(D::m, D::one, depth - 1)});
          Expr w = vcat({gen(D::n, D::one, depth - 1), gen(D::m, D::one, depth - 1)});
          return c_.below(2) ? func(Fn::sum, hadamard(u, w)) : mul(transpose(u), w);
        }
        case 6: return divide(gen(r, k, depth - 1), dim_value(c_.below(2) ? "n" : "m"));
        case 7: {
          Expr u = gen(D::n, D::one, depth - 1);
          return mul({transpose(u), gen(D::n, D::n, depth - 1), u});
        }
        case 8:
          if (linalg) {
            Expr u = gen(D::n, D::one, depth - 1);
            return mul({transpose(u), func(Fn::inv, pd(D::n, depth - 1)), gen(D::n, D::one, depth - 1)});
          }
          return func(Fn::sum, func(Fn::softmax, gen(D::n, D::one, depth - 1)));
        default: return mul(func(Fn::sum, func(Fn::softmax, gen(D::n, D::one, depth - 1))), gen(r, k, depth - 1));
      }
    }
    if (k == D::one) {
      switch (c_.below(5)) {
        case 0: return func(Fn::softmax, gen(r, k, depth - 1));
        case 1: return func(Fn::diag, gen(r, r, depth - 1));
        case 2: return mul(func(Fn::diag, gen(r, D::one, depth - 1)), gen(r, D::one, depth - 1));
        case 3:
          if (linalg) return mul(func(Fn::inv, pd(r, depth - 1)), gen(r, k, depth - 1));
          return gen(r, k, depth - 1);
        default: return mul(gen(r, r, depth - 1), gen(r, k, depth - 1));
      }
    }
    if (r == k) {
      switch (c_.below(4)) {
        case 0: return func(Fn::diag, gen(r, D::one, depth - 1));
        case 1: return mul(gen(D::one, D::one, depth - 1), identity(dim_of(r)));
        case 2:
          if (linalg) return func(Fn::inv, pd(r, depth - 1));
          return gen(r, k, depth - 1);
        default:
          if (linalg) return mul({gen(r, r, depth - 1), func(Fn::inv, pd(r, depth - 1)), gen(r, r, depth - 1)});
          return gen(r, k, depth - 1);
      }
    }
    return mul(gen(r, D::one, depth - 1), gen(D::one, k, depth - 1));  // an outer product
  }

  Choices& c_;
  int depth_;
  Declarations d_ = parse_declarations(kLet);
};

// ---- the properties ------------------------------------------------------------

// Worst |a − b| relative to the size of b: max|a − b| / (1 + max|b|).
inline double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.contiguous().detach().to_vector<double>();
  std::vector<double> y = b.contiguous().detach().to_vector<double>();
  if (x.size() != y.size()) return INFINITY;
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double e = std::fabs(x[i] - y[i]);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    scale = std::max(scale, std::fabs(y[i]));
  }
  return worst / (1 + scale);
}

inline bool tame(const Tensor& t, double bound = 1e6) {
  for (double v : t.contiguous().detach().to_vector<double>())
    if (!(std::fabs(v) <= bound)) return false;
  return true;
}

// Does e sit on (or next to) a kink of relu/abs/step/sign/norm2 at b, or
// take a value too large for a fair comparison?
inline bool near_trouble(const Expr& e, const Bindings& b) {
  std::vector<const Node*> stack{e.get()};
  std::vector<const Node*> seen;
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (std::find(seen.begin(), seen.end(), n) != seen.end()) continue;
    seen.push_back(n);
    for (auto& a : n->args) stack.push_back(a.get());
    if (n->op != Op::func) continue;
    Fn f = n->fn;
    if (f != Fn::relu && f != Fn::abs && f != Fn::step && f != Fn::sign && f != Fn::norm2) continue;
    Tensor v = evaluate(n->args[0], b);
    std::vector<double> xs = v.contiguous().detach().to_vector<double>();
    if (f == Fn::norm2) {
      double s = 0;
      for (double x : xs) s += x * x;
      if (s < 1e-4) return true;
      continue;
    }
    for (double x : xs)
      if (std::fabs(x) < 1e-4) return true;
  }
  return !tame(evaluate(e, b));
}

// Does evaluating inv/det/logdet record a graph the engine can differentiate?
inline bool engine_differentiates_linalg() {
  static const bool yes = [] {
    Declarations d = parse_declarations("X:matrix(2,2)");
    Bindings b;
    b.dims = {};
    b.values["X"] = tensor(std::vector<double>{3, 1, 1, 2}, nabla::Shape{2, 2}, TensorOptions(kFloat64))
                        .requires_grad_(true);
    try {
      for (const char* f : {"sum(inv(X))", "det(X)", "logdet(X)"})
        if (!evaluate(parse(f, d), b).requires_grad()) return false;
    } catch (const Error&) {
      return false;
    }
    return true;
  }();
  return yes;
}

inline bool has_linalg(const Expr& e) {
  if (e->op == Op::func && (e->fn == Fn::inv || e->fn == Fn::det || e->fn == Fn::logdet)) return true;
  for (auto& a : e->args)
    if (has_linalg(a)) return true;
  return false;
}

// The derivative of f by w at b in the layout differentiate() gives by
// default (gradient shaped like w; Jacobian numel(f) × numel(w)), by autodiff.
inline Tensor autodiff_derivative(const Expr& f, const std::string& w, const Bindings& b0) {
  Bindings b = b0;
  Tensor x0 = b.values.at(w);
  Tensor xt = x0.clone().requires_grad_(true);
  b.values[w] = xt;
  Tensor y = evaluate(f, b);
  if (f->shape.is_scalar()) return grad({y}, {xt}, {}, false, false, true)[0].detach();
  int64_t m = y.numel(), n = x0.numel();
  std::vector<Tensor> rows;
  for (int64_t i = 0; i < m; ++i) {
    std::vector<double> one(size_t(m), 0.0);
    one[size_t(i)] = 1;
    Tensor g = grad({y}, {xt}, {tensor(one, y.shape(), TensorOptions(kFloat64))}, true, false, true)[0];
    rows.push_back(reshape(g.detach(), {1, n}));
  }
  return concat(rows, 0);
}

// The same by central differences.
inline Tensor fd_derivative(const Expr& f, const std::string& w, const Bindings& b0) {
  Bindings b = b0;
  Tensor x0 = b.values.at(w).contiguous();
  std::vector<double> xv = x0.to_vector<double>();
  int64_t n = x0.numel();
  int64_t m = evaluate(f, b).numel();
  std::vector<double> J(size_t(m * n));
  const double h = 1e-6;
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> p = xv, q = xv;
    p[size_t(j)] += h;
    q[size_t(j)] -= h;
    b.values[w] = tensor(p, x0.shape(), TensorOptions(kFloat64));
    std::vector<double> fp = evaluate(f, b).contiguous().to_vector<double>();
    b.values[w] = tensor(q, x0.shape(), TensorOptions(kFloat64));
    std::vector<double> fq = evaluate(f, b).contiguous().to_vector<double>();
    for (int64_t i = 0; i < m; ++i) J[size_t(i * n + j)] = (fp[size_t(i)] - fq[size_t(i)]) / (2 * h);
  }
  if (f->shape.is_scalar()) return tensor(J, x0.shape(), TensorOptions(kFloat64));
  return tensor(J, nabla::Shape{m, n}, TensorOptions(kFloat64));
}

struct Outcome {
  bool skipped = false;  // not defined, or at a kink, at this point
  int derivatives = 0;   // derivatives compared
  std::string failure;   // empty when every property holds
};

// Checks the three properties of e at b.
inline Outcome check_properties(const Expr& e, const Declarations& d, const Bindings& b) {
  Outcome out;
  std::ostringstream why;
  auto fail = [&](const std::string& what) {
    if (out.failure.empty()) out.failure = what;
  };
  try {
    if (near_trouble(e, b)) {
      out.skipped = true;
      return out;
    }
    Tensor v = evaluate(e, b);
    // 1. simplify() keeps the value.
    Expr s = simplify(e);
    double err = rel_diff(evaluate(s, b), v);
    if (!(err <= 1e-9)) {
      why << "simplify changes the value (relative difference " << err << "): simplify(f) = " << to_text(s);
      fail(why.str());
      return out;
    }
    // 3. The printed forms parse back to the same value.
    for (const Expr& p : {e, s}) {
      std::string text = to_text(p);
      Expr back = parse(text, d);
      err = rel_diff(evaluate(back, b), evaluate(p, b));
      if (!(err <= 1e-12)) {
        why << "the text " << text << " parses back to " << to_text(back) << " (relative difference " << err << ")";
        fail(why.str());
        return out;
      }
    }
    // 2. Derivatives of f, of any shape, by every variable: gradients,
    // Jacobians, derivatives by a scalar, and ∂vec(f)/∂vec(X)ᵀ.
    bool lin = has_linalg(e);
    for (const std::string& w : e->vars) {
      Derivative r;
      try {
        r = differentiate(e, w, d);
      } catch (const Error& x) {
        // Documented limits, not defects: the Jacobian of a concatenation of
        // matrices, and of a matrix's diag(), by a non-scalar.
        const std::string what = x.what();
        if (!e->shape.is_scalar() && (what.find("by a scalar only") != std::string::npos ||
                                      what.find("stacked vectors only") != std::string::npos))
          continue;
        throw;
      }
      Tensor raw = evaluate(r.raw, b), res = evaluate(r.result, b);
      // in the references' order: row-major, f's indices then the variable's
      const Tensor as_ref = derivative_tensor(r, res, b);
      if (near_trouble(r.raw, b) || near_trouble(r.result, b)) continue;
      ++out.derivatives;
      std::string head = "d/d" + w + " = " + to_text(r.result) + " (as derived: " + to_text(r.raw) + ")";
      err = rel_diff(res, raw);
      if (!(err <= 1e-9)) {
        why << head << ": simplify changes its value (relative difference " << err << ")";
        fail(why.str());
        return out;
      }
      Expr back = parse(to_text(r.result), d);
      err = rel_diff(evaluate(back, b), res);
      if (!(err <= 1e-12)) {
        why << head << ": its text parses back to " << to_text(back) << " (relative difference " << err << ")";
        fail(why.str());
        return out;
      }
      // the named form ("… where s1 = …") too, to the very same expression
      const std::string named = name_repeated(r.result, d).text;
      if (Expr nb = parse(named, d); nb != back) {
        why << head << ": its named form " << named << " parses back to " << to_text(nb);
        fail(why.str());
        return out;
      }
      // Autodiff where the engine differentiates f; central differences
      // otherwise (they lose their digits on sin(cosh(…)) and the like, so
      // they are not asked to agree where autodiff already did).
      if (!lin || engine_differentiates_linalg()) {
        Tensor ad = autodiff_derivative(e, w, b);
        err = rel_diff(as_ref, ad);
        if (!(err <= 1e-8)) {
          why << head << ": autodiff gives " << tensor_to_json(ad, false) << ", the symbolic derivative "
              << tensor_to_json(res, false) << " (relative difference " << err << ")";
          fail(why.str());
          return out;
        }
        continue;
      }
      Tensor fd = fd_derivative(e, w, b);
      err = rel_diff(as_ref, fd);
      if (!(err <= 1e-4)) {
        why << head << ": central differences give " << tensor_to_json(fd, false) << ", the symbolic derivative "
            << tensor_to_json(res, false) << " (relative difference " << err << ")";
        fail(why.str());
        return out;
      }
    }
  } catch (const Error& x) {
    fail(std::string("nabla::Error: ") + x.what());
  }
  return out;
}

// The failure report: how to reproduce it.
inline std::string describe(const Expr& e, const Bindings& b, const std::string& failure) {
  std::ostringstream o;
  o << "f = " << to_text(e) << "\n  with " << kLet << "\n  n = " << b.dims.at("n") << ", m = " << b.dims.at("m")
    << "\n  " << failure;
  return o.str();
}

}  // namespace nabla::sym::property
