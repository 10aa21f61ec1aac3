// Tensor-valued derivatives: the value as the tensor it is, and the index
// notation of a derivative in vec form.
//
// A derivative of F (rF×cF) by X (rX×cX) in vec form is the matrix
// J = ∂vec(F)/∂vec(X)ᵀ, vec stacking columns: row i + rF·j holds F_ij, column
// k + rX·l holds X_kl. Its tensor is T_ijkl = J[i + rF·j, k + rX·l].
#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "nabla/error.hpp"
#include "nabla/ops.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

Tensor derivative_tensor(const Derivative& d, const Tensor& value, const Bindings& b) {
  if (!d.vec_form) return value;
  const int64_t rf = d.of_shape.rows.eval(b.dims), cf = d.of_shape.cols.eval(b.dims);
  const int64_t rx = d.by_shape.rows.eval(b.dims), cx = d.by_shape.cols.eval(b.dims);
  const bool denom = d.layout == Layout::denominator;
  Tensor j = value.contiguous();
  NABLA_CHECK(j.numel() == rf * cf * rx * cx, "derivative_tensor: the value has ", j.numel(), " elements, not ",
              rf * cf, "×", rx * cx);
  // Row-major, J's row a = i + rF·j reads as [j][i], its column as [l][k].
  Tensor t = denom ? permute(reshape(j, {cx, rx, cf, rf}), {1, 0, 3, 2})   // [k][l][i][j]
                   : permute(reshape(j, {cf, rf, cx, rx}), {1, 0, 3, 2});  // [i][j][k][l]
  std::vector<int64_t> dims;
  auto keep = [&](int64_t r, int64_t c, const Shape& s) {
    if (!s.rows.is_one()) dims.push_back(r);
    if (!s.cols.is_one()) dims.push_back(c);
  };
  if (denom) {
    keep(rx, cx, d.by_shape);
    keep(rf, cf, d.of_shape);
  } else {
    keep(rf, cf, d.of_shape);
    keep(rx, cx, d.by_shape);
  }
  return reshape(t.contiguous(), nabla::Shape(dims));
}


// ---- index notation -------------------------------------------------------------

// Note [Index forms]: a term of J = ∂vec(F)/∂vec(X)ᵀ is c·s·M₁M₂…M_n, each M a
// map from the vec of one matrix space to another's, with an entry formula in
// the indices of both: (P ⊗ Q)[(a,b),(c,d)] = P_bd Q_ac (a vec index (a,b)
// is a + rows·b), K(m,n)[(a,b),(c,d)] = δ_ad δ_bc, diag(vec(M)) gives
// M_ab δ_ac δ_bd, vec(M) and vec(M)ᵀ give M_ab and M_cd, the identity δ_ac δ_bd,
// and any other matrix G (between vector spaces) G_ac. The spaces between
// factors get summed indices; deltas on a summed index are then substituted
// away, as a hand derivation does.

namespace {

struct Atom {
  Expr m;            // null: a Kronecker delta
  std::string r, c;  // the entry's indices; "1" for a unit dimension
};

struct Space {
  Dim rows = 1, cols = 1;
  bool vector_like() const { return rows.is_one() || cols.is_one(); }
  Dim numel() const { return rows * cols; }
};

struct IndexTerm {
  double coef = 1;
  std::vector<Expr> scalars;
  std::vector<Atom> atoms;
};

class IndexForm {
 public:
  IndexForm(Space f, std::pair<std::string, std::string> fi, Space x, std::pair<std::string, std::string> xi)
      : f_(f), fi_(std::move(fi)), x_(x), xi_(std::move(xi)) {}

  std::optional<std::string> run(const Expr& j) {
    std::vector<std::pair<double, Expr>> terms;
    if (!expand(j, 1, terms)) return std::nullopt;
    std::string out;
    for (auto& [c, t] : terms) {
      auto term = read(t, c);
      if (!term) return std::nullopt;
      std::string s = print(*term);
      if (out.empty()) out = s;
      else if (s[0] == '-') out += " - " + s.substr(1);
      else out += " + " + s;
    }
    return out;
  }

 private:
  std::string fresh() {
    static const char* names[] = {"p", "q", "r", "s", "t", "u", "v", "w", "a", "b", "c", "d", "e", "g", "h"};
    if (next_ < int(std::size(names))) return names[next_++];
    return "p" + std::to_string(next_++);
  }

  // The indices of a space that must equal one with known indices: equal
  // shapes share them; vectors of one length share the non-unit index.
  static std::optional<std::pair<std::string, std::string>> match(const Space& s, const Space& known,
                                                                  const std::pair<std::string, std::string>& idx) {
    if (s.rows == known.rows && s.cols == known.cols) return idx;
    if (s.vector_like() && known.vector_like() && s.numel() == known.numel()) {
      std::string one = known.rows.is_one() ? idx.second : idx.first;
      if (s.rows.is_one()) return std::make_pair(std::string("1"), one);
      return std::make_pair(one, std::string("1"));
    }
    return std::nullopt;
  }

  std::pair<std::string, std::string> indices_for(const Space& s) {
    return {s.rows.is_one() ? "1" : fresh(), s.cols.is_one() ? "1" : fresh()};
  }

  static bool is_vec(const Expr& e) { return e->op == Op::func && e->fn == Fn::vec; }

  // The terms of e with products distributed over the sums in their chains:
  // (P + Q)*K = P*K + Q*K. At most 64 terms; false past that.
  static bool expand(const Expr& e, double c, std::vector<std::pair<double, Expr>>& out) {
    if (out.size() > 64) return false;
    if (e->op == Op::add) {
      for (size_t i = 0; i < e->args.size(); ++i)
        if (!expand(e->args[i], c * e->coefs[i], out)) return false;
      return true;
    }
    if (e->op == Op::mul)
      for (size_t i = size_t(e->nscalars); i < e->args.size(); ++i) {
        const Expr& s = e->args[i];
        if (s->op != Op::add) continue;
        for (size_t t = 0; t < s->args.size(); ++t) {
          std::vector<Expr> fs{constant(e->value)};
          for (size_t q = 0; q < e->args.size(); ++q) fs.push_back(q == i ? s->args[t] : e->args[q]);
          if (!expand(mul(fs), c * s->coefs[t], out)) return false;
        }
        return true;
      }
    out.push_back({c, e});
    return true;
  }

  std::optional<IndexTerm> read(const Expr& t, double coef) {
    IndexTerm term;
    term.coef = coef;
    std::vector<Expr> chain;
    if (t->op == Op::mul) {
      term.coef *= t->value;
      for (int i = 0; i < t->nscalars; ++i) term.scalars.push_back(t->args[i]);
      chain.assign(t->args.begin() + t->nscalars, t->args.end());
    } else {
      chain.push_back(t);
    }
    Space row = f_;
    std::pair<std::string, std::string> ri = fi_;
    for (size_t n = 0; n < chain.size(); ++n) {
      const Expr& m = chain[n];
      const bool last = n + 1 == chain.size();
      // The factor's own row and column spaces.
      Space R, C;
      enum { kKron, kComm, kDiagVec, kVec, kVecT, kEye, kPlain } kind;
      if (m->op == Op::kron) {
        const Shape &P = m->args[0]->shape, &Q = m->args[1]->shape;
        R = {Q.rows, P.rows};
        C = {Q.cols, P.cols};
        kind = kKron;
      } else if (m->op == Op::commutation) {
        const Shape& b = m->args[0]->shape;
        R = {b.cols, b.rows};
        C = {b.rows, b.cols};
        kind = kComm;
      } else if (m->op == Op::func && m->fn == Fn::diag && is_vec(m->args[0])) {
        const Shape& s = m->args[0]->args[0]->shape;
        R = C = {s.rows, s.cols};
        kind = kDiagVec;
      } else if (is_vec(m)) {
        R = {m->args[0]->shape.rows, m->args[0]->shape.cols};
        kind = kVec;
      } else if (m->op == Op::transpose && is_vec(m->args[0])) {
        C = {m->args[0]->args[0]->shape.rows, m->args[0]->args[0]->shape.cols};
        kind = kVecT;
      } else if (m->op == Op::identity) {
        R = C = row;
        kind = kEye;
      } else {
        R = {m->shape.rows, 1};
        C = {m->shape.cols, 1};
        kind = kPlain;
      }
      auto a = match(R, row, ri);
      if (!a) return std::nullopt;
      std::optional<std::pair<std::string, std::string>> c;
      if (last) {
        c = match(C, x_, xi_);
        if (!c) return std::nullopt;
      } else {
        c = indices_for(C);
      }
      const auto& [ar, ac] = *a;
      const auto& [cr, cc] = *c;
      auto delta = [&](const std::string& p, const std::string& q) { term.atoms.push_back({nullptr, p, q}); };
      switch (kind) {
        case kKron:
          term.atoms.push_back({m->args[1], ar, cr});
          term.atoms.push_back({m->args[0], ac, cc});
          break;
        case kComm: delta(ar, cc); delta(ac, cr); break;
        case kDiagVec:
          term.atoms.push_back({m->args[0]->args[0], ar, ac});
          delta(ar, cr);
          delta(ac, cc);
          break;
        case kVec: term.atoms.push_back({m->args[0], ar, ac}); break;
        case kVecT: term.atoms.push_back({m->args[0]->args[0], cr, cc}); break;
        case kEye: delta(ar, cr); delta(ac, cc); break;
        case kPlain: term.atoms.push_back({m, ar == "1" ? ac : ar, cr == "1" ? cc : cr}); break;
      }
      row = C;
      ri = *c;
    }
    if (chain.empty()) return std::nullopt;
    // Entries of identities and ones are deltas and 1s.
    std::vector<Atom> atoms;
    for (Atom& at : term.atoms) {
      if (at.m && at.m->op == Op::identity) at.m = nullptr;
      if (at.m && at.m->op == Op::ones) continue;
      if (at.m && at.m->op == Op::zero) return std::nullopt;
      atoms.push_back(at);
    }
    term.atoms = std::move(atoms);
    if (!eliminate(term)) return std::nullopt;
    return term;
  }

  bool free_index(const std::string& s) const {
    return s == fi_.first || s == fi_.second || s == xi_.first || s == xi_.second;
  }

  // Substitutes away each delta on a summed index (and drops δ_11, δ_ii).
  bool eliminate(IndexTerm& t) {
    for (bool again = true; again;) {
      again = false;
      for (size_t n = 0; n < t.atoms.size(); ++n) {
        Atom d = t.atoms[n];
        if (d.m) continue;
        std::string from, to;
        if (d.r == d.c) {
          if (d.r != "1" && !free_index(d.r)) return false;  // Σ_p δ_pp: a dimension, not an entry
        } else if (d.r != "1" && !free_index(d.r)) {
          from = d.r, to = d.c;
        } else if (d.c != "1" && !free_index(d.c)) {
          from = d.c, to = d.r;
        } else if (d.r == "1" || d.c == "1") {
          return false;  // a free index pinned to 1: shapes this reading does not follow
        } else {
          continue;  // δ between free indices stays
        }
        t.atoms.erase(t.atoms.begin() + long(n));
        if (!from.empty())
          for (Atom& a : t.atoms) {
            if (a.r == from) a.r = to;
            if (a.c == from) a.c = to;
          }
        again = true;
        break;
      }
    }
    return true;
  }

  static std::string subscript(const std::vector<std::string>& idx) {
    std::string s;
    bool wide = false;
    for (auto& i : idx) wide = wide || i.size() > 1;
    for (auto& i : idx) s += (s.empty() || !wide ? "" : ",") + i;
    return "_{" + s + "}";
  }

  std::string entry(const Atom& a) const {
    if (!a.m) return "δ" + subscript({a.r, a.c});
    Expr m = a.m;
    std::string r = a.r, c = a.c;
    // (A')_rc = A_cr; and (inv(A)'*inv(X)')_rc = (inv(X)*inv(A))_cr, with fewer transposes
    auto primes = [](const Expr& e) {
      const std::string t = to_text(e);
      return std::count(t.begin(), t.end(), '\'');
    };
    if (m->op == Op::transpose || (!m->shape.is_vector() && primes(transpose(m)) < primes(m))) {
      m = transpose(m);
      std::swap(r, c);
    }
    if (m->shape.is_scalar()) return to_text(m);
    std::string name = to_text(m);
    const bool atom = name.find_first_of(" *+-/.'^") == std::string::npos || m->op == Op::func;
    if (!atom) name = "(" + name + ")";
    if (m->shape.cols.is_one()) return name + subscript({r});
    if (m->shape.rows.is_one()) return name + subscript({c});
    return name + subscript({r, c});
  }

  std::string print(const IndexTerm& t) const {
    std::string s;
    // The summed indices that remain.
    std::set<std::string> summed;
    for (const Atom& a : t.atoms)
      for (const std::string* i : {&a.r, &a.c})
        if (*i != "1" && !free_index(*i)) summed.insert(*i);
    if (!summed.empty()) {
      std::string list;
      for (auto& i : summed) list += (list.empty() ? "" : ",") + i;
      s += "Σ_{" + list + "} ";
    }
    std::vector<Expr> sc{constant(std::fabs(t.coef))};
    sc.insert(sc.end(), t.scalars.begin(), t.scalars.end());
    Expr k = mul(sc);
    std::string parts;
    if (!k->is_const(1) || t.atoms.empty()) {
      std::string ks = to_text(k);
      parts = k->op == Op::add ? "(" + ks + ")" : ks;
    }
    for (int deltas = 0; deltas < 2; ++deltas)  // entries first, then the deltas
      for (const Atom& a : t.atoms)
        if (bool(a.m) != bool(deltas)) parts += (parts.empty() ? "" : " ") + entry(a);
    return (t.coef < 0 ? "-" : "") + s + parts;
  }

  Space f_;
  std::pair<std::string, std::string> fi_;
  Space x_;
  std::pair<std::string, std::string> xi_;
  int next_ = 0;
};

std::pair<std::string, std::string> names_for(const Shape& s, const char* a, const char* b) {
  if (s.rows.is_one() && s.cols.is_one()) return {"1", "1"};
  if (s.cols.is_one()) return {a, "1"};
  if (s.rows.is_one()) return {"1", a};
  return {a, b};
}

}  // namespace

std::optional<std::string> index_notation(const Derivative& d, const std::string& fname) {
  if (!d.vec_form) return std::nullopt;
  Expr j = d.layout == Layout::denominator ? transpose(d.result) : d.result;
  auto fi = names_for(d.of_shape, "i", "j"), xi = names_for(d.by_shape, "k", "l");
  IndexForm form({d.of_shape.rows, d.of_shape.cols}, fi, {d.by_shape.rows, d.by_shape.cols}, xi);
  std::optional<std::string> rhs = form.run(j);
  if (!rhs) return std::nullopt;
  auto sub = [](const std::pair<std::string, std::string>& p) {
    std::string s;
    for (const std::string* i : {&p.first, &p.second})
      if (*i != "1") s += *i;
    return s.empty() ? std::string() : "_{" + s + "}";
  };
  std::string of = d.kind == DerivKind::hessian ? "(∇" + fname + ")" : fname;
  return "∂" + of + sub(fi) + "/∂" + d.by + sub(xi) + " = " + *rhs;
}

}  // namespace nabla::sym
