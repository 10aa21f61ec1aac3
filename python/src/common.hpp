// The pieces the binding files share: conversions between Python objects and
// Tensors, shapes from Python arguments, and Python callables that C++ may
// copy, call and drop from any thread.
//
// The GIL. Long computations (matmul of large operands, backward, the
// function transforms, training, optimizer steps) run with the GIL released;
// whatever calls back into Python (a callable given to jacobian, a Module
// subclass's forward, a training callback) takes it again, and so does the
// release of a NumPy array or DLPack capsule whose memory a Tensor wrapped.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "nabla/generator.hpp"
#include "nabla/tensor.hpp"

namespace nabla::python {

namespace py = pybind11;

// A Python object owned from C++: copies share it, and the last one drops
// its reference under the GIL, whichever thread that happens on.
class PyRef {
 public:
  PyRef() = default;
  explicit PyRef(py::object o);
  const py::object& get() const { return *obj_; }
  explicit operator bool() const { return obj_ && *obj_; }

 private:
  std::shared_ptr<py::object> obj_;
};

// A Python callable as a C++ function of tensors; calls take the GIL. `what`
// names the transform in the error raised when the callable returns
// something that is not a tensor.
struct PyTensorFn {
  PyRef fn;
  const char* what;
  Tensor operator()(const Tensor& x) const;
  Tensor operator()(const std::vector<Tensor>& xs) const;  // fn(*xs)
};

// The result of a Python callable as a tensor: a Tensor as it is, a number
// or array-like as a new tensor of dtype `like`.
Tensor result_tensor(const py::object& r, DType like, const char* what);

// Any tensor-like argument as a Tensor: a Tensor as it is; a Python number as
// a rank-0 tensor of dtype `like`; an array-like (NumPy array, nested lists)
// as a copy, converted to `like` when given, else float64 arrays stay
// float64 and everything else becomes float32.
Tensor to_tensor(py::handle obj, std::optional<DType> like = std::nullopt);

// Wraps a NumPy array's buffer (float32 or float64, aligned, writeable,
// non-negative strides) without copying; the tensor keeps the array alive.
Tensor from_numpy(const py::array& a);

// Wraps `data` without copying; `release` runs (under the GIL) when the last
// view of it dies.
Tensor wrap_external(void* data, const Shape& shape, const Dims& strides, DType dtype,
                     std::function<void(void*)> release);

// A shape from f(2, 3), f((2, 3)) or f([2, 3]).
Shape shape_from_args(const py::args& args, const char* what);
// A shape from one Python int or a sequence of ints.
Shape shape_from(py::handle obj, const char* what);
py::tuple shape_tuple(const Dims& d);

// The Python dtype from a name, nabla.float32/float64, numpy's or torch's
// float32/float64 dtypes; None gives std::nullopt.
std::optional<DType> dtype_from(py::handle obj);

void bind_errors(py::module_& m);
void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_autodiff(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_data(py::module_& m);
void bind_io_train(py::module_& m);
void bind_sym(py::module_& m);

// The generator of factories and layers called without one (nabla.manual_seed).
nabla::Generator& default_generator();

}  // namespace nabla::python
