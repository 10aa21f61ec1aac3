// nabla.optim: SGD, Adam, AdamW, gradient clipping, the learning-rate
// schedules. step() runs with the GIL released.
#include "common.hpp"
#include "nabla/optim.hpp"

namespace nabla::python {

namespace {

// Parameters from a list of tensors, any iterable of them, or a Module (its parameters()).
std::vector<Tensor> params_of(const py::object& o) {
  if (py::hasattr(o, "parameters") && !py::isinstance<py::list>(o)) return params_of(o.attr("parameters")());
  std::vector<Tensor> out;
  for (py::handle h : o) out.push_back(h.cast<Tensor>());
  return out;
}

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace

void bind_optim(py::module_& m) {
  using namespace nabla::optim;
  py::class_<Optimizer, std::shared_ptr<Optimizer>>(m, "Optimizer")
      .def("step", &Optimizer::step, py::call_guard<py::gil_scoped_release>(),
           "updates every parameter that has a gradient, in place")
      .def("zero_grad", &Optimizer::zero_grad, "resets every parameter's gradient to None")
      .def_property("lr", &Optimizer::lr, &Optimizer::set_lr)
      .def_property_readonly("steps", &Optimizer::steps)
      .def_property_readonly("params", &Optimizer::params)
      .def_property_readonly("name", &Optimizer::name)
      .def("state_dict", [](const Optimizer& o) {
        py::dict d;
        for (auto& [k, v] : o.state()) d[py::str(k)] = v;
        return d;
      }, "the buffers and counters as named tensors (what a checkpoint holds)")
      .def("load_state_dict", [](Optimizer& o, const py::dict& d) {
        NamedTensors s;
        for (auto [k, v] : d) s.emplace_back(k.cast<std::string>(), v.cast<Tensor>());
        o.load_state(s);
      }, py::arg("state"));

  py::class_<SGD, Optimizer, std::shared_ptr<SGD>>(m, "SGD", "SGD with momentum, dampening, Nesterov and L2 weight decay (PyTorch's rules)")
      .def(py::init([](const py::object& params, double lr, double momentum, double dampening, double wd, bool nesterov) {
        return std::make_shared<SGD>(params_of(params), SGDOptions{lr, momentum, dampening, wd, nesterov});
      }), py::arg("params"), py::arg("lr") = 0.01, py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
          py::arg("weight_decay") = 0.0, py::arg("nesterov") = false);
  auto adam_init = [](bool decoupled) {
    return [decoupled](const py::object& params, double lr, std::pair<double, double> betas, double eps, double wd) {
      return std::make_shared<Adam>(params_of(params), AdamOptions{lr, betas.first, betas.second, eps, wd}, decoupled);
    };
  };
  py::class_<Adam, Optimizer, std::shared_ptr<Adam>>(m, "Adam", "Adam with bias correction (L2 weight decay in the gradient)")
      .def(py::init(adam_init(false)), py::arg("params"), py::arg("lr") = 1e-3,
           py::arg("betas") = std::pair<double, double>(0.9, 0.999), py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0);
  py::class_<AdamW, Adam, std::shared_ptr<AdamW>>(m, "AdamW", "Adam with decoupled weight decay")
      .def(py::init([](const py::object& params, double lr, std::pair<double, double> betas, double eps, double wd) {
        return std::make_shared<AdamW>(params_of(params), AdamOptions{lr, betas.first, betas.second, eps, wd});
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::pair<double, double>(0.9, 0.999),
          py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.01);

  m.def("clip_grad_norm_", [](const py::object& params, double max_norm) {
    return clip_grad_norm_(params_of(params), max_norm);
  }, py::arg("parameters"), py::arg("max_norm"), "scales the gradients to a global L2 norm ≤ max_norm; returns the norm before");

  // The schedules keep the optimizer alive (they hold it by reference).
  py::class_<LRScheduler, std::shared_ptr<LRScheduler>>(m, "LRScheduler")
      .def("step", &LRScheduler::step, "advances one epoch and sets the optimizer's lr for the next")
      .def("set_epoch", &LRScheduler::set_epoch, py::arg("epoch"))
      .def_property_readonly("epoch", &LRScheduler::epoch)
      .def("lr_at", &LRScheduler::lr_at, py::arg("epoch"));
  py::class_<StepLR, LRScheduler, std::shared_ptr<StepLR>>(m, "StepLR")
      .def(py::init<Optimizer&, int64_t, double>(), py::arg("optimizer"), py::arg("step_size"), py::arg("gamma") = 0.1,
           py::keep_alive<1, 2>());
  py::class_<CosineAnnealingLR, LRScheduler, std::shared_ptr<CosineAnnealingLR>>(m, "CosineAnnealingLR")
      .def(py::init<Optimizer&, int64_t, double>(), py::arg("optimizer"), py::arg("T_max"), py::arg("eta_min") = 0.0,
           py::keep_alive<1, 2>());
  py::class_<WarmupLR, LRScheduler, std::shared_ptr<WarmupLR>>(m, "WarmupLR")
      .def(py::init<Optimizer&, int64_t, double, std::shared_ptr<LRScheduler>>(), py::arg("optimizer"), py::arg("warmup"),
           py::arg("start_factor") = 0.1, py::arg("after") = nullptr, py::keep_alive<1, 2>());
}

}  // namespace nabla::python
