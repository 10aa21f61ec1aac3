// The extension module nabla._nabla; the package nabla (python/nabla/)
// re-exports it and adds what is easier to write in Python.
#include "common.hpp"
#include "nabla/error.hpp"
#include "nabla/generator.hpp"

namespace nabla::python {

namespace {

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::value: return "value";
    case ErrorKind::shape: return "shape";
    case ErrorKind::dtype: return "dtype";
    case ErrorKind::index: return "index";
    case ErrorKind::autograd: return "autograd";
    case ErrorKind::io: return "io";
    case ErrorKind::parse: return "parse";
    case ErrorKind::internal: return "internal";
  }
  return "value";
}

}  // namespace

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void bind_errors(py::module_& m) {
  // nabla.Error: every nabla::Error, with the C++ message as its one argument
  // and the error's kind ("shape", "io", ...) as .kind. A RuntimeError, as
  // PyTorch's errors are.
  static py::handle error = py::exception<Error>(m, "Error", PyExc_RuntimeError).release();
  error.attr("__doc__") = "nabla's error: the one-line message of the C++ nabla::Error; .kind names its kind";
  error.attr("kind") = "value";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object err = error(e.what());
      err.attr("kind") = kind_name(e.kind());
      PyErr_SetObject(error.ptr(), err.ptr());
    }
  });
}

}  // namespace nabla::python

PYBIND11_MODULE(_nabla, m) {
  namespace np = nabla::python;
  m.doc() = "nabla: matrix calculus and neural-network training (the compiled core of the nabla package)";
  np::bind_errors(m);
  np::bind_tensor(m);
  np::bind_ops(m);
  np::bind_autodiff(m);
  pybind11::module_ nn = m.def_submodule("nn", "modules");
  np::bind_nn(nn);
  pybind11::module_ optim = m.def_submodule("optim", "optimizers and learning-rate schedules");
  np::bind_optim(optim);
  pybind11::module_ data = m.def_submodule("data", "data sets and the mini-batch loader");
  np::bind_data(data);
  np::bind_io_train(m);
  pybind11::module_ sym = m.def_submodule("sym", "symbolic matrix calculus");
  np::bind_sym(sym);
}
