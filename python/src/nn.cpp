// nabla.nn: Module (subclassable from Python), the layers, Sequential, mlp,
// the initializers.
#include "common.hpp"
#include "nabla/nn.hpp"

#include <sstream>

namespace nabla::python {

namespace {

// A Module whose forward (and description) a Python subclass provides.
class PyModule : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { PYBIND11_OVERRIDE_PURE(Tensor, nn::Module, forward, x); }
  std::string describe() const override {
    py::gil_scoped_acquire gil;
    if (py::function f = py::get_override(static_cast<const nn::Module*>(this), "describe")) return f().cast<std::string>();
    return py::str(py::type::handle_of(py::cast(this)).attr("__name__")).cast<std::string>() + "()";
  }
  void add_parameter(const std::string& name, const Tensor& t) { register_parameter(name, t); }
  void add_module(const std::string& name, std::shared_ptr<nn::Module> m) { register_module(name, std::move(m)); }
};

nn::Init init_from(const std::string& s) {
  if (s == "default" || s == "pytorch_default") return nn::Init::pytorch_default;
  if (s == "xavier_uniform" || s == "xavier") return nn::Init::xavier_uniform;
  if (s == "xavier_normal") return nn::Init::xavier_normal;
  if (s == "kaiming_uniform" || s == "kaiming") return nn::Init::kaiming_uniform;
  if (s == "kaiming_normal") return nn::Init::kaiming_normal;
  NABLA_CHECK(false, "init: '", s, "' is not one of default, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal");
  return nn::Init::pytorch_default;
}

Generator& gen_of(const py::object& g) { return g.is_none() ? default_generator() : g.cast<Generator&>(); }

std::string text_of(const nn::Module& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

}  // namespace

void bind_nn(py::module_& m) {
  using nn::Module;
  py::class_<Module, PyModule, std::shared_ptr<Module>>(m, "Module", R"(The base of every layer.

Subclass it in Python: call super().__init__(), assign parameters (tensors that
require grad) and child modules as attributes or register them, and define
forward(x). The package's nabla.nn.Module does the registering on assignment.)")
      .def(py::init<>())
      .def("forward", &Module::forward, py::arg("input"))
      .def("__call__", [](Module& self, const Tensor& x) { return self.forward(x); }, py::arg("input"))
      .def("parameters", &Module::parameters, "the parameters, in registration order, children after their parent's own")
      .def("named_parameters", &Module::named_parameters)
      .def("num_parameters", &Module::num_parameters)
      .def("zero_grad", &Module::zero_grad)
      .def("train", [](Module& self, bool on) -> Module& { self.train(on); return self; }, py::arg("mode") = true,
           py::return_value_policy::reference)
      .def("eval", [](Module& self) -> Module& { self.eval(); return self; }, py::return_value_policy::reference)
      .def_property_readonly("training", &Module::is_training)
      .def("describe", &Module::describe)
      .def("summary", &Module::summary, py::arg("input_features"))
      .def("children", [](const Module& self) { return self.children(); })
      .def("__repr__", &text_of)
      .def("_register_parameter", [](Module& self, const std::string& name, const Tensor& t) {
        auto* p = dynamic_cast<PyModule*>(&self);
        NABLA_CHECK(p, "register_parameter: only modules defined in Python register parameters from Python");
        p->add_parameter(name, t);
      })
      .def("_register_module", [](Module& self, const std::string& name, const std::shared_ptr<Module>& child) {
        auto* p = dynamic_cast<PyModule*>(&self);
        NABLA_CHECK(p, "register_module: only modules defined in Python register children from Python");
        p->add_module(name, child);
      }, py::keep_alive<1, 3>());

  py::class_<nn::Linear, Module, std::shared_ptr<nn::Linear>>(m, "Linear", "y = x Wᵀ + b, W [out, in], b [out]")
      .def(py::init([](int64_t in, int64_t out, bool bias, const std::string& init, const py::object& dtype,
                       const py::object& gen) {
        nn::Linear::Options o;
        o.bias = bias;
        o.init = init_from(init);
        o.dtype = dtype_from(dtype).value_or(kFloat32);
        return std::make_shared<nn::Linear>(in, out, gen_of(gen), o);
      }), py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true, py::arg("init") = "default",
          py::arg("dtype") = py::none(), py::arg("generator") = py::none())
      .def_readonly("weight", &nn::Linear::weight)
      .def_property_readonly("bias", [](const nn::Linear& l) -> py::object {
        if (!l.bias.defined()) return py::none();
        return py::cast(l.bias);
      })
      .def_property_readonly("in_features", &nn::Linear::in_features)
      .def_property_readonly("out_features", &nn::Linear::out_features);

  py::class_<nn::ReLU, Module, std::shared_ptr<nn::ReLU>>(m, "ReLU").def(py::init<>());
  py::class_<nn::LeakyReLU, Module, std::shared_ptr<nn::LeakyReLU>>(m, "LeakyReLU")
      .def(py::init<double>(), py::arg("negative_slope") = 0.01);
  py::class_<nn::Tanh, Module, std::shared_ptr<nn::Tanh>>(m, "Tanh").def(py::init<>());
  py::class_<nn::Sigmoid, Module, std::shared_ptr<nn::Sigmoid>>(m, "Sigmoid").def(py::init<>());
  py::class_<nn::GELU, Module, std::shared_ptr<nn::GELU>>(m, "GELU").def(py::init<>());
  py::class_<nn::Softmax, Module, std::shared_ptr<nn::Softmax>>(m, "Softmax").def(py::init<int64_t>(), py::arg("dim") = -1);
  py::class_<nn::LogSoftmax, Module, std::shared_ptr<nn::LogSoftmax>>(m, "LogSoftmax")
      .def(py::init<int64_t>(), py::arg("dim") = -1);
  py::class_<nn::Dropout, Module, std::shared_ptr<nn::Dropout>>(m, "Dropout")
      .def(py::init<double, uint64_t>(), py::arg("p") = 0.5, py::arg("seed") = 0);

  py::class_<nn::Sequential, Module, std::shared_ptr<nn::Sequential>>(m, "Sequential", "modules applied in order")
      .def(py::init([](const py::args& mods) {
        auto s = std::make_shared<nn::Sequential>();
        for (py::handle h : mods) s->push_back(h.cast<std::shared_ptr<Module>>());
        return s;
      }), py::keep_alive<1, 2>())  // the modules' Python objects live as long as the Sequential: a Python
                                   // subclass's forward is found through its object
      .def("append", [](nn::Sequential& s, const std::shared_ptr<Module>& mod) -> nn::Sequential& {
        return s.push_back(mod);
      }, py::arg("module"), py::keep_alive<1, 2>(), py::return_value_policy::reference)
      .def("__len__", &nn::Sequential::size)
      .def("__getitem__", [](const nn::Sequential& s, int64_t i) {
        const auto n = static_cast<int64_t>(s.size());
        NABLA_CHECK_KIND(i >= -n && i < n, ErrorKind::index, "Sequential: index ", i, " out of range for ", n, " modules");
        return s.children()[static_cast<size_t>(i < 0 ? i + n : i)].second;
      });

  m.def("make_activation", &nn::make_activation, py::arg("name"));
  m.def("mlp", [](const std::vector<int64_t>& sizes, const std::string& act, const std::string& out,
                  const std::string& init, const py::object& dtype, const py::object& gen) {
    nn::Linear::Options o;
    o.init = init_from(init);
    o.dtype = dtype_from(dtype).value_or(kFloat32);
    return nn::mlp(sizes, act, out, gen_of(gen), o);
  }, py::arg("sizes"), py::arg("activation") = "relu", py::arg("output") = "none", py::arg("init") = "default",
     py::arg("dtype") = py::none(), py::arg("generator") = py::none(),
     "Linear layers of these widths with `activation` between them and `output` after the last");

  py::module_ init = m.def_submodule("init", "initializers (in place, seeded)");
  const auto g = py::arg("generator") = py::none();
  init.def("uniform_", [](Tensor& t, double a, double b, const py::object& gen) { nn::init::uniform_(t, a, b, gen_of(gen)); return t; },
           py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 1.0, g);
  init.def("normal_", [](Tensor& t, double mean, double sd, const py::object& gen) { nn::init::normal_(t, mean, sd, gen_of(gen)); return t; },
           py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0, g);
  init.def("zeros_", [](Tensor& t) { nn::init::zeros_(t); return t; }, py::arg("tensor"));
  init.def("xavier_uniform_", [](Tensor& t, double gain, const py::object& gen) { nn::init::xavier_uniform_(t, gen_of(gen), gain); return t; },
           py::arg("tensor"), py::arg("gain") = 1.0, g);
  init.def("xavier_normal_", [](Tensor& t, double gain, const py::object& gen) { nn::init::xavier_normal_(t, gen_of(gen), gain); return t; },
           py::arg("tensor"), py::arg("gain") = 1.0, g);
  init.def("kaiming_uniform_", [](Tensor& t, double a, const py::object& gen) { nn::init::kaiming_uniform_(t, gen_of(gen), a); return t; },
           py::arg("tensor"), py::arg("a") = 0.0, g);
  init.def("kaiming_normal_", [](Tensor& t, double a, const py::object& gen) { nn::init::kaiming_normal_(t, gen_of(gen), a); return t; },
           py::arg("tensor"), py::arg("a") = 0.0, g);
}

}  // namespace nabla::python
