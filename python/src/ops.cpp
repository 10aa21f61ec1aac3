// Every public op of nabla/ops.hpp and nabla/nn_functional.hpp, as a function
// of the module under its C++ name. Tensor operands may also be Python
// numbers or array-likes (converted to the other operand's dtype).
#include "common.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/ops.hpp"

namespace nabla::python {

namespace {

bool is_number(const py::handle& h) { return PyFloat_Check(h.ptr()) || PyLong_Check(h.ptr()); }

// The two operands of a binary op as tensors of one dtype: a Tensor's, else float32.
std::pair<Tensor, Tensor> operands(const py::object& a, const py::object& b) {
  std::optional<DType> like;
  if (py::isinstance<Tensor>(a)) like = a.cast<const Tensor&>().dtype();
  else if (py::isinstance<Tensor>(b)) like = b.cast<const Tensor&>().dtype();
  return {to_tensor(a, like), to_tensor(b, like)};
}

Reduction reduction_from(const std::string& r) {
  if (r == "mean") return Reduction::mean;
  if (r == "sum") return Reduction::sum;
  if (r == "none") return Reduction::none;
  NABLA_CHECK(false, "reduction: '", r, "' is not one of mean, sum, none");
  return Reduction::mean;
}

Dims dims_of(const py::object& d) {
  if (PyLong_Check(d.ptr())) return Dims{d.cast<int64_t>()};
  return shape_from(d, "dim");
}

std::vector<Tensor> tensors_of(const py::iterable& xs) {
  std::vector<Tensor> out;
  std::optional<DType> like;
  for (py::handle h : xs) {
    out.push_back(to_tensor(h, like));
    like = out.back().dtype();
  }
  return out;
}

Tensor big_matmul(const Tensor& a, const Tensor& b, Tensor (*fn)(const Tensor&, const Tensor&)) {
  if (a.numel() * (b.dim() >= 1 ? b.shape().back() : 1) >= (1 << 16)) {
    py::gil_scoped_release nogil;
    return fn(a, b);
  }
  return fn(a, b);
}

}  // namespace

void bind_ops(py::module_& m) {
  const auto x_ = py::arg("input");
  const auto dim_ = py::arg("dim");
  const auto keep_ = py::arg("keepdim") = false;

  // arithmetic
#define NABLA_PY_BINOP(NAME)                                                                \
  m.def(#NAME, [](const Tensor& a, const Tensor& b) { return NAME(a, b); });               \
  m.def(#NAME, [](const py::object& a, const py::object& b) {                               \
    auto [x, y] = operands(a, b);                                                           \
    return NAME(x, y);                                                                      \
  }, py::arg("input"), py::arg("other"));
  NABLA_PY_BINOP(add)
  NABLA_PY_BINOP(sub)
  NABLA_PY_BINOP(mul)
  NABLA_PY_BINOP(div)
  NABLA_PY_BINOP(eq)
  NABLA_PY_BINOP(ne)
  NABLA_PY_BINOP(lt)
  NABLA_PY_BINOP(le)
  NABLA_PY_BINOP(gt)
  NABLA_PY_BINOP(ge)
  NABLA_PY_BINOP(dot)
  NABLA_PY_BINOP(outer)
  NABLA_PY_BINOP(solve)
#undef NABLA_PY_BINOP
  m.def("neg", [](const Tensor& a) { return neg(a); }, x_);
  m.def("pow", [](const Tensor& a, const py::object& e) {
    if (is_number(e)) return pow(a, e.cast<double>());
    return pow(a, to_tensor(e, a.dtype()));
  }, x_, py::arg("exponent"));
  m.def("maximum", [](const Tensor& a, const py::object& b) {
    if (is_number(b)) return maximum(a, b.cast<double>());
    return maximum(a, to_tensor(b, a.dtype()));
  }, x_, py::arg("other"), "element-wise max; ties send the gradient to the first operand");
  m.def("minimum", [](const Tensor& a, const py::object& b) {
    if (is_number(b)) return minimum(a, b.cast<double>());
    return minimum(a, to_tensor(b, a.dtype()));
  }, x_, py::arg("other"), "element-wise min; ties send the gradient to the first operand");
  m.def("clamp", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi) { return clamp(a, lo, hi); },
        x_, py::arg("min") = py::none(), py::arg("max") = py::none());

  // element-wise functions, one per line of nabla/elementwise.def
#define NABLA_ELEMENTWISE(NAME, ...) m.def(#NAME, [](const Tensor& x) { return nabla::NAME(x); }, py::arg("input"));
#include "nabla/elementwise.def"
  m.def("leaky_relu", [](const Tensor& x, double s) { return leaky_relu(x, s); }, x_, py::arg("negative_slope") = 0.01);
  m.def("gelu", [](const Tensor& x) { return gelu(x); }, x_);
  m.def("dropout", [](const Tensor& x, double p, bool training, const py::object& g) {
    return dropout(x, p, training, g.is_none() ? default_generator() : g.cast<Generator&>());
  }, x_, py::arg("p") = 0.5, py::arg("training") = true, py::arg("generator") = py::none());

  // linear algebra
  m.def("matmul", [](const Tensor& a, const Tensor& b) { return big_matmul(a, b, &matmul); }, x_, py::arg("other"),
        "matrix product (batched, broadcasting a rank-2 side); releases the GIL for large operands");
  m.def("matmul", [](const py::object& a, const py::object& b) {
    auto [x, y] = operands(a, b);
    return big_matmul(x, y, &matmul);
  }, x_, py::arg("other"));
  m.def("mm", [](const Tensor& a, const Tensor& b) { return big_matmul(a, b, &mm); }, x_, py::arg("mat2"));
  m.def("transpose", [](const Tensor& a, int64_t d0, int64_t d1) { return transpose(a, d0, d1); }, x_, py::arg("dim0"),
        py::arg("dim1"));
  m.def("trace", &trace, x_);
  m.def("diag", &diag, x_);
  m.def("diagflat", &diagflat, x_);
  m.def("linear", [](const Tensor& x, const Tensor& w, const py::object& b) {
    return linear(x, w, b.is_none() ? Tensor() : to_tensor(b, x.dtype()));
  }, x_, py::arg("weight"), py::arg("bias") = py::none(), "x Wᵀ + b with W [out, in]");
  m.def("inv", &inv, x_);
  m.def("det", &det, x_);
  m.def("logdet", &logdet, x_);

  // reductions
  m.def("sum", [](const Tensor& x) { return sum(x); }, x_);
  m.def("sum", [](const Tensor& x, const py::object& d, bool k) { return d.is_none() ? sum(x) : sum(x, dims_of(d), k); },
        x_, py::arg("dim") = py::none(), keep_);
  m.def("mean", [](const Tensor& x, const py::object& d, bool k) { return d.is_none() ? mean(x) : mean(x, dims_of(d), k); },
        x_, py::arg("dim") = py::none(), keep_);
  m.def("prod", [](const Tensor& x, const py::object& d, bool k) { return d.is_none() ? prod(x) : prod(x, d.cast<int64_t>(), k); },
        x_, py::arg("dim") = py::none(), keep_);
  m.def("max", [](const Tensor& x, const py::object& d, bool k) { return d.is_none() ? max(x) : max(x, d.cast<int64_t>(), k); },
        x_, py::arg("dim") = py::none(), keep_, "the largest values (the gradient goes to the first largest)");
  m.def("min", [](const Tensor& x, const py::object& d, bool k) { return d.is_none() ? min(x) : min(x, d.cast<int64_t>(), k); },
        x_, py::arg("dim") = py::none(), keep_);
  m.def("argmax", [](const Tensor& x, int64_t d, bool k) { return argmax(x, d, k); }, x_, dim_, keep_);
  m.def("argmin", [](const Tensor& x, int64_t d, bool k) { return argmin(x, d, k); }, x_, dim_, keep_);
  m.def("logsumexp", [](const Tensor& x, int64_t d, bool k) { return logsumexp(x, d, k); }, x_, dim_, keep_);
  m.def("softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }, x_, dim_);
  m.def("log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }, x_, dim_);
  m.def("norm", [](const Tensor& x) { return norm(x); }, x_, "the Euclidean (Frobenius) norm");
  m.def("sum_to", [](const Tensor& x, const py::object& s) { return sum_to(x, shape_from(s, "sum_to")); }, x_,
        py::arg("shape"));

  // shape ops
  m.def("reshape", [](const Tensor& x, const py::object& s) { return reshape(x, shape_from(s, "reshape")); }, x_,
        py::arg("shape"));
  m.def("flatten", [](const Tensor& x, int64_t a, int64_t b) { return flatten(x, a, b); }, x_,
        py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  m.def("squeeze", [](const Tensor& x, std::optional<int64_t> d) { return squeeze(x, d); }, x_,
        py::arg("dim") = py::none());
  m.def("unsqueeze", [](const Tensor& x, int64_t d) { return unsqueeze(x, d); }, x_, dim_);
  m.def("permute", [](const Tensor& x, const py::object& o) { return permute(x, shape_from(o, "permute")); }, x_,
        py::arg("dims"));
  m.def("expand", [](const Tensor& x, const py::object& s) { return expand(x, shape_from(s, "expand")); }, x_,
        py::arg("shape"));
  m.def("slice", [](const Tensor& x, int64_t d, int64_t a, int64_t b, int64_t s) { return slice(x, d, a, b, s); }, x_,
        dim_, py::arg("start"), py::arg("end"), py::arg("step") = 1);
  m.def("concat", [](const py::iterable& xs, int64_t d) { return concat(tensors_of(xs), d); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.def("cat", [](const py::iterable& xs, int64_t d) { return cat(tensors_of(xs), d); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.def("stack", [](const py::iterable& xs, int64_t d) { return stack(tensors_of(xs), d); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.def("index_select", [](const Tensor& x, int64_t d, const py::object& ix) {
    return index_select(x, d, to_tensor(ix, x.dtype()));
  }, x_, dim_, py::arg("index"));
  m.def("gather", [](const Tensor& x, int64_t d, const py::object& ix) { return gather(x, d, to_tensor(ix, x.dtype())); },
        x_, dim_, py::arg("index"));
  m.def("one_hot", [](const py::object& labels, int64_t classes, const py::object& dtype) {
    return one_hot(to_tensor(labels, kFloat32), classes, dtype_from(dtype).value_or(kFloat32));
  }, py::arg("labels"), py::arg("num_classes"), py::arg("dtype") = py::none());

  // selection and comparison of whole tensors
  m.def("where", [](const py::object& c, const py::object& a, const py::object& b) {
    auto [x, y] = operands(a, b);
    return where(to_tensor(c, x.dtype()), x, y);
  }, py::arg("condition"), x_, py::arg("other"));
  m.def("allclose", [](const py::object& a, const py::object& b, double rtol, double atol) {
    auto [x, y] = operands(a, b);
    return allclose(x, y, rtol, atol);
  }, x_, py::arg("other"), py::arg("rtol") = 1e-5, py::arg("atol") = 1e-8);
  m.def("equal", [](const py::object& a, const py::object& b) {
    auto [x, y] = operands(a, b);
    return equal(x, y);
  }, x_, py::arg("other"));

  // losses
  const auto red = py::arg("reduction") = "mean";
  m.def("mse_loss", [](const Tensor& x, const py::object& t, const std::string& r) {
    return mse_loss(x, to_tensor(t, x.dtype()), reduction_from(r));
  }, x_, py::arg("target"), red);
  m.def("cross_entropy", [](const Tensor& z, const py::object& t, const std::string& r) {
    return cross_entropy(z, to_tensor(t, z.dtype()), reduction_from(r));
  }, x_, py::arg("target"), red, "cross-entropy of logits [B, C] at class indices [B]");
  m.def("binary_cross_entropy_with_logits", [](const Tensor& z, const py::object& t, const std::string& r) {
    return binary_cross_entropy_with_logits(z, to_tensor(t, z.dtype()), reduction_from(r));
  }, x_, py::arg("target"), red);
  m.def("nll_loss", [](const Tensor& lp, const py::object& t, const std::string& r) {
    return nll_loss(lp, to_tensor(t, lp.dtype()), reduction_from(r));
  }, x_, py::arg("target"), red);
}

}  // namespace nabla::python
