// Lowering to nabla's ops: evaluation in float64, the JSON values reader,
// random values, and the check against autodiff and finite differences.
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/generator.hpp"
#include "nabla/ops.hpp"
#include "nabla/sym.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {

namespace {

const TensorOptions kF64 = TensorOptions(kFloat64);

Tensor as2d(const Tensor& t, int64_t r, int64_t c) { return reshape(t, {r, c}); }

struct Evaluator {
  const Bindings& b;
  std::unordered_map<const Node*, Tensor> memo;

  int64_t dim(const Dim& d) { return d.eval(b.dims); }

  Tensor run(const Expr& e) {
    auto it = memo.find(e.get());
    if (it != memo.end()) return it->second;
    Tensor t = compute(e);
    memo[e.get()] = t;
    return t;
  }

  Tensor compute(const Expr& e) {
    switch (e->op) {
      case Op::constant: return full({1, 1}, e->value, kF64);
      case Op::variable: {
        auto it = b.values.find(e->name);
        NABLA_CHECK(it != b.values.end(), "no value given for '", e->name, "'");
        int64_t r = dim(e->shape.rows), c = dim(e->shape.cols);
        const Tensor& v = it->second;
        NABLA_CHECK(v.numel() == r * c, "value of '", e->name, "' has ", v.numel(), " elements, expected ",
                    e->shape.str(), " = ", r, "×", c);
        return v.dim() == 2 && v.size(0) == r ? v : reshape(v, {r, c});
      }
      case Op::dim: {
        auto it = b.dims.find(e->name);
        NABLA_CHECK(it != b.dims.end(), "dimension '", e->name, "' is not bound");
        return full({1, 1}, double(it->second), kF64);
      }
      case Op::zero: return zeros({dim(e->shape.rows), dim(e->shape.cols)}, kF64);
      case Op::identity: return eye(dim(e->shape.rows), kF64);
      case Op::ones: return nabla::ones({dim(e->shape.rows), dim(e->shape.cols)}, kF64);
      case Op::add: {
        Tensor acc;
        for (size_t i = 0; i < e->args.size(); ++i) {
          Tensor t = run(e->args[i]);
          if (e->coefs[i] != 1) t = t * e->coefs[i];
          acc = acc.defined() ? acc + t : t;
        }
        return acc;
      }
      case Op::mul: {
        Tensor s;
        for (int i = 0; i < e->nscalars; ++i) {
          Tensor t = run(e->args[i]);
          s = s.defined() ? s * t : t;
        }
        Tensor m;
        for (size_t i = e->nscalars; i < e->args.size(); ++i) {
          Tensor t = run(e->args[i]);
          m = m.defined() ? matmul(m, t) : t;
        }
        Tensor out = m.defined() ? m : s;
        if (m.defined() && s.defined()) out = s.numel() == 1 && m.numel() > 1 ? m * s : m * s;
        if (e->value != 1) out = out * e->value;
        return out;
      }
      case Op::hadamard: {
        Tensor acc;
        for (auto& a : e->args) {
          Tensor t = run(a);
          acc = acc.defined() ? acc * t : t;
        }
        return acc;
      }
      case Op::power: {
        Tensor a = run(e->args[0]);
        if (e->value == 2) return a * a;
        if (e->value == -1) return 1.0 / a;
        return nabla::pow(a, e->value);
      }
      case Op::transpose: return nabla::transpose(run(e->args[0]), 0, 1);
      case Op::vcat: {
        std::vector<Tensor> parts;
        for (auto& a : e->args) parts.push_back(run(a));
        return concat(parts, 0);
      }
      case Op::kron: {  // blocks A_ij B: A [r1,1,c1,1] ⊙ B [1,r2,1,c2], read as (r1·r2) × (c1·c2)
        Tensor a = run(e->args[0]), c = run(e->args[1]);
        const int64_t r1 = a.size(0), c1 = a.size(1), r2 = c.size(0), c2 = c.size(1);
        return reshape(reshape(a, {r1, 1, c1, 1}) * reshape(c, {1, r2, 1, c2}), {r1 * r2, c1 * c2});
      }
      case Op::commutation: {  // K[j + n·i, i + m·j] = 1: vec(Mᵀ) = K vec(M)
        const int64_t m = dim(e->args[0]->shape.rows), n = dim(e->args[0]->shape.cols), mn = dim(e->shape.rows);
        Tensor k = zeros({mn, mn}, kF64);  // its size checked as every tensor's is
        double* p = k.data_ptr<double>();
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) p[(j + n * i) * mn + i + m * j] = 1;
        return k;
      }
      case Op::func: break;
    }
    Tensor a = run(e->args[0]);
    switch (e->fn) {
      case Fn::sum: return as2d(nabla::sum(a), 1, 1);
      case Fn::tr: return as2d(trace(a), 1, 1);
      case Fn::det: return as2d(nabla::det(a), 1, 1);
      case Fn::logdet: {
        Tensor l = nabla::logdet(a);  // NaN or −inf where det X ≤ 0: refused here
        const double v = l.item();
        NABLA_CHECK(!std::isnan(v) && v != -INFINITY, "logdet: the determinant is ", nabla::det(a.detach()).item(),
                    ", not positive");
        return as2d(l, 1, 1);
      }
      case Fn::inv: return nabla::inv(a);
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
        return apply_elementwise(e->fn, a);
      case Fn::softmax: return nabla::softmax(a, 0);
      case Fn::norm2: return as2d(nabla::norm(a), 1, 1);
      case Fn::diag: {
        if (e->args[0]->shape.is_vector() || a.size(1) == 1) {
          int64_t n = a.numel();
          return diag(reshape(a, {n}));
        }
        return as2d(diag(a), a.size(0), 1);
      }
      case Fn::vec: return reshape(nabla::transpose(a, 0, 1).contiguous(), {a.numel(), 1});  // column-major
    }
    throw Error("internal: unknown function", ErrorKind::internal);
  }
};

}  // namespace

Tensor evaluate(const Expr& e, const Bindings& b) {
  Evaluator ev{b, {}};
  return ev.run(e);
}

std::function<Tensor(const Bindings&)> lower(const Expr& e) {
  return [e](const Bindings& b) { return evaluate(e, b); };
}

// ---- values -----------------------------------------------------------------------

namespace {

double number_of(const nlohmann::json& j, const std::string& what) {
  NABLA_CHECK_KIND(j.is_number(), ErrorKind::parse, "values: ", what, " must be a number, got ",
                   j.type_name());
  double v = j.get<double>();
  NABLA_CHECK_KIND(std::isfinite(v), ErrorKind::parse, "values: ", what, " is not finite");
  return v;
}

void bind(Bindings& b, const Dim& d, int64_t value, const std::string& var) {
  if (d.is_const()) {
    NABLA_CHECK_KIND(d.constant() == value, ErrorKind::shape, "values: '", var, "' has ", value,
                     " where its declaration says ", d.constant());
    return;
  }
  std::string s = d.as_symbol();
  NABLA_CHECK(!s.empty(), "values: cannot bind dimension ", d.str());
  auto it = b.dims.find(s);
  if (it == b.dims.end()) {
    b.dims[s] = value;
    return;
  }
  NABLA_CHECK_KIND(it->second == value, ErrorKind::shape, "values: dimension ", s, " is ", it->second,
                   " elsewhere but '", var, "' gives ", value);
}

}  // namespace

Bindings read_values(const std::string& text, const Declarations& decls) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("values: not valid JSON: ") + e.what(), ErrorKind::parse);
  }
  NABLA_CHECK_KIND(j.is_object(), ErrorKind::parse, "values: expected a JSON object {\"name\": value, …}");
  Bindings b;
  // Dimension symbols given by number first.
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!decls.is_dim(it.key())) continue;
    double v = number_of(it.value(), "dimension '" + it.key() + "'");
    NABLA_CHECK_KIND(v >= 1 && v <= 1e7 && v == std::floor(v), ErrorKind::parse, "values: dimension '", it.key(),
                     "' must be a positive integer");
    b.dims[it.key()] = int64_t(v);
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (decls.is_dim(name)) continue;
    auto d = decls.vars.find(name);
    NABLA_CHECK_KIND(d != decls.vars.end(), ErrorKind::parse, "values: '", name, "' is not declared");
    const Shape& s = d->second;
    const nlohmann::json& v = it.value();
    std::vector<double> data;
    int64_t rows = 1, cols = 1;
    if (v.is_number()) {
      data.push_back(number_of(v, "'" + name + "'"));
    } else if (v.is_array() && !v.empty() && v[0].is_array()) {
      rows = int64_t(v.size());
      cols = int64_t(v[0].size());
      NABLA_CHECK_KIND(cols > 0, ErrorKind::parse, "values: '", name, "' has an empty row");
      for (auto& row : v) {
        NABLA_CHECK_KIND(row.is_array() && int64_t(row.size()) == cols, ErrorKind::parse, "values: the rows of '",
                         name, "' must be arrays of equal length");
        for (auto& x : row) data.push_back(number_of(x, "an element of '" + name + "'"));
      }
    } else if (v.is_array() && !v.empty()) {
      for (auto& x : v) data.push_back(number_of(x, "an element of '" + name + "'"));
      if (s.is_row()) cols = int64_t(data.size());
      else rows = int64_t(data.size());
    } else {
      throw Error("values: '" + name + "' must be a number, an array or an array of rows", ErrorKind::parse);
    }
    // A vector may also be given as one row or one column of arrays.
    if (s.is_col() && rows == 1 && cols > 1) std::swap(rows, cols);
    if (s.is_row() && cols == 1 && rows > 1) std::swap(rows, cols);
    bind(b, s.rows, rows, name);
    bind(b, s.cols, cols, name);
    b.values[name] = tensor(data, {rows, cols}, kF64);
  }
  return b;
}

Bindings random_values(const Declarations& decls, uint64_t seed, Bindings base) {
  Generator gen(seed);
  int64_t next = 3;
  for (auto& s : decls.dims)
    if (!base.dims.count(s)) base.dims[s] = next++;
  for (auto& name : decls.order) {
    if (base.values.count(name)) continue;
    const Shape& s = decls.vars.at(name);
    int64_t r = s.rows.eval(base.dims), c = s.cols.eval(base.dims);
    std::vector<double> data(r * c);
    for (auto& x : data) x = 0.2 + gen.uniform01();
    if (r == c && r > 1)
      for (int64_t i = 0; i < r; ++i) data[i * r + i] += double(r);
    base.values[name] = tensor(data, {r, c}, kF64);
  }
  return base;
}

std::string tensor_to_json(const Tensor& t, bool as_vector) {
  Tensor c = t.contiguous().to(kFloat64).detach();
  std::vector<double> v = c.to_vector<double>();
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json j;
  if (c.dim() > 2) {  // a tensor: nested arrays, outermost index first
    std::vector<int64_t> dims(c.shape().begin(), c.shape().end());
    size_t at = 0;
    std::function<nlohmann::json(size_t)> nest = [&](size_t axis) {
      nlohmann::json a = nlohmann::json::array();
      for (int64_t i = 0; i < dims[axis]; ++i) a.push_back(axis + 1 == dims.size() ? num(v[at++]) : nest(axis + 1));
      return a;
    };
    return nest(0).dump();
  }
  int64_t r = c.dim() == 2 ? c.size(0) : c.numel(), k = c.dim() == 2 ? c.size(1) : 1;
  if (r * k == 1 && c.dim() != 1) {
    j = num(v[0]);
  } else if ((as_vector && k == 1) || c.dim() == 1) {
    j = nlohmann::json::array();
    for (double x : v) j.push_back(num(x));
  } else {
    j = nlohmann::json::array();
    for (int64_t i = 0; i < r; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t q = 0; q < k; ++q) row.push_back(num(v[i * k + q]));
      j.push_back(row);
    }
  }
  return j.dump();
}

// ---- checking ---------------------------------------------------------------------

Tensor evaluate_derivative(const Derivative& d, const Bindings& b) { return evaluate(d.result, b); }

namespace {

double rel_error(const Tensor& a, const Tensor& ref) {
  NABLA_CHECK(a.numel() == ref.numel(), "check: the symbolic derivative has ", a.numel(), " elements, the reference ",
              ref.numel());
  std::vector<double> x = a.contiguous().detach().to_vector<double>();
  std::vector<double> y = ref.contiguous().detach().to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double e = std::fabs(x[i] - y[i]) / std::max(1.0, std::fabs(y[i]));
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}

}  // namespace

CheckReport check(const Expr& f, const std::string& wrt, const Derivative& d, const Bindings& b0) {
  CheckReport rep;
  Bindings b = b0;
  NABLA_CHECK(b.values.count(wrt), "check: no value for '", wrt, "'");
  Tensor x0 = b.values[wrt].contiguous().to(kFloat64).clone();
  int64_t xr = x0.size(0), xc = x0.size(1), n = x0.numel();
  Tensor sym = evaluate(d.result, b).contiguous();
  if (d.vec_form) sym = derivative_tensor(d, sym, b);  // in the references' order: row-major, F's indices then X's
  bool second = d.kind == DerivKind::hessian;
  bool transposed = (d.kind == DerivKind::gradient && d.layout == Layout::numerator) ||
                    (d.kind != DerivKind::gradient && d.layout == Layout::denominator);
  // Reference in the canonical layout: gradient shaped like x; Jacobian m×n; Hessian n×n.
  // Central differences in f64 (nabla::numeric_jacobian); the Hessian as the
  // differences of the differences, with a larger step.
  auto at = [&](const Tensor& x) {
    b.values[wrt] = reshape(x, {xr, xc});
    return evaluate(f, b);
  };
  // A mixed block ∂²f/∂x∂y: the Jacobian by y of the gradient by x.
  const bool mixed = !d.second.empty();
  Tensor y0;
  if (mixed) {
    NABLA_CHECK(b.values.count(d.second), "check: no value for '", d.second, "'");
    y0 = b.values[d.second].contiguous().to(kFloat64).clone();
  }
  Tensor fd;
  if (mixed) {
    const double h = 1e-4;
    fd = numeric_jacobian(
        [&](const Tensor& y) {
          b.values[d.second] = reshape(y, y0.shape());
          return reshape(numeric_jacobian(at, x0, h), {n});
        },
        reshape(y0, {y0.numel()}), h);
    b.values[d.second] = y0;
  } else if (d.kind == DerivKind::gradient) {
    fd = reshape(numeric_jacobian(at, x0, 1e-6), {xr, xc});
  } else if (d.kind == DerivKind::jacobian) {
    fd = numeric_jacobian(at, x0, 1e-6);
  } else {
    const double h = 1e-4;
    fd = numeric_jacobian([&](const Tensor& x) { return reshape(numeric_jacobian(at, x, h), {n}); }, x0, h);
  }
  b.values[wrt] = x0;
  if (transposed) fd = nabla::transpose(fd, 0, 1).contiguous();
  rep.fd_error = rel_error(sym, fd);
  rep.tolerance = second ? 1e-4 : 1e-5;
  rep.ok = rep.fd_error <= rep.tolerance;

  // Note [Checks cross-check]: the derivative is compared with autodiff's or
  // check() fails. Passing on finite differences alone when the numeric
  // engine cannot differentiate f would let a wrong rule through behind their
  // looser tolerance; that is a nabla::Error naming the reason instead.
  try {
    Tensor xt = x0.clone().requires_grad_(true);
    b.values[wrt] = xt;
    Tensor yt;
    if (mixed) b.values[d.second] = yt = y0.clone().requires_grad_(true);
    Tensor y = evaluate(f, b);
    Tensor ad;
    if (d.kind == DerivKind::hessian) {  // the gradient by x, differentiated by y (x itself but for a mixed block)
      const Tensor& by = mixed ? yt : xt;
      const int64_t ny = by.numel();
      Tensor g = y.requires_grad() ? grad({y}, {xt}, {}, true, true, true)[0] : Tensor();
      std::vector<Tensor> rows;
      for (int64_t i = 0; i < n; ++i) {
        if (!g.defined() || !g.requires_grad()) {
          rows.push_back(zeros({1, ny}, kF64));
          continue;
        }
        std::vector<double> one(n, 0.0);
        one[i] = 1;
        Tensor gy = grad({g}, {by}, {tensor(one, g.shape(), kF64)}, true, false, true)[0];
        rows.push_back(gy.defined() ? reshape(gy, {1, ny}) : zeros({1, ny}, kF64));
      }
      ad = concat(rows, 0);
    } else if (!y.requires_grad()) {  // no path from wrt to f in the engine's graph: its derivative is 0
      ad = d.kind == DerivKind::gradient ? zeros({xr, xc}, kF64) : zeros({y.numel(), n}, kF64);
    } else if (d.kind == DerivKind::gradient) {
      ad = grad({y}, {xt}, {}, false, false, true)[0];
    } else if (d.kind == DerivKind::jacobian) {
      int64_t m = y.numel();
      std::vector<Tensor> rows;
      for (int64_t i = 0; i < m; ++i) {
        Tensor e = zeros(y.shape(), kF64);
        std::vector<double> one(m, 0.0);
        one[i] = 1;
        e = tensor(one, y.shape(), kF64);
        rows.push_back(reshape(grad({y}, {xt}, {e}, true, false, true)[0], {1, n}));
      }
      ad = concat(rows, 0);
    }
    ad = ad.detach().contiguous();
    if (transposed) ad = nabla::transpose(ad, 0, 1).contiguous();
    rep.autodiff_used = true;
    rep.autodiff_error = rel_error(sym, ad);
    if (!(rep.autodiff_error <= 1e-6)) rep.ok = false;
  } catch (const Error& e) {
    throw Error("check: cannot cross-check d/d" + wrt + " with autodiff: " + e.what(), ErrorKind::autograd);
  }
  return rep;
}

}  // namespace nabla::sym
