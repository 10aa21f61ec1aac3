// Differentiation by matrix differentials and the chain rule.
//
// gradient(): reverse mode over the expression. Each node Y gets an adjoint
// Ȳ = ∂f/∂Y shaped like Y (df = Σ tr(Ȳ' dY)); a node passes Ȳ to its
// operands by the rule of its op, written once below in the notes' words.
// jacobian(): forward mode. Each vector or scalar node Y gets its Jacobian
// ∂Y/∂x in numerator layout (numel(Y) × numel(x)); element-wise ops give
// diag(f'(·)), products the Kronecker forms that reduce to plain products
// for vectors. The Hessian is the Jacobian of the gradient.
#include <algorithm>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "../ops/elementwise_rules.hpp"
#include "../ops/matrix_rules.hpp"
#include "sym/algebra.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

namespace {

Expr chain_of(const Expr& m, size_t from, size_t to) {  // product of m's chain [from, to)
  std::vector<Expr> fs(m->args.begin() + from, m->args.begin() + to);
  if (fs.empty()) return nullptr;
  return mul(fs);
}

// Nodes of f that depend on var, children before parents.
std::vector<Expr> topo(const Expr& f, const std::string& var) {
  std::vector<Expr> order;
  std::unordered_set<const Node*> seen;
  std::vector<std::pair<Expr, size_t>> stack{{f, 0}};
  seen.insert(f.get());
  while (!stack.empty()) {
    auto& [e, i] = stack.back();
    if (i < e->args.size()) {
      Expr c = e->args[i++];
      if (c->depends_on(var) && seen.insert(c.get()).second) stack.push_back({c, 0});
    } else {
      order.push_back(e);
      stack.pop_back();
    }
  }
  return order;
}

struct Contribution {
  Expr value;
  const char* rule;
};

// Reverse mode; `record` (optional) receives each node's adjoint and rules.
struct Reverse {
  std::string var;
  std::unordered_map<const Node*, std::vector<Contribution>> adj;
  std::function<void(const Expr&, const Expr&, const std::vector<const char*>&)> record;

  void give(const Expr& to, const Expr& v, const char* rule) {
    if (!to->depends_on(var)) return;
    adj[to.get()].push_back({v, rule});
  }

  Expr run(const Expr& f, const Expr& x) {
    var = x->name;
    if (!f->depends_on(var)) return zero(x->shape);
    std::vector<Expr> order = topo(f, var);
    adj[f.get()].push_back({constant(1), "seed"});
    Expr result;
    for (size_t k = order.size(); k-- > 0;) {
      const Expr& y = order[k];
      auto it = adj.find(y.get());
      if (it == adj.end()) continue;
      std::vector<Expr> parts;
      std::vector<const char*> rules;
      for (auto& c : it->second) {
        parts.push_back(c.value);
        if (std::find(rules.begin(), rules.end(), c.rule) == rules.end()) rules.push_back(c.rule);
      }
      Expr g = simplify(add(parts));
      if (record) record(y, g, rules);
      if (y == x) {
        result = g;
        continue;
      }
      propagate(y, g);
    }
    return result ? result : zero(x->shape);
  }

  // Each node passes Ȳ to its operands by its op's rule: the matrix rules of
  // src/ops/matrix_rules.hpp and the element-wise df of the op registry, the
  // same texts the numeric engine runs, instantiated over expressions. Only
  // the bookkeeping of sym's canonical forms (n-ary sums and products,
  // concatenation blocks) is written here.
  void propagate(const Expr& y, const Expr& g) {
    const SymAlgebra k;
    switch (y->op) {
      case Op::constant: case Op::variable: case Op::dim: case Op::zero: case Op::identity: case Op::ones:
      case Op::commutation:
        return;
      case Op::kron:
        throw Error("gradient by " + var + ": " + to_text(y) + " is a Kronecker product of " + var +
                        "; its gradient has no closed form here (differentiate by a scalar instead)",
                    ErrorKind::value);
      case Op::add:  // d(Σ cᵢ aᵢ) = Σ cᵢ daᵢ
        for (size_t i = 0; i < y->args.size(); ++i) give(y->args[i], scale(y->coefs[i], g), "sum rule");
        return;
      case Op::mul: {
        // Y = c·s₁…s_j·F₁…F_k. A scalar factor: Y = s_i·P with P the rest, so
        // s̄_i = ⟨Ȳ, P⟩. A matrix factor: Y = (S·L)·(F_i·R) with L, R the chains
        // before and after it, so F̄_i = (S·L)ᵀ·Ȳ·Rᵀ by the matrix product rule twice.
        int ns = y->nscalars;
        size_t nargs = y->args.size();
        for (int i = 0; i < ns; ++i) {
          if (!y->args[i]->depends_on(var)) continue;
          std::vector<Expr> rest{constant(y->value)};
          for (size_t j = 0; j < nargs; ++j)
            if (j != size_t(i)) rest.push_back(y->args[j]);
          give(y->args[i], k.inner(g, mul(rest)), "scalar product rule");
        }
        std::vector<Expr> s{constant(y->value)};
        for (int i = 0; i < ns; ++i) s.push_back(y->args[i]);
        for (size_t i = ns; i < nargs; ++i) {
          if (!y->args[i]->depends_on(var)) continue;
          std::vector<Expr> left = s;
          if (Expr l = chain_of(y, ns, i)) left.push_back(l);
          Expr q = rules::matmul_b(k, g, mul(left));  // (F_i R)‾ = (S L)ᵀ Ȳ
          if (Expr r = chain_of(y, i + 1, nargs)) q = rules::matmul_a(k, q, r);  // F̄_i = (F_i R)‾ Rᵀ
          give(y->args[i], q, "product rule");
        }
        return;
      }
      case Op::hadamard:  // d(a⊙b) = da⊙b + a⊙db
        for (size_t i = 0; i < y->args.size(); ++i) {
          if (!y->args[i]->depends_on(var)) continue;
          std::vector<Expr> others;
          for (size_t j = 0; j < y->args.size(); ++j)
            if (j != i) others.push_back(y->args[j]);
          give(y->args[i], rules::hadamard_a(k, g, hadamard(others)), "hadamard product rule");
        }
        return;
      case Op::power: {  // the numeric pow's df: d x^p = p x^(p−1) dx (element-wise)
        const Expr& a = y->args[0];
        give(a, rules::hadamard_a(k, g, pow_rule{"pow", y->value}.df(ew::Ew{a}, ew::Ew{y}).e), "power rule");
        return;
      }
      case Op::transpose:
        give(y->args[0], rules::transpose_x(k, g), "transpose rule");
        return;
      case Op::vcat: {  // [a; b]: each part gets its rows of Ȳ
        Dim before = 0, total = y->shape.rows;
        for (auto& p : y->args) {
          Dim after = total - before - p->shape.rows;
          std::vector<Expr> blocks;
          if (!(before == Dim(0))) blocks.push_back(zero(Shape{before, p->shape.rows}));
          blocks.push_back(identity(p->shape.rows));
          if (!(after == Dim(0))) blocks.push_back(zero(Shape{after, p->shape.rows}));
          if (p->depends_on(var)) give(p, mul(transpose(vcat(blocks)), g), "concatenation rule");
          before = before + p->shape.rows;
        }
        return;
      }
      case Op::func: break;
    }
    const Expr& a = y->args[0];
    switch (y->fn) {
      case Fn::sum: give(a, rules::sum_x(k, g, a), "sum reduction rule"); return;
      case Fn::tr: give(a, rules::trace_x(k, g, a), "trace rule"); return;
      case Fn::det: give(a, rules::det_x(k, g, a, y), "determinant rule"); return;
      case Fn::logdet: give(a, rules::logdet_x(k, g, a), "log-determinant rule"); return;
      case Fn::inv: give(a, rules::inv_x(k, g, y), "inverse rule"); return;
      case Fn::softmax: give(a, rules::softmax_a(k, g, y), "softmax rule"); return;
      case Fn::norm2: give(a, rules::norm_x(k, g, a, y), "norm rule"); return;
      case Fn::diag: give(a, func(Fn::diag, g), "diag rule"); return;  // diag(·) is its own adjoint
      case Fn::vec:  // Ā is Ȳ with its columns put back: vec(Ā) = Ȳ
        throw Error("gradient by " + var + ": " + to_text(y) + " reshapes a matrix that depends on " + var +
                        "; its gradient is derived through matrices, not their vec",
                    ErrorKind::value);
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
        // d f(a) = f'(a) ⊙ da, f' the registry's df
        give(a, rules::hadamard_a(k, g, elementwise_derivative(y->fn, a)), "element-wise chain rule");
        return;
    }
  }
};

// ---- forward mode: Jacobians -----------------------------------------------------

// Each node y gets its tangent ẏ from its operands' by the JVP rules of
// src/ops/matrix_rules.hpp and the element-wise df of the op registry,
// instantiated over tangents (SymTangents): ẏ = dy/dx itself when x is a
// scalar, else the Jacobian ∂vec(y)/∂vec(x)ᵀ. As in reverse mode, only the
// bookkeeping of sym's canonical forms is written here.
struct Forward {
  Expr x;
  Dim n;  // numel(x)
  SymTangents k;
  std::unordered_map<const Node*, std::optional<Tangent>> memo;

  [[noreturn]] void unsupported(const Expr& y, const char* why) {
    throw Error("derivative by " + x->name + ": " + to_text(y) + " is " + y->shape.str() + "; " + why,
                ErrorKind::value);
  }

  // ẏ; nothing when y does not depend on x.
  std::optional<Tangent> J(const Expr& y) {
    if (!y->depends_on(x->name)) return std::nullopt;
    auto it = memo.find(y.get());
    if (it != memo.end()) return it->second;
    Tangent r = compute(y);
    r.j = simplify(r.j);
    r.shape = y->shape;
    memo[y.get()] = r;
    return r;
  }

  Expr none(const Expr& y) const { return k.dual ? zero(y->shape) : zero(Shape{numel(y->shape), n}); }

  Tangent sum_of(const std::vector<Expr>& parts, const Expr& y) {
    if (parts.empty()) return {none(y), y->shape};
    return {add(parts), y->shape};
  }

  Tangent compute(const Expr& y) {
    std::vector<Expr> parts;
    switch (y->op) {
      case Op::variable: return {k.dual ? constant(1) : identity(n), y->shape};
      case Op::constant: case Op::dim: case Op::zero: case Op::identity: case Op::ones: case Op::commutation:
        break;  // no dependence: J() never gets here
      case Op::add:  // d(Σ cᵢ aᵢ) = Σ cᵢ daᵢ
        for (size_t i = 0; i < y->args.size(); ++i)
          if (auto t = J(y->args[i])) parts.push_back(scale(y->coefs[i], t->j));
        return sum_of(parts, y);
      case Op::mul: {
        // Y = c·s₁…s_j·F₁…F_k. A scalar factor: Ẏ = ṡᵢ P with P the rest. A
        // matrix factor: Y = (S L) Fᵢ R, so Ẏ = (S L) Ḟᵢ R by the product rule twice.
        int ns = y->nscalars;
        size_t nargs = y->args.size();
        for (int i = 0; i < ns; ++i) {
          auto t = J(y->args[i]);
          if (!t) continue;
          std::vector<Expr> rest{constant(y->value)};
          for (size_t m = 0; m < nargs; ++m)
            if (m != size_t(i)) rest.push_back(y->args[m]);
          parts.push_back(k.sc(*t, mul(rest)).j);
        }
        std::vector<Expr> s{constant(y->value)};
        for (int i = 0; i < ns; ++i) s.push_back(y->args[i]);
        for (size_t i = ns; i < nargs; ++i) {
          auto t = J(y->args[i]);
          if (!t) continue;
          std::vector<Expr> left = s;
          if (Expr l = chain_of(y, ns, i)) left.push_back(l);
          Expr r = chain_of(y, i + 1, nargs);
          // Associate so that every partial product is a vector when it can
          // be: a column takes L first, then R; a row takes R first, then L.
          Tangent q = *t;
          if (r && y->args[i]->shape.is_row()) q = rules::matmul_jvp_a(k, q, r);  // Ḟᵢ R
          q = rules::matmul_jvp_b(k, mul(left), q);                               // (S L) Ḟᵢ
          if (r && !y->args[i]->shape.is_row()) q = rules::matmul_jvp_a(k, q, r);  // (S L Ḟᵢ) R
          parts.push_back(q.j);
        }
        return sum_of(parts, y);
      }
      case Op::hadamard:  // d(a⊙b) = da⊙b + a⊙db
        for (size_t i = 0; i < y->args.size(); ++i) {
          auto t = J(y->args[i]);
          if (!t) continue;
          std::vector<Expr> others;
          for (size_t m = 0; m < y->args.size(); ++m)
            if (m != i) others.push_back(y->args[m]);
          parts.push_back(rules::hadamard_jvp(k, *t, hadamard(others)).j);
        }
        return sum_of(parts, y);
      case Op::power: {  // the numeric pow's df: d x^p = p x^(p−1) dx (element-wise)
        const Expr& a = y->args[0];
        return rules::hadamard_jvp(k, *J(a), pow_rule{"pow", y->value}.df(ew::Ew{a}, ew::Ew{y}).e);
      }
      case Op::transpose: return rules::transpose_jvp(k, *J(y->args[0]));
      case Op::vcat: {  // [a; b]: the parts' tangents stacked (by a scalar, or of vectors)
        std::vector<Expr> blocks;
        for (auto& p : y->args) {
          if (!k.dual && !p->shape.cols.is_one())
            unsupported(p, "the Jacobian of a concatenation is derived for stacked vectors only");
          auto t = J(p);
          blocks.push_back(t ? t->j : none(p));
        }
        return {vcat(blocks), y->shape};
      }
      case Op::kron: {  // by a scalar: d(A ⊗ B) = dA ⊗ B + A ⊗ dB
        if (!k.dual) unsupported(y, "the Jacobian of a Kronecker product is derived by a scalar only");
        for (int i = 0; i < 2; ++i)
          if (auto t = J(y->args[i])) parts.push_back(i == 0 ? kron(t->j, y->args[1]) : kron(y->args[0], t->j));
        return sum_of(parts, y);
      }
      case Op::func: break;
    }
    if (y->op != Op::func) unsupported(y, "internal: no rule");
    const Expr& a = y->args[0];
    const Tangent t = *J(a);
    switch (y->fn) {
      case Fn::sum: return rules::sum_jvp(k, t);
      case Fn::norm2: return rules::norm_jvp(k, t, a, y);
      case Fn::softmax: return rules::softmax_jvp(k, t, y);
      case Fn::det: return rules::det_jvp(k, t, a, y);
      case Fn::logdet: return rules::logdet_jvp(k, t, a);
      case Fn::inv: return rules::inv_jvp(k, t, y);
      case Fn::tr: return k.tr_mm(identity(a->shape.rows), t);  // tr(Ẋ) = tr(I Ẋ)
      case Fn::vec:  // vec is linear: by a scalar d vec(A) = vec(dA); a Jacobian is already of vec(A)
        return {k.dual ? vec(t.j) : t.j, y->shape};
      case Fn::diag: {
        if (k.dual || a->shape.is_scalar()) return {func(Fn::diag, t.j), y->shape};
        // With S = diag(vec(I))·(1 ⊗ I), p² × p: vec(diag(v)) = S v, diag(M) = Sᵀ vec(M).
        const Dim p = a->shape.is_vector() ? length(a->shape) : a->shape.rows;
        Expr mask = func(Fn::diag, vec(identity(p))), spread = kron(ones(Shape{p, 1}), identity(p));
        if (a->shape.is_vector()) return {mul({mask, spread, t.j}), y->shape};
        return {mul({transpose(spread), mask, t.j}), y->shape};
      }
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
        // d f(a) = f'(a) ⊙ da, f' the registry's df
        return rules::hadamard_jvp(k, t, elementwise_derivative(y->fn, a));
    }
    unsupported(y, "internal: no rule");
  }
};

}  // namespace

Expr gradient(const Expr& f, const Expr& x) {
  NABLA_CHECK(f->shape.is_scalar(), "gradient: f is ", f->shape.str(), ", not a scalar");
  Reverse r;
  return r.run(f, x);
}

namespace {
Forward forward_by(const Expr& x) {  // dual numbers by a scalar, Jacobians otherwise
  Forward fw;
  fw.x = x;
  fw.n = numel(x->shape);
  fw.k.dual = x->shape.is_scalar();
  return fw;
}
}  // namespace

Expr jacobian(const Expr& f, const Expr& x) {
  Forward fw = forward_by(x);
  auto j = fw.J(f);
  if (!j) return zero(Shape{numel(f->shape), fw.n});
  return fw.k.dual ? vec(j->j) : j->j;
}

Expr derivative_by_scalar(const Expr& f, const Expr& x) {
  NABLA_CHECK(x->shape.is_scalar(), "derivative_by_scalar: ", x->name, " is ", x->shape.str(), ", not a scalar");
  Forward fw = forward_by(x);
  auto j = fw.J(f);
  return j ? j->j : zero(f->shape);
}

// ---- the driver -----------------------------------------------------------------

namespace {

std::vector<std::string> pick_names(const Declarations& decls, size_t count) {
  static const char* letters[] = {"u", "v", "w", "p", "q", "r", "s", "t", "g", "h"};
  std::vector<std::string> out;
  auto taken = [&](const std::string& s) {
    return decls.vars.count(s) || decls.is_dim(s) || std::find(out.begin(), out.end(), s) != out.end();
  };
  if (count <= 6) {
    for (auto* l : letters) {
      if (out.size() == count) break;
      if (!taken(l)) out.push_back(l);
    }
  }
  for (int i = 1; out.size() < count; ++i) {
    std::string s = "u" + std::to_string(i);
    if (!taken(s)) out.push_back(s);
  }
  return out;
}

bool leafish(const Expr& e) {
  return e->op == Op::variable || (e->op == Op::transpose && e->args[0]->op == Op::variable) ||
         e->op == Op::constant || e->op == Op::dim;
}

// Not worth a name of its own: leaves, and products of leaves (w'*x).
bool trivial(const Expr& e) {
  if (leafish(e)) return true;
  if (e->op != Op::mul) return false;
  for (auto& a : e->args)
    if (!leafish(a) && !(a->op == Op::power && leafish(a->args[0]))) return false;
  return true;
}


// A derivative by a scalar shaped like its (matrix or row) F, the same in both layouts.
bool by_scalar_shaped(const Derivative& d) {
  return !d.vec_form && d.by_shape.is_scalar() && !d.of_shape.is_scalar() && !d.of_shape.is_vector();
}

// The derivative of F by X in forward mode, as Derivative documents it; sets
// d's of_shape, by_shape and vec_form.
Expr forward(const Expr& F, const Expr& X, Derivative& d) {
  d.of_shape = F->shape;
  d.by_shape = X->shape;
  d.by = X->name;
  auto small = [](const Shape& s) { return s.is_scalar() || s.is_vector(); };
  if (X->shape.is_scalar()) return small(F->shape) ? jacobian(F, X) : derivative_by_scalar(F, X);
  d.vec_form = !(small(F->shape) && small(X->shape));
  return jacobian(F, X);
}

}  // namespace

Derivative differentiate(const Expr& f, const std::string& wrt, const Declarations& decls, const DiffOptions& opts) {
  Expr x = decls.var(wrt);
  NABLA_CHECK(opts.order == 1 || opts.order == 2, "--order must be 1 or 2, got ", opts.order);
  WorkBudget budget(opts.max_work, "differentiate");  // Note [Work budget]
  Derivative d;
  d.layout = opts.layout;
  std::map<const Node*, std::string> names;
  if (opts.steps) {
    // Intermediate variables: the non-trivial nodes between x and f.
    std::vector<Expr> order = topo(f, x->name);
    std::vector<Expr> mids;
    for (auto& e : order)
      if (e != f && !trivial(e) && e->depends_on(x->name)) mids.push_back(e);
    std::vector<std::string> ns = pick_names(decls, mids.size());
    for (size_t i = 0; i < mids.size(); ++i) {
      d.intermediates.push_back({ns[i], mids[i]});
      names[mids[i].get()] = ns[i];
    }
  }
  auto shown = [&](const Expr& e) {
    std::map<const Node*, std::string> m = names;
    m.erase(e.get());  // show a definition by its operands
    return to_text(e, m);
  };
  Expr raw;
  if (f->shape.is_scalar()) {
    Reverse r;
    if (opts.steps) {
      r.record = [&](const Expr& y, const Expr& g, const std::vector<const char*>& rules) {
        std::string label = y == f ? "f" : (names.count(y.get()) ? names[y.get()] : shown(y));
        if (label.find_first_of("*+-/ ") != std::string::npos) label = "(" + label + ")";
        std::string rule;
        for (auto* s : rules) rule += (rule.empty() ? "" : ", ") + std::string(s);
        if (y == f) rule = "start: ∂f/∂f = 1";
        d.steps.push_back({rule, "∂f/∂" + label + " = " + to_text(g, names)});
      };
    }
    Expr g = r.run(f, x);
    d.of_shape = f->shape;
    d.by_shape = x->shape;
    d.by = x->name;
    if (opts.order == 2) {
      const bool mixed = !opts.then_wrt.empty() && opts.then_wrt != wrt;
      Expr y = mixed ? decls.var(opts.then_wrt) : x;
      if (mixed) d.second = y->name;
      Expr gs = simplify(g);
      if (opts.steps) d.steps.push_back({"gradient, simplified", "∇f = " + to_text(gs)});
      raw = forward(gs, y, d);
      if (opts.steps)
        d.steps.push_back({mixed ? "mixed second derivative = Jacobian of the gradient by the second variable"
                                 : "Hessian = Jacobian of the gradient",
                           (d.vec_form ? "∂vec(∇f)/∂vec(" + y->name + ")ᵀ = " : "∂(∇f)/∂" + y->name + " = ") +
                               to_text(raw)});
      d.kind = DerivKind::hessian;
      if (opts.layout == Layout::denominator && !by_scalar_shaped(d)) raw = transpose(raw);
    } else {
      d.kind = DerivKind::gradient;
      raw = g;
      if (opts.layout == Layout::numerator) raw = transpose(raw);
    }
  } else {
    NABLA_CHECK(opts.order == 1, "--order 2 needs a scalar f; ", to_text(f), " is ", f->shape.str());
    raw = forward(f, x, d);
    d.kind = DerivKind::jacobian;
    if (opts.steps) {
      const char* how = d.vec_form ? "forward mode: ∂vec(y)/∂vec(x)ᵀ per node, by the Kronecker forms"
                        : x->shape.is_scalar() ? "forward mode: dy/dx per node"
                                               : "forward mode: ∂y/∂x per node, numerator layout";
      d.steps.push_back({how, (d.vec_form ? "∂vec(f)/∂vec(" + wrt + ")ᵀ = " : "∂f/∂" + wrt + " = ") +
                                  to_text(raw, names)});
    }
    if (opts.layout == Layout::denominator && !by_scalar_shaped(d)) raw = transpose(raw);
  }
  d.raw = raw;
  d.result = simplify(raw, &d.rules);
  d.shape = d.result->shape;
  return d;
}

std::string format_steps(const Derivative& d, const std::string& fname, const Declarations* decls) {
  std::ostringstream os;
  if (!d.intermediates.empty()) {
    os << "intermediate variables:\n";
    std::map<const Node*, std::string> names;
    for (auto& [n, e] : d.intermediates) {
      os << "  " << n << " = " << to_text(e, names) << "\n";
      names[e.get()] = n;
    }
  }
  os << "steps:\n";
  for (size_t i = 0; i < d.steps.size(); ++i)
    os << "  " << (i + 1) << ". " << d.steps[i].text << "    [" << d.steps[i].rule << "]\n";
  if (!d.rules.empty()) {
    os << "simplify:\n";
    for (auto& r : d.rules) os << "  " << to_text(r.before) << "  →  " << to_text(r.after) << "    [" << r.rule << "]\n";
  }
  const char* kind = d.kind == DerivKind::gradient ? "gradient" : d.kind == DerivKind::jacobian ? "Jacobian" : "Hessian";
  const char* layout = d.layout == Layout::numerator ? "numerator layout"
                       : d.layout == Layout::denominator ? "denominator layout"
                       : d.kind == DerivKind::gradient ? "shaped like the variable"
                                                       : "numerator layout";
  std::string what = kind;
  if (d.vec_form) what += d.layout == Layout::denominator ? ", ∂vec(" + fname + ")ᵀ/∂vec(" + d.by + ")"
                                                          : ", ∂vec(" + fname + ")/∂vec(" + d.by + ")ᵀ";
  else if (by_scalar_shaped(d)) layout = "shaped like f";
  os << "result (" << what << ", " << layout << ", " << d.shape.str() << "):\n  " << (decls ? name_repeated(d.result, *decls).text : to_text(d.result)) << "\n";
  if (auto ix = index_notation(d, fname)) os << "index notation:\n  " << *ix << "\n";
  return os.str();
}

}  // namespace nabla::sym
