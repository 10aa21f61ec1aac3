// One table of every public op. Each entry gives input shapes (broadcasting
// against scalars, rows [1,n] and columns [m,1] included), an input domain
// (log on positives, kinks avoided), the op, and a naive reference for the
// forward value. Generic tests iterate the table: forward vs reference in
// float64 and float32, gradcheck in float64, gradcheck through non-contiguous
// (strided and transposed) inputs, and gradcheck of the gradient itself
// (create_graph), so that every VJP is also checked as a differentiable graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "nabla/nabla.hpp"

namespace nabla {
namespace {

// ---- a naive reference tensor: row-major values indexed by plain loops --------------

struct Ref {
  Shape shape;
  std::vector<double> v;
};

Ref ref_of(const Tensor& t) { return {t.shape(), t.to_vector<double>()}; }
Ref blank(const Shape& s) { return {s, std::vector<double>(static_cast<size_t>(numel(s)), 0.0)}; }

using Index = std::vector<int64_t>;

// Calls f(index, flat) for every index of `s` in row-major order.
template <class F>
void for_each_index(const Shape& s, F f) {
  int64_t n = numel(s);
  Index idx(static_cast<size_t>(s.size()), 0);
  for (int64_t e = 0; e < n; ++e) {
    f(idx, e);
    for (int k = s.size() - 1; k >= 0; --k) {
      if (++idx[static_cast<size_t>(k)] < s[k]) break;
      idx[static_cast<size_t>(k)] = 0;
    }
  }
}

// r at `idx`, an index of a (possibly larger) broadcast shape, right-aligned.
double bget(const Ref& r, const Index& idx) {
  int lead = static_cast<int>(idx.size()) - r.shape.size();
  int64_t o = 0;
  for (int k = 0; k < r.shape.size(); ++k) {
    int64_t e = r.shape[k];
    o = o * e + (e == 1 ? 0 : idx[static_cast<size_t>(lead + k)]);
  }
  return r.v[static_cast<size_t>(o)];
}
double get(const Ref& r, const Index& idx) { return bget(r, idx); }

Shape bshape(const std::vector<Shape>& ss) {
  int n = 0;
  for (const Shape& s : ss) n = std::max(n, s.size());
  Shape out = Dims::filled(n, 1);
  for (const Shape& s : ss)
    for (int k = 0; k < s.size(); ++k) {
      int64_t& o = out[n - s.size() + k];
      if (s[k] != 1) o = s[k];
    }
  return out;
}

Ref map1(const Ref& x, const std::function<double(double)>& f) {
  Ref r = x;
  for (double& e : r.v) e = f(e);
  return r;
}
Ref map2(const Ref& a, const Ref& b, const std::function<double(double, double)>& f) {
  Ref r = blank(bshape({a.shape, b.shape}));
  for_each_index(r.shape, [&](const Index& i, int64_t e) { r.v[static_cast<size_t>(e)] = f(bget(a, i), bget(b, i)); });
  return r;
}
Ref reshaped(Ref x, const Shape& s) {
  x.shape = s;
  return x;
}

// Reduction over `dims` (all when empty) with acc = combine(acc, x), then fin(acc, count).
Ref reduce(const Ref& x, std::vector<int> dims, bool keepdim, double init,
           const std::function<double(double, double)>& combine,
           const std::function<double(double, int64_t)>& fin = [](double a, int64_t) { return a; }) {
  int r = x.shape.size();
  std::vector<bool> m(static_cast<size_t>(r), dims.empty());
  for (int d : dims) m[static_cast<size_t>(d < 0 ? d + r : d)] = true;
  Shape ks = x.shape;
  int64_t count = 1;
  for (int k = 0; k < r; ++k)
    if (m[static_cast<size_t>(k)]) {
      count *= ks[k];
      ks[k] = 1;
    }
  Ref out = blank(ks);
  std::fill(out.v.begin(), out.v.end(), init);
  for_each_index(x.shape, [&](const Index& i, int64_t e) {
    double& o = out.v[static_cast<size_t>([&] {
      int64_t off = 0;
      for (int k = 0; k < r; ++k) off = off * ks[k] + (m[static_cast<size_t>(k)] ? 0 : i[static_cast<size_t>(k)]);
      return off;
    }())];
    o = combine(o, x.v[static_cast<size_t>(e)]);
  });
  for (double& o : out.v) o = fin(o, count);
  if (keepdim) return out;
  Shape ds;
  for (int k = 0; k < r; ++k)
    if (!m[static_cast<size_t>(k)]) ds.push_back(x.shape[k]);
  return reshaped(out, ds);
}
Ref rsum(const Ref& x, std::vector<int> dims = {}, bool keepdim = false) {
  return reduce(x, std::move(dims), keepdim, 0.0, [](double a, double b) { return a + b; });
}

Ref permute_ref(const Ref& x, const std::vector<int>& order) {
  Shape s;
  for (int o : order) s.push_back(x.shape[o]);
  Ref r = blank(s);
  for_each_index(s, [&](const Index& i, int64_t e) {
    Index src(i.size());
    for (size_t k = 0; k < order.size(); ++k) src[static_cast<size_t>(order[k])] = i[k];
    r.v[static_cast<size_t>(e)] = get(x, src);
  });
  return r;
}

Ref matmul_ref(Ref a, Ref b) {
  bool av = a.shape.size() == 1, bv = b.shape.size() == 1;
  if (av) a.shape = Shape{1, a.shape[0]};
  if (bv) b.shape = Shape{b.shape[0], 1};
  Shape ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  Shape batch = bshape({ba, bb});
  int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  Shape full = batch;
  full.push_back(M);
  full.push_back(N);
  Ref r = blank(full);
  for_each_index(full, [&](const Index& i, int64_t e) {
    Index ia(i), ib(i);
    double acc = 0;
    for (int64_t k = 0; k < K; ++k) {
      ia.back() = k;
      ib[ib.size() - 2] = k;
      acc += bget(a, ia) * bget(b, ib);
    }
    r.v[static_cast<size_t>(e)] = acc;
  });
  Shape out = batch;
  if (!av) out.push_back(M);
  if (!bv) out.push_back(N);
  return reshaped(r, out);
}

// Gauss–Jordan on a square [n, n] reference, with partial pivoting: the
// inverse, and the determinant as the product of the pivots.
Ref inv_ref(const Ref& a, double* det = nullptr) {
  const int64_t n = a.shape[0];
  std::vector<double> m = a.v, inv(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) inv[static_cast<size_t>(i * n + i)] = 1;
  double d = 1;
  auto at = [n](std::vector<double>& v, int64_t r, int64_t c) -> double& { return v[static_cast<size_t>(r * n + c)]; };
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::fabs(at(m, r, c)) > std::fabs(at(m, p, c))) p = r;
    if (p != c) {
      d = -d;
      for (int64_t k = 0; k < n; ++k) {
        std::swap(at(m, p, k), at(m, c, k));
        std::swap(at(inv, p, k), at(inv, c, k));
      }
    }
    const double piv = at(m, c, c);
    d *= piv;
    for (int64_t k = 0; k < n; ++k) {
      at(m, c, k) /= piv;
      at(inv, c, k) /= piv;
    }
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = at(m, r, c);
      for (int64_t k = 0; k < n; ++k) {
        at(m, r, k) -= f * at(m, c, k);
        at(inv, r, k) -= f * at(inv, c, k);
      }
    }
  }
  if (det) *det = d;
  return {a.shape, inv};
}
// a + c·I for a square reference.
Ref shifted(Ref a, double c) {
  for (int64_t i = 0; i < a.shape[0]; ++i) a.v[static_cast<size_t>(i * a.shape[0] + i)] += c;
  return a;
}

// x[..., start + i·step, ...] along d, n elements.
Ref slice_ref(const Ref& x, int d, int64_t start, int64_t n, int64_t step) {
  Shape s = x.shape;
  s[d] = n;
  Ref r = blank(s);
  for_each_index(s, [&](const Index& i, int64_t e) {
    Index src(i);
    src[static_cast<size_t>(d)] = start + i[static_cast<size_t>(d)] * step;
    r.v[static_cast<size_t>(e)] = get(x, src);
  });
  return r;
}

Ref concat_ref(const std::vector<Ref>& xs, int d) {
  Shape s = xs[0].shape;
  s[d] = 0;
  for (const Ref& x : xs) s[d] += x.shape[d];
  Ref r = blank(s);
  for_each_index(s, [&](const Index& i, int64_t e) {
    Index src(i);
    int64_t p = i[static_cast<size_t>(d)];
    size_t which = 0;
    while (p >= xs[which].shape[d]) p -= xs[which++].shape[d];
    src[static_cast<size_t>(d)] = p;
    r.v[static_cast<size_t>(e)] = get(xs[which], src);
  });
  return r;
}

Ref softmax_ref(const Ref& x, int d, bool log_form) {
  Ref lse = reduce(x, {d}, true, 0.0, [](double a, double b) { return a + std::exp(b); },
                   [](double a, int64_t) { return std::log(a); });
  Ref r = map2(x, lse, [log_form](double a, double l) { return log_form ? a - l : std::exp(a - l); });
  return r;
}

// ---- the table ------------------------------------------------------------------------

enum class Dom {
  any,     // U(−2, 2)
  pos,     // U(0.5, 2)
  away0,   // ±U(0.3, 2): away from the kink at 0
  near1,   // ±U(0.6, 1.4): products stay O(1)
  zero1,   // near1 with element 1 set to 0
  zero2,   // near1 with elements 1 and 3 set to 0
};

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using RefFn = std::function<Ref(const std::vector<Ref>&)>;

struct OpCase {
  std::string op;    // the public op it covers
  std::string name;  // unique test name
  std::vector<Shape> shapes;
  std::vector<Dom> doms;  // one per input, or one for all
  Fn fn;
  RefFn ref;            // null: no forward reference
  double tol = 1e-12;   // forward tolerance (relative to max(1, |ref|)) in float64
  GradcheckOptions gc{};
  bool second_order = true;
  bool any_layout = true;  // false: the op requires a contiguous input (view)
};

void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

std::string shape_tag(const Shape& s) {
  if (s.empty()) return "s";
  std::string t;
  for (int i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t;
}
std::string shapes_tag(const std::vector<Shape>& ss) {
  std::string t;
  for (size_t i = 0; i < ss.size(); ++i) t += (i ? "_" : "") + shape_tag(ss[i]);
  return t;
}

Tensor idx_tensor(std::initializer_list<double> v, const Shape& s, DType dt) {
  return tensor(std::vector<double>(v), s, dt);
}

class Table {
 public:
  std::vector<OpCase> cases;

  void add(OpCase c) { cases.push_back(std::move(c)); }

  void unary(const std::string& op, const std::string& tag, std::function<Tensor(const Tensor&)> f,
             std::function<double(double)> sf, Dom dom = Dom::any,
             std::vector<Shape> shapes = {{3, 4}, {}, {5}, {2, 1, 3}}) {
    for (const Shape& s : shapes)
      add({op, tag + "_" + shape_tag(s), {s}, {dom}, [f](const std::vector<Tensor>& x) { return f(x[0]); },
           [sf](const std::vector<Ref>& r) { return map1(r[0], sf); }});
  }

  void binary(const std::string& op, const std::string& tag,
              std::function<Tensor(const Tensor&, const Tensor&)> f, std::function<double(double, double)> sf,
              Dom da = Dom::any, Dom db = Dom::any) {
    static const std::vector<std::vector<Shape>> pairs = {
        {{3, 4}, {3, 4}}, {{3, 4}, {}},     {{}, {3, 4}},     {{3, 4}, {1, 4}},
        {{3, 1}, {1, 4}}, {{3, 4}, {3, 1}}, {{2, 3, 4}, {4}}, {{4}, {2, 3, 1}}};
    for (const auto& p : pairs)
      add({op, tag + "_" + shapes_tag(p), p, {da, db},
           [f](const std::vector<Tensor>& x) { return f(x[0], x[1]); },
           [sf](const std::vector<Ref>& r) { return map2(r[0], r[1], sf); }});
  }
};

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

std::vector<OpCase> build_table() {
  Table t;
  using V = const std::vector<Tensor>&;
  using R = const std::vector<Ref>&;

  // ---- arithmetic ----
  t.binary("add", "add", [](auto& a, auto& b) { return add(a, b); }, std::plus<>());
  t.binary("sub", "sub", [](auto& a, auto& b) { return sub(a, b); }, std::minus<>());
  t.binary("mul", "mul", [](auto& a, auto& b) { return mul(a, b); }, std::multiplies<>());
  t.binary("div", "div", [](auto& a, auto& b) { return div(a, b); }, std::divides<>(), Dom::any, Dom::away0);
  t.binary("pow", "pow_tensor", [](auto& a, auto& b) { return pow(a, b); },
           [](double a, double b) { return std::pow(a, b); }, Dom::pos, Dom::any);
  t.binary("maximum", "maximum", [](auto& a, auto& b) { return maximum(a, b); },
           [](double a, double b) { return std::max(a, b); });
  t.binary("minimum", "minimum", [](auto& a, auto& b) { return minimum(a, b); },
           [](double a, double b) { return std::min(a, b); });
  t.binary("add", "op_plus_minus", [](auto& a, auto& b) { return (a + b) * 2.0 - b / 3.0 + 1.5 - (2.0 - a); },
           [](double a, double b) { return (a + b) * 2.0 - b / 3.0 + 1.5 - (2.0 - a); });
  t.binary("mul", "op_times_div", [](auto& a, auto& b) { return -(a * b) / (0.5 * b) * 2.0 + 3.0 / b; },
           [](double a, double b) { return -(a * b) / (0.5 * b) * 2.0 + 3.0 / b; }, Dom::any, Dom::away0);
  t.unary("neg", "neg", [](auto& x) { return neg(x); }, [](double x) { return -x; });
  for (double p : {2.0, 3.0, 1.0, 0.0})
    t.unary("pow", "pow_scalar_" + std::to_string(static_cast<int>(p)), [p](auto& x) { return pow(x, p); },
            [p](double x) { return std::pow(x, p); });
  t.unary("pow", "pow_scalar_half", [](auto& x) { return pow(x, 0.5); }, [](double x) { return std::sqrt(x); },
          Dom::pos);
  t.unary("pow", "pow_scalar_m1p5", [](auto& x) { return pow(x, -1.5); }, [](double x) { return std::pow(x, -1.5); },
          Dom::pos);
  t.unary("maximum", "maximum_scalar", [](auto& x) { return maximum(x, 0.3); },
          [](double x) { return std::max(x, 0.3); });
  t.unary("minimum", "minimum_scalar", [](auto& x) { return minimum(x, 0.3); },
          [](double x) { return std::min(x, 0.3); });
  t.unary("clamp", "clamp_both", [](auto& x) { return clamp(x, -0.5, 0.7); },
          [](double x) { return std::clamp(x, -0.5, 0.7); });
  t.unary("clamp", "clamp_lo", [](auto& x) { return clamp(x, -0.2, std::nullopt); },
          [](double x) { return std::max(x, -0.2); });
  t.unary("clamp", "clamp_hi", [](auto& x) { return clamp(x, std::nullopt, 0.4); },
          [](double x) { return std::min(x, 0.4); });

  // ---- element-wise functions ----
  t.unary("exp", "exp", [](auto& x) { return exp(x); }, [](double x) { return std::exp(x); });
  t.unary("log", "log", [](auto& x) { return log(x); }, [](double x) { return std::log(x); }, Dom::pos);
  t.unary("sqrt", "sqrt", [](auto& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, Dom::pos);
  t.unary("abs", "abs", [](auto& x) { return abs(x); }, [](double x) { return std::fabs(x); }, Dom::away0);
  t.unary("sin", "sin", [](auto& x) { return sin(x); }, [](double x) { return std::sin(x); });
  t.unary("cos", "cos", [](auto& x) { return cos(x); }, [](double x) { return std::cos(x); });
  t.unary("tanh", "tanh", [](auto& x) { return tanh(x); }, [](double x) { return std::tanh(x); });
  t.unary("sigmoid", "sigmoid", [](auto& x) { return sigmoid(x); }, sigmoid_ref);
  t.unary("relu", "relu", [](auto& x) { return relu(x); }, [](double x) { return std::max(x, 0.0); }, Dom::away0);
  t.unary("leaky_relu", "leaky_relu", [](auto& x) { return leaky_relu(x); },
          [](double x) { return x > 0 ? x : 0.01 * x; }, Dom::away0);
  t.unary("leaky_relu", "leaky_relu_0p2", [](auto& x) { return leaky_relu(x, 0.2); },
          [](double x) { return x > 0 ? x : 0.2 * x; }, Dom::away0);
  t.unary("softplus", "softplus", [](auto& x) { return softplus(x); },
          [](double x) { return std::log(1 + std::exp(x)); });
  t.unary("softplus", "softplus_wide", [](auto& x) { return softplus(x * 20.0); },
          [](double x) { return std::log1p(std::exp(x * 20.0)); });
  t.unary("square", "square", [](auto& x) { return square(x); }, [](double x) { return x * x; });
  t.unary("cosh", "cosh", [](auto& x) { return cosh(x); }, [](double x) { return std::cosh(x); });
  t.unary("sinh", "sinh", [](auto& x) { return sinh(x); }, [](double x) { return std::sinh(x); });
  t.unary("sign", "sign", [](auto& x) { return sign(x); }, [](double x) { return double((x > 0) - (x < 0)); },
          Dom::away0);
  t.unary("atan", "atan", [](auto& x) { return atan(x); }, [](double x) { return std::atan(x); });
  t.unary("asinh", "asinh", [](auto& x) { return asinh(x); }, [](double x) { return std::asinh(x); });
  t.unary("erf", "erf", [](auto& x) { return erf(x); }, [](double x) { return std::erf(x); });
  t.unary("step", "step", [](auto& x) { return step(x); }, [](double x) { return x > 0 ? 1.0 : 0.0; }, Dom::away0);

  // ---- linear algebra ----
  auto mm_case = [&](const std::string& op, const std::string& tag, Shape a, Shape b, Fn f) {
    t.add({op, tag + "_" + shapes_tag({a, b}), {a, b}, {Dom::any}, std::move(f),
           [](R r) { return matmul_ref(r[0], r[1]); }});
  };
  Fn matmul_fn = [](V x) { return matmul(x[0], x[1]); };
  mm_case("matmul", "matmul_mat_mat", {3, 4}, {4, 2}, matmul_fn);
  mm_case("matmul", "matmul_mat_vec", {3, 4}, {4}, matmul_fn);
  mm_case("matmul", "matmul_vec_mat", {4}, {4, 2}, matmul_fn);
  mm_case("matmul", "matmul_vec_vec", {4}, {4}, matmul_fn);
  mm_case("matmul", "matmul_batched", {2, 3, 4}, {2, 4, 2}, matmul_fn);
  mm_case("matmul", "matmul_batch_mat", {2, 3, 4}, {4, 2}, matmul_fn);
  mm_case("matmul", "matmul_mat_batch", {3, 4}, {2, 4, 2}, matmul_fn);
  mm_case("matmul", "matmul_batch_vec", {2, 3, 4}, {4}, matmul_fn);
  mm_case("matmul", "matmul_vec_batch", {4}, {2, 4, 3}, matmul_fn);
  mm_case("matmul", "matmul_batch_bcast", {2, 1, 3, 4}, {3, 4, 2}, matmul_fn);
  mm_case("matmul", "matmul_row_col", {1, 4}, {4, 1}, matmul_fn);
  // operands that BLAS reads transposed in place (no copy): inner dims swapped
  t.add({"matmul", "matmul_batched_transposed_lhs", {{2, 4, 3}, {2, 4, 2}}, {Dom::any},
         [](V x) { return matmul(x[0].transpose(-1, -2), x[1]); },
         [](R r) { return matmul_ref(permute_ref(r[0], {0, 2, 1}), r[1]); }});
  t.add({"matmul", "matmul_transposed_rhs", {{3, 4}, {2, 4}}, {Dom::any}, [](V x) { return matmul(x[0], x[1].t()); },
         [](R r) { return matmul_ref(r[0], permute_ref(r[1], {1, 0})); }});
  t.add({"matmul", "matmul_sliced_rows", {{3, 4}, {8, 2}}, {Dom::any},
         [](V x) { return matmul(x[0], x[1].slice(0, 0, 8, 2)); },
         [](R r) { return matmul_ref(r[0], slice_ref(r[1], 0, 0, 4, 2)); }});
  // strided vectors on either side, and a transposed matrix times a vector
  t.add({"matmul", "matmul_mat_strided_vec", {{3, 4}, {8}}, {Dom::any},
         [](V x) { return matmul(x[0], x[1].slice(0, 1, 8, 2)); },
         [](R r) { return matmul_ref(r[0], slice_ref(r[1], 0, 1, 4, 2)); }});
  t.add({"matmul", "matmul_strided_vec_mat", {{6}, {3, 2}}, {Dom::any},
         [](V x) { return matmul(x[0].slice(0, 0, 6, 2), x[1]); },
         [](R r) { return matmul_ref(slice_ref(r[0], 0, 0, 3, 2), r[1]); }});
  t.add({"matmul", "matmul_transposed_mat_vec", {{4, 3}, {4}}, {Dom::any},
         [](V x) { return matmul(x[0].t(), x[1]); },
         [](R r) { return matmul_ref(permute_ref(r[0], {1, 0}), r[1]); }});
  mm_case("mm", "mm", {3, 4}, {4, 5}, [](V x) { return mm(x[0], x[1]); });
  mm_case("dot", "dot", {5}, {5}, [](V x) { return dot(x[0], x[1]); });
  t.add({"outer", "outer", {{3}, {4}}, {Dom::any}, [](V x) { return outer(x[0], x[1]); },
         [](R r) { return matmul_ref(reshaped(r[0], {3, 1}), reshaped(r[1], {1, 4})); }});
  t.add({"transpose", "transpose_2d", {{3, 4}}, {Dom::any}, [](V x) { return transpose(x[0], 0, 1); },
         [](R r) { return permute_ref(r[0], {1, 0}); }});
  t.add({"transpose", "transpose_3d", {{2, 3, 4}}, {Dom::any}, [](V x) { return transpose(x[0], 0, -1); },
         [](R r) { return permute_ref(r[0], {2, 1, 0}); }});
  t.add({"transpose", "t_method", {{3, 2}}, {Dom::any}, [](V x) { return x[0].t(); },
         [](R r) { return permute_ref(r[0], {1, 0}); }});
  for (Shape s : {Shape{3, 3}, Shape{4, 3}, Shape{2, 5}})
    t.add({"trace", "trace_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return trace(x[0]); }, [](R r) {
             Ref o = blank({});
             for (int64_t i = 0; i < std::min(r[0].shape[0], r[0].shape[1]); ++i) o.v[0] += get(r[0], {i, i});
             return o;
           }});
  // inv, det, logdet, solve on X + 6·I: U(−2, 2) entries around a diagonal of
  // 6 make the matrices diagonally dominant (well conditioned, det > 0).
  {
    auto dom = [](const Tensor& x) { return x + 6.0 * eye(x.size(0), x.dtype()); };
    t.add({"inv", "inv_3x3", {{3, 3}}, {Dom::any}, [dom](V x) { return inv(dom(x[0])); },
           [](R r) { return inv_ref(shifted(r[0], 6)); }, 1e-12});
    t.add({"det", "det_3x3", {{3, 3}}, {Dom::any}, [dom](V x) { return det(dom(x[0])); }, [](R r) {
             double d;
             inv_ref(shifted(r[0], 6), &d);
             return Ref{{}, {d}};
           }, 1e-12});
    t.add({"logdet", "logdet_4x4", {{4, 4}}, {Dom::any}, [dom](V x) { return logdet(dom(x[0])); }, [](R r) {
             double d;
             inv_ref(shifted(r[0], 6), &d);
             return Ref{{}, {std::log(d)}};
           }, 1e-12});
    t.add({"solve", "solve_3x3_3x2", {{3, 3}, {3, 2}}, {Dom::any}, [dom](V x) { return solve(dom(x[0]), x[1]); },
           [](R r) { return matmul_ref(inv_ref(shifted(r[0], 6)), r[1]); }, 1e-12});
    t.add({"solve", "solve_3x3_vec", {{3, 3}, {3}}, {Dom::any}, [dom](V x) { return solve(dom(x[0]), x[1]); },
           [](R r) { return matmul_ref(inv_ref(shifted(r[0], 6)), r[1]); }, 1e-12});
  }
  for (Shape s : {Shape{3, 3}, Shape{3, 4}, Shape{4, 2}})
    t.add({"diag", "diag_of_matrix_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return diag(x[0]); }, [](R r) {
             int64_t k = std::min(r[0].shape[0], r[0].shape[1]);
             Ref o = blank({k});
             for (int64_t i = 0; i < k; ++i) o.v[static_cast<size_t>(i)] = get(r[0], {i, i});
             return o;
           }});
  auto diag_ref = [](const Ref& v) {
    int64_t n = static_cast<int64_t>(v.v.size());
    Ref o = blank({n, n});
    for (int64_t i = 0; i < n; ++i) o.v[static_cast<size_t>(i * n + i)] = v.v[static_cast<size_t>(i)];
    return o;
  };
  t.add({"diag", "diag_of_vector", {{4}}, {Dom::any}, [](V x) { return diag(x[0]); },
         [diag_ref](R r) { return diag_ref(r[0]); }});
  t.add({"diagflat", "diagflat_matrix", {{2, 3}}, {Dom::any}, [](V x) { return diagflat(x[0]); },
         [diag_ref](R r) { return diag_ref(r[0]); }});
  t.add({"diagflat", "diagflat_vector", {{3}}, {Dom::any}, [](V x) { return diagflat(x[0]); },
         [diag_ref](R r) { return diag_ref(r[0]); }});
  auto linear_ref = [](R r) {
    Ref y = matmul_ref(r[0], permute_ref(r[1], {1, 0}));
    return r.size() > 2 ? map2(y, r[2], std::plus<>()) : y;
  };
  t.add({"linear", "linear_batch", {{5, 3}, {4, 3}, {4}}, {Dom::any}, [](V x) { return linear(x[0], x[1], x[2]); },
         linear_ref});
  t.add({"linear", "linear_nobias", {{5, 3}, {4, 3}}, {Dom::any}, [](V x) { return linear(x[0], x[1]); }, linear_ref});
  t.add({"linear", "linear_vector", {{3}, {4, 3}, {4}}, {Dom::any}, [](V x) { return linear(x[0], x[1], x[2]); },
         linear_ref});
  t.add({"linear", "linear_3d", {{2, 5, 3}, {4, 3}, {4}}, {Dom::any},
         [](V x) { return linear(x[0], x[1], x[2]); }, linear_ref});
  t.add({"linear", "linear_one_row", {{1, 3}, {1, 3}, {1}}, {Dom::any},
         [](V x) { return linear(x[0], x[1], x[2]); }, linear_ref});

  // ---- reductions ----
  for (Shape s : {Shape{3, 4}, Shape{}, Shape{2, 3, 4}}) {
    t.add({"sum", "sum_all_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return sum(x[0]); },
           [](R r) { return rsum(r[0]); }});
    t.add({"mean", "mean_all_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return mean(x[0]); }, [](R r) {
             return reduce(r[0], {}, false, 0.0, std::plus<>(), [](double a, int64_t n) { return a / n; });
           }});
  }
  struct DimsCase {
    Shape s;
    std::vector<int> dims;
    bool keep;
    std::string tag;
  };
  for (const DimsCase& c : {DimsCase{{3, 4}, {1}, false, "d1"}, DimsCase{{3, 4}, {0}, true, "d0_keep"},
                            DimsCase{{2, 3, 4}, {0, 2}, true, "d02_keep"}, DimsCase{{2, 3, 4}, {-1}, false, "dm1"},
                            DimsCase{{2, 3, 4}, {1, 0}, false, "d10"}}) {
    Dims dims(c.dims.begin(), c.dims.end());
    t.add({"sum", "sum_" + c.tag, {c.s}, {Dom::any}, [dims, c](V x) { return sum(x[0], dims, c.keep); },
           [c](R r) { return rsum(r[0], c.dims, c.keep); }});
    t.add({"mean", "mean_" + c.tag, {c.s}, {Dom::any}, [dims, c](V x) { return mean(x[0], dims, c.keep); },
           [c](R r) {
             return reduce(r[0], c.dims, c.keep, 0.0, std::plus<>(), [](double a, int64_t n) { return a / n; });
           }});
  }
  // a scalar accepts dim 0 or −1 and reduces to itself
  auto same = [](R r) { return r[0]; };
  t.add({"sum", "sum_scalar_d0", {{}}, {Dom::any}, [](V x) { return sum(x[0], {0}); }, same});
  t.add({"mean", "mean_scalar_dm1_keep", {{}}, {Dom::any}, [](V x) { return mean(x[0], {-1}, true); }, same});
  t.add({"logsumexp", "logsumexp_scalar", {{}}, {Dom::any}, [](V x) { return logsumexp(x[0], 0); }, same});
  t.add({"max", "max_scalar_d0", {{}}, {Dom::any}, [](V x) { return max(x[0], 0); }, same});
  t.add({"min", "min_scalar_dm1", {{}}, {Dom::any}, [](V x) { return min(x[0], -1, true); }, same});
  t.add({"prod", "prod_scalar_d0", {{}}, {Dom::near1}, [](V x) { return prod(x[0], 0); }, same});
  t.add({"softmax", "softmax_scalar", {{}}, {Dom::any}, [](V x) { return softmax(x[0], 0) * x[0]; }, same});
  t.add({"log_softmax", "log_softmax_scalar", {{}}, {Dom::any}, [](V x) { return log_softmax(x[0], 0) + x[0]; },
         same});
  t.add({"sum", "sum_method", {{2, 3}}, {Dom::any}, [](V x) { return x[0].sum() + x[0].mean(); }, [](R r) {
           Ref s = rsum(r[0]);
           s.v[0] *= 1 + 1.0 / 6;
           return s;
         }});
  auto prod_ref = [](const Ref& x, std::vector<int> dims, bool keep) {
    return reduce(x, std::move(dims), keep, 1.0, std::multiplies<>());
  };
  for (Dom d : {Dom::near1, Dom::zero1, Dom::zero2}) {
    std::string z = d == Dom::near1 ? "" : d == Dom::zero1 ? "_one_zero" : "_two_zeros";
    t.add({"prod", "prod_all" + z, {{2, 3}}, {d}, [](V x) { return prod(x[0]); },
           [prod_ref](R r) { return prod_ref(r[0], {}, false); }});
    t.add({"prod", "prod_d1_keep" + z, {{2, 4}}, {d}, [](V x) { return prod(x[0], 1, true); },
           [prod_ref](R r) { return prod_ref(r[0], {1}, true); }});
    t.add({"prod", "prod_d0" + z, {{4, 3}}, {d}, [](V x) { return prod(x[0], 0); },
           [prod_ref](R r) { return prod_ref(r[0], {0}, false); }});
  }
  auto mx = [](double a, double b) { return std::max(a, b); };
  auto mn = [](double a, double b) { return std::min(a, b); };
  for (Shape s : {Shape{3, 4}, Shape{7}, Shape{}}) {
    t.add({"max", "max_all_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return max(x[0]); },
           [mx](R r) { return reduce(r[0], {}, false, -INFINITY, mx); }});
    t.add({"min", "min_all_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return min(x[0]); },
           [mn](R r) { return reduce(r[0], {}, false, INFINITY, mn); }});
  }
  for (const DimsCase& c : {DimsCase{{3, 4}, {0}, false, "d0"}, DimsCase{{3, 4}, {1}, true, "d1_keep"},
                            DimsCase{{2, 3, 4}, {-1}, false, "dm1"}, DimsCase{{2, 3, 4}, {1}, true, "d1_keep3"}}) {
    int d = c.dims[0];
    t.add({"max", "max_" + c.tag, {c.s}, {Dom::any}, [d, c](V x) { return max(x[0], d, c.keep); },
           [mx, c](R r) { return reduce(r[0], c.dims, c.keep, -INFINITY, mx); }});
    t.add({"min", "min_" + c.tag, {c.s}, {Dom::any}, [d, c](V x) { return min(x[0], d, c.keep); },
           [mn, c](R r) { return reduce(r[0], c.dims, c.keep, INFINITY, mn); }});
    t.add({"logsumexp", "logsumexp_" + c.tag, {c.s}, {Dom::any}, [d, c](V x) { return logsumexp(x[0], d, c.keep); },
           [c](R r) {
             return reduce(r[0], c.dims, c.keep, 0.0, [](double a, double b) { return a + std::exp(b); },
                           [](double a, int64_t) { return std::log(a); });
           }});
  }
  for (const DimsCase& c : {DimsCase{{3, 4}, {0}, false, "d0"}, DimsCase{{3, 4}, {1}, false, "d1"},
                            DimsCase{{3, 4}, {-1}, false, "dm1"}, DimsCase{{2, 3, 4}, {1}, false, "d1_3d"},
                            DimsCase{{5}, {0}, false, "vec"}}) {
    int d = c.dims[0];
    t.add({"softmax", "softmax_" + c.tag, {c.s}, {Dom::any}, [d](V x) { return softmax(x[0], d); },
           [d](R r) { return softmax_ref(r[0], d, false); }});
    t.add({"log_softmax", "log_softmax_" + c.tag, {c.s}, {Dom::any}, [d](V x) { return log_softmax(x[0], d); },
           [d](R r) { return softmax_ref(r[0], d, true); }});
  }
  for (Shape s : {Shape{3, 4}, Shape{5}})
    t.add({"norm", "norm_" + shape_tag(s), {s}, {Dom::any}, [](V x) { return norm(x[0]); }, [](R r) {
             return map1(reduce(r[0], {}, false, 0.0, [](double a, double b) { return a + b * b; }),
                         [](double a) { return std::sqrt(a); });
           }});
  auto sum_to_ref = [](const Ref& x, const Shape& s) {
    Ref o = blank(s);
    for_each_index(x.shape, [&](const Index& i, int64_t e) {
      int lead = static_cast<int>(i.size()) - s.size();
      int64_t off = 0;
      for (int k = 0; k < s.size(); ++k) off = off * s[k] + (s[k] == 1 ? 0 : i[static_cast<size_t>(lead + k)]);
      o.v[static_cast<size_t>(off)] += x.v[static_cast<size_t>(e)];
    });
    return o;
  };
  for (auto [from, to] : {std::pair{Shape{3, 4}, Shape{1, 4}}, std::pair{Shape{3, 4}, Shape{3, 1}},
                          std::pair{Shape{3, 4}, Shape{4}}, std::pair{Shape{3, 4}, Shape{}},
                          std::pair{Shape{2, 3, 4}, Shape{3, 1}}, std::pair{Shape{2, 3}, Shape{2, 3}}})
    t.add({"sum_to", "sum_to_" + shapes_tag({from, to}), {from}, {Dom::any},
           [to](V x) { return sum_to(x[0], to); }, [to, sum_to_ref](R r) { return sum_to_ref(r[0], to); }});

  // ---- shape ops ----
  auto same_values = [](Shape s) { return [s](R r) { return reshaped(r[0], s); }; };
  t.add({"reshape", "reshape_infer", {{2, 3, 4}}, {Dom::any}, [](V x) { return reshape(x[0], {4, -1}); },
         same_values({4, 6})});
  t.add({"reshape", "reshape_vec", {{6}}, {Dom::any}, [](V x) { return reshape(x[0], {2, 3}); }, same_values({2, 3})});
  t.add({"reshape", "reshape_scalar", {{}}, {Dom::any}, [](V x) { return x[0].reshape({1, 1}); },
         same_values({1, 1})});
  OpCase view{"reshape", "view", {{2, 6}}, {Dom::any}, [](V x) { return x[0].view({3, 4}); }, same_values({3, 4})};
  view.any_layout = false;
  t.add(view);
  t.add({"flatten", "flatten_all", {{2, 3, 4}}, {Dom::any}, [](V x) { return flatten(x[0]); }, same_values({24})});
  t.add({"flatten", "flatten_from1", {{2, 3, 4}}, {Dom::any}, [](V x) { return flatten(x[0], 1); },
         same_values({2, 12})});
  t.add({"squeeze", "squeeze_all", {{1, 3, 1}}, {Dom::any}, [](V x) { return squeeze(x[0]); }, same_values({3})});
  t.add({"squeeze", "squeeze_d0", {{1, 3, 1}}, {Dom::any}, [](V x) { return squeeze(x[0], 0); },
         same_values({3, 1})});
  t.add({"squeeze", "squeeze_dm1", {{2, 3, 1}}, {Dom::any}, [](V x) { return squeeze(x[0], -1); },
         same_values({2, 3})});
  t.add({"unsqueeze", "unsqueeze_d1", {{3, 4}}, {Dom::any}, [](V x) { return unsqueeze(x[0], 1); },
         same_values({3, 1, 4})});
  t.add({"unsqueeze", "unsqueeze_dm1", {{3, 4}}, {Dom::any}, [](V x) { return unsqueeze(x[0], -1); },
         same_values({3, 4, 1})});
  t.add({"unsqueeze", "unsqueeze_scalar", {{}}, {Dom::any}, [](V x) { return unsqueeze(x[0], 0); },
         same_values({1})});
  t.add({"permute", "permute", {{2, 3, 4}}, {Dom::any}, [](V x) { return permute(x[0], {2, 0, 1}); },
         [](R r) { return permute_ref(r[0], {2, 0, 1}); }});
  t.add({"permute", "permute_neg", {{2, 3, 4}}, {Dom::any}, [](V x) { return permute(x[0], {-2, -1, 0}); },
         [](R r) { return permute_ref(r[0], {1, 2, 0}); }});
  auto expand_case = [&](const std::string& tag, Shape from, Shape req, Shape to) {
    t.add({"expand", tag, {from}, {Dom::any}, [req](V x) { return expand(x[0], req) * 1.0; }, [to](R r) {
             Ref o = blank(to);
             for_each_index(to, [&](const Index& i, int64_t e) { o.v[static_cast<size_t>(e)] = bget(r[0], i); });
             return o;
           }});
  };
  expand_case("expand_col", {3, 1}, {2, 3, 4}, {2, 3, 4});
  expand_case("expand_scalar", {}, {2, 2}, {2, 2});
  expand_case("expand_row_infer", {1, 4}, {3, -1}, {3, 4});
  t.add({"slice", "slice_step", {{5, 4}}, {Dom::any}, [](V x) { return slice(x[0], 0, 1, 5, 2); },
         [](R r) { return slice_ref(r[0], 0, 1, 2, 2); }});
  t.add({"slice", "slice_neg_step", {{5, 4}}, {Dom::any}, [](V x) { return slice(x[0], 1, -3, 4, 2); },
         [](R r) { return slice_ref(r[0], 1, 1, 2, 2); }});
  t.add({"slice", "slice_plain", {{5, 4}}, {Dom::any}, [](V x) { return x[0].slice(0, 0, 3); },
         [](R r) { return slice_ref(r[0], 0, 0, 3, 1); }});
  t.add({"slice", "slice_clamped", {{6}}, {Dom::any}, [](V x) { return slice(x[0], 0, 2, 100, 3); },
         [](R r) { return slice_ref(r[0], 0, 2, 2, 3); }});
  t.add({"select", "select_last_col", {{3, 4}}, {Dom::any}, [](V x) { return x[0].select(1, -1); },
         [](R r) { return reshaped(slice_ref(r[0], 1, 3, 1, 1), {3}); }});
  t.add({"select", "select_row", {{3, 4}}, {Dom::any}, [](V x) { return x[0].select(0, 1); },
         [](R r) { return reshaped(slice_ref(r[0], 0, 1, 1, 1), {4}); }});
  t.add({"narrow", "narrow", {{5, 4}}, {Dom::any}, [](V x) { return x[0].narrow(0, 1, 3); },
         [](R r) { return slice_ref(r[0], 0, 1, 3, 1); }});
  t.add({"concat", "concat_d0", {{2, 3}, {1, 3}, {4, 3}}, {Dom::any}, [](V x) { return concat(x, 0); },
         [](R r) { return concat_ref(r, 0); }});
  t.add({"concat", "concat_d1", {{2, 3}, {2, 1}}, {Dom::any}, [](V x) { return cat(x, -1); },
         [](R r) { return concat_ref(r, 1); }});
  t.add({"concat", "concat_vec", {{2}, {3}}, {Dom::any}, [](V x) { return concat(x); },
         [](R r) { return concat_ref(r, 0); }});
  auto stack_ref = [](R r, int d) {
    std::vector<Ref> us;
    for (const Ref& x : r) {
      Shape s = x.shape;
      s.insert(d, 1);
      us.push_back(reshaped(x, s));
    }
    return concat_ref(us, d);
  };
  t.add({"stack", "stack_d0", {{2, 3}, {2, 3}, {2, 3}}, {Dom::any}, [](V x) { return stack(x, 0); },
         [stack_ref](R r) { return stack_ref(r, 0); }});
  t.add({"stack", "stack_dm1", {{2, 3}, {2, 3}}, {Dom::any}, [](V x) { return stack(x, -1); },
         [stack_ref](R r) { return stack_ref(r, 2); }});
  t.add({"stack", "stack_scalars", {{}, {}}, {Dom::any}, [](V x) { return stack(x); },
         [stack_ref](R r) { return stack_ref(r, 0); }});
  auto index_select_ref = [](const Ref& x, int d, const std::vector<int64_t>& idx) {
    Shape s = x.shape;
    s[d] = static_cast<int64_t>(idx.size());
    Ref o = blank(s);
    for_each_index(s, [&](const Index& i, int64_t e) {
      Index src(i);
      src[static_cast<size_t>(d)] = idx[static_cast<size_t>(i[static_cast<size_t>(d)])];
      o.v[static_cast<size_t>(e)] = get(x, src);
    });
    return o;
  };
  t.add({"index_select", "index_select_d0", {{4, 3}}, {Dom::any},
         [](V x) { return index_select(x[0], 0, idx_tensor({2, 0, 2}, {3}, x[0].dtype())); },
         [index_select_ref](R r) { return index_select_ref(r[0], 0, {2, 0, 2}); }});
  t.add({"index_select", "index_select_d1", {{3, 4}}, {Dom::any},
         [](V x) { return index_select(x[0], 1, idx_tensor({1, 1, 0, -1}, {4}, kFloat32)); },
         [index_select_ref](R r) { return index_select_ref(r[0], 1, {1, 1, 0, 3}); }});
  auto gather_ref = [](const Ref& x, int d, const Ref& idx) {
    Ref o = blank(idx.shape);
    for_each_index(idx.shape, [&](const Index& i, int64_t e) {
      Index src(i);
      src[static_cast<size_t>(d)] = static_cast<int64_t>(idx.v[static_cast<size_t>(e)]);
      o.v[static_cast<size_t>(e)] = get(x, src);
    });
    return o;
  };
  t.add({"gather", "gather_d1", {{3, 4}}, {Dom::any},
         [](V x) { return gather(x[0], 1, idx_tensor({0, 3, 1, 1, 2, 0}, {3, 2}, x[0].dtype())); },
         [gather_ref](R r) { return gather_ref(r[0], 1, {{3, 2}, {0, 3, 1, 1, 2, 0}}); }});
  t.add({"gather", "gather_d0", {{3, 4}}, {Dom::any},
         [](V x) { return gather(x[0], 0, idx_tensor({2, 0, 1, 1, 0, 0, 2, 1}, {2, 4}, x[0].dtype())); },
         [gather_ref](R r) { return gather_ref(r[0], 0, {{2, 4}, {2, 0, 1, 1, 0, 0, 2, 1}}); }});
  auto cond_of = [](const Shape& s, DType dt) {
    Tensor c = zeros(s, dt);
    std::vector<double> v(static_cast<size_t>(numel(s)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = i % 3 == 1 ? 0.0 : (i % 2 ? 2.0 : -1.0);
    return tensor(v, s.empty() ? Shape{1} : s, dt).reshape(s);
  };
  for (auto shapes : {std::vector<Shape>{{3, 4}, {3, 4}, {3, 4}}, std::vector<Shape>{{3, 1}, {3, 4}, {4}},
                      std::vector<Shape>{{4}, {}, {3, 1}}}) {
    Shape cs = shapes[0];
    t.add({"where", "where_" + shapes_tag(shapes), {shapes[1], shapes[2]}, {Dom::any},
           [cs, cond_of](V x) { return where(cond_of(cs, x[0].dtype()), x[0], x[1]); },
           [cs, cond_of](R r) {
             Ref c = ref_of(cond_of(cs, kFloat64));
             Ref o = blank(bshape({cs, r[0].shape, r[1].shape}));
             for_each_index(o.shape, [&](const Index& i, int64_t e) {
               o.v[static_cast<size_t>(e)] = bget(c, i) != 0 ? bget(r[0], i) : bget(r[1], i);
             });
             return o;
           }});
  }
  t.add({"clone", "clone", {{3, 4}}, {Dom::any}, [](V x) { return x[0].clone(); }, [](R r) { return r[0]; }});
  t.add({"contiguous", "contiguous_of_transpose", {{3, 4}}, {Dom::any}, [](V x) { return x[0].t().contiguous(); },
         [](R r) { return permute_ref(r[0], {1, 0}); }});
  OpCase to32{"to", "to_f32_and_back", {{3, 4}}, {Dom::any},
              [](V x) { return x[0].to(kFloat32).to(x[0].dtype()); }, [](R r) { return r[0]; }, 1e-7};
  to32.gc.eps = 1e-2;  // the float32 round trip is exactly linear up to rounding
  to32.gc.atol = 1e-4;
  t.add(to32);
  t.add({"to", "to_f64", {{2, 3}}, {Dom::any}, [](V x) { return (x[0].to(kFloat64) * 1.0).to(x[0].dtype()); },
         [](R r) { return r[0]; }});

  // Composites that chain several views and ops on one input.
  t.add({"slice", "views_chain", {{4, 6}}, {Dom::any},
         [](V x) { return sum(x[0].t().slice(0, 1, 6, 2).unsqueeze(0).expand({2, 3, 4}), {0}) * x[0].select(1, 0); },
         [](R r) {
           Ref s = slice_ref(permute_ref(r[0], {1, 0}), 0, 1, 3, 2);
           Ref c = reshaped(slice_ref(r[0], 1, 0, 1, 1), {4});
           return map2(map1(s, [](double v) { return 2 * v; }), c, std::multiplies<>());
         }});
  return t.cases;
}

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = build_table();
  return table;
}

// ---- inputs -----------------------------------------------------------------------

uint64_t seed_of(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

std::vector<Tensor> make_inputs(const OpCase& c, DType dt = kFloat64) {
  Generator gen(seed_of(c.name));
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    Dom d = c.doms[std::min(i, c.doms.size() - 1)];
    const Shape& s = c.shapes[i];
    std::vector<double> v(static_cast<size_t>(numel(s)));
    for (size_t k = 0; k < v.size(); ++k) {
      double u = gen.uniform01(), sign = gen.uniform01() < 0.5 ? -1.0 : 1.0;
      switch (d) {
        case Dom::any: v[k] = -2 + 4 * u; break;
        case Dom::pos: v[k] = 0.5 + 1.5 * u; break;
        case Dom::away0: v[k] = sign * (0.3 + 1.7 * u); break;
        case Dom::near1:
        case Dom::zero1:
        case Dom::zero2: v[k] = sign * (0.6 + 0.8 * u); break;
      }
    }
    if ((d == Dom::zero1 || d == Dom::zero2) && v.size() > 1) v[1] = 0;
    if (d == Dom::zero2 && v.size() > 3) v[3] = 0;
    xs.push_back(tensor(v, s.empty() ? Shape{1} : s, dt).reshape(s));
  }
  return xs;
}

std::vector<Ref> refs_of(const std::vector<Tensor>& xs) {
  std::vector<Ref> r;
  for (const Tensor& x : xs) r.push_back(ref_of(x));
  return r;
}

// The same values, laid out so that the op sees a non-contiguous view:
// `how` 0 — every other element of a wider buffer (a strided slice);
// `how` 1 — the transpose of a contiguous transpose (rank ≥ 2), else strided at offset 1.
Tensor noncontiguous(const Tensor& x, int how) {
  if (x.dim() == 0) return x;
  if (how == 1 && x.dim() >= 2) {
    Tensor t = x.transpose(0, -1).contiguous().transpose(0, -1);
    if (!t.is_contiguous()) return t;  // else a size-1 dim made the transpose a no-op
  }
  if (how == 1) return stack({zeros_like(x), x}, -1).select(-1, 1);
  return stack({x, zeros_like(x)}, -1).select(-1, 0);
}

void expect_matches(const Tensor& got, const Ref& want, double tol) {
  ASSERT_EQ(got.shape(), want.shape) << "got shape " << got.shape() << ", want " << want.shape;
  std::vector<double> g = got.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want.v[i], tol * std::max(1.0, std::fabs(want.v[i]))) << "element " << i;
}

// ---- generic tests ---------------------------------------------------------------------

class OpTable : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTable, ForwardMatchesReferenceFloat64) {
  const OpCase& c = GetParam();
  if (!c.ref) GTEST_SKIP() << "no reference";
  std::vector<Tensor> xs = make_inputs(c);
  Tensor y = c.fn(xs);
  EXPECT_EQ(y.dtype(), kFloat64);
  EXPECT_FALSE(y.requires_grad());
  expect_matches(y, c.ref(refs_of(xs)), c.tol);
}

TEST_P(OpTable, ForwardMatchesReferenceFloat32) {
  const OpCase& c = GetParam();
  if (!c.ref) GTEST_SKIP() << "no reference";
  std::vector<Tensor> xs = make_inputs(c, kFloat32);
  Tensor y = c.fn(xs);
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_matches(y, c.ref(refs_of(xs)), std::max(c.tol, 1e-5));
}

TEST_P(OpTable, RecordsAGraphOnlyWhenAsked) {
  const OpCase& c = GetParam();
  std::vector<Tensor> xs = make_inputs(c);
  for (Tensor& x : xs) x.requires_grad_();
  {
    NoGradGuard ng;
    Tensor y = c.fn(xs);
    // an op that is the identity on these shapes may hand back its input itself
    bool is_input = std::any_of(xs.begin(), xs.end(), [&](const Tensor& x) { return x.is_same(y); });
    EXPECT_TRUE(!y.requires_grad() || is_input);
    EXPECT_TRUE(y.is_leaf());
  }
  Tensor y = c.fn(xs);
  EXPECT_TRUE(y.requires_grad());
  // the forward value does not depend on recording
  std::vector<Tensor> plain = make_inputs(c);
  expect_matches(y.detach(), ref_of(c.fn(plain)), 0);
}

TEST_P(OpTable, Gradcheck) {
  const OpCase& c = GetParam();
  GradcheckResult r = gradcheck(c.fn, make_inputs(c), c.gc);
  EXPECT_TRUE(r.ok) << r;
}

TEST_P(OpTable, GradcheckNonContiguousInputs) {
  const OpCase& c = GetParam();
  std::vector<Tensor> xs = make_inputs(c);
  Tensor want = c.fn(xs);
  if (!c.any_layout) {
    EXPECT_THROW(c.fn({noncontiguous(xs[0], 0)}), Error);
    return;
  }
  for (int how : {0, 1}) {
    SCOPED_TRACE(how == 0 ? "strided slice" : "transposed");
    Fn f = [&c, how](const std::vector<Tensor>& in) {
      std::vector<Tensor> v;
      for (const Tensor& x : in) {
        Tensor nc = noncontiguous(x, how);
        if (x.numel() > 1) EXPECT_FALSE(nc.is_contiguous()) << x.shape();
        v.push_back(nc);
      }
      return c.fn(v);
    };
    expect_matches(f(xs), ref_of(want), 1e-13);
    GradcheckResult r = gradcheck(f, xs, c.gc);
    EXPECT_TRUE(r.ok) << r;
  }
}

TEST_P(OpTable, GradcheckOfTheGradient) {
  const OpCase& c = GetParam();
  if (!c.second_order) GTEST_SKIP() << "first order only";
  // g(x) = ∂⟨u, f(x)⟩/∂x, built with create_graph, must itself pass gradcheck.
  Fn g = [&c](const std::vector<Tensor>& xs) {
    Tensor y = c.fn(xs);
    Generator gen(5);
    Tensor u = randn(y.shape(), gen, kFloat64);
    std::vector<Tensor> gs = grad({y}, xs, {u}, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
    std::vector<Tensor> flat;
    for (const Tensor& t : gs) flat.push_back(reshape(t, {-1}));
    return concat(flat);
  };
  GradcheckOptions o = c.gc;
  o.atol = std::max(o.atol, 1e-5);
  GradcheckResult r = gradcheck(g, make_inputs(c), o);
  EXPECT_TRUE(r.ok) << r;
}

// Forward mode: J·v by one JVP pass against central differences in float64.
TEST_P(OpTable, JvpMatchesFiniteDifferences) {
  const OpCase& c = GetParam();
  std::vector<Tensor> xs = make_inputs(c);
  Generator gen(11);
  std::vector<Tensor> vs;
  for (const Tensor& x : xs) vs.push_back(randn(x.shape(), gen, kFloat64));
  JvpResult r = jvp(c.fn, xs, vs);
  expect_matches(r.output, ref_of(c.fn(xs)), 0);
  const double eps = c.gc.eps;
  std::vector<Tensor> plus, minus;
  for (size_t i = 0; i < xs.size(); ++i) {
    plus.push_back(xs[i] + vs[i] * eps);
    minus.push_back(xs[i] - vs[i] * eps);
  }
  Tensor fd = (c.fn(plus) - c.fn(minus)) / (2 * eps);
  ASSERT_EQ(r.tangent.shape(), fd.shape());
  std::vector<double> a = r.tangent.to_vector<double>(), n = fd.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], n[i], c.gc.atol + c.gc.rtol * std::fabs(n[i])) << "element " << i;
}

// ⟨u, J v⟩ computed by forward mode equals ⟨Jᵀu, v⟩ computed by reverse mode.
TEST_P(OpTable, JvpAgreesWithVjp) {
  const OpCase& c = GetParam();
  std::vector<Tensor> xs = make_inputs(c);
  Generator gen(12);
  std::vector<Tensor> vs;
  for (const Tensor& x : xs) vs.push_back(randn(x.shape(), gen, kFloat64));
  JvpResult f = jvp(c.fn, xs, vs);
  Tensor u = randn(f.output.shape(), gen, kFloat64);
  VjpResult b = vjp(c.fn, xs);
  std::vector<Tensor> jtu = b.pullback(u);
  double lhs = sum(u * f.tangent).item(), rhs = 0;
  for (size_t i = 0; i < xs.size(); ++i) rhs += sum(jtu[i] * vs[i]).item();
  // exact up to rounding; a case that rounds through float32 (its gc.atol says so) gets float32's
  const double tol = c.gc.atol > 1e-5 ? 1e-6 : 1e-10;
  EXPECT_NEAR(lhs, rhs, tol * std::max(1.0, std::fabs(lhs)));
}

// The whole Jacobian: one batched forward pass (all columns) and one batched
// backward pass (all rows) agree, which checks every VJP with a batch axis.
TEST_P(OpTable, JacobianForwardEqualsReverse) {
  const OpCase& c = GetParam();
  std::vector<Tensor> xs = make_inputs(c);
  JacobianOptions fw, rv;
  fw.mode = JacobianMode::forward;
  rv.mode = JacobianMode::reverse;
  std::vector<Tensor> jf = jacobian(c.fn, xs, fw), jr = jacobian(c.fn, xs, rv);
  ASSERT_EQ(jf.size(), jr.size());
  for (size_t i = 0; i < jf.size(); ++i) {
    ASSERT_EQ(jf[i].shape(), jr[i].shape());
    std::vector<double> a = jf[i].to_vector<double>(), b = jr[i].to_vector<double>();
    for (size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-12 * std::max(1.0, std::fabs(b[e]))) << i << "/" << e;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTable, ::testing::ValuesIn(op_table()),
                         [](const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; });

// ---- edges the random inputs do not reach ------------------------------------------------

TEST(OpEdges, ComparisonsAreValuesWithoutGradient) {
  Tensor a = tensor({1.0, 2.0, 3.0}, TensorOptions().dtype(kFloat64).requires_grad());
  Tensor b = tensor({2.0}, kFloat64);
  EXPECT_EQ(eq(a, b).to_vector<double>(), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(ne(a, b).to_vector<double>(), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(lt(a, b).to_vector<double>(), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(le(a, b).to_vector<double>(), (std::vector<double>{1, 1, 0}));
  EXPECT_EQ(gt(a, b).to_vector<double>(), (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(ge(a, b).to_vector<double>(), (std::vector<double>{0, 1, 1}));
  EXPECT_FALSE(gt(a, b).requires_grad());
  EXPECT_EQ(gt(a, b).dtype(), kFloat64);
  EXPECT_EQ(step(tensor({-1.0, 0.0, 0.5})).to_vector<double>(), (std::vector<double>{0, 0, 1}));
  EXPECT_TRUE(allclose(tensor({1.0, 2.0}), tensor({1.0, 2.0 + 1e-7})));
  EXPECT_FALSE(allclose(tensor({1.0, 2.0}), tensor({1.0, 2.1})));
  EXPECT_FALSE(equal(tensor({1.0, 2.0}), tensor({1.0, 2.0}).reshape({2, 1})));
}

TEST(OpEdges, ArgExtremesAndOneHot) {
  Tensor m = tensor({{1.0, 5.0, 5.0}, {7.0, 0.0, 7.0}});
  EXPECT_EQ(argmax(m, 1).to_vector<double>(), (std::vector<double>{1, 0}));  // first on ties
  EXPECT_EQ(argmin(m, 0, true).to_vector<double>(), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(argmin(m, 0, true).shape(), (Shape{1, 3}));
  EXPECT_EQ(max(m, 1).to_vector<double>(), (std::vector<double>{5, 7}));
  Tensor oh = one_hot(tensor({2.0, 0.0}), 3, kFloat64);
  EXPECT_EQ(oh.shape(), (Shape{2, 3}));
  EXPECT_EQ(oh.to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 0, 0}));
  EXPECT_THROW(one_hot(tensor({3.0}), 3), Error);
  EXPECT_THROW(one_hot(tensor({-1.0}), 3), Error);
  EXPECT_THROW(max(zeros({0})), Error);
}

TEST(OpEdges, ExtremeValuesStayFinite) {
  Tensor x = tensor({-1000.0, -50.0, 0.0, 50.0, 1000.0}, kFloat64);
  for (double v : sigmoid(x).to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(sigmoid(x).to_vector<double>().front(), 0.0);
  EXPECT_EQ(sigmoid(x).to_vector<double>().back(), 1.0);
  std::vector<double> sp = softplus(x).to_vector<double>();
  EXPECT_EQ(sp.front(), 0.0);
  EXPECT_EQ(sp.back(), 1000.0);
  EXPECT_NEAR(sp[2], std::log(2.0), 1e-15);
  EXPECT_NEAR(logsumexp(x, 0).item(), 1000.0, 1e-12);
  Tensor xf = tensor({-100.0, 100.0});
  for (double v : sigmoid(xf).to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NEAR(logsumexp(tensor({1000.0, 1000.0}), 0).item(), 1000 + std::log(2.0), 1e-3);
}

TEST(OpEdges, ErrorsNameTheOp) {
  auto msg = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(msg([] { mm(zeros({2, 3, 4}), zeros({4, 2})); }), "mm: expects two matrices, got [2,3,4] and [4,2]");
  EXPECT_EQ(msg([] { dot(zeros({3}), zeros({4})); }), "dot: expects two vectors of equal length, got [3] and [4]");
  EXPECT_EQ(msg([] { matmul(zeros({}), zeros({3})); }), "matmul: both operands need rank ≥ 1, got [] and [3]");
  EXPECT_EQ(msg([] { trace(zeros({3})); }), "trace: expects a matrix, got [3]");
  EXPECT_EQ(msg([] { linear(zeros({2, 3}), zeros({4, 5})); }),
            "linear: input [2,3] does not match weight [4,5] (expects [..., 5])");
  EXPECT_EQ(msg([] { sum(zeros({2, 3}), {1, -1}); }), "sum: dimension -1 is listed twice");
  EXPECT_EQ(msg([] { softmax(zeros({2, 3}), 2); }), "softmax: dimension 2 is out of range for a tensor of rank 2");
  EXPECT_EQ(msg([] { sum_to(zeros({2, 3}), {4}); }), "sum_to: cannot reduce [2,3] to [4]");
  EXPECT_EQ(msg([] { concat({zeros({2, 3}), zeros({2, 4})}); }),
            "concat: tensor 1 has shape [2,4], incompatible with [2,3] along dimension 0");
  EXPECT_EQ(msg([] { stack({zeros({2}), zeros({3})}); }), "stack: tensor 1 has shape [3], expected [2]");
  EXPECT_EQ(msg([] { gather(zeros({2, 3}), 1, zeros({3, 1})); }),
            "gather: index of shape [3,1] does not fit input of shape [2,3] along dimension 1");
  EXPECT_EQ(msg([] { clamp(zeros({2}), 1.0, 0.0); }), "clamp: lower bound 1 exceeds upper bound 0");
  EXPECT_EQ(msg([] { permute(zeros({2, 3}), {0, 0}); }), "permute: dimension 0 repeats in [0,0]");
  EXPECT_EQ(msg([] { where(zeros({2}), zeros({2}), zeros({2}, kFloat64)); }),
            "where: dtypes differ (float32 [2] and float64 [2]); convert one with .to()");
}

// The public ops, read from their declarations, so that none can be left out
// of the table: every element-wise function of the registry
// (nabla/elementwise.def) and every `Tensor name(` in nabla/ops.hpp.
std::set<std::string> public_ops() {
  std::set<std::string> ops;
#define NABLA_ELEMENTWISE(NAME, ...) ops.insert(#NAME);
#include "nabla/elementwise.def"
  std::ifstream in(std::string(NABLA_SOURCE_PATH) + "/include/nabla/ops.hpp");
  EXPECT_TRUE(in.good()) << "cannot read " << NABLA_SOURCE_PATH << "/include/nabla/ops.hpp";
  const std::regex decl(R"(^Tensor ([a-z_0-9]+)\()");
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, decl)) ops.insert(m[1]);
  return ops;
}

// Ops whose outputs carry no gradient, covered by the OpEdges tests above, and
// aliases that are the same function under another name.
const std::set<std::string> kNotInTable = {"eq", "ne", "lt", "le", "gt", "ge", "argmax", "argmin", "one_hot",
                                           "cat" /* concat */};

TEST(OpTableCoverage, EveryPublicOpHasAnEntry) {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const OpCase& c : op_table()) {
    covered.insert(c.op);
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
  }
  std::set<std::string> ops = public_ops();
  EXPECT_GT(ops.size(), 60u);  // the declarations were found
  // Tensor methods that are ops of their own (nabla/tensor.hpp).
  for (const char* m : {"select", "narrow", "clone", "contiguous", "to"}) ops.insert(m);
  for (const std::string& op : ops) {
    if (kNotInTable.count(op)) continue;
    EXPECT_TRUE(covered.count(op)) << "no table entry for " << op;
  }
  for (const std::string& op : kNotInTable) EXPECT_TRUE(ops.count(op)) << op << " is no longer a public op";
}

}  // namespace
}  // namespace nabla
