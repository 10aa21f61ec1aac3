// Shape ops: views (reshape, permute, transpose, expand, slice, squeeze,
// unsqueeze), copies (contiguous, clone, to), concat/stack, index_select,
// gather, one_hot. Each is linear, so each VJP moves the gradient back
// through the inverse rearrangement.
#include <numeric>

#include "ops_internal.hpp"

namespace nabla {
namespace {

Shape infer_shape(const Shape& req, int64_t n, const Shape& from) {
  Shape s = req;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      NABLA_CHECK_KIND(infer < 0, ErrorKind::shape, "reshape: more than one -1 in ", req);
      infer = i;
    } else {
      NABLA_CHECK_KIND(s[i] >= 0, ErrorKind::shape, "reshape: invalid extent in ", req);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    NABLA_CHECK_KIND(known != 0 && n % known == 0, ErrorKind::shape, "reshape: cannot reshape ", from, " (", n,
                     " elements) to ", req);
    s[infer] = n / known;
  }
  NABLA_CHECK_KIND(numel(s) == n, ErrorKind::shape, "reshape: cannot reshape ", from, " (", n, " elements) to ", req);
  return s;
}

// Records a view's node: its VJP maps the gradient back with `back` (which
// receives g and its number of leading batch dims); its JVP applies the same
// rearrangement to the tangent with `fwd` (dim 0 of a tangent is the direction
// axis, so dims shift by one). `elementwise`: element order is unchanged.
template <class F, class G>
Tensor view_op(const Tensor& x, Tensor y, const char* name, F back, G fwd, bool elementwise = false) {
  if (should_record({&x}))
    record(y, name, {&x}, [back, r = y.dim()](const Tensor& g, const VjpCtx& ctx) {
      ctx.set(0, back(g, batch_dims(g, r)));
    });
  jvp_rule(y, {&x}, name, [&] { return fwd(tangent_of(x)); }, elementwise);
  return y;
}

// Applies fn to each of the leading nb-dim batch of g and stacks the results.
template <class F>
Tensor per_batch(const Tensor& g, int nb, F fn) {
  Shape pre, rest;
  for (int i = 0; i < g.dim(); ++i) (i < nb ? pre : rest).push_back(g.shape()[i]);
  Shape flat = rest;
  flat.insert(0, numel(pre));
  Tensor gf = reshape(g, flat);
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < flat[0]; ++i) parts.push_back(fn(gf.select(0, i)));
  Tensor st = stack(parts, 0);
  Shape out = pre;
  for (int i = 1; i < st.dim(); ++i) out.push_back(st.shape()[i]);
  return reshape(st, out);
}

// Gradient of a slice: g placed into zeros of the source shape (its VJP slices again).
Tensor slice_backward(const Tensor& g, const Shape& shape, int d, int64_t start, int64_t step) {
  Tensor out = zeros(shape, g.dtype());
  Dims st = out.strides();
  Shape vs = shape;
  vs[d] = g.shape()[d];
  int64_t off = start * st[d];
  st[d] *= step;
  make_view(out, vs, st, off).copy_(g.detach());
  if (should_record({&g}))
    record(out, "slice_backward", {&g}, [d = d - shape.size(), start, step, n = g.shape()[d]](const Tensor& gg, const VjpCtx& ctx) {
      ctx.set(0, slice(gg, d, start, start + n * step, step));
    });
  // linear: the same placement of the tangent
  jvp_rule(out, {&g}, "slice_backward", [&] {
    const Tensor& t = tangent_of(g);
    return slice_backward(t, tangent_shape(t.shape()[0], shape), d + 1, start, step);
  });
  return out;
}

// Reads integral index values from a tensor of any dtype, checking their range.
std::vector<int64_t> read_indices(const Tensor& index, int64_t bound, const char* op) {
  std::vector<double> v = index.to_vector<double>();
  std::vector<int64_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double x = v[i];
    NABLA_CHECK_KIND(x == std::floor(x) && x >= -static_cast<double>(bound) && x < static_cast<double>(bound),
                     ErrorKind::index, op, ": index ", x, " at position ", i, " is out of range for a dimension of size ",
                     bound);
    out[i] = static_cast<int64_t>(x < 0 ? x + static_cast<double>(bound) : x);
  }
  return out;
}

// out = zeros(shape); out[..., idx[i], ...] += g[..., i, ...] along d.
Tensor index_add_zeros(const Tensor& g, int d, const std::vector<int64_t>& idx, const Shape& shape);

Tensor index_select_impl(const Tensor& x, int d, const std::vector<int64_t>& idx) {
  Tensor xc = x.contiguous().detach();
  Shape s = xc.shape();
  int64_t outer = 1, inner = 1, n = s[d];
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (int i = d + 1; i < s.size(); ++i) inner *= s[i];
  Shape os = s;
  os[d] = static_cast<int64_t>(idx.size());
  Tensor y = make_tensor(os, x.dtype());
  int64_t m = os[d];
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = xc.impl()->data<T>();
    T* q = y.impl()->data<T>();
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t i = 0; i < m; ++i)
        std::copy_n(p + (a * n + idx[static_cast<size_t>(i)]) * inner, inner, q + (a * m + i) * inner);
  });
  if (should_record({&x}))
    // ∂(row selection)/∂x scatters rows back, adding where an index repeats
    record(y, "index_select", {&x}, [d, idx, shape = s, r = os.size()](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, r);
      ctx.set(0, index_add_zeros(g, d + nb, idx, batched_shape(g, nb, shape)));
    });
  // linear: select the same rows of the tangent
  jvp_rule(y, {&x}, "index_select", [&] { return index_select_impl(tangent_of(x), d + 1, idx); });
  return y;
}

Tensor index_add_zeros(const Tensor& g_in, int d, const std::vector<int64_t>& idx, const Shape& shape) {
  Tensor g = g_in.contiguous().detach();
  Tensor out = zeros(shape, g.dtype());
  int64_t outer = 1, inner = 1, n = shape[d], m = static_cast<int64_t>(idx.size());
  for (int i = 0; i < d; ++i) outer *= shape[i];
  for (int i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  dispatch(g.dtype(), [&]<class T>() {
    const T* p = g.impl()->data<T>();
    T* q = out.impl()->data<T>();
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t i = 0; i < m; ++i) {
        const T* src = p + (a * m + i) * inner;
        T* dst = q + (a * n + idx[static_cast<size_t>(i)]) * inner;
        for (int64_t j = 0; j < inner; ++j) dst[j] += src[j];
      }
  });
  if (should_record({&g_in}))
    record(out, "index_add", {&g_in}, [d, idx, r = shape.size()](const Tensor& gg, const VjpCtx& ctx) {
      ctx.set(0, index_select_impl(gg, d + batch_dims(gg, r), idx));
    });
  jvp_rule(out, {&g_in}, "index_add", [&] {
    const Tensor& t = tangent_of(g_in);
    return index_add_zeros(t, d + 1, idx, tangent_shape(t.shape()[0], shape));
  });
  return out;
}

// gather/scatter along d with an index tensor shaped like the output.
Tensor scatter_add_zeros(const Tensor& g, int d, const std::vector<int64_t>& idx, const Shape& idx_shape,
                         const Shape& shape);

Tensor gather_impl(const Tensor& x, int d, const std::vector<int64_t>& idx, const Shape& is) {
  Tensor xc = x.contiguous().detach();
  const Shape& s = xc.shape();
  Tensor y = make_tensor(is, x.dtype());
  Dims xs = contiguous_strides(s);
  int64_t total = numel(is);
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = xc.impl()->data<T>();
    T* q = y.impl()->data<T>();
    Dims pos = Dims::filled(is.size(), 0);
    for (int64_t e = 0; e < total; ++e) {
      int64_t off = 0;
      for (int k = 0; k < is.size(); ++k) off += (k == d ? idx[static_cast<size_t>(e)] : pos[k]) * xs[k];
      q[e] = p[off];
      for (int k = is.size() - 1; k >= 0; --k) {
        if (++pos[k] < is[k]) break;
        pos[k] = 0;
      }
    }
  });
  if (should_record({&x}))
    record(y, "gather", {&x}, [d, idx, is, shape = s](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, is.size());
      if (nb == 0) ctx.set(0, scatter_add_zeros(g, d, idx, is, shape));
      else ctx.set(0, per_batch(g, nb, [&](const Tensor& gi) { return scatter_add_zeros(gi, d, idx, is, shape); }));
    });
  // linear: gather each direction of the tangent
  jvp_rule(y, {&x}, "gather", [&] {
    return per_batch(tangent_of(x), 1, [&](const Tensor& t) { return gather_impl(t, d, idx, is); });
  });
  return y;
}

Tensor scatter_add_zeros(const Tensor& g_in, int d, const std::vector<int64_t>& idx, const Shape& is,
                         const Shape& shape) {
  Tensor g = g_in.contiguous().detach();
  Tensor out = zeros(shape, g.dtype());
  Dims xs = contiguous_strides(shape);
  int64_t total = numel(is);
  dispatch(g.dtype(), [&]<class T>() {
    const T* p = g.impl()->data<T>();
    T* q = out.impl()->data<T>();
    Dims pos = Dims::filled(is.size(), 0);
    for (int64_t e = 0; e < total; ++e) {
      int64_t off = 0;
      for (int k = 0; k < is.size(); ++k) off += (k == d ? idx[static_cast<size_t>(e)] : pos[k]) * xs[k];
      q[off] += p[e];
      for (int k = is.size() - 1; k >= 0; --k) {
        if (++pos[k] < is[k]) break;
        pos[k] = 0;
      }
    }
  });
  if (should_record({&g_in}))
    record(out, "scatter_add", {&g_in}, [d, idx, is, r = shape.size()](const Tensor& gg, const VjpCtx& ctx) {
      const int nb = batch_dims(gg, r);
      if (nb == 0) ctx.set(0, gather_impl(gg, d, idx, is));
      else ctx.set(0, per_batch(gg, nb, [&](const Tensor& gi) { return gather_impl(gi, d, idx, is); }));
    });
  jvp_rule(out, {&g_in}, "scatter_add", [&] {
    return per_batch(tangent_of(g_in), 1, [&](const Tensor& t) { return scatter_add_zeros(t, d, idx, is, shape); });
  });
  return out;
}

}  // namespace

// ---- views ------------------------------------------------------------------------

Tensor Tensor::view(const Shape& req) const {
  check_defined(*this, "view");
  Shape s = infer_shape(req, numel(), shape());
  NABLA_CHECK_KIND(is_contiguous(), ErrorKind::shape, "view: a tensor of shape ", shape(), " with strides ",
                   strides(), " is not contiguous; use reshape()");
  Tensor y = make_view(*this, s, contiguous_strides(s), storage_offset());
  return view_op(
      *this, y, "view", [from = shape()](const Tensor& g, int nb) { return nabla::reshape(g, batched_shape(g, nb, from)); },
      [&](const Tensor& t) { return nabla::reshape(t, tangent_shape(t.shape()[0], s)); }, true);
}

Tensor Tensor::reshape(const Shape& req) const {
  check_defined(*this, "reshape");
  if (is_contiguous()) return view(req);
  Shape s = infer_shape(req, numel(), shape());
  return contiguous().view(s);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  check_defined(*this, "flatten");
  if (dim() == 0) return reshape({1});
  int a = normalize_dim(start, static_cast<int>(dim()), "flatten");
  int b = normalize_dim(end, static_cast<int>(dim()), "flatten");
  NABLA_CHECK_KIND(a <= b, ErrorKind::index, "flatten: start_dim ", start, " comes after end_dim ", end);
  Shape s;
  const Shape& in = shape();
  for (int i = 0; i < a; ++i) s.push_back(in[i]);
  int64_t m = 1;
  for (int i = a; i <= b; ++i) m *= in[i];
  s.push_back(m);
  for (int i = b + 1; i < in.size(); ++i) s.push_back(in[i]);
  return reshape(s);
}

Tensor Tensor::permute(const Dims& order) const {
  check_defined(*this, "permute");
  int r = static_cast<int>(dim());
  NABLA_CHECK_KIND(order.size() == r, ErrorKind::shape, "permute: order ", order, " does not match rank ", r);
  Shape s;
  Dims st, inv = Dims::filled(r, -1);
  for (int i = 0; i < r; ++i) {
    int d = normalize_dim(order[i], r, "permute");
    NABLA_CHECK_KIND(inv[d] < 0, ErrorKind::index, "permute: dimension ", d, " repeats in ", order);
    inv[d] = i;
    s.push_back(shape()[d]);
    st.push_back(strides()[d]);
  }
  Tensor y = make_view(*this, s, st, storage_offset());
  return view_op(
      *this, y, "permute",
      [inv](const Tensor& g, int nb) {
        if (nb == 0) return g.permute(inv);
        Dims o;
        for (int i = 0; i < nb; ++i) o.push_back(i);
        for (int64_t e : inv) o.push_back(e + nb);
        return g.permute(o);
      },
      [&](const Tensor& t) {
        Dims o;
        o.push_back(0);
        for (int64_t e : order) o.push_back((e < 0 ? e + r : e) + 1);
        return t.permute(o);
      });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  check_defined(*this, "transpose");
  int r = static_cast<int>(dim());
  if (r == 0) return *this;
  int a = normalize_dim(d0, r, "transpose"), b = normalize_dim(d1, r, "transpose");
  Dims order;
  for (int i = 0; i < r; ++i) order.push_back(i);
  std::swap(order[a], order[b]);
  return permute(order);
}

Tensor Tensor::t() const {
  check_defined(*this, "t");
  NABLA_CHECK_KIND(dim() <= 2, ErrorKind::shape, "t: expects a tensor of rank ≤ 2, got ", shape(),
                   "; use transpose(d0, d1)");
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::expand(const Shape& req) const {
  check_defined(*this, "expand");
  int r = req.size(), k = static_cast<int>(dim());
  NABLA_CHECK_KIND(r >= k, ErrorKind::shape, "expand: cannot expand ", shape(), " to ", req);
  Shape s = req;
  Dims st = Dims::filled(r, 0);
  for (int i = 0; i < r; ++i) {
    int j = i - (r - k);
    if (j < 0) {
      NABLA_CHECK_KIND(req[i] >= 0, ErrorKind::shape, "expand: invalid target ", req);
      continue;
    }
    int64_t e = shape()[j];
    if (req[i] == -1) s[i] = e;
    NABLA_CHECK_KIND(e == s[i] || e == 1, ErrorKind::shape, "expand: cannot expand ", shape(), " to ", req,
                     " (dimension ", i, ": ", e, " vs ", s[i], ")");
    st[i] = e == 1 && s[i] != 1 ? 0 : strides()[j];
  }
  if (s == shape()) return *this;
  Tensor y = make_view(*this, s, st, storage_offset());
  return view_op(
      *this, y, "expand", [from = shape()](const Tensor& g, int nb) { return sum_to_batched(g, from, nb); },
      [&](const Tensor& t) { return nabla::expand(lift_tangent(t, r), tangent_shape(t.shape()[0], s)); });
}

Tensor Tensor::slice(int64_t dim_, int64_t start, int64_t end, int64_t step) const {
  check_defined(*this, "slice");
  int d = normalize_dim(dim_, static_cast<int>(dim()), "slice");
  NABLA_CHECK_KIND(dim() > 0, ErrorKind::index, "slice: cannot slice a scalar");
  NABLA_CHECK_KIND(step > 0, ErrorKind::index, "slice: step must be positive, got ", step);
  int64_t n = shape()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape();
  s[d] = (end - start + step - 1) / step;
  Dims st = strides();
  int64_t off = storage_offset() + start * st[d];
  st[d] *= step;
  Tensor y = make_view(*this, s, st, off);
  return view_op(
      *this, y, "slice",
      [from = shape(), d, start, step](const Tensor& g, int nb) {
        return slice_backward(g, batched_shape(g, nb, from), d + nb, start, step);
      },
      [&](const Tensor& t) { return t.slice(d + 1, start, end, step); });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  check_defined(*this, "narrow");
  int dd = normalize_dim(d, static_cast<int>(dim()), "narrow");
  NABLA_CHECK_KIND(start >= 0 && length >= 0 && start + length <= shape()[dd], ErrorKind::index, "narrow: range [",
                   start, ", ", start + length, ") is out of bounds for dimension ", dd, " of ", shape());
  return slice(dd, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  check_defined(*this, "select");
  int dd = normalize_dim(d, static_cast<int>(dim()), "select");
  int64_t n = shape()[dd];
  NABLA_CHECK_KIND(index >= -n && index < n, ErrorKind::index, "select: index ", index,
                   " is out of range for dimension ", dd, " of size ", n);
  if (index < 0) index += n;
  return slice(dd, index, index + 1).squeeze(dd);
}

Tensor Tensor::squeeze() const {
  check_defined(*this, "squeeze");
  Shape s;
  for (int64_t e : shape())
    if (e != 1) s.push_back(e);
  return reshape(s);
}
Tensor Tensor::squeeze(int64_t d) const {
  check_defined(*this, "squeeze");
  if (dim() == 0) return *this;
  int dd = normalize_dim(d, static_cast<int>(dim()), "squeeze");
  if (shape()[dd] != 1) return *this;
  Shape s = shape();
  Dims st = strides();
  s.erase(dd);
  st.erase(dd);
  Tensor y = make_view(*this, s, st, storage_offset());
  return view_op(
      *this, y, "squeeze", [from = shape()](const Tensor& g, int nb) { return nabla::reshape(g, batched_shape(g, nb, from)); },
      [&](const Tensor& t) { return nabla::reshape(t, tangent_shape(t.shape()[0], s)); }, true);
}
Tensor Tensor::unsqueeze(int64_t d) const {
  check_defined(*this, "unsqueeze");
  int dd = normalize_dim(d, static_cast<int>(dim()) + 1, "unsqueeze");
  Shape s = shape();
  Dims st = strides();
  int64_t inner = dd < s.size() ? st[dd] * s[dd] : 1;
  s.insert(dd, 1);
  st.insert(dd, inner);
  Tensor y = make_view(*this, s, st, storage_offset());
  return view_op(
      *this, y, "unsqueeze", [from = shape()](const Tensor& g, int nb) { return nabla::reshape(g, batched_shape(g, nb, from)); },
      [&](const Tensor& t) { return nabla::reshape(t, tangent_shape(t.shape()[0], s)); }, true);
}

// ---- copies -----------------------------------------------------------------------

Tensor Tensor::clone() const {
  check_defined(*this, "clone");
  const TensorImpl& s = *impl();
  Tensor y = make_tensor(s.shape, s.dtype);
  dispatch(s.dtype, [&]<class T>() {
    kernels::copy_strided<T>(s.shape, y.impl()->data<T>(), y.impl()->strides, s.data<T>(), s.strides);
  });
  return view_op(
      *this, y, "clone", [](const Tensor& g, int) { return g; }, [](const Tensor& t) { return t; }, true);
}

Tensor Tensor::contiguous() const {
  check_defined(*this, "contiguous");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::to(DType t) const {
  check_defined(*this, "to");
  if (t == dtype()) return *this;
  const TensorImpl& s = *impl();
  Tensor y = make_tensor(s.shape, t);
  Tensor c = contiguous().detach();
  int64_t n = numel();
  dispatch(s.dtype, [&]<class S>() {
    dispatch(t, [&]<class D>() {
      const S* p = c.impl()->data<S>();
      D* q = y.impl()->data<D>();
      for (int64_t i = 0; i < n; ++i) q[i] = static_cast<D>(p[i]);
    });
  });
  return view_op(
      *this, y, "to", [from = dtype()](const Tensor& g, int) { return g.to(from); },
      [t](const Tensor& tt) { return tt.to(t); }, true);
}

// ---- free-function forms -------------------------------------------------------------

Tensor reshape(const Tensor& x, const Shape& s) { check_defined(x, "reshape"); return x.reshape(s); }
Tensor flatten(const Tensor& x, int64_t a, int64_t b) { check_defined(x, "flatten"); return x.flatten(a, b); }
Tensor squeeze(const Tensor& x, std::optional<int64_t> d) {
  check_defined(x, "squeeze");
  return d ? x.squeeze(*d) : x.squeeze();
}
Tensor unsqueeze(const Tensor& x, int64_t d) { check_defined(x, "unsqueeze"); return x.unsqueeze(d); }
Tensor permute(const Tensor& x, const Dims& o) { check_defined(x, "permute"); return x.permute(o); }
Tensor transpose(const Tensor& x, int64_t a, int64_t b) { check_defined(x, "transpose"); return x.transpose(a, b); }
Tensor expand(const Tensor& x, const Shape& s) { check_defined(x, "expand"); return x.expand(s); }
Tensor slice(const Tensor& x, int64_t d, int64_t a, int64_t b, int64_t st) {
  check_defined(x, "slice");
  return x.slice(d, a, b, st);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  NABLA_CHECK_KIND(!xs.empty(), ErrorKind::shape, "concat: no tensors given");
  check_defined(xs[0], "concat");
  NABLA_CHECK_KIND(xs[0].dim() > 0, ErrorKind::shape, "concat: cannot concatenate scalars; use stack");
  int d = normalize_dim(dim, static_cast<int>(xs[0].dim()), "concat");
  Shape s = xs[0].shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_same_dtype(xs[0], xs[i], "concat");
    const Shape& si = xs[i].shape();
    bool ok = si.size() == s.size();
    for (int k = 0; ok && k < s.size(); ++k) ok = k == d || si[k] == s[k];
    NABLA_CHECK_KIND(ok, ErrorKind::shape, "concat: tensor ", i, " has shape ", si, ", incompatible with ", s,
                     " along dimension ", d);
    total += si[d];
  }
  s[d] = total;
  Tensor y = make_tensor(s, xs[0].dtype());
  int64_t off = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) {
    Shape vs = s;
    vs[d] = x.shape()[d];
    Dims st = y.strides();
    make_view(y, vs, st, off * st[d]).copy_(x.detach());
    off += x.shape()[d];
    sizes.push_back(x.shape()[d]);
  }
  bool rec = false;
  for (const Tensor& x : xs) rec = rec || should_record({&x});
  if (rec) {
    auto node_fn = [d = d - s.size(), sizes](const Tensor& g, const VjpCtx& ctx) {
      int64_t o = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (ctx.need(static_cast<int>(i))) ctx.set(static_cast<int>(i), g.slice(d, o, o + sizes[i]));
        o += sizes[i];
      }
    };
    auto node = make_node(std::move(node_fn));
    node->name = "concat";
    for (const Tensor& x : xs) node->edges.push_back(make_edge(x));
    node->out_shape = s;
    node->out_dtype = y.dtype();
    y.impl()->requires_grad = true;
    set_grad_fn(*y.impl(), std::move(node));
  }
  // linear: the tangents concatenated (zeros for inputs without one)
  bool any_tangent = false;
  int64_t k = 0;
  for (const Tensor& x : xs)
    if (has_tangent(x)) {
      any_tangent = true;
      k = tangent_of(x).shape()[0];
    }
  if (any_tangent && tangent_wanted({}, false, "concat")) {
    SuspendForward off;
    std::vector<Tensor> ts;
    for (const Tensor& x : xs)
      ts.push_back(has_tangent(x) ? tangent_of(x) : zeros(tangent_shape(k, x.shape()), x.dtype()));
    set_tangent(y, concat(ts, d + 1));
  }
  return y;
}
Tensor cat(const std::vector<Tensor>& xs, int64_t dim) { return concat(xs, dim); }

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  NABLA_CHECK_KIND(!xs.empty(), ErrorKind::shape, "stack: no tensors given");
  check_defined(xs[0], "stack");
  int d = normalize_dim(dim, static_cast<int>(xs[0].dim()) + 1, "stack");
  std::vector<Tensor> us;
  for (size_t i = 0; i < xs.size(); ++i) {
    check_defined(xs[i], "stack");
    NABLA_CHECK_KIND(xs[i].shape() == xs[0].shape(), ErrorKind::shape, "stack: tensor ", i, " has shape ",
                     xs[i].shape(), ", expected ", xs[0].shape());
    us.push_back(xs[i].unsqueeze(d));
  }
  return concat(us, d);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined(x, "index_select");
  check_defined(index, "index_select");
  NABLA_CHECK_KIND(x.dim() > 0, ErrorKind::shape, "index_select: cannot index a scalar");
  NABLA_CHECK_KIND(index.dim() <= 1, ErrorKind::shape, "index_select: index must be a vector, got ", index.shape());
  int d = normalize_dim(dim, static_cast<int>(x.dim()), "index_select");
  return index_select_impl(x, d, read_indices(index, x.shape()[d], "index_select"));
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined(x, "gather");
  check_defined(index, "gather");
  int d = normalize_dim(dim, static_cast<int>(x.dim()), "gather");
  const Shape& is = index.shape();
  bool ok = is.size() == x.dim();
  for (int k = 0; ok && k < is.size(); ++k) ok = k == d || is[k] <= x.shape()[k];
  NABLA_CHECK_KIND(ok, ErrorKind::shape, "gather: index of shape ", is, " does not fit input of shape ", x.shape(),
                   " along dimension ", d);
  return gather_impl(x, d, read_indices(index, x.shape()[d], "gather"), is);
}

Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype) {
  check_defined(labels, "one_hot");
  NABLA_CHECK(classes > 0, "one_hot: number of classes must be positive, got ", classes);
  std::vector<double> raw = labels.to_vector<double>();
  for (size_t i = 0; i < raw.size(); ++i)
    NABLA_CHECK_KIND(raw[i] >= 0, ErrorKind::index, "one_hot: label ", raw[i], " at position ", i, " is negative");
  std::vector<int64_t> idx = read_indices(labels, classes, "one_hot");
  Shape s = labels.shape();
  s.push_back(classes);
  Tensor y = zeros(s, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = y.impl()->data<T>();
    for (size_t i = 0; i < idx.size(); ++i) p[static_cast<int64_t>(i) * classes + idx[i]] = 1;
  });
  return y;
}

}  // namespace nabla
