// nabla.sym: parse, differentiate, simplify, print and evaluate matrix
// expressions (the engine of `nabla diff`). The package's nabla.sym.diff()
// wraps these in an object with .text, .latex, .steps, .at(values).
#include "common.hpp"
#include "nabla/sym.hpp"

namespace nabla::python {

namespace {

using namespace nabla::sym;

Layout layout_of(const std::string& s) {
  if (s == "auto" || s == "automatic") return Layout::automatic;
  if (s == "numerator") return Layout::numerator;
  if (s == "denominator") return Layout::denominator;
  NABLA_CHECK(false, "layout: '", s, "' is not auto, numerator or denominator");
  return Layout::automatic;
}

const char* kind_name(DerivKind k) {
  switch (k) {
    case DerivKind::gradient: return "gradient";
    case DerivKind::jacobian: return "jacobian";
    case DerivKind::hessian: return "hessian";
  }
  return "gradient";
}

// A parsed expression with the declarations it was parsed against.
struct PyExpr {
  Expr e;
  Declarations decls;
};

// A derivative with what evaluating and checking it needs.
struct PyDerivative {
  Derivative d;
  Expr f;
  std::string wrt;
  Declarations decls;
};

}  // namespace

void bind_sym(py::module_& m) {
  py::class_<Declarations>(m, "Declarations")
      .def_property_readonly("order", [](const Declarations& d) { return d.order; })
      .def_property_readonly("dims", [](const Declarations& d) { return d.dims; })
      .def("shape", [](const Declarations& d, const std::string& v) { return d.var(v)->shape.str(); }, py::arg("name"));
  m.def("parse_declarations", &parse_declarations, py::arg("text"),
        "declarations such as \"x:vector(n) A:matrix(n,n) b:scalar r:rowvector(n)\"");

  py::class_<PyExpr>(m, "Expr")
      .def_property_readonly("text", [](const PyExpr& e) { return to_text(e.e); })
      .def_property_readonly("latex", [](const PyExpr& e) { return to_latex(e.e); })
      .def_property_readonly("json", [](const PyExpr& e) { return to_json(e.e); })
      .def_property_readonly("shape", [](const PyExpr& e) { return e.e->shape.str(); })
      .def_property_readonly("variables", [](const PyExpr& e) { return e.e->vars; })
      .def("simplify", [](const PyExpr& e) { return PyExpr{simplify(e.e), e.decls}; })
      .def("_evaluate", [](const PyExpr& e, const std::string& values_json) {
        Bindings b = read_values(values_json, e.decls);
        py::gil_scoped_release nogil;
        return evaluate(e.e, b);
      })
      .def("__repr__", [](const PyExpr& e) { return to_text(e.e); })
      .def("_repr_latex_", [](const PyExpr& e) { return "$" + to_latex(e.e) + "$"; });
  m.def("parse", [](const std::string& text, const std::string& let) {
    Declarations d = parse_declarations(let);
    Expr e = parse(text, d);
    return PyExpr{e, d};
  }, py::arg("expr"), py::arg("let") = "");

  py::class_<CheckReport>(m, "CheckReport")
      .def_readonly("ok", &CheckReport::ok)
      .def_readonly("autodiff_error", &CheckReport::autodiff_error)
      .def_readonly("fd_error", &CheckReport::fd_error)
      .def_readonly("tolerance", &CheckReport::tolerance)
      .def_readonly("note", &CheckReport::note)
      .def("__bool__", [](const CheckReport& r) { return r.ok; });

  py::class_<PyDerivative>(m, "_Derivative")
      .def_property_readonly("text", [](const PyDerivative& d) { return to_text(d.d.result); })
      .def_property_readonly("latex", [](const PyDerivative& d) { return to_latex(d.d.result); })
      .def_property_readonly("json", [](const PyDerivative& d) { return to_json(d.d.result); })
      .def_property_readonly("raw", [](const PyDerivative& d) { return to_text(d.d.raw); })
      .def_property_readonly("steps", [](const PyDerivative& d) { return format_steps(d.d, "f", &d.decls); })
      .def_property_readonly("vec_form", [](const PyDerivative& d) { return d.d.vec_form; })
      .def_property_readonly("index", [](const PyDerivative& d) -> std::optional<std::string> {
        return index_notation(d.d);
      })
      .def_property_readonly("rules", [](const PyDerivative& d) {
        std::vector<std::string> r;
        for (const auto& a : d.d.rules) r.push_back(a.rule);
        return r;
      })
      .def_property_readonly("kind", [](const PyDerivative& d) { return kind_name(d.d.kind); })
      .def_property_readonly("shape", [](const PyDerivative& d) { return d.d.shape.str(); })
      .def_property_readonly("is_scalar", [](const PyDerivative& d) { return d.d.shape.is_scalar(); })
      .def_property_readonly("is_vector", [](const PyDerivative& d) { return d.d.shape.is_vector(); })
      .def_property_readonly("expr", [](const PyDerivative& d) { return PyExpr{d.f, d.decls}; })
      .def_property_readonly("wrt", [](const PyDerivative& d) { return d.wrt; })
      .def_property_readonly("result", [](const PyDerivative& d) { return PyExpr{d.d.result, d.decls}; })
      .def("_at", [](const PyDerivative& d, const std::string& values_json) {
        Bindings b = read_values(values_json, d.decls);
        py::gil_scoped_release nogil;
        return derivative_tensor(d.d, evaluate_derivative(d.d, b), b);  // a tensor-valued one as the tensor
      })
      .def("_check", [](const PyDerivative& d, const std::string& values_json, uint64_t seed) {
        Bindings b = random_values(d.decls, seed, values_json.empty() ? Bindings{} : read_values(values_json, d.decls));
        py::gil_scoped_release nogil;
        return check(d.f, d.wrt, d.d, b);
      });
  m.def("_diff", [](const std::string& expr, const std::string& let, const std::string& wrt, const std::string& layout,
                    int order) {
    PyDerivative r;
    r.decls = parse_declarations(let);
    r.f = parse(expr, r.decls);
    r.wrt = wrt;
    DiffOptions o;
    o.layout = layout_of(layout);
    o.order = order;
    o.steps = true;
    r.d = differentiate(r.f, wrt, r.decls, o);
    return r;
  }, py::arg("expr"), py::arg("let"), py::arg("wrt"), py::arg("layout") = "auto", py::arg("order") = 1);
  m.def("rule_names", &rule_names);
}

}  // namespace nabla::python
