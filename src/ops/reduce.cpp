// Reductions: sum, mean, prod, max, min, logsumexp, norm, sum_to; softmax and
// log_softmax along a dimension.
//
// ∂sum(x)/∂x = 1⃗ᵀ (seed 002 §4.4): the VJP of a sum broadcasts the upstream
// gradient back over the reduced dimensions.
#include <algorithm>
#include <array>
#include <limits>

#include "matrix_rules.hpp"
#include "ops_internal.hpp"

namespace nabla {
namespace {

// Which dims of a rank-r tensor are reduced (empty list = all).
using DimMask = std::array<bool, kMaxRank>;
DimMask reduced_mask(const Dims& dims, int rank, const char* op) {
  DimMask m{};
  for (int i = 0; i < rank; ++i) m[static_cast<size_t>(i)] = dims.empty();
  for (int64_t d : dims) {
    int n = normalize_dim(d, rank, op);
    if (rank == 0) continue;  // a scalar accepts dim 0 or −1 and has nothing to reduce
    NABLA_CHECK_KIND(!m[static_cast<size_t>(n)] || dims.empty(), ErrorKind::index, op, ": dimension ", d,
                     " is listed twice");
    m[static_cast<size_t>(n)] = true;
  }
  return m;
}

Shape keep_shape(const Shape& s, const DimMask& m) {
  Shape k = s;
  for (int i = 0; i < s.size(); ++i)
    if (m[static_cast<size_t>(i)]) k[i] = 1;
  return k;
}
Shape drop_shape(const Shape& s, const DimMask& m) {
  Shape k;
  for (int i = 0; i < s.size(); ++i)
    if (!m[static_cast<size_t>(i)]) k.push_back(s[i]);
  return k;
}

// Σ a[0:n], accumulated in double.
template <class T>
double sum_dense(const T* a, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i];
  return acc;
}

// out = Σ over the masked dims of x, contiguous, in the keepdim shape or, with
// keepdim false, with those dims dropped (the same buffer either way).
Tensor sum_kernel(const Tensor& x, const DimMask& m, bool keepdim = true) {
  const TensorImpl& xi = *x.impl();
  const int r = xi.shape.size();
  if (r > 0 && std::all_of(m.begin(), m.begin() + r, [](bool b) { return b; }) && xi.contiguous()) {
    // everything into one number: one flat loop
    Tensor out = make_tensor(keepdim ? Dims::filled(r, 1) : Shape{}, xi.dtype);
    const int64_t n = numel(xi.shape);
    dispatch(xi.dtype, [&]<class T>() { *out.impl()->data<T>() = static_cast<T>(sum_dense(xi.data<T>(), n)); });
    return out;
  }
  Shape ks = keep_shape(xi.shape, m);
  Tensor out = zeros(keepdim ? ks : drop_shape(xi.shape, m), xi.dtype);
  Dims so = contiguous_strides(ks);
  for (int i = 0; i < ks.size(); ++i)
    if (m[static_cast<size_t>(i)]) so[i] = 0;
  dispatch(xi.dtype, [&]<class T>() {
    std::array<Dims, 2> st{so, xi.strides};
    kernels::for_each_run<T, 2>(xi.shape, st, {out.impl()->data<T>(), const_cast<T*>(xi.data<T>())},
                                [](std::array<T*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                                  T* o = p[0];
                                  const T* a = p[1];
                                  if (s[0] == 0) {
                                    // A run that folds into one output: accumulate in double.
                                    double acc = 0;
                                    if (s[1] == 1) {
                                      acc = sum_dense(a, n);
                                    } else {
                                      for (int64_t i = 0; i < n; ++i) acc += a[i * s[1]];
                                    }
                                    *o += static_cast<T>(acc);
                                  } else {
                                    for (int64_t i = 0; i < n; ++i) o[i * s[0]] += a[i * s[1]];
                                  }
                                });
  });
  return out;
}

// Values and first indices of the max (or min) along one dim (keepdim shape).
std::pair<Tensor, std::vector<int64_t>> extreme_kernel(const Tensor& x_in, int d, bool is_max, const char* op) {
  Tensor x = x_in.contiguous();
  const TensorImpl& xi = *x.impl();
  NABLA_CHECK(xi.shape[d] > 0, op, ": cannot reduce an empty dimension ", d, " of shape ", xi.shape);
  int64_t outer = 1, inner = 1, n = xi.shape[d];
  for (int i = 0; i < d; ++i) outer *= xi.shape[i];
  for (int i = d + 1; i < xi.shape.size(); ++i) inner *= xi.shape[i];
  Shape ks = xi.shape;
  ks[d] = 1;
  Tensor vals = make_tensor(ks, xi.dtype);
  std::vector<int64_t> idx(static_cast<size_t>(outer * inner));
  dispatch(xi.dtype, [&]<class T>() {
    const T* p = xi.data<T>();
    T* v = vals.impl()->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        const T* row = p + o * n * inner + j;
        int64_t best = 0;
        T bv = row[0];
        for (int64_t i = 1; i < n; ++i) {
          T c = row[i * inner];
          if (std::isnan(bv)) break;
          if (std::isnan(c) || (is_max ? c > bv : c < bv)) {
            bv = c;
            best = i;
          }
        }
        v[o * inner + j] = bv;
        idx[static_cast<size_t>(o * inner + j)] = best;
      }
  });
  return {vals, idx};
}

// One-hot mask of x's shape with ones at idx along d (first extremal elements).
Tensor extreme_mask(const Shape& shape, DType dt, int d, const std::vector<int64_t>& idx) {
  Tensor m = zeros(shape, dt);
  int64_t outer = 1, inner = 1, n = shape[d];
  for (int i = 0; i < d; ++i) outer *= shape[i];
  for (int i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  dispatch(dt, [&]<class T>() {
    T* p = m.impl()->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) p[o * n * inner + idx[static_cast<size_t>(o * inner + j)] * inner + j] = 1;
  });
  return m;
}

Tensor extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "max" : "min";
  check_defined(x, op);
  int d = normalize_dim(dim, x.dim(), op);
  if (x.dim() == 0) return x.clone();
  auto [vals, idx] = extreme_kernel(x, d, is_max, op);
  Tensor out = keepdim ? vals : vals.detach().view(drop_shape(x.shape(), [&] {
    DimMask m{};
    m[static_cast<size_t>(d)] = true;
    return m;
  }()));
  if (should_record({&x})) {
    // ∂max/∂x: the upstream gradient goes to the first maximal element (Note [Kinks])
    record(out, op, {&x}, [shape = x.shape(), dt = x.dtype(), d, idx, r = out.dim()](const Tensor& g, const VjpCtx& ctx) {
      Shape ks = shape;
      ks[d] = 1;
      const int nb = batch_dims(g, r);
      ctx.set(0, expand(reshape(g, batched_shape(g, nb, ks)), batched_shape(g, nb, shape)) *
                     extreme_mask(shape, dt, d, idx));
    });
  }
  // ẏ = ẋ at the first extremal element
  jvp_rule(out, {&x}, op, [&] {
    return sum(tangent_of(x) * extreme_mask(x.shape(), x.dtype(), d, idx), {d + 1}, keepdim);
  });
  return out;
}

Tensor arg_extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* op = is_max ? "argmax" : "argmin";
  check_defined(x, op);
  int d = normalize_dim(dim, x.dim(), op);
  if (x.dim() == 0) return zeros({}, x.dtype());
  auto [vals, idx] = extreme_kernel(x, d, is_max, op);
  Tensor out = make_tensor(vals.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    T* p = out.impl()->data<T>();
    for (size_t i = 0; i < idx.size(); ++i) p[i] = static_cast<T>(idx[i]);
  });
  if (keepdim) return out;
  Shape s = x.shape();
  s.erase(d);
  return out.view(s);
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  check_defined(x, "sum");
  auto m = reduced_mask(dims, x.dim(), "sum");
  Tensor out = sum_kernel(x, m, keepdim);
  if (should_record({&x}))
    // ∂sum(x)/∂x = 1⃗ᵀ: each element receives the upstream gradient of its sum
    record(out, "sum", {&x}, [shape = x.shape(), ks = keep_shape(x.shape(), m), r = out.dim()](const Tensor& g,
                                                                                               const VjpCtx& ctx) {
      const int nb = batch_dims(g, r);
      // a full sum's gradient is a scalar, which expand broadcasts as it is
      const Tensor gk = nb == 0 && g.dim() == 0 ? g : reshape(g, batched_shape(g, nb, ks));
      ctx.set(0, expand(gk, batched_shape(g, nb, shape)));
    });
  // ẏ = Σ ẋ over the same dims (shifted past the direction axis)
  jvp_rule(out, {&x}, "sum", [&] {
    Dims td;
    for (int i = 0; i < x.dim(); ++i)
      if (m[static_cast<size_t>(i)]) td.push_back(i + 1);
    const Tensor& t = tangent_of(x);
    if (td.empty()) return reshape(t, tangent_shape(t.shape()[0], out.shape()));
    return sum(t, td, keepdim);
  });
  return out;
}
Tensor sum(const Tensor& x) { return sum(x, Dims{}, false); }

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  check_defined(x, "mean");
  auto m = reduced_mask(dims, x.dim(), "mean");
  int64_t count = 1;
  for (int i = 0; i < x.dim(); ++i)
    if (m[static_cast<size_t>(i)]) count *= x.shape()[i];
  NABLA_CHECK(count > 0, "mean: reducing an empty tensor of shape ", x.shape());
  return sum(x, dims, keepdim) * (1.0 / static_cast<double>(count));
}
Tensor mean(const Tensor& x) { return mean(x, Dims{}, false); }

// Π_{j≠i} x_j along d as a differentiable function of x. Z holds, for each i
// along a new axis at d, x with x_i replaced by 1: Z = x ⊙ (1 − E) + E with
// E = I on the axes (d, d+1); the product over d+1 leaves Π_{j≠i} x_j, exact at zeros.
static Tensor prod_others(const Tensor& x, int d) {
  const Shape& shape = x.shape();
  const int64_t n = shape[d];
  Shape es = Dims::filled(shape.size() + 1, 1);
  es[d] = n;
  es[d + 1] = n;
  Tensor e = eye(n, x.dtype()).reshape(es);
  return prod(unsqueeze(x, d) * (1.0 - e) + e, d + 1, false);
}

Tensor prod(const Tensor& x, int64_t dim, bool keepdim) {
  check_defined(x, "prod");
  int d = normalize_dim(dim, x.dim(), "prod");
  if (x.dim() == 0) return x.clone();
  Tensor xc = x.contiguous().detach();
  const Shape& s = xc.shape();
  int64_t outer = 1, inner = 1, n = s[d];
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.size(); ++i) inner *= s[i];
  Shape ks = s;
  ks[d] = 1;
  Tensor out = make_tensor(ks, x.dtype());
  // others[i] = Π_{j≠i} x_j along d, by prefix and suffix products (exact with zeros)
  Tensor others = make_tensor(s, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = xc.impl()->data<T>();
    T* o = out.impl()->data<T>();
    T* q = others.impl()->data<T>();
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j = 0; j < inner; ++j) {
        const T* row = p + a * n * inner + j;
        T* orow = q + a * n * inner + j;
        T acc = 1;
        for (int64_t i = 0; i < n; ++i) {
          orow[i * inner] = acc;
          acc *= row[i * inner];
        }
        o[a * inner + j] = acc;
        T suf = 1;
        for (int64_t i = n - 1; i >= 0; --i) {
          orow[i * inner] *= suf;
          suf *= row[i * inner];
        }
      }
  });
  Shape os = s;
  os.erase(d);
  Tensor res = keepdim ? out : out.view(os);
  if (should_record({&x}))
    // ∂Πx/∂x_i = Π_{j≠i} x_j
    record(res, "prod", {&x}, [ks, d, shape = s, others, x, r = res.dim()](const Tensor& g, const VjpCtx& ctx) {
      Tensor o = is_grad_enabled() || live_tangent(x) ? prod_others(x, d) : others;
      const int nb = batch_dims(g, r);
      ctx.set(0, expand(reshape(g, batched_shape(g, nb, ks)), batched_shape(g, nb, shape)) * o);
    }, {&x});
  // ẏ = Σ_i (Π_{j≠i} x_j) ẋ_i
  jvp_rule(res, {&x}, "prod", [&] {
    Tensor o = is_grad_enabled() && x.requires_grad() ? prod_others(x, d) : others;
    return sum(tangent_of(x) * o, {d + 1}, keepdim);
  });
  return res;
}
Tensor prod(const Tensor& x) {
  check_defined(x, "prod");
  return prod(reshape(x, {x.numel()}), 0, false);
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, true); }
Tensor min(const Tensor& x, int64_t dim, bool keepdim) { return extreme(x, dim, keepdim, false); }
Tensor max(const Tensor& x) {
  check_defined(x, "max");
  NABLA_CHECK(x.numel() > 0, "max: the tensor of shape ", x.shape(), " is empty");
  return extreme(reshape(x, {x.numel()}), 0, false, true);
}
Tensor min(const Tensor& x) {
  check_defined(x, "min");
  NABLA_CHECK(x.numel() > 0, "min: the tensor of shape ", x.shape(), " is empty");
  return extreme(reshape(x, {x.numel()}), 0, false, false);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(x, dim, keepdim, false); }

Tensor Tensor::sum() const { return nabla::sum(*this); }
Tensor Tensor::mean() const { return nabla::mean(*this); }

// ‖x‖ = √(Σ x²); ∂‖x‖/∂x = xᵀ/‖x‖, taken as 0 at x = 0 (a subgradient, Note [Kinks];
// the composite √(Σx²) would give 0·∞ = nan there)
Tensor norm(const Tensor& x) {
  check_defined(x, "norm");
  Tensor y;
  {
    NoGradGuard ng;
    y = sqrt(sum(x * x));
  }
  if (should_record({&x}))
    record(y, "norm", {&x}, [x, y = y.detach()](const Tensor& g, const VjpCtx& ctx) {
      Tensor n = is_grad_enabled() || live_tangent(x) ? norm(x) : y;  // create_graph: ‖x‖ inside the graph
      Tensor gb = g;
      if (g.dim() > 0) {  // batched: one scalar per batch entry, broadcast over x
        Shape s = g.shape();
        for (int i = 0; i < x.dim(); ++i) s.push_back(1);
        gb = reshape(g, s);
      }
      ctx.set(0, x * (gb / (n + eq(n, zeros({}, n.dtype())))));  // 0/(0 + 1) = 0 at x = 0
    }, {&x, &y});
  // ẏ = ⟨x, ẋ⟩ / ‖x‖ (rules::norm_jvp; 0 at x = 0)
  jvp_rule(y, {&x}, "norm", [&] {
    Tensor n = is_grad_enabled() && x.requires_grad() ? norm(x) : y;
    rules::TangentAlgebra k;
    for (int i = 1; i <= x.dim(); ++i) k.dims.push_back(i);
    return rules::norm_jvp(k, tangent_of(x), x, n + eq(n, zeros({}, n.dtype())));
  });
  return y;
}

Tensor sum_to_batched(const Tensor& x, const Shape& shape, int nb) {
  if (nb == 0) return sum_to(x, shape);
  const Shape& xs = x.shape();
  Shape target, out;
  for (int i = 0; i < nb; ++i) target.push_back(xs[i]);
  out = target;
  for (int i = nb + shape.size(); i < xs.size(); ++i) target.push_back(1);
  for (int64_t e : shape) {
    target.push_back(e);
    out.push_back(e);
  }
  return reshape(sum_to(x, target), out);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to");
  const Shape& xs = x.shape();
  if (xs == shape) return x;
  NABLA_CHECK_KIND(shape.size() <= xs.size(), ErrorKind::shape, "sum_to: cannot reduce ", xs, " to ", shape);
  int lead = xs.size() - shape.size();
  Dims dims;
  for (int i = 0; i < xs.size(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    int64_t t = shape[i - lead];
    NABLA_CHECK_KIND(t == xs[i] || t == 1, ErrorKind::shape, "sum_to: cannot reduce ", xs, " to ", shape);
    if (t == 1 && xs[i] != 1) dims.push_back(i);
  }
  if (dims.empty()) return reshape(x, shape);
  return reshape(sum(x, dims, true), shape);
}

// ---- softmax family -------------------------------------------------------------
// Note [Stable softmax]: softmax(x)_i = e^{x_i − m} / Σ_j e^{x_j − m} with m = max x;
// log_softmax(x)_i = x_i − m − log Σ_j e^{x_j − m}. Subtracting m keeps every
// exponent ≤ 0, so inputs of ±1000 neither overflow nor lose the result.

namespace {
template <bool Log>
Tensor softmax_kernel(const Tensor& x_in, int d) {
  Tensor x = x_in.contiguous();
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1, n = s[d];
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.size(); ++i) inner *= s[i];
  Tensor y = make_tensor(s, x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.impl()->data<T>();
    T* q = y.impl()->data<T>();
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j = 0; j < inner; ++j) {
        const T* row = p + a * n * inner + j;
        T* out = q + a * n * inner + j;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < n; ++i) m = std::max(m, row[i * inner]);
        if (!std::isfinite(m)) m = 0;
        double z = 0;
        if (inner == 1) {
#pragma omp simd reduction(+ : z)
          for (int64_t i = 0; i < n; ++i) {
            T e = kernels::vm::exp(row[i] - m);
            if constexpr (!Log) out[i] = e;
            z += e;
          }
        } else {
          for (int64_t i = 0; i < n; ++i) {
            T e = kernels::vm::exp(row[i * inner] - m);
            if constexpr (!Log) out[i * inner] = e;
            z += e;
          }
        }
        if constexpr (Log) {
          // (x_i − m) − log z, not x_i − (m + log z): at |x| ~ 1000 the sum m + log z
          // would round away the low bits of log z (1e-4 absolute in float32)
          T lz = static_cast<T>(std::log(z));
          for (int64_t i = 0; i < n; ++i) out[i * inner] = (row[i * inner] - m) - lz;
        } else {
          T inv = static_cast<T>(1.0 / z);
          for (int64_t i = 0; i < n; ++i) out[i * inner] *= inv;
        }
      }
  });
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  check_defined(x, "softmax");
  int d = normalize_dim(dim, x.dim(), "softmax");
  if (x.dim() == 0) return ones_like(x);
  Tensor y = softmax_kernel<false>(x, d);
  if (should_record({&x}))
    // ∂softmax(x)/∂x = diag(s) − s sᵀ (seed 004 §7), so vᵀJ = s ⊙ (v − ⟨v, s⟩)
    record(y, "softmax", {&x}, [x, y = y.detach(), d, dn = d - x.dim()](const Tensor& g, const VjpCtx& ctx) {
      Tensor s = is_grad_enabled() || live_tangent(x) ? softmax(x, d) : y;
      ctx.set(0, s * (g - sum(g * s, {dn}, true)));
    }, {&x, &y});
  // ṡ = (diag(s) − s sᵀ) ẋ = s ⊙ ẋ − s ⟨s, ẋ⟩ (rules::softmax_jvp)
  jvp_rule(y, {&x}, "softmax", [&] {
    return rules::softmax_jvp(rules::TangentAlgebra{{}, {d - x.dim()}, true}, tangent_of(x), y);
  });
  return y;
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_defined(x, "log_softmax");
  int d = normalize_dim(dim, x.dim(), "log_softmax");
  if (x.dim() == 0) return zeros_like(x);
  Tensor y = softmax_kernel<true>(x, d);
  if (should_record({&x}))
    // ∂log_softmax(x)/∂x = I − 1⃗ sᵀ, so vᵀJ = v − s Σv
    record(y, "log_softmax", {&x}, [x, y = y.detach(), d, dn = d - x.dim()](const Tensor& g, const VjpCtx& ctx) {
      Tensor s = is_grad_enabled() || live_tangent(x) ? softmax(x, d) : exp(y);
      ctx.set(0, g - s * sum(g, {dn}, true));
    }, {&x, &y});
  // (I − 1⃗ sᵀ) ẋ = ẋ − ⟨s, ẋ⟩
  jvp_rule(y, {&x}, "log_softmax", [&] {
    const Tensor& t = tangent_of(x);
    return t - sum(t * exp(y), {d - x.dim()}, true);
  });
  return y;
}

Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
  check_defined(x, "logsumexp");
  int d = normalize_dim(dim, x.dim(), "logsumexp");
  Tensor m = max(x, d, true).detach();
  Tensor out = log(sum(exp(x - m), {d}, true)) + m;
  if (keepdim) return out;
  return squeeze(out, d);
}

}  // namespace nabla
