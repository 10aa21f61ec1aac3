// Conversions shared by the binding files (common.hpp).
#include "common.hpp"

#include <cstring>

#include "nabla/ops.hpp"

namespace nabla::python {

PyRef::PyRef(py::object o)
    : obj_(new py::object(std::move(o)), [](py::object* p) {
        // The interpreter may be gone when a tensor outlives it (a global
        // destroyed at exit): then there is nothing left to release.
        if (!Py_IsInitialized()) {
          p->release();
          delete p;
          return;
        }
        py::gil_scoped_acquire gil;
        delete p;
      }) {}

Tensor result_tensor(const py::object& r, DType like, const char* what) {
  if (py::isinstance<Tensor>(r)) return r.cast<Tensor>();
  if (r.is_none()) throw py::type_error(std::string(what) + ": the function returned None, not a tensor");
  try {
    return to_tensor(r, like);
  } catch (const std::exception&) {  // what to_tensor cannot convert
    throw py::type_error(std::string(what) + ": the function returned a " +
                         std::string(py::str(r.get_type().attr("__name__"))) + ", not a tensor");
  }
}

Tensor PyTensorFn::operator()(const Tensor& x) const {
  py::gil_scoped_acquire gil;
  return result_tensor(fn.get()(x), x.dtype(), what);
}

Tensor PyTensorFn::operator()(const std::vector<Tensor>& xs) const {
  py::gil_scoped_acquire gil;
  py::tuple args(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
  return result_tensor(fn.get()(*args), xs.empty() ? kFloat32 : xs[0].dtype(), what);
}

std::optional<DType> dtype_from(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  std::string name;
  if (py::isinstance<py::str>(obj)) {
    name = obj.cast<std::string>();
  } else {
    // numpy.float32, numpy.dtype('float64'), torch.float32: their names
    py::object s = py::str(obj);
    name = s.cast<std::string>();
    if (name.rfind("torch.", 0) == 0) name = name.substr(6);
    else if (py::hasattr(obj, "__name__") && !py::isinstance<py::dtype>(obj)) name = obj.attr("__name__").cast<std::string>();
  }
  if (name == "float32" || name == "float" || name == "f32" || name == "<class 'numpy.float32'>") return kFloat32;
  if (name == "float64" || name == "double" || name == "f64" || name == "<class 'numpy.float64'>") return kFloat64;
  NABLA_CHECK_KIND(false, ErrorKind::dtype, "dtype: '", name, "' is not one of nabla's dtypes (float32, float64)");
  return std::nullopt;
}

Tensor wrap_external(void* data, const Shape& shape, const Dims& strides, DType dtype,
                     std::function<void(void*)> release) {
  return from_blob(data, shape, strides, TensorOptions(dtype), std::move(release));
}

Tensor from_numpy(const py::array& a) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = static_cast<size_t>(dt.itemsize());
  NABLA_CHECK_KIND(kind == 'f' && (size == 4 || size == 8), ErrorKind::dtype, "from_numpy: dtype ",
                   std::string(py::str(py::handle(dt))), " is neither float32 nor float64 (convert with .astype(np.float32))");
  NABLA_CHECK_KIND(dt.attr("isnative").cast<bool>(), ErrorKind::dtype, "from_numpy: the array's byte order is not the machine's");
  NABLA_CHECK(a.writeable(), "from_numpy: the array is read-only, and a tensor may be written in place (pass a copy: np.array(a))");
  NABLA_CHECK_KIND(a.ndim() <= kMaxRank, ErrorKind::shape, "from_numpy: rank ", a.ndim(), " exceeds the maximum of ", kMaxRank);
  Shape shape;
  Dims strides;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    const py::ssize_t st = a.strides(i);
    NABLA_CHECK_KIND(st >= 0 && st % static_cast<py::ssize_t>(size) == 0, ErrorKind::shape, "from_numpy: stride ", st,
                     " bytes of dimension ", i, " is negative or not a whole number of elements (use np.ascontiguousarray)");
    shape.push_back(a.shape(i));
    strides.push_back(st / static_cast<py::ssize_t>(size));
  }
  void* data = const_cast<void*>(a.data());
  NABLA_CHECK(reinterpret_cast<uintptr_t>(data) % size == 0, "from_numpy: the array's data is not aligned to its elements");
  PyRef owner{py::reinterpret_borrow<py::object>(a)};
  return wrap_external(data, shape, strides, size == 4 ? kFloat32 : kFloat64, [owner](void*) mutable { owner = PyRef(); });
}

Tensor to_tensor(py::handle obj, std::optional<DType> like) {
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (PyFloat_Check(obj.ptr()) || PyLong_Check(obj.ptr())) {
    return scalar_tensor(obj.cast<double>(), TensorOptions(like.value_or(kFloat32)));
  }
  py::module_ np = py::module_::import("numpy");
  py::array arr = np.attr("asarray")(obj);
  // float64 NumPy data stays float64; Python lists and other dtypes give float32, as torch.tensor does
  const bool numpy_f64 = (py::isinstance<py::array>(obj) || py::hasattr(obj, "dtype")) && arr.dtype().kind() == 'f' &&
                         arr.dtype().itemsize() == 8;
  DType dt = like ? *like : (numpy_f64 ? kFloat64 : kFloat32);
  const char kind = arr.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw py::type_error("cannot make a tensor of a " + std::string(py::str(obj.get_type().attr("__name__"))) +
                         " (numpy dtype " + std::string(py::str(py::handle(arr.dtype()))) + ")");
  }
  py::array c = np.attr("ascontiguousarray")(arr, dt == kFloat32 ? "float32" : "float64");
  Shape shape;
  NABLA_CHECK_KIND(c.ndim() <= kMaxRank, ErrorKind::shape, "tensor: rank ", c.ndim(), " exceeds the maximum of ", kMaxRank);
  for (py::ssize_t i = 0; i < c.ndim(); ++i) shape.push_back(c.shape(i));
  Tensor t = empty(shape, TensorOptions(dt));
  if (t.numel() > 0) std::memcpy(t.raw_data(), c.data(), static_cast<size_t>(t.numel()) * itemsize(dt));
  return t;
}

Shape shape_from(py::handle obj, const char* what) {
  if (PyLong_Check(obj.ptr())) return Shape{obj.cast<int64_t>()};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    Shape s;
    for (py::handle e : obj) {
      if (!PyLong_Check(e.ptr()) && !py::hasattr(e, "__index__"))
        throw py::type_error(std::string(what) + ": a shape holds ints, not " +
                             std::string(py::str(e.get_type().attr("__name__"))));
      s.push_back(py::int_(py::reinterpret_borrow<py::object>(e)).cast<int64_t>());
    }
    return s;
  }
  throw py::type_error(std::string(what) + ": expected a shape (ints or a sequence of ints), got " +
                       std::string(py::str(obj.get_type().attr("__name__"))));
}

Shape shape_from_args(const py::args& args, const char* what) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return shape_from(args[0], what);
  Shape s;
  for (py::handle e : args) {
    if (!PyLong_Check(e.ptr()))
      throw py::type_error(std::string(what) + ": a shape holds ints, not " +
                           std::string(py::str(e.get_type().attr("__name__"))));
    s.push_back(e.cast<int64_t>());
  }
  return s;
}

py::tuple shape_tuple(const Dims& d) {
  py::tuple t(static_cast<size_t>(d.size()));
  for (int i = 0; i < d.size(); ++i) t[static_cast<size_t>(i)] = py::int_(d[i]);
  return t;
}

}  // namespace nabla::python
