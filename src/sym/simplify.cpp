// The rewrite rules: identities that are choices rather than canonical form.
// Each rule has a name (cited by --steps) and a one-line statement. simplify()
// rebuilds bottom-up through the smart constructors, then tries the rules on
// each node until none fires (bounded).
#include <cmath>
#include <optional>
#include <unordered_map>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

namespace {

using RuleFn = Expr (*)(const Expr&);

struct Rule {
  const char* name;
  RuleFn apply;  // the rewritten expression, or nullptr when it does not apply
};

// A term of a sum split as scalar part (coef·scalars) and matrix chain.
struct Split {
  std::vector<Expr> scalars;  // including the constant coefficient
  std::vector<Expr> chain;
};

Split split(const Expr& t, double coef) {
  Split s;
  s.scalars.push_back(constant(coef));
  if (t->op == Op::mul) {
    s.scalars.push_back(constant(t->value));
    for (int i = 0; i < t->nscalars; ++i) s.scalars.push_back(t->args[i]);
    for (size_t i = t->nscalars; i < t->args.size(); ++i) s.chain.push_back(t->args[i]);
  } else if (t->shape.is_scalar()) {
    s.scalars.push_back(t);
  } else {
    s.chain.push_back(t);
  }
  return s;
}

// The factor at the right (or left) end of a term's matrix chain, null when
// the term has no chain; `longer`: the chain has more than that factor.
const Node* chain_end(const Expr& t, bool right, bool& longer) {
  longer = false;
  if (t->op == Op::mul) {
    const size_t n = t->args.size() - size_t(t->nscalars);
    if (n == 0) return nullptr;
    longer = n > 1;
    return (right ? t->args.back() : t->args[size_t(t->nscalars)]).get();
  }
  return t->shape.is_scalar() ? nullptr : t.get();
}

// c₁·P·F + c₂·Q·F → (c₁·P + c₂·Q)·F (right) and F·P + F·Q → F·(P + Q) (left).
// Linear in the size of the sum: the terms' end factors are counted in one
// pass, and only the terms that share the chosen one are rebuilt.
Expr factor(const Expr& e, bool right) {
  if (e->op != Op::add || e->shape.is_scalar()) return nullptr;
  struct Count {
    size_t n = 0;
    bool longer = false;
  };
  std::unordered_map<const Node*, Count> counts;
  std::vector<const Node*> ends(e->args.size());
  for (size_t i = 0; i < e->args.size(); ++i) {
    bool longer;
    ends[i] = chain_end(e->args[i], right, longer);
    if (!ends[i]) continue;
    Count& c = counts[ends[i]];
    ++c.n;
    c.longer = c.longer || longer;
  }
  // The factor shared by the most terms (first such in term order).
  const Node* best = nullptr;
  size_t best_count = 1;
  for (const Node* k : ends) {
    if (!k) continue;
    const Count& c = counts[k];
    if (c.n > best_count && (c.longer || k->shape.is_vector())) {
      best = k;
      best_count = c.n;
    }
  }
  if (!best) return nullptr;
  Expr best_e;
  std::vector<Expr> inside, others;
  for (size_t i = 0; i < e->args.size(); ++i) {
    if (ends[i] != best) {
      others.push_back(scale(e->coefs[i], e->args[i]));
      continue;
    }
    Split p = split(e->args[i], e->coefs[i]);
    WorkBudget::charge(p.chain.size());  // the term is rebuilt without its end factor
    best_e = right ? p.chain.back() : p.chain.front();
    std::vector<Expr> fs = p.scalars;
    if (right) {
      fs.insert(fs.end(), p.chain.begin(), p.chain.end() - 1);
      if (p.chain.size() == 1) fs.push_back(identity(best->shape.rows));
    } else {
      if (p.chain.size() == 1) fs.push_back(identity(best->shape.cols));
      fs.insert(fs.end(), p.chain.begin() + 1, p.chain.end());
    }
    inside.push_back(mul(fs));
  }
  Expr sum = add(inside);
  Expr factored = right ? mul(sum, best_e) : mul(best_e, sum);
  others.push_back(factored);
  Expr out = add(others);
  return out == e ? nullptr : out;
}

Expr factor_right(const Expr& e) { return factor(e, true); }
Expr factor_left(const Expr& e) { return factor(e, false); }

// sum(a .* b) = a'*b for column vectors (a*b' for rows).
Expr sum_hadamard_inner(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::sum) return nullptr;
  const Expr& h = e->args[0];
  if (h->op != Op::hadamard || !h->shape.is_vector()) return nullptr;
  std::vector<Expr> rest(h->args.begin() + 1, h->args.end());
  Expr b = rest.size() == 1 ? rest[0] : hadamard(rest);
  return inner(h->args[0], b);
}

int count_transposes(const Expr& e);

// sum(P .* Q) = tr(P'*Q) for two matrices when P' has fewer transposes than P:
// sum(inv(X)' .* B) = tr(inv(X)*B).
Expr sum_hadamard_trace(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::sum) return nullptr;
  const Expr& h = e->args[0];
  if (h->op != Op::hadamard || h->args.size() != 2 || h->shape.is_vector()) return nullptr;
  for (int i = 0; i < 2; ++i) {
    const Expr &p = h->args[size_t(i)], &q = h->args[size_t(1 - i)];
    Expr pt = transpose(p);
    if (count_transposes(pt) < count_transposes(p)) return func(Fn::tr, mul(pt, q));
  }
  return nullptr;
}

// sum(c·s·X) = c·s·sum(X): constant and scalar factors leave the sum.
Expr sum_linear(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::sum) return nullptr;
  const Expr& m = e->args[0];
  if (m->op == Op::ones) {
    std::string a = m->shape.rows.as_symbol(), b = m->shape.cols.as_symbol();
    auto dimx = [](const Dim& d) -> Expr {
      if (d.is_const()) return constant(double(d.constant()));
      if (!d.as_symbol().empty()) return dim_value(d.as_symbol());
      return nullptr;
    };
    Expr r = dimx(m->shape.rows), c = dimx(m->shape.cols);
    if (r && c) return mul(r, c);
    return nullptr;
  }
  if (m->op == Op::add) {  // sum(a + b) = sum(a) + sum(b)
    std::vector<Expr> ts;
    for (size_t i = 0; i < m->args.size(); ++i) ts.push_back(scale(m->coefs[i], func(Fn::sum, m->args[i])));
    return add(ts);
  }
  if (m->op != Op::mul || (m->value == 1 && m->nscalars == 0)) return nullptr;
  std::vector<Expr> fs{constant(m->value)};
  for (int i = 0; i < m->nscalars; ++i) fs.push_back(m->args[i]);
  std::vector<Expr> chain(m->args.begin() + m->nscalars, m->args.end());
  fs.push_back(func(Fn::sum, mul(chain)));
  return mul(fs);
}

// ones(n)'*v = sum(v) for a column v; v'*ones(n) = sum(v).
Expr ones_product_sum(const Expr& e) {
  if (e->op != Op::mul || !e->shape.is_scalar()) return nullptr;
  size_t ns = e->nscalars, k = e->args.size();
  if (k - ns != 2) return nullptr;
  const Expr& a = e->args[ns];
  const Expr& b = e->args[ns + 1];
  Expr v;
  if (a->op == Op::ones && a->shape.is_row()) v = b;
  else if (b->op == Op::ones && b->shape.is_col()) v = a;
  if (!v) return nullptr;
  std::vector<Expr> fs{constant(e->value)};
  for (size_t i = 0; i < ns; ++i) fs.push_back(e->args[i]);
  fs.push_back(func(Fn::sum, v));
  return mul(fs);
}

// tr(c·s·M) = c·s·tr(M); tr(v*w') = w'*v (cyclic, to a scalar).
Expr trace_rules(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::tr) return nullptr;
  const Expr& m = e->args[0];
  if (m->op == Op::add) {
    std::vector<Expr> ts;
    for (size_t i = 0; i < m->args.size(); ++i) ts.push_back(scale(m->coefs[i], func(Fn::tr, m->args[i])));
    return add(ts);
  }
  if (m->op != Op::mul) return nullptr;
  std::vector<Expr> fs{constant(m->value)};
  for (int i = 0; i < m->nscalars; ++i) fs.push_back(m->args[i]);
  std::vector<Expr> chain(m->args.begin() + m->nscalars, m->args.end());
  if (chain.front()->shape.is_col()) {  // tr(v R) = R v
    std::rotate(chain.begin(), chain.begin() + 1, chain.end());
    fs.push_back(mul(chain));
    return mul(fs);
  }
  if (chain.back()->shape.is_row()) {  // tr(L w') = w' L
    std::rotate(chain.rbegin(), chain.rbegin() + 1, chain.rend());
    fs.push_back(mul(chain));
    return mul(fs);
  }
  if (fs.size() > 1 || m->value != 1) {
    if (m->value == 1 && m->nscalars == 0) return nullptr;
    fs.push_back(func(Fn::tr, mul(chain)));
    return mul(fs);
  }
  return nullptr;
}

// Rewrites each adjacent pair (a, b) of e's matrix chain that `merge` combines
// into one factor; nullptr when no pair merges.
Expr merge_adjacent(const Expr& e, Expr (*merge)(const Expr&, const Expr&)) {
  if (e->op != Op::mul) return nullptr;
  size_t ns = e->nscalars, k = e->args.size();
  for (size_t i = ns; i + 1 < k; ++i) {
    Expr m = merge(e->args[i], e->args[i + 1]);
    if (!m) continue;
    std::vector<Expr> fs{constant(e->value)};
    for (size_t j = 0; j < k; ++j) {
      if (j == i) fs.push_back(m);
      else if (j != i + 1) fs.push_back(e->args[j]);
    }
    return mul(fs);
  }
  return nullptr;
}

// diag(v)*u = v .* u and u'*diag(v) = (v .* u)' for vectors u.
Expr diag_vector(const Expr& e) {
  return merge_adjacent(e, [](const Expr& a, const Expr& b) -> Expr {
    if (a->op == Op::func && a->fn == Fn::diag && a->args[0]->shape.is_col() && b->shape.is_col())
      return hadamard(a->args[0], b);
    if (b->op == Op::func && b->fn == Fn::diag && b->args[0]->shape.is_col() && a->shape.is_row())
      return hadamard(a, transpose(b->args[0]));
    if (a->op == Op::func && a->fn == Fn::diag && b->op == Op::func && b->fn == Fn::diag &&
        a->args[0]->shape.is_col() && b->args[0]->shape.is_col())
      return func(Fn::diag, hadamard(a->args[0], b->args[0]));
    return nullptr;
  });
}

// inv(X)*X = I, X*inv(X) = I (and transposed).
Expr inverse_cancel(const Expr& e) {
  if (e->op != Op::mul) return nullptr;
  size_t ns = e->nscalars, k = e->args.size();
  auto inv_of = [](const Expr& a) -> Expr {
    if (a->op == Op::func && a->fn == Fn::inv) return a->args[0];
    if (a->op == Op::transpose && a->args[0]->op == Op::func && a->args[0]->fn == Fn::inv)
      return transpose(a->args[0]->args[0]);
    return nullptr;
  };
  for (size_t i = ns; i + 1 < k; ++i) {
    Expr x = inv_of(e->args[i]), y = inv_of(e->args[i + 1]);
    if ((x && x == e->args[i + 1]) || (y && y == e->args[i])) {
      std::vector<Expr> fs{constant(e->value)};
      for (size_t j = 0; j < k; ++j)
        if (j != i && j != i + 1) fs.push_back(e->args[j]);
      if (fs.size() == 1 || (fs.size() == size_t(ns) + 1)) fs.push_back(identity(e->args[i]->shape.rows));
      return mul(fs);
    }
  }
  return nullptr;
}

// ‖a‖² = a'a for vectors (and ‖a‖^(2k) = (a'a)^k).
Expr norm_squared(const Expr& e) {
  if (e->op != Op::power || e->value != 2) return nullptr;
  const Expr& n = e->args[0];
  if (n->op != Op::func || n->fn != Fn::norm2 || !n->args[0]->shape.is_vector()) return nullptr;
  return inner(n->args[0], n->args[0]);
}

int count_transposes(const Expr& e) {
  int c = e->op == Op::transpose ? 1 : 0;
  for (auto& a : e->args) c += count_transposes(a);
  return c;
}

// (A + B)' = A' + B' when that leaves fewer transposes, e.g. (A + A')' = A + A'.
Expr transpose_sum(const Expr& e) {
  if (e->op != Op::transpose || e->args[0]->op != Op::add) return nullptr;
  const Expr& s = e->args[0];
  std::vector<Expr> ts;
  for (size_t i = 0; i < s->args.size(); ++i) ts.push_back(scale(s->coefs[i], transpose(s->args[i])));
  Expr out = add(ts);
  return count_transposes(out) < count_transposes(e) ? out : nullptr;
}

// Expands hadamard products over sums, recursively: (a + b) .* c → a.*c + b.*c.
Expr expand_hadamard(const Expr& e, int budget) {
  if (budget <= 0 || e->op != Op::hadamard) return e;
  for (size_t i = 0; i < e->args.size(); ++i) {
    const Expr& s = e->args[i];
    if (s->op != Op::add) continue;
    std::vector<Expr> others;
    for (size_t j = 0; j < e->args.size(); ++j)
      if (j != i) others.push_back(e->args[j]);
    std::vector<Expr> terms;
    for (size_t k = 0; k < s->args.size(); ++k) {
      std::vector<Expr> fs = others;
      fs.push_back(s->args[k]);
      Expr t = hadamard(fs);
      if (t->op == Op::mul) {  // scalars pulled out: expand the hadamard inside
        std::vector<Expr> parts(t->args.begin(), t->args.end());
        for (auto& p : parts) p = expand_hadamard(p, budget - 1);
        parts.insert(parts.begin(), constant(t->value));
        t = mul(parts);
      } else {
        t = expand_hadamard(t, budget - 1);
      }
      terms.push_back(scale(s->coefs[k], t));
    }
    return add(terms);
  }
  return e;
}

// a .* (b + c) = a.*b + a.*c, applied only when the expansion is smaller
// (factors cancel, e.g. (y ./ s + z) .* s = y + z .* s).
Expr hadamard_distribute(const Expr& e) {
  if (e->op != Op::hadamard) return nullptr;
  bool has_sum = false;
  for (auto& a : e->args)
    if (a->op == Op::add) has_sum = true;
  if (!has_sum) return nullptr;
  Expr x = expand_hadamard(e, 4);
  return x->size + 2 <= e->size ? x : nullptr;
}

// a'*b = sum(a .* b) when the hadamard product cancels: s'*(y ./ s) = sum(y).
Expr inner_cancel(const Expr& e) {
  if (e->op != Op::mul || e->nscalars != 0 || e->value != 1 || e->args.size() != 2 || !e->shape.is_scalar())
    return nullptr;
  const Expr& a = e->args[0];
  const Expr& b = e->args[1];
  if (!a->shape.is_row() || !b->shape.is_col()) return nullptr;
  Expr h = hadamard(transpose(a), b);
  if (h->size >= a->size + b->size - 1) return nullptr;
  return func(Fn::sum, h);
}

// c₁·diag(a) + c₂·diag(b) = diag(c₁·a + c₂·b).
Expr diag_sum(const Expr& e) {
  if (e->op != Op::add) return nullptr;
  std::vector<Expr> inside, others;
  for (size_t i = 0; i < e->args.size(); ++i) {
    const Expr& t = e->args[i];
    if (t->op == Op::func && t->fn == Fn::diag && t->args[0]->shape.is_col())
      inside.push_back(scale(e->coefs[i], t->args[0]));
    else
      others.push_back(scale(e->coefs[i], t));
  }
  if (inside.size() < 2) return nullptr;
  others.push_back(func(Fn::diag, add(inside)));
  return add(others);
}

// exp(a)/sum(exp(a)) = softmax(a), and diag(exp(a))/sum(exp(a)) = diag(softmax(a)),
// for a column a: the forms a log-sum-exp's gradient and Hessian take.
Expr softmax_form(const Expr& e) {
  if (e->op != Op::mul || e->nscalars < 1 || e->args.size() - size_t(e->nscalars) != 1) return nullptr;
  const Expr& m = e->args.back();
  const bool diag = m->op == Op::func && m->fn == Fn::diag;
  const Expr& v = diag ? m->args[0] : m;
  if (v->op != Op::func || v->fn != Fn::exp || !v->shape.is_col()) return nullptr;
  for (int i = 0; i < e->nscalars; ++i) {
    const Expr& s = e->args[size_t(i)];
    if (s->op != Op::power || s->value != -1 || s->args[0]->op != Op::func || s->args[0]->fn != Fn::sum ||
        s->args[0]->args[0] != v)
      continue;
    std::vector<Expr> rest{constant(e->value)};
    for (int j = 0; j < e->nscalars; ++j)
      if (j != i) rest.push_back(e->args[size_t(j)]);
    Expr sm = func(Fn::softmax, v->args[0]);
    rest.push_back(diag ? func(Fn::diag, sm) : sm);
    return mul(rest);
  }
  return nullptr;
}

// u when s is exp(u) + 1 (the 1 a scalar or a matrix of ones), else null.
Expr exp_plus_one(const Expr& s) {
  if (s->op != Op::add || s->args.size() != 2 || s->coefs[0] != 1 || s->coefs[1] != 1) return nullptr;
  for (int i = 0; i < 2; ++i) {
    const Expr& a = s->args[size_t(i)];
    const Expr& one = s->args[size_t(1 - i)];
    if (a->op == Op::func && a->fn == Fn::exp && (one->is_const(1) || one->op == Op::ones)) return a->args[0];
  }
  return nullptr;
}

// exp(u) ./ (exp(u) + 1) = sigmoid(u), element-wise or of scalars (the logistic
// function, as the derivative of log(1 + exp(u)) comes out).
Expr sigmoid_form(const Expr& e) {
  const bool had = e->op == Op::hadamard;
  if (!had && e->op != Op::mul) return nullptr;
  const size_t end = had ? e->args.size() : size_t(e->nscalars);
  for (size_t i = 0; i < end; ++i) {
    const Expr& d = e->args[i];
    if (d->op != Op::power || d->value != -1) continue;
    Expr u = exp_plus_one(d->args[0]);
    if (!u) continue;
    for (size_t j = 0; j < end; ++j) {
      const Expr& n = e->args[j];
      if (j == i || n->op != Op::func || n->fn != Fn::exp || n->args[0] != u) continue;
      std::vector<Expr> rest;
      for (size_t k = 0; k < e->args.size(); ++k)
        if (k != i && k != j) rest.push_back(e->args[k]);
      Expr s = func(Fn::sigmoid, u);
      if (had) {
        rest.push_back(s);
        return rest.size() == 1 ? rest[0] : hadamard(rest);
      }
      rest.insert(rest.begin(), s);
      rest.insert(rest.begin(), constant(e->value));
      return mul(rest);
    }
  }
  return nullptr;
}

// log(exp(u) + 1) = softplus(u).
Expr softplus_form(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::log) return nullptr;
  Expr u = exp_plus_one(e->args[0]);
  return u ? func(Fn::softplus, u) : nullptr;
}

// c·a + c·b = c·(a + b), when every term's coefficient is ±c, c ≠ 1.
Expr common_coefficient(const Expr& e) {
  if (e->op != Op::add || e->args.size() < 2) return nullptr;
  const double c = std::fabs(e->coefs[0]);
  if (c == 1 || c == 0) return nullptr;
  std::vector<Expr> terms;
  for (size_t i = 0; i < e->args.size(); ++i) {
    if (std::fabs(e->coefs[i]) != c) return nullptr;
    terms.push_back(e->coefs[i] < 0 ? neg(e->args[i]) : e->args[i]);
  }
  return mul(constant(c), add(terms));
}

// (A ⊗ B)*(C ⊗ D) = (A*C) ⊗ (B*D) where the products exist.
Expr kron_mixed(const Expr& e) {
  return merge_adjacent(e, [](const Expr& a, const Expr& b) -> Expr {
    if (a->op != Op::kron || b->op != Op::kron) return nullptr;
    const Expr &A = a->args[0], &B = a->args[1], &C = b->args[0], &D = b->args[1];
    if (A->shape.cols != C->shape.rows || B->shape.cols != D->shape.rows) return nullptr;
    return kron(mul(A, C), mul(B, D));
  });
}

// vec(M)' with M's shape, if e is one.
const Expr* vec_row_of(const Expr& e) {
  if (e->op == Op::transpose && e->args[0]->op == Op::func && e->args[0]->fn == Fn::vec) return &e->args[0]->args[0];
  return nullptr;
}

// (A ⊗ B)*vec(M) = vec(B*M*A') and vec(M)'*(A ⊗ B) = vec(B'*M*A)'.
Expr kron_vec(const Expr& e) {
  return merge_adjacent(e, [](const Expr& a, const Expr& b) -> Expr {
    if (a->op == Op::kron && b->op == Op::func && b->fn == Fn::vec) {
      const Expr &A = a->args[0], &B = a->args[1], &M = b->args[0];
      if (B->shape.cols != M->shape.rows || A->shape.cols != M->shape.cols) return nullptr;
      return vec(mul({B, M, transpose(A)}));
    }
    const Expr* M = vec_row_of(a);
    if (M && b->op == Op::kron) {
      const Expr &A = b->args[0], &B = b->args[1];
      if (B->shape.rows != (*M)->shape.rows || A->shape.rows != (*M)->shape.cols) return nullptr;
      return transpose(vec(mul({transpose(B), *M, A})));
    }
    return nullptr;
  });
}

// K(m,n)*vec(M) = vec(M') for M m×n, and K(n,m)*K(m,n) = I.
Expr commutation_vec(const Expr& e) {
  return merge_adjacent(e, [](const Expr& a, const Expr& b) -> Expr {
    if (a->op != Op::commutation) return nullptr;
    const Shape& ka = a->args[0]->shape;
    if (b->op == Op::func && b->fn == Fn::vec && b->args[0]->shape == ka) return vec(transpose(b->args[0]));
    if (b->op == Op::commutation && b->args[0]->shape == ka.t()) return identity(a->shape.rows);
    return nullptr;
  });
}

// vec(A) .* vec(B) = vec(A .* B).
Expr vec_hadamard(const Expr& e) {
  if (e->op != Op::hadamard) return nullptr;
  std::vector<Expr> inside;
  for (auto& f : e->args) {
    if (f->op != Op::func || f->fn != Fn::vec) return nullptr;
    if (!inside.empty() && inside[0]->shape != f->args[0]->shape) return nullptr;
    inside.push_back(f->args[0]);
  }
  return vec(hadamard(inside));
}

// The square factors of a product's chain, or nothing when one is not square.
std::optional<std::vector<Expr>> square_chain(const Expr& m) {
  if (m->op != Op::mul || m->args.size() - size_t(m->nscalars) < 2) return std::nullopt;
  std::vector<Expr> chain(m->args.begin() + m->nscalars, m->args.end());
  for (auto& f : chain)
    if (!f->shape.is_square()) return std::nullopt;
  return chain;
}

// det(c·s·A·B) = c^n·s^n·det(A)·det(B) for square A, B (n×n): the constant only for a numeric n.
Expr det_product(const Expr& e) {
  if (e->op != Op::func || (e->fn != Fn::det && e->fn != Fn::logdet)) return nullptr;
  const Expr& m = e->args[0];
  auto chain = square_chain(m);
  if (!chain || m->value != 1 || m->nscalars != 0) return nullptr;
  std::vector<Expr> parts;
  for (auto& f : *chain) parts.push_back(func(e->fn, f));
  return e->fn == Fn::det ? mul(parts) : add(parts);
}

// inv(A*B) = inv(B)*inv(A) for square A, B.
Expr inv_product(const Expr& e) {
  if (e->op != Op::func || e->fn != Fn::inv) return nullptr;
  const Expr& m = e->args[0];
  auto chain = square_chain(m);
  if (!chain) return nullptr;
  std::vector<Expr> fs{constant(1 / m->value)};
  for (int i = 0; i < m->nscalars; ++i) fs.push_back(power(m->args[size_t(i)], -1));
  for (size_t i = chain->size(); i-- > 0;) fs.push_back(func(Fn::inv, (*chain)[i]));
  return mul(fs);
}

const Rule kRules[] = {
    {"diag is linear: diag(a) + diag(b) = diag(a + b)", diag_sum},
    {"transpose of a sum: (A + B)' = A' + B'", transpose_sum},
    {"factor a common right factor: P*F + Q*F = (P + Q)*F", factor_right},
    {"factor a common left factor: F*P + F*Q = F*(P + Q)", factor_left},
    {"sum of a hadamard product is an inner product: sum(a .* b) = a'*b", sum_hadamard_inner},
    {"sum of a hadamard product is a trace: sum(A' .* B) = tr(A*B)", sum_hadamard_trace},
    {"sum is linear: sum(c*X) = c*sum(X), sum(ones(m,n)) = m*n", sum_linear},
    {"a row of ones sums: ones(n)'*v = sum(v)", ones_product_sum},
    {"trace: linear, cyclic to a scalar: tr(v*w') = w'*v", trace_rules},
    {"diag times a vector is a hadamard product: diag(v)*u = v .* u", diag_vector},
    {"an inverse cancels: inv(X)*X = I", inverse_cancel},
    {"determinant of a product: det(A*B) = det(A)*det(B)", det_product},
    {"inverse of a product: inv(A*B) = inv(B)*inv(A)", inv_product},
    {"mixed product: kron(A, B)*kron(C, D) = kron(A*C, B*D)", kron_mixed},
    {"vec of a product: kron(A, B)*vec(M) = vec(B*M*A')", kron_vec},
    {"commutation: commutation(m,n)*vec(M) = vec(M')", commutation_vec},
    {"vec is element-wise: vec(A) .* vec(B) = vec(A .* B)", vec_hadamard},
    {"squared norm is an inner product: norm2(a)^2 = a'*a", norm_squared},
    {"hadamard distributes over a sum where factors cancel: (a ./ s + b) .* s = a + b .* s", hadamard_distribute},
    {"an inner product whose hadamard cancels is a sum: s'*(y ./ s) = sum(y)", inner_cancel},
    {"softmax: exp(a)/sum(exp(a)) = softmax(a)", softmax_form},
    {"the logistic function: exp(u) ./ (exp(u) + 1) = sigmoid(u)", sigmoid_form},
    {"softplus: log(exp(u) + 1) = softplus(u)", softplus_form},
    {"a common coefficient: c*a + c*b = c*(a + b)", common_coefficient},
};

Expr rebuild(const Expr& e, const std::vector<Expr>& args) {
  bool same = true;
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] != e->args[i]) same = false;
  if (same) return e;
  switch (e->op) {
    case Op::add: {
      std::vector<Expr> ts;
      for (size_t i = 0; i < args.size(); ++i) ts.push_back(scale(e->coefs[i], args[i]));
      return add(ts);
    }
    case Op::mul: {
      std::vector<Expr> fs{constant(e->value)};
      fs.insert(fs.end(), args.begin(), args.end());
      return mul(fs);
    }
    case Op::hadamard: return hadamard(args);
    case Op::power: return power(args[0], e->value);
    case Op::transpose: return transpose(args[0]);
    case Op::func: return func(e->fn, args[0]);
    case Op::vcat: return vcat(args);
    case Op::kron: return kron(args[0], args[1]);
    case Op::constant: case Op::variable: case Op::dim: case Op::zero: case Op::identity: case Op::ones:
    case Op::commutation:
      return e;
  }
  return e;
}

// Note [Memo keys own their nodes]: the memo is keyed by the Expr itself, not
// by its address. The rules build intermediate expressions that die as soon
// as a later form replaces them; keyed by a raw pointer, a freed node's
// address could be reused by a new, different node, which then found the
// dead one's simplification (e.g. a factor of a product dropped).
struct Simplifier {
  std::vector<RuleApplication>* trace;
  std::unordered_map<Expr, Expr> memo;
  int budget = 10000;

  Expr run(const Expr& e) {
    auto it = memo.find(e);
    if (it != memo.end()) return it->second;
    std::vector<Expr> args;
    args.reserve(e->args.size());
    for (auto& a : e->args) args.push_back(run(a));
    Expr cur = rebuild(e, args);
    if (cur != e && cur->op != e->op) cur = run(cur);
    for (bool changed = true; changed && budget > 0;) {
      changed = false;
      for (const Rule& r : kRules) {
        WorkBudget::charge(1 + cur->args.size());  // a rule looks at the node and its operands
        Expr next = r.apply(cur);
        if (!next || next == cur) continue;
        --budget;
        if (trace) trace->push_back({r.name, cur, next});
        cur = run(next);
        changed = true;
        break;
      }
    }
    memo[e] = cur;
    return cur;
  }
};

}  // namespace

Expr simplify(const Expr& e, std::vector<RuleApplication>* trace) {
  Simplifier s{trace, {}};
  return s.run(e);
}

std::vector<std::string> rule_names() {
  std::vector<std::string> out;
  for (const Rule& r : kRules) out.push_back(r.name);
  return out;
}

}  // namespace nabla::sym
