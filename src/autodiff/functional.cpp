// Function transforms over the two modes: jvp (forward), vjp (reverse),
// jacobian (one batched pass in either mode, or the diagonal of an element-wise
// function), hessian and hvp (forward-over-reverse), jacobian_diagonal.
// No formulas here: each op's JVP and VJP live beside its forward in src/ops/.
#include "nabla/autograd.hpp"
#include "nabla/functional.hpp"

#include "../graph/forward.hpp"
#include "../ops/ops_internal.hpp"
#include "engine.hpp"

namespace nabla {

namespace {

// Saves the forward-mode state and sets the diagonal probe on or off.
class ProbeScope {
 public:
  explicit ProbeScope(bool on) : saved_(forward_state()) {
    ForwardState& s = forward_state();
    s.probe = on;
    s.broken = false;
    s.breaker = nullptr;
  }
  ~ProbeScope() {
    ForwardState& s = forward_state();
    s.probe = saved_.probe;
    s.broken = saved_.broken;
    s.breaker = saved_.breaker;
  }
  ProbeScope(const ProbeScope&) = delete;
  ProbeScope& operator=(const ProbeScope&) = delete;

 private:
  ForwardState saved_;
};

// A fresh handle on x's values (no graph, no tangent).
Tensor fresh(const Tensor& x, const char* op) {
  NABLA_CHECK(x.defined(), op, ": an input is undefined");
  return x.detach();
}

void set_input_tangent(Tensor& x, Tensor t) {
  if (t.dtype() != x.dtype()) t = t.to(x.dtype());
  ensure_autograd_meta(*x.impl()).tangent = std::move(t);
}

// The m×m identity as a batch of m output seeds of y's shape. For a vector y
// without create_graph it is compact, ones(m) standing for diag(1) (Note
// [Compact diagonal batches]): element-wise VJPs and A x then skip the m×m zeros.
Tensor identity_seed(const Tensor& y, bool create_graph) {
  const int64_t m = y.numel();
  if (y.dim() == 1 && !create_graph) {
    Tensor seed = ones({m}, y.dtype());
    set_diag_compact(seed);
    return seed;
  }
  Tensor seed = eye(m, y.dtype());
  if (y.dim() != 1) seed = seed.reshape(tangent_shape(m, y.shape()));
  set_diag_batch(seed, y.dim() == 1);  // lets element-wise VJPs and Ax skip the zeros
  return seed;
}

// d (length n) on the diagonal of an n×n matrix: the Jacobian of an element-wise map.
Tensor diagonal_matrix(const Tensor& d) {
  NoGradGuard ng;
  return diag(reshape(d, {d.numel()}));
}

std::vector<Tensor> jacobian_forward(const TensorsFn& f, const std::vector<Tensor>& inputs, const JacobianOptions& o) {
  int64_t total = 0;
  for (const Tensor& x : inputs) total += x.numel();
  std::vector<Tensor> xs;
  NoGradGuard ng;
  ProbeScope probe(false);
  Tensor id = eye(total, inputs[0].dtype());
  int64_t off = 0;
  for (const Tensor& x : inputs) {
    Tensor xd = fresh(x, "jacobian");
    // directions off..off+n of the identity: column block i of I_N
    Tensor t = id.slice(1, off, off + x.numel()).contiguous().reshape(tangent_shape(total, x.shape()));
    // one vector input: its directions are the identity, marked diagonal so that
    // A x and element-wise ops scale them instead of multiplying (matmul_jvp)
    if (inputs.size() == 1 && x.dim() == 1) set_diag_batch(t, true);
    set_input_tangent(xd, t);
    xs.push_back(xd);
    off += x.numel();
  }
  Tensor y = f(xs);
  NABLA_CHECK(y.defined(), "jacobian: f returned an undefined tensor");
  const int64_t m = y.numel();
  Tensor tj = has_tangent(y) ? reshape(tangent_of(y), {total, m}) : zeros({total, m}, y.dtype());  // Jᵀ
  std::vector<Tensor> out;
  off = 0;
  for (const Tensor& x : inputs) {
    Tensor block = tj.slice(0, off, off + x.numel());  // [n_i, m]: denominator layout
    out.push_back(o.layout == JacobianLayout::denominator ? block.contiguous() : block.t().contiguous());
    off += x.numel();
  }
  return out;
}

}  // namespace

JvpResult jvp(const TensorsFn& f, const std::vector<Tensor>& primals, const std::vector<Tensor>& tangents) {
  NABLA_CHECK(primals.size() == tangents.size(), "jvp: ", primals.size(), " primals but ", tangents.size(),
              " tangents");
  std::vector<Tensor> xs;
  NoGradGuard ng;  // one forward pass; no graph is kept
  ProbeScope probe(false);
  for (size_t i = 0; i < primals.size(); ++i) {
    Tensor xd = fresh(primals[i], "jvp");
    NABLA_CHECK(tangents[i].defined(), "jvp: tangent ", i, " is undefined");
    NABLA_CHECK_KIND(tangents[i].shape() == primals[i].shape(), ErrorKind::shape, "jvp: tangent ", i, " has shape ",
                     tangents[i].shape(), ", its primal ", primals[i].shape());
    set_input_tangent(xd, reshape(tangents[i].detach(), tangent_shape(1, primals[i].shape())));
    xs.push_back(xd);
  }
  Tensor y = f(xs);
  NABLA_CHECK(y.defined(), "jvp: f returned an undefined tensor");
  Tensor t = has_tangent(y) ? reshape(tangent_of(y), y.shape()).contiguous() : zeros_like(y);
  return {y.detach(), t.detach()};
}

JvpResult jvp(const TensorFn& f, const Tensor& x, const Tensor& v) {
  return jvp([&f](const std::vector<Tensor>& xs) { return f(xs[0]); }, {x}, {v});
}

VjpResult vjp(const TensorsFn& f, const std::vector<Tensor>& primals) {
  std::vector<Tensor> xs;
  for (const Tensor& p : primals) xs.push_back(fresh(p, "vjp").requires_grad_());
  Tensor y;
  {
    AutoGradMode on(true);
    ProbeScope probe(false);
    y = f(xs);
  }
  NABLA_CHECK(y.defined(), "vjp: f returned an undefined tensor");
  VjpResult r;
  r.output = y.detach();
  r.pullback = [y, xs](const Tensor& u) -> std::vector<Tensor> {
    NABLA_CHECK_KIND(u.defined() && u.shape() == y.shape(), ErrorKind::shape, "vjp: cotangent of shape ",
                     u.defined() ? u.shape() : Shape{}, " does not match the output ", y.shape());
    if (!y.requires_grad()) {
      std::vector<Tensor> z;
      for (const Tensor& x : xs) z.push_back(zeros_like(x));
      return z;
    }
    return grad({y}, xs, {u.to(y.dtype())}, /*retain_graph=*/true, false, /*allow_unused=*/true);
  };
  return r;
}

VjpResult vjp(const TensorFn& f, const Tensor& x) {
  return vjp([f](const std::vector<Tensor>& xs) { return f(xs[0]); }, std::vector<Tensor>{x});
}

std::vector<Tensor> jacobian(const TensorsFn& f, const std::vector<Tensor>& inputs, JacobianOptions o) {
  NABLA_CHECK(!inputs.empty(), "jacobian: no inputs");
  for (const Tensor& x : inputs) {
    NABLA_CHECK(x.defined(), "jacobian: an input is undefined");
    NABLA_CHECK_KIND(x.dtype() == inputs[0].dtype(), ErrorKind::dtype, "jacobian: inputs have different dtypes");
  }
  if (o.mode == JacobianMode::forward) {
    NABLA_CHECK(!o.create_graph, "jacobian: create_graph needs mode reverse (or automatic)");
    return jacobian_forward(f, inputs, o);
  }
  int64_t total = 0;
  for (const Tensor& x : inputs) total += x.numel();
  // One forward pass that records the graph and, for a single input, runs the
  // diagonal probe beside it: if every op is element-wise the Jacobian is
  // diag(tangent) and no backward pass is needed.
  const bool single = inputs.size() == 1;
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) xs.push_back(fresh(x, "jacobian").requires_grad_());
  Tensor y;
  bool diagonal = false;
  {
    AutoGradMode on(true);
    ProbeScope probe(single);
    if (single) set_input_tangent(xs[0], ones(tangent_shape(1, inputs[0].shape()), inputs[0].dtype()));
    y = f(xs);
    NABLA_CHECK(y.defined(), "jacobian: f returned an undefined tensor");
    diagonal = single && !forward_state().broken && has_tangent(y) && y.numel() == total;
  }
  // diag(f'(x)) is symmetric: the same in both layouts. (The probe keeps no
  // graph, so create_graph takes the batched backward pass below.)
  if (diagonal && !o.create_graph) return {diagonal_matrix(tangent_of(y))};
  const int64_t m = y.numel();
  if (o.mode == JacobianMode::automatic && total < m && !o.create_graph) return jacobian_forward(f, inputs, o);
  if (!y.requires_grad()) {
    std::vector<Tensor> out;
    for (const Tensor& x : inputs)
      out.push_back(o.layout == JacobianLayout::numerator ? zeros({m, x.numel()}, x.dtype())
                                                          : zeros({x.numel(), m}, x.dtype()));
    return out;
  }
  std::vector<Tensor> gs;
  {
    SuspendForward off;  // the probe's tangents (if any) play no part in the backward pass
    gs = grad_batched({y}, xs, {identity_seed(y, o.create_graph)}, 1, o.create_graph);
  }
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = gs[i];
    set_diag_batch(g, false);
    Tensor block = reshape(g, {m, inputs[i].numel()});  // row r = ∇y_rᵀ: numerator layout
    out.push_back(o.layout == JacobianLayout::numerator ? block.contiguous() : block.t().contiguous());
  }
  return out;
}

Tensor jacobian(const TensorFn& f, const Tensor& x, JacobianOptions o) {
  return jacobian([&f](const std::vector<Tensor>& xs) { return f(xs[0]); }, std::vector<Tensor>{x}, o)[0];
}

namespace {
// ∇f(x) with `t` ([k, ...x.shape]) as x's tangent: returns the gradient's tangent [k, ...x.shape].
Tensor gradient_tangent(const TensorFn& f, const Tensor& x, Tensor t, const char* op) {
  Tensor xd = fresh(x, op).requires_grad_();
  const int64_t k = t.shape()[0];
  set_input_tangent(xd, std::move(t));
  ProbeScope probe(false);
  Tensor y;
  {
    AutoGradMode on(true);
    y = f(xd);
  }
  NABLA_CHECK(y.defined() && y.numel() == 1, op, ": f must return a scalar, got shape ",
              y.defined() ? y.shape() : Shape{});
  if (!y.requires_grad()) return zeros(tangent_shape(k, x.shape()), x.dtype());
  Tensor g = grad({y}, {xd}, {}, false, false, /*allow_unused=*/true)[0];
  return has_tangent(g) ? tangent_of(g) : zeros(tangent_shape(k, x.shape()), x.dtype());
}
}  // namespace

Tensor hessian(const TensorFn& f, const Tensor& x) {
  const int64_t n = x.numel();
  Tensor dirs = eye(n, x.dtype()).reshape(tangent_shape(n, x.shape()));
  if (x.dim() == 1) set_diag_batch(dirs, true);  // the identity: A x's tangent is Aᵀ, no GEMM (matmul_jvp)
  Tensor t = gradient_tangent(f, x, dirs, "hessian");
  // t[j] = ∂∇f/∂x_j, so t[j][i] = ∂²f/∂x_j∂x_i: H = tᵀ (symmetric for smooth f)
  NoGradGuard ng;
  return reshape(t, {n, n}).t().contiguous();
}

Tensor hvp(const TensorFn& f, const Tensor& x, const Tensor& v) {
  NABLA_CHECK_KIND(v.defined() && v.shape() == x.shape(), ErrorKind::shape, "hvp: v has shape ",
                   v.defined() ? v.shape() : Shape{}, ", x has ", x.shape());
  Tensor t = gradient_tangent(f, x, reshape(v.detach(), tangent_shape(1, x.shape())), "hvp");
  NoGradGuard ng;
  return reshape(t, x.shape()).contiguous();
}

Tensor jacobian_diagonal(const TensorFn& f, const Tensor& x) {
  Tensor xd = fresh(x, "jacobian_diagonal");
  NoGradGuard ng;
  ProbeScope probe(true);
  set_input_tangent(xd, ones(tangent_shape(1, x.shape()), x.dtype()));
  Tensor y = f(xd);
  NABLA_CHECK(y.defined(), "jacobian_diagonal: f returned an undefined tensor");
  const ForwardState& s = forward_state();
  NABLA_CHECK(!s.broken, "jacobian_diagonal: f is not element-wise (", s.breaker ? s.breaker : "an op",
              " mixes elements); use jacobian()");
  NABLA_CHECK_KIND(y.numel() == x.numel(), ErrorKind::shape, "jacobian_diagonal: f maps ", x.shape(), " to ",
                   y.shape(), "; an element-wise map keeps the number of elements");
  if (!has_tangent(y)) return zeros_like(x);
  return reshape(tangent_of(y), x.shape()).contiguous();
}

}  // namespace nabla
