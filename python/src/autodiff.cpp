// Reverse mode (backward, grad), the grad mode, the function transforms
// (jvp, vjp, jacobian, hessian, hvp, jacobian_diagonal) over Python callables,
// and gradient checking. The transforms run with the GIL released; the
// callable takes it back for each call, and an exception it raises reaches
// the caller unchanged (the C++ frames in between unwind).
#include <pybind11/functional.h>

#include "common.hpp"
#include "nabla/autograd.hpp"
#include "nabla/functional.hpp"

namespace nabla::python {

namespace {

// A Tensor or a sequence of them; `single` says which it was.
std::vector<Tensor> tensor_list(const py::object& o, bool* single, const char* what) {
  if (py::isinstance<Tensor>(o)) {
    if (single) *single = true;
    return {o.cast<Tensor>()};
  }
  if (single) *single = false;
  if (!py::isinstance<py::sequence>(o))
    throw py::type_error(std::string(what) + ": expected a Tensor or a sequence of Tensors");
  std::vector<Tensor> out;
  for (py::handle h : o) {
    if (h.is_none()) {
      out.emplace_back();
      continue;
    }
    out.push_back(to_tensor(h, out.empty() || !out.back().defined() ? std::nullopt
                                                                     : std::optional<DType>(out.back().dtype())));
  }
  return out;
}

// Tensors for Python: an undefined one (no gradient) is None.
py::object pack(const std::vector<Tensor>& ts, bool single) {
  auto one = [](const Tensor& x) -> py::object { return x.defined() ? py::cast(x) : py::none(); };
  if (single && ts.size() == 1) return one(ts[0]);
  py::tuple t(ts.size());
  for (size_t i = 0; i < ts.size(); ++i) t[i] = one(ts[i]);
  return t;
}

JacobianOptions jacobian_options(const std::string& layout, const std::string& mode, bool create_graph) {
  JacobianOptions o;
  if (layout == "numerator") o.layout = JacobianLayout::numerator;
  else if (layout == "denominator") o.layout = JacobianLayout::denominator;
  else NABLA_CHECK(false, "jacobian: layout '", layout, "' is not numerator or denominator");
  if (mode == "auto" || mode == "automatic") o.mode = JacobianMode::automatic;
  else if (mode == "forward") o.mode = JacobianMode::forward;
  else if (mode == "reverse") o.mode = JacobianMode::reverse;
  else NABLA_CHECK(false, "jacobian: mode '", mode, "' is not auto, forward or reverse");
  o.create_graph = create_graph;
  return o;
}

}  // namespace

void bind_autodiff(py::module_& m) {
  m.def("is_grad_enabled", &is_grad_enabled, "is graph recording on in this thread?");
  m.def("set_grad_enabled", &set_grad_enabled, py::arg("enabled"), "turns graph recording on or off in this thread");

  m.def("backward", [](const py::object& outputs, const py::object& grad_outputs, bool retain, bool create) {
    std::vector<Tensor> outs = tensor_list(outputs, nullptr, "backward");
    std::vector<Tensor> gos = grad_outputs.is_none() ? std::vector<Tensor>{} : tensor_list(grad_outputs, nullptr, "backward");
    py::gil_scoped_release nogil;
    backward(outs, gos, retain, create);
  }, py::arg("tensors"), py::arg("grad_tensors") = py::none(), py::arg("retain_graph") = false,
     py::arg("create_graph") = false, "accumulates ∂(Σ grad_tensors·tensors)/∂leaf into each leaf's .grad");

  m.def("grad", [](const py::object& outputs, const py::object& inputs, const py::object& grad_outputs, bool retain,
                   bool create, bool allow_unused) {
    bool single = false;
    std::vector<Tensor> outs = tensor_list(outputs, nullptr, "grad");
    std::vector<Tensor> ins = tensor_list(inputs, &single, "grad");
    std::vector<Tensor> gos = grad_outputs.is_none() ? std::vector<Tensor>{} : tensor_list(grad_outputs, nullptr, "grad");
    std::vector<Tensor> r;
    {
      py::gil_scoped_release nogil;
      r = grad(outs, ins, gos, retain, create, allow_unused);
    }
    return pack(r, false);
  }, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(), py::arg("retain_graph") = false,
     py::arg("create_graph") = false, py::arg("allow_unused") = false,
     "∂(Σ grad_outputs·outputs)/∂inputs as a tuple, leaving .grad alone (an unused input gets zeros with allow_unused)");

  m.def("data_parallel_backward", [](const py::function& loss_fn, const Tensor& inputs, const py::object& targets,
                                     const py::object& params, int64_t min_shard_rows, bool mean_over_rows) {
    PyRef fn(loss_fn);
    Tensor y = targets.is_none() ? Tensor() : to_tensor(targets, inputs.dtype());
    std::vector<Tensor> ps;
    py::object it = py::hasattr(params, "parameters") ? params.attr("parameters")() : params;
    for (py::handle h : it) ps.push_back(h.cast<Tensor>());
    DataParallelOptions o;
    o.min_shard_rows = min_shard_rows;
    o.mean_over_rows = mean_over_rows;
    py::gil_scoped_release nogil;
    return data_parallel_backward([fn](const Tensor& x, const Tensor& t) {
      py::gil_scoped_acquire gil;
      py::object r = fn.get()(x, t.defined() ? py::cast(t) : py::none());
      return result_tensor(r, x.dtype(), "data_parallel_backward");
    }, inputs, y, ps, o);
  }, py::arg("loss_fn"), py::arg("inputs"), py::arg("targets"), py::arg("params"), py::arg("min_shard_rows") = 64,
     py::arg("mean_over_rows") = true,
     R"(loss_fn(inputs, targets).backward() split by rows over the kernels' threads, as `nabla train` steps:
each shard's backward runs on its own thread (loss_fn itself takes the GIL; its large ops release it).
The shards' gradients of params (a list, or a Module) are summed into their .grad; returns the loss.)");

  // ---- function transforms --------------------------------------------------------
  m.def("jacobian", [](const py::function& f, const py::object& x, const std::string& layout, const std::string& mode,
                       bool create_graph) -> py::object {
    JacobianOptions o = jacobian_options(layout, mode, create_graph);
    PyTensorFn fn{PyRef(f), "jacobian"};
    bool single = false;
    std::vector<Tensor> xs = tensor_list(x, &single, "jacobian");
    if (single) {
      Tensor j;
      {
        py::gil_scoped_release nogil;
        j = jacobian(TensorFn([fn](const Tensor& t) { return fn(t); }), xs[0], o);
      }
      return py::cast(j);
    }
    std::vector<Tensor> js;
    {
      py::gil_scoped_release nogil;
      js = jacobian(TensorsFn([fn](const std::vector<Tensor>& ts) { return fn(ts); }), xs, o);
    }
    return pack(js, false);
  }, py::arg("func"), py::arg("inputs"), py::arg("layout") = "numerator", py::arg("mode") = "auto",
     py::arg("create_graph") = false,
     R"(The Jacobian of func at inputs: [m, n] in numerator layout, [n, m] in denominator (inputs and
output flattened row-major). With a tuple of inputs, func(*inputs) and one block per input.
mode: "auto" (forward when the inputs have fewer elements than the output), "forward", "reverse".)");

  m.def("hessian", [](const py::function& f, const Tensor& x) {
    PyTensorFn fn{PyRef(f), "hessian"};
    py::gil_scoped_release nogil;
    return hessian(TensorFn([fn](const Tensor& t) { return fn(t); }), x);
  }, py::arg("func"), py::arg("input"), "the Hessian [n, n] of a scalar func at input (forward-over-reverse)");

  m.def("hvp", [](const py::function& f, const Tensor& x, const py::object& v) {
    PyTensorFn fn{PyRef(f), "hvp"};
    Tensor vt = to_tensor(v, x.dtype());
    py::gil_scoped_release nogil;
    return hvp(TensorFn([fn](const Tensor& t) { return fn(t); }), x, vt);
  }, py::arg("func"), py::arg("input"), py::arg("v"), "H·v, shaped like input");

  m.def("jacobian_diagonal", [](const py::function& f, const Tensor& x) {
    PyTensorFn fn{PyRef(f), "jacobian_diagonal"};
    py::gil_scoped_release nogil;
    return jacobian_diagonal(TensorFn([fn](const Tensor& t) { return fn(t); }), x);
  }, py::arg("func"), py::arg("input"), "diag(∂f/∂x) of an element-wise func, in one forward pass");

  m.def("jvp", [](const py::function& f, const py::object& primals, const py::object& tangents) {
    PyTensorFn fn{PyRef(f), "jvp"};
    bool single = false;
    std::vector<Tensor> ps = tensor_list(primals, &single, "jvp");
    std::vector<Tensor> ts = tensor_list(tangents, nullptr, "jvp");
    JvpResult r;
    {
      py::gil_scoped_release nogil;
      r = jvp(TensorsFn([fn](const std::vector<Tensor>& xs) { return fn(xs); }), ps, ts);
    }
    return py::make_tuple(r.output, r.tangent);
  }, py::arg("func"), py::arg("primals"), py::arg("tangents"),
     "(func(*primals), J·tangents) in one forward pass, as torch.func.jvp");

  m.def("vjp", [](const py::function& f, const py::args& primals) {
    PyTensorFn fn{PyRef(f), "vjp"};
    std::vector<Tensor> ps;
    for (py::handle h : primals) ps.push_back(to_tensor(h, ps.empty() ? std::nullopt : std::optional<DType>(ps[0].dtype())));
    VjpResult r;
    {
      py::gil_scoped_release nogil;
      r = vjp(TensorsFn([fn](const std::vector<Tensor>& xs) { return fn(xs); }), ps);
    }
    auto pullback = r.pullback;
    py::cpp_function pb([pullback](const py::object& u) {
      const Tensor ut = u.cast<Tensor>();
      std::vector<Tensor> g;
      {
        py::gil_scoped_release nogil;
        g = pullback(ut);
      }
      return pack(g, false);
    }, py::arg("cotangent"));
    return py::make_tuple(r.output, pb);
  }, py::arg("func"), "(func(*primals), pullback) with pullback(u) the tuple uᵀJ per primal, as torch.func.vjp");

  // ---- gradient checking ----------------------------------------------------------
  py::class_<GradcheckInputReport>(m, "GradcheckInputReport")
      .def_readonly("max_abs_error", &GradcheckInputReport::max_abs_error)
      .def_readonly("max_rel_error", &GradcheckInputReport::max_rel_error);
  py::class_<GradcheckResult>(m, "GradcheckResult")
      .def_readonly("ok", &GradcheckResult::ok)
      .def_readonly("inputs", &GradcheckResult::inputs)
      .def("summary", &GradcheckResult::summary)
      .def("__bool__", [](const GradcheckResult& r) { return r.ok; })
      .def("__repr__", [](const GradcheckResult& r) { return r.summary(); });
  m.def("gradcheck", [](const py::function& f, const py::object& inputs, double eps, double atol, double rtol) {
    PyTensorFn fn{PyRef(f), "gradcheck"};
    std::vector<Tensor> xs = tensor_list(inputs, nullptr, "gradcheck");
    py::gil_scoped_release nogil;
    return gradcheck(TensorsFn([fn](const std::vector<Tensor>& ts) { return fn(ts); }), xs, {eps, atol, rtol});
  }, py::arg("func"), py::arg("inputs"), py::arg("eps") = 1e-6, py::arg("atol") = 1e-5, py::arg("rtol") = 1e-3,
     "reverse-mode gradients of func(*inputs) against central differences in float64; truthy when they agree");
  m.def("numeric_jacobian", [](const py::function& f, const Tensor& x, double eps) {
    PyTensorFn fn{PyRef(f), "numeric_jacobian"};
    py::gil_scoped_release nogil;
    return numeric_jacobian(TensorFn([fn](const Tensor& t) { return fn(t); }), x, eps);
  }, py::arg("func"), py::arg("input"), py::arg("eps") = 1e-6, "[numel(f(x)), numel(x)] by central differences");
}

}  // namespace nabla::python
