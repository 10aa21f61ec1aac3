// Expression nodes: dimensions, hash-consing, and the canonicalizing smart
// constructors. Every Expr that exists is in canonical form; see the list of
// invariants above each constructor (each with an e.g.).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

// ---- Dim -----------------------------------------------------------------------

Dim Dim::symbol(const std::string& name) {
  Dim d;
  d.c_ = 0;
  d.terms_.push_back({name, 1});
  return d;
}

std::string Dim::as_symbol() const {
  if (c_ == 0 && terms_.size() == 1 && terms_[0].second == 1 && terms_[0].first.find('*') == std::string::npos)
    return terms_[0].first;
  return "";
}

// A term's name is a monomial: its symbols sorted and joined by '*' ("m*n").
static std::vector<std::string> monomial_symbols(const std::string& m) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= m.size(); ++i)
    if (i == m.size() || m[i] == '*') {
      out.push_back(m.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

static std::string monomial_product(const std::string& a, const std::string& b) {
  std::vector<std::string> s = monomial_symbols(a), t = monomial_symbols(b);
  s.insert(s.end(), t.begin(), t.end());
  std::sort(s.begin(), s.end());
  std::string out;
  for (auto& x : s) out += (out.empty() ? "" : "*") + x;
  return out;
}

static std::vector<std::pair<std::string, int64_t>> merge_terms(
    const std::vector<std::pair<std::string, int64_t>>& a,
    const std::vector<std::pair<std::string, int64_t>>& b, int64_t sign) {
  std::map<std::string, int64_t> m;
  for (auto& [s, k] : a) m[s] += k;
  for (auto& [s, k] : b) m[s] += sign * k;
  std::vector<std::pair<std::string, int64_t>> out;
  for (auto& [s, k] : m)
    if (k != 0) out.push_back({s, k});
  return out;
}

Dim Dim::operator+(const Dim& o) const {
  Dim r;
  r.c_ = c_ + o.c_;
  r.terms_ = merge_terms(terms_, o.terms_, 1);
  return r;
}

Dim Dim::operator-(const Dim& o) const {
  Dim r;
  r.c_ = c_ - o.c_;
  r.terms_ = merge_terms(terms_, o.terms_, -1);
  return r;
}

Dim Dim::operator*(const Dim& o) const {
  std::map<std::string, int64_t> m;
  for (auto& [s, k] : terms_) m[s] += k * o.c_;
  for (auto& [s, k] : o.terms_) m[s] += k * c_;
  for (auto& [s, k] : terms_)
    for (auto& [t, q] : o.terms_) m[monomial_product(s, t)] += k * q;
  Dim r;
  r.c_ = c_ * o.c_;
  for (auto& [s, k] : m)
    if (k != 0) r.terms_.push_back({s, k});
  return r;
}

int Dim::compare(const Dim& o) const {
  if (terms_ != o.terms_) return terms_ < o.terms_ ? -1 : 1;
  if (c_ != o.c_) return c_ < o.c_ ? -1 : 1;
  return 0;
}

std::string Dim::str() const {
  std::string s;
  for (auto& [name, k] : terms_) {
    if (!s.empty()) s += k < 0 ? "-" : "+";
    else if (k < 0) s += "-";
    int64_t a = k < 0 ? -k : k;
    if (a != 1) s += std::to_string(a);
    s += name;
  }
  if (c_ != 0 || s.empty()) {
    if (!s.empty()) s += c_ < 0 ? "-" : "+";
    else if (c_ < 0) s += "-";
    s += std::to_string(c_ < 0 ? -c_ : c_);
  }
  return s;
}

int64_t Dim::eval(const std::map<std::string, int64_t>& dims) const {
  int64_t v = c_;
  for (auto& [s, k] : terms_) {
    int64_t p = 1;
    for (auto& sym : monomial_symbols(s)) {
      auto it = dims.find(sym);
      NABLA_CHECK(it != dims.end(), "dimension '", sym, "' is not bound (give a value whose shape fixes it)");
      NABLA_CHECK(!__builtin_mul_overflow(p, it->second, &p), "dimension ", str(), " overflows");
    }
    NABLA_CHECK(!__builtin_mul_overflow(k, p, &p) && !__builtin_add_overflow(v, p, &v), "dimension ", str(),
                " overflows");
  }
  return v;
}

size_t Dim::hash() const noexcept {
  size_t h = std::hash<int64_t>{}(c_);
  for (auto& [s, k] : terms_) h = h * 1000003u ^ std::hash<std::string>{}(s) ^ (size_t(k) << 7);
  return h;
}

std::string Shape::str() const {
  return rows.str() + "\xC3\x97" + cols.str();  // ×
}

// ---- functions --------------------------------------------------------------

// fn_name and fn_is_elementwise: functions.cpp, from the op registry.

// ---- hash-consing -------------------------------------------------------------

bool Node::depends_on(const std::string& var) const {
  return std::binary_search(vars.begin(), vars.end(), var);
}

namespace {
thread_local WorkBudget* t_budget = nullptr;
}  // namespace

WorkBudget::WorkBudget(uint64_t nodes, const char* what)
    : total_(nodes), left_(nodes), what_(what), outer_(t_budget) {
  t_budget = this;
}
WorkBudget::~WorkBudget() { t_budget = outer_; }

void WorkBudget::charge(uint64_t units) {
  WorkBudget* b = t_budget;
  if (!b) return;
  if (b->left_ >= units) {
    b->left_ -= units;
    return;
  }
  b->left_ = 0;
  throw Error(std::string(b->what_) + ": the derivation outgrew its budget of " + std::to_string(b->total_) +
                  " units of work (DiffOptions::max_work); its answer would be too large to use",
              ErrorKind::value);
}

namespace {

bool same_node(const Node& a, const Node& b) {
  if (a.op != b.op || a.fn != b.fn || a.nscalars != b.nscalars || a.shape != b.shape) return false;
  if (std::memcmp(&a.value, &b.value, sizeof(double)) != 0) return false;
  if (a.name != b.name || a.args.size() != b.args.size() || a.coefs != b.coefs) return false;
  for (size_t i = 0; i < a.args.size(); ++i)
    if (a.args[i] != b.args[i]) return false;
  return true;
}

struct Table {
  std::mutex mu;
  std::unordered_multimap<size_t, std::weak_ptr<const Node>> map;
  size_t sweep_at = 4096;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: nodes may outlive static destruction
  return *t;
}

Expr intern(Node&& n) {
  WorkBudget::charge(1 + n.args.size());  // building a node costs in its operands (hashing, comparing)
  if (n.value == 0) n.value = 0;  // -0 → +0
  size_t h = std::hash<int>{}(int(n.op)) * 31 + int(n.fn);
  h = h * 1000003u ^ std::hash<uint64_t>{}(std::bit_cast<uint64_t>(n.value));
  h = h * 1000003u ^ std::hash<std::string>{}(n.name);
  h = h * 1000003u ^ n.shape.rows.hash();
  h = h * 1000003u ^ n.shape.cols.hash();
  h = h * 1000003u ^ size_t(n.nscalars);
  for (auto& a : n.args) h = h * 1000003u ^ std::hash<const void*>{}(a.get());
  for (double c : n.coefs) h = h * 1000003u ^ std::hash<uint64_t>{}(std::bit_cast<uint64_t>(c));
  n.hash = h;
  n.leaves = n.op == Op::variable ? 1 : 0;
  n.size = 1;
  if (n.op == Op::variable) n.vars = {n.name};
  for (auto& a : n.args) {
    n.leaves += a->leaves;
    n.size += a->size;
    if (!a->vars.empty()) {
      std::vector<std::string> merged;
      std::set_union(n.vars.begin(), n.vars.end(), a->vars.begin(), a->vars.end(),
                     std::back_inserter(merged));
      n.vars = std::move(merged);
    }
  }
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto [lo, hi] = t.map.equal_range(h);
  for (auto it = lo; it != hi;) {
    Expr e = it->second.lock();
    if (!e) {
      it = t.map.erase(it);
      continue;
    }
    if (same_node(*e, n)) return e;
    ++it;
  }
  Expr e(new Node(std::move(n)));
  t.map.emplace(h, e);
  if (t.map.size() > t.sweep_at) {
    for (auto it = t.map.begin(); it != t.map.end();) it = it->second.expired() ? t.map.erase(it) : std::next(it);
    t.sweep_at = std::max<size_t>(4096, 2 * t.map.size());
  }
  return e;
}

Node blank(Op op, const Shape& s) {
  Node n;
  n.op = op;
  n.shape = s;
  return n;
}

}  // namespace

// ---- ordering -----------------------------------------------------------------

int compare(const Expr& a, const Expr& b) {
  if (a == b) return 0;
  if (a->leaves != b->leaves) return a->leaves > b->leaves ? -1 : 1;
  if (a->size != b->size) return a->size < b->size ? -1 : 1;
  if (a->op != b->op) return a->op < b->op ? -1 : 1;
  if (a->fn != b->fn) return a->fn < b->fn ? -1 : 1;
  if (a->name != b->name) return a->name < b->name ? -1 : 1;
  if (a->value != b->value) return a->value < b->value ? -1 : 1;
  if (int c = a->shape.rows.compare(b->shape.rows)) return c;
  if (int c = a->shape.cols.compare(b->shape.cols)) return c;
  if (a->args.size() != b->args.size()) return a->args.size() < b->args.size() ? -1 : 1;
  for (size_t i = 0; i < a->args.size(); ++i)
    if (int c = compare(a->args[i], b->args[i])) return c;
  if (a->coefs != b->coefs) return a->coefs < b->coefs ? -1 : 1;
  if (a->nscalars != b->nscalars) return a->nscalars < b->nscalars ? -1 : 1;
  return 0;
}

// ---- leaves -------------------------------------------------------------------

Expr constant(double v) {
  NABLA_CHECK(std::isfinite(v), "symbolic constant must be finite, got ", v);
  Node n = blank(Op::constant, Shape{});
  n.value = v;
  return intern(std::move(n));
}

Expr variable(const std::string& name, const Shape& shape) {
  Node n = blank(Op::variable, shape);
  n.name = name;
  return intern(std::move(n));
}

Expr dim_value(const std::string& name) {
  Node n = blank(Op::dim, Shape{});
  n.name = name;
  return intern(std::move(n));
}

// zero: a scalar zero is constant(0). e.g. zero(1×1) → 0
Expr zero(const Shape& shape) {
  if (shape.is_scalar()) return constant(0);
  return intern(blank(Op::zero, shape));
}

// identity: eye(1) → 1
Expr identity(const Dim& n) {
  if (n.is_one()) return constant(1);
  return intern(blank(Op::identity, Shape{n, n}));
}

Expr ones(const Shape& shape) {
  if (shape.is_scalar()) return constant(1);
  return intern(blank(Op::ones, shape));
}

static bool is_zero(const Expr& e) { return e->op == Op::zero || e->is_const(0); }

// ---- add ----------------------------------------------------------------------
// Canonical Add: ≥ 2 terms, none an Add, none with a numeric coefficient
// inside (e.g. 2*x is stored as coef 2, term x), none zero, no two equal
// terms (e.g. x + x → 2*x), terms sorted by compare(); a scalar constant c is
// coef c on the term 1. Scalars added to matrices are expanded: x + s → x + s*ones(n).

static void split_coef(const Expr& e, double& c, Expr& term) {
  if (e->op == Op::constant) {
    c = e->value;
    term = constant(1);
    return;
  }
  if (e->op == Op::mul && e->value != 1) {
    c = e->value;
    Node n = *e;
    n.value = 1;
    n.vars.clear();
    // A mul with coef 1 and a single arg is that arg.
    if (n.args.size() == 1) {
      term = n.args[0];
      return;
    }
    term = intern(std::move(n));
    return;
  }
  c = 1;
  term = e;
}

Expr add(std::vector<Expr> terms) {
  NABLA_CHECK(!terms.empty(), "add of no terms");
  Shape shape = terms[0]->shape;
  for (auto& t : terms)
    if (!t->shape.is_scalar()) shape = t->shape;
  std::vector<std::pair<Expr, double>> acc;
  std::unordered_map<const Node*, size_t> index;
  std::function<void(const Expr&, double)> push = [&](const Expr& t, double c) {
    if (c == 0 || is_zero(t)) return;
    double k;
    Expr base;
    split_coef(t, k, base);
    c *= k;
    if (c == 0) return;
    if (base->op == Op::add && terms.size() > 1) {  // e.g. a - (b - c) → a - b + c; 2*(a - b) alone stays
      for (size_t i = 0; i < base->args.size(); ++i) push(base->args[i], c * base->coefs[i]);
      return;
    }
    auto it = index.find(base.get());
    if (it != index.end()) {
      acc[it->second].second += c;
    } else {
      index[base.get()] = acc.size();
      acc.push_back({base, c});
    }
  };
  for (auto& t : terms) {
    if (!shape.is_scalar() && t->shape.is_scalar()) {
      push(mul(t, ones(shape)), 1);
      continue;
    }
    NABLA_CHECK_KIND(t->shape == shape, ErrorKind::shape, "'+' needs equal shapes: ", to_text(terms[0]),
                     " is ", terms[0]->shape.str(), ", ", to_text(t), " is ", t->shape.str());
    if (t->op == Op::add) {
      for (size_t i = 0; i < t->args.size(); ++i) push(t->args[i], t->coefs[i]);
    } else {
      push(t, 1);
    }
  }
  std::vector<std::pair<Expr, double>> kept;
  for (auto& p : acc)
    if (p.second != 0) kept.push_back(p);
  if (kept.empty()) return zero(shape);
  if (kept.size() == 1) return scale(kept[0].second, kept[0].first);
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return compare(a.first, b.first) < 0; });
  Node n = blank(Op::add, shape);
  for (auto& [t, c] : kept) {
    n.args.push_back(t);
    n.coefs.push_back(c);
  }
  return intern(std::move(n));
}

Expr add(const Expr& a, const Expr& b) { return add(std::vector<Expr>{a, b}); }
Expr sub(const Expr& a, const Expr& b) { return add(std::vector<Expr>{a, scale(-1, b)}); }
Expr neg(const Expr& a) { return scale(-1, a); }
Expr scale(double c, const Expr& a) {
  if (c == 1) return a;
  return mul(constant(c), a);
}

// ---- mul ------------------------------------------------------------------------
// Canonical Mul: value = numeric coefficient (≠ 0); args[0..nscalars) are the
// scalar factors (not constants, not Muls with a coefficient, each at most
// once: s*s → s^2, sorted by compare), args[nscalars..) the matrix chain
// (non-scalar factors in product order, no identity unless alone, no nested
// Mul). A 1×1 chain product inside a larger product becomes a scalar factor
// (e.g. (x'*y)*z keeps x'*y as one scalar). Singletons collapse: 1*x → x.

namespace {

// The product of a chain as a Mul with coefficient 1 and no scalars.
Expr pure_chain(const std::vector<Expr>& chain) {
  if (chain.size() == 1) return chain[0];
  Node n = blank(Op::mul, Shape{chain.front()->shape.rows, chain.back()->shape.cols});
  n.value = 1;
  n.args = chain;
  n.nscalars = 0;
  return intern(std::move(n));
}


}  // namespace

Expr mul(std::vector<Expr> factors) {
  NABLA_CHECK(!factors.empty(), "mul of no factors");
  double coef = 1;
  std::vector<std::pair<Expr, double>> scalars;  // base, exponent
  std::vector<Expr> chain;
  bool zero_result = false;
  auto add_scalar = [&](const Expr& s) {
    if (s->op == Op::constant) {
      coef *= s->value;
      return;
    }
    Expr base = s;
    double p = 1;
    if (s->op == Op::power) {
      base = s->args[0];
      p = s->value;
    }
    for (auto& q : scalars)
      if (q.first == base) {
        q.second += p;
        return;
      }
    scalars.push_back({base, p});
  };
  auto add_chain = [&](const Expr& m) {
    if (!chain.empty()) {
      const Shape& l = chain.back()->shape;
      NABLA_CHECK_KIND(l.cols == m->shape.rows, ErrorKind::shape,
                       "'*' needs inner dimensions to agree: ", to_text(pure_chain(chain)), " is ",
                       Shape{chain.front()->shape.rows, l.cols}.str(), ", ", to_text(m), " is ",
                       m->shape.str());
    }
    chain.push_back(m);
  };
  // Does any factor with a non-scalar shape exist? Then 1×1 chains are scalars.
  bool has_matrix = false;
  for (auto& f : factors)
    if (!f->shape.is_scalar()) has_matrix = true;
  std::vector<Expr> wrapped;  // 1×1 chains kept as scalar factors
  for (auto& f : factors) {
    if (is_zero(f)) zero_result = true;
    if (f->op == Op::mul) {
      coef *= f->value;
      for (int i = 0; i < f->nscalars; ++i) add_scalar(f->args[i]);
      std::vector<Expr> sub(f->args.begin() + f->nscalars, f->args.end());
      if (sub.empty()) continue;
      if (f->shape.is_scalar() && (has_matrix || !chain.empty())) {
        add_scalar(pure_chain(sub));
      } else if (f->shape.is_scalar()) {
        wrapped.push_back(pure_chain(sub));
      } else {
        for (auto& m : sub) add_chain(m);
      }
    } else if (f->shape.is_scalar()) {
      add_scalar(f);
    } else {
      add_chain(f);
    }
  }
  // Several 1×1 chains in a scalar product: all but the first become scalar
  // factors; the first stays the chain. e.g. (x'y)*(z'w)
  if (!wrapped.empty()) {
    std::sort(wrapped.begin(), wrapped.end(), [](const Expr& a, const Expr& b) { return compare(a, b) < 0; });
    for (size_t i = 1; i < wrapped.size(); ++i) add_scalar(wrapped[i]);
    if (chain.empty()) {
      chain.assign(wrapped[0]->args.begin(), wrapped[0]->args.end());
    } else {
      add_scalar(wrapped[0]);
    }
  }
  Shape shape = chain.empty() ? Shape{} : Shape{chain.front()->shape.rows, chain.back()->shape.cols};
  if (zero_result || coef == 0) return zero(shape);
  // Drop identities from chains that have something else (I*X = X).
  if (chain.size() > 1) {
    std::vector<Expr> kept;
    for (auto& m : chain)
      if (m->op != Op::identity) kept.push_back(m);
    if (kept.empty()) kept.push_back(chain[0]);
    chain = std::move(kept);
  }
  // Scalar factors: fold powers, drop x^0, fold constant bases.
  std::vector<Expr> sf;
  for (auto& [b, p] : scalars) {
    if (p == 0) continue;
    Expr e = power(b, p);
    if (e->op == Op::constant) {
      coef *= e->value;
      continue;
    }
    sf.push_back(e);
  }
  if (coef == 0) return zero(shape);
  std::sort(sf.begin(), sf.end(), [](const Expr& a, const Expr& b) {
    // Order by base so x and x^-1 sit together; then by the expression.
    const Expr& ba = a->op == Op::power ? a->args[0] : a;
    const Expr& bb = b->op == Op::power ? b->args[0] : b;
    int c = compare(ba, bb);
    return c != 0 ? c < 0 : compare(a, b) < 0;
  });
  size_t count = sf.size() + chain.size();
  if (count == 0) return constant(coef);
  if (count == 1 && coef == 1) return sf.empty() ? chain[0] : sf[0];
  Node n = blank(Op::mul, shape);
  n.value = coef;
  n.nscalars = int(sf.size());
  n.args = sf;
  n.args.insert(n.args.end(), chain.begin(), chain.end());
  return intern(std::move(n));
}

Expr mul(const Expr& a, const Expr& b) { return mul(std::vector<Expr>{a, b}); }

Expr divide(const Expr& a, const Expr& s) {
  NABLA_CHECK_KIND(s->shape.is_scalar(), ErrorKind::shape, "'/' divides by a scalar only: ", to_text(s), " is ",
                   s->shape.str(), " (use ./ for element-wise division)");
  NABLA_CHECK(!s->is_const(0), "division by zero");
  return mul(a, power(s, -1));
}

// ---- hadamard -------------------------------------------------------------------
// Canonical Hadamard: ≥ 2 non-scalar factors of equal shape, none a Hadamard,
// no ones (x .* ones = x), scalar parts pulled out (x .* (2*y) → 2*(x .* y)),
// equal bases merged into powers (x .* x → x.^2), sorted.

Expr hadamard(std::vector<Expr> factors) {
  NABLA_CHECK(!factors.empty(), "hadamard of no factors");
  Shape shape = factors[0]->shape;
  for (auto& f : factors)
    if (!f->shape.is_scalar()) shape = f->shape;
  std::vector<Expr> outside;  // scalar multipliers
  std::vector<std::pair<Expr, double>> inside;
  auto push = [&](const Expr& f) {
    Expr base = f;
    double p = 1;
    if (f->op == Op::power) {
      base = f->args[0];
      p = f->value;
    }
    for (auto& q : inside)
      if (q.first == base) {
        q.second += p;
        return;
      }
    inside.push_back({base, p});
  };
  std::vector<Expr> work(factors.begin(), factors.end());
  for (size_t i = 0; i < work.size(); ++i) {
    Expr f = work[i];
    if (f->shape.is_scalar()) {
      outside.push_back(f);
      continue;
    }
    NABLA_CHECK_KIND(f->shape == shape, ErrorKind::shape, "'.*' needs equal shapes: ", to_text(factors[0]),
                     " is ", factors[0]->shape.str(), ", ", to_text(f), " is ", f->shape.str());
    if (f->op == Op::zero) return zero(shape);
    if (f->op == Op::ones) continue;
    if (f->op == Op::hadamard) {
      for (auto& g : f->args) work.push_back(g);
      continue;
    }
    if (f->op == Op::mul && (f->value != 1 || f->nscalars > 0)) {
      outside.push_back(constant(f->value));
      for (int k = 0; k < f->nscalars; ++k) outside.push_back(f->args[k]);
      std::vector<Expr> rest(f->args.begin() + f->nscalars, f->args.end());
      work.push_back(pure_chain(rest));
      continue;
    }
    push(f);
  }
  std::vector<Expr> fs;
  for (auto& [b, p] : inside) {
    if (p == 0) continue;
    fs.push_back(power(b, p));
  }
  Expr core;
  if (fs.empty()) {
    core = ones(shape);
  } else if (fs.size() == 1) {
    core = fs[0];
  } else {
    std::sort(fs.begin(), fs.end(), [](const Expr& a, const Expr& b) { return compare(a, b) < 0; });
    Node n = blank(Op::hadamard, shape);
    n.args = fs;
    core = intern(std::move(n));
  }
  if (outside.empty()) return core;
  outside.push_back(core);
  return mul(outside);
}

Expr hadamard(const Expr& a, const Expr& b) { return hadamard(std::vector<Expr>{a, b}); }

// ---- power ----------------------------------------------------------------------
// x^1 → x, x^0 → 1 (ones), constants folded, (x^a)^b → x^(ab) for integer a, b,
// (2*s)^p → 2^p * s^p for scalar products with integer p.

Expr power(const Expr& a, double p) {
  NABLA_CHECK(std::isfinite(p), "exponent must be finite");
  if (p == 1) return a;
  if (p == 0) return ones(a->shape);
  if (a->op == Op::constant) {
    double v = std::pow(a->value, p);
    NABLA_CHECK(std::isfinite(v), "constant ", a->value, "^", p, " is not finite");
    return constant(v);
  }
  if (a->op == Op::ones) return a;
  if (a->op == Op::zero) {
    NABLA_CHECK(p > 0, "zero to a negative power");
    return a;
  }
  bool pint = p == std::floor(p);
  if (a->op == Op::power && pint && a->value == std::floor(a->value)) return power(a->args[0], a->value * p);
  if (a->op == Op::mul && a->shape.is_scalar() && pint && (a->value != 1 || a->nscalars > 0)) {
    std::vector<Expr> fs{constant(std::pow(a->value, p))};
    for (int i = 0; i < a->nscalars; ++i) fs.push_back(power(a->args[i], p));
    std::vector<Expr> rest(a->args.begin() + a->nscalars, a->args.end());
    if (!rest.empty()) fs.push_back(power(pure_chain(rest), p));
    return mul(fs);
  }
  if (a->op == Op::hadamard && pint) {
    std::vector<Expr> fs;
    for (auto& f : a->args) fs.push_back(power(f, p));
    return hadamard(fs);
  }
  Node n = blank(Op::power, a->shape);
  n.value = p;
  n.args = {a};
  return intern(std::move(n));
}

// ---- transpose ------------------------------------------------------------------
// Pushed through products to the leaves: s' = s, (A')' = A, (AB)' = B'A',
// eye' = eye, diag(v)' = diag(v). It stays on variables, inv(X) (printed
// inv(X)'), softmax, [a; b], and on sums and element-wise nodes, where
// (y - relu(u))' reads better than y' - relu(u'); the rule
// "transpose of a sum" pushes it into a sum when that removes transposes.

Expr transpose(const Expr& a) {
  if (a->shape.is_scalar()) return a;
  switch (a->op) {
    case Op::transpose: return a->args[0];
    case Op::identity: return a;
    case Op::zero: return zero(a->shape.t());
    case Op::ones: return ones(a->shape.t());
    case Op::mul: {
      std::vector<Expr> fs{constant(a->value)};
      for (int i = 0; i < a->nscalars; ++i) fs.push_back(a->args[i]);
      for (size_t i = a->args.size(); i-- > size_t(a->nscalars);) fs.push_back(transpose(a->args[i]));
      return mul(fs);
    }
    case Op::func:
      if (a->fn == Fn::diag && a->shape.is_square() && a->args[0]->shape.is_vector()) return a;
      break;
    case Op::kron: return kron(transpose(a->args[0]), transpose(a->args[1]));  // (A ⊗ B)' = A' ⊗ B'
    case Op::commutation: return commutation(a->args[0]->shape.cols, a->args[0]->shape.rows);  // K(m,n)' = K(n,m)
    case Op::constant: case Op::variable: case Op::dim: case Op::vcat: case Op::add: case Op::hadamard:
    case Op::power:
      break;
  }
  Node n = blank(Op::transpose, a->shape.t());
  n.args = {a};
  return intern(std::move(n));
}

// ---- functions ------------------------------------------------------------------

static double fold(Fn f, double x) {
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
      return fold_elementwise(f, x);
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::diag: case Fn::vec: return x;
    case Fn::logdet: return std::log(x);
    case Fn::inv: return 1 / x;
    case Fn::softmax: return 1;
    case Fn::norm2: return std::fabs(x);
  }
  return x;
}

Expr func(Fn f, const Expr& a) {
  const Shape& s = a->shape;
  Shape out = s;
  switch (f) {
    case Fn::sum: out = Shape{}; break;
    case Fn::norm2: out = Shape{}; break;
    case Fn::tr: case Fn::det: case Fn::logdet:
      NABLA_CHECK_KIND(s.is_square(), ErrorKind::shape, fn_name(f), " needs a square matrix: ", to_text(a), " is ",
                       s.str());
      out = Shape{};
      break;
    case Fn::inv:
      NABLA_CHECK_KIND(s.is_square(), ErrorKind::shape, "inv needs a square matrix: ", to_text(a), " is ", s.str());
      break;
    case Fn::softmax:
      NABLA_CHECK_KIND(s.cols.is_one(), ErrorKind::shape, "softmax needs a column vector: ", to_text(a), " is ",
                       s.str());
      break;
    case Fn::diag:
      if (s.is_vector()) {
        Dim n = s.is_col() ? s.rows : s.cols;
        out = Shape{n, n};
      } else {
        NABLA_CHECK_KIND(s.is_square(), ErrorKind::shape, "diag needs a vector or a square matrix: ", to_text(a),
                         " is ", s.str());
        out = Shape{s.rows, 1};
      }
      break;
    case Fn::vec:
      if (s.cols.is_one()) return a;  // a column is its own vec
      if (s.rows.is_one()) return transpose(a);
      out = Shape{s.rows * s.cols, 1};
      break;
    default: break;
  }
  // Folding and unconditional identities.
  if (a->op == Op::constant && f != Fn::softmax) {
    double v = fold(f, a->value);
    if (std::isfinite(v)) return constant(v);
  }
  if (s.is_scalar()) {
    if (f == Fn::sum || f == Fn::tr || f == Fn::det || f == Fn::diag) return a;  // e.g. tr(s) = s
    if (f == Fn::inv) return power(a, -1);
    if (f == Fn::softmax) return constant(1);
    if (f == Fn::norm2) return func(Fn::abs, a);
  }
  if (fn_is_elementwise(f)) {
    if (a->op == Op::zero) {
      double v = fold(f, 0);
      if (v == 0) return a;
      if (std::isfinite(v)) return scale(v, ones(s));
    }
    if (a->op == Op::ones) {
      double v = fold(f, 1);
      if (std::isfinite(v)) return scale(v, ones(s));
    }
    if (f == Fn::log && a->op == Op::func && a->args[0]->op != Op::transpose && a->fn == Fn::exp) return a->args[0];
  }
  switch (f) {
    case Fn::tr:
      if (a->op == Op::identity && a->shape.rows.is_const()) return constant(double(a->shape.rows.constant()));
      if (a->op == Op::identity && !a->shape.rows.as_symbol().empty()) return dim_value(a->shape.rows.as_symbol());
      if (a->op == Op::transpose) return func(Fn::tr, a->args[0]);  // tr(A') = tr(A)
      break;
    case Fn::det:
    case Fn::logdet:
      if (a->op == Op::transpose) return func(f, a->args[0]);  // det(A') = det(A)
      if (a->op == Op::identity) return constant(f == Fn::det ? 1 : 0);
      break;
    case Fn::inv:
      if (a->op == Op::func && a->fn == Fn::inv) return a->args[0];      // inv(inv(X)) = X
      if (a->op == Op::transpose) return transpose(func(Fn::inv, a->args[0]));  // inv(X') = inv(X)'
      if (a->op == Op::identity) return a;
      break;
    case Fn::sum:
      if (a->op == Op::transpose) return func(Fn::sum, a->args[0]);
      break;
    case Fn::norm2:
      if (a->op == Op::transpose) return func(Fn::norm2, a->args[0]);
      break;
    case Fn::diag:
      // diag(v') = diag(v) for a column v. Not for a row r: diag(r) is
      // written diag(r') below, and the two rules would undo each other.
      if (a->op == Op::transpose && a->args[0]->shape.is_col()) return func(Fn::diag, a->args[0]);
      if (a->op == Op::func && a->fn == Fn::diag && a->args[0]->shape.is_col() && s.is_square())
        return a->args[0];  // diag(diag(v)) = v
      if (a->op == Op::ones && s.is_vector()) return identity(out.rows);
      break;
    default: break;
  }
  if (f == Fn::diag && s.is_row()) return func(Fn::diag, transpose(a));
  if ((f == Fn::diag || f == Fn::tr || f == Fn::sum) && a->op == Op::mul && (a->value != 1 || a->nscalars > 0)) {
    // Linear: diag(c*s*v) = c*s*diag(v), and likewise tr and sum.
    std::vector<Expr> fs{constant(a->value)};
    for (int i = 0; i < a->nscalars; ++i) fs.push_back(a->args[i]);
    std::vector<Expr> chain(a->args.begin() + a->nscalars, a->args.end());
    fs.push_back(func(f, chain.size() == 1 ? chain[0] : mul(chain)));
    return mul(fs);
  }
  Node n = blank(Op::func, out);
  n.fn = f;
  n.args = {a};
  return intern(std::move(n));
}

// ---- vcat, inner ----------------------------------------------------------------

Expr vcat(std::vector<Expr> parts) {
  NABLA_CHECK(!parts.empty(), "empty [ ]");
  if (parts.size() == 1) return parts[0];
  Dim rows = 0;
  for (auto& p : parts) {
    NABLA_CHECK_KIND(p->shape.cols == parts[0]->shape.cols, ErrorKind::shape,
                     "'[;]' needs equal column counts: ", to_text(parts[0]), " is ", parts[0]->shape.str(), ", ",
                     to_text(p), " is ", p->shape.str());
    rows = rows + p->shape.rows;
  }
  Node n = blank(Op::vcat, Shape{rows, parts[0]->shape.cols});
  n.args = std::move(parts);
  return intern(std::move(n));
}

Expr inner(const Expr& a, const Expr& b) {
  if (a->shape.is_scalar() || b->shape.is_scalar()) return mul(a, b);
  if (a->op == Op::ones) return func(Fn::sum, b);  // <1, b> = sum(b)
  if (b->op == Op::ones) return func(Fn::sum, a);
  NABLA_CHECK_KIND(a->shape == b->shape, ErrorKind::shape, "inner product of ", a->shape.str(), " and ",
                   b->shape.str());
  if (a->shape.is_col()) return mul(transpose(a), b);
  if (a->shape.is_row()) return mul(a, transpose(b));
  return func(Fn::sum, hadamard(a, b));
}

// ---- Kronecker products, vec, commutation ----------------------------------------
// Canonical Kron: two non-scalar factors (a scalar factor scales: s ⊗ B = s·B),
// numeric coefficients and scalar factors pulled out in front (a Mul),
// I_m ⊗ I_n = I_mn, and zeros absorb.

Expr kron(const Expr& a, const Expr& b) {
  if (a->shape.is_scalar() || b->shape.is_scalar()) return mul(a, b);
  const Shape s{a->shape.rows * b->shape.rows, a->shape.cols * b->shape.cols};
  if (is_zero(a) || is_zero(b)) return zero(s);
  if (a->op == Op::identity && b->op == Op::identity) return identity(s.rows);
  if (a->op == Op::ones && b->op == Op::ones) return ones(s);
  // (c·s·A) ⊗ B = c·s·(A ⊗ B)
  auto split = [](const Expr& e, std::vector<Expr>& outside) -> Expr {
    if (e->op != Op::mul || (e->value == 1 && e->nscalars == 0)) return e;
    outside.push_back(constant(e->value));
    for (int i = 0; i < e->nscalars; ++i) outside.push_back(e->args[i]);
    std::vector<Expr> chain(e->args.begin() + e->nscalars, e->args.end());
    return pure_chain(chain);
  };
  std::vector<Expr> outside;
  Expr pa = split(a, outside), pb = split(b, outside);
  Node n = blank(Op::kron, s);
  n.args = {pa, pb};
  Expr core = intern(std::move(n));
  if (outside.empty()) return core;
  outside.push_back(core);
  return mul(outside);
}

Expr vec(const Expr& a) { return func(Fn::vec, a); }

Expr commutation(const Dim& m, const Dim& n) {
  if (m.is_one() || n.is_one()) return identity(m * n);
  Node k = blank(Op::commutation, Shape{m * n, m * n});
  k.args = {zero(Shape{m, n})};
  return intern(std::move(k));
}

// ---- declarations ---------------------------------------------------------------

Expr Declarations::var(const std::string& name) const {
  auto it = vars.find(name);
  NABLA_CHECK(it != vars.end(), "'", name, "' is not declared");
  return variable(name, it->second);
}

bool Declarations::is_dim(const std::string& s) const {
  return std::find(dims.begin(), dims.end(), s) != dims.end();
}

}  // namespace nabla::sym
