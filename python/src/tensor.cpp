// nabla.Tensor: metadata, NumPy (buffer protocol) and DLPack exchange without
// copying, operators, indexing, methods, and the factories.
#include <dlpack/dlpack.h>

#include <cstring>
#include <sstream>

#include "common.hpp"
#include "nabla/autograd.hpp"
#include "nabla/ops.hpp"

namespace nabla::python {

namespace {

// ---- NumPy and the buffer protocol --------------------------------------------

void check_exportable(const Tensor& t, const char* what) {
  NABLA_CHECK_KIND(!t.requires_grad(), ErrorKind::autograd, what,
                   ": the tensor requires grad; export t.detach() (which shares its memory)");
}

std::vector<py::ssize_t> byte_strides(const Tensor& t) {
  std::vector<py::ssize_t> s;
  for (int64_t st : t.strides()) s.push_back(static_cast<py::ssize_t>(st * static_cast<int64_t>(itemsize(t.dtype()))));
  return s;
}

py::array to_numpy(const py::object& self) {
  const Tensor& t = self.cast<const Tensor&>();
  check_exportable(t, "numpy");
  py::dtype dt = t.dtype() == kFloat32 ? py::dtype::of<float>() : py::dtype::of<double>();
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  if (t.numel() == 0) return py::array(dt, shape);
  // The array's base is the Tensor object: the memory lives while either does.
  return py::array(dt, shape, byte_strides(t), t.raw_data(), self);
}

py::buffer_info buffer_of(const Tensor& t) {
  check_exportable(t, "buffer");
  const bool f32 = t.dtype() == kFloat32;
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  return py::buffer_info(t.raw_data(), static_cast<py::ssize_t>(itemsize(t.dtype())),
                         f32 ? py::format_descriptor<float>::format() : py::format_descriptor<double>::format(),
                         t.dim(), shape, byte_strides(t));
}

// ---- DLPack --------------------------------------------------------------------------
//
// A capsule named "dltensor" holds a DLManagedTensor whose manager context
// keeps a handle to the tensor (so its storage); the consumer renames the
// capsule "used_dltensor" and calls the deleter when done with the memory.
// A capsule never consumed is freed by its own destructor.

struct DLPackExport {
  Tensor t;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

void dlpack_export_deleter(DLManagedTensor* m) {
  // Dropping the handle may free NumPy-owned memory, which wants the GIL;
  // PyRef takes it.
  delete static_cast<DLPackExport*>(m->manager_ctx);
}

void dlpack_capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}

py::capsule to_dlpack(const Tensor& t) {
  check_exportable(t, "__dlpack__");
  auto* e = new DLPackExport{t, {t.shape().begin(), t.shape().end()}, {t.strides().begin(), t.strides().end()}, {}};
  DLTensor& d = e->managed.dl_tensor;
  d.data = t.numel() > 0 ? t.raw_data() : nullptr;
  d.device = {kDLCPU, 0};
  d.ndim = static_cast<int32_t>(t.dim());
  d.dtype = {static_cast<uint8_t>(kDLFloat), static_cast<uint8_t>(itemsize(t.dtype()) * 8), 1};
  d.shape = e->shape.data();
  d.strides = e->strides.data();
  d.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = dlpack_export_deleter;
  PyObject* cap = PyCapsule_New(&e->managed, "dltensor", dlpack_capsule_destructor);
  if (!cap) {
    delete e;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

Tensor from_dlpack(const py::object& obj) {
  py::object cap = obj;
  if (py::hasattr(obj, "__dlpack__")) {
    if (py::hasattr(obj, "__dlpack_device__")) {
      auto dev = obj.attr("__dlpack_device__")().cast<std::pair<int, int>>();
      NABLA_CHECK(dev.first == kDLCPU, "from_dlpack: the tensor lives on device type ", dev.first,
                  "; nabla reads CPU memory only (move it with .cpu() first)");
    }
    cap = obj.attr("__dlpack__")();
  }
  if (!PyCapsule_IsValid(cap.ptr(), "dltensor")) {
    throw py::type_error(
        "from_dlpack: expected an object with __dlpack__ or an unused DLPack capsule (a capsule is read once)");
  }
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  NABLA_CHECK(d.device.device_type == kDLCPU, "from_dlpack: the tensor lives on device type ",
              static_cast<int>(d.device.device_type), "; nabla reads CPU memory only");
  NABLA_CHECK_KIND(d.dtype.code == kDLFloat && d.dtype.lanes == 1 && (d.dtype.bits == 32 || d.dtype.bits == 64),
                   ErrorKind::dtype, "from_dlpack: dtype (code ", static_cast<int>(d.dtype.code), ", ",
                   static_cast<int>(d.dtype.bits), " bits) is neither float32 nor float64");
  NABLA_CHECK_KIND(d.ndim >= 0 && d.ndim <= kMaxRank, ErrorKind::shape, "from_dlpack: rank ", d.ndim,
                   " exceeds the maximum of ", kMaxRank);
  const DType dtype = d.dtype.bits == 32 ? kFloat32 : kFloat64;
  Shape shape(d.shape, d.shape + d.ndim);
  Dims strides = d.strides ? Dims(d.strides, d.strides + d.ndim) : contiguous_strides(shape);
  for (int64_t st : strides)
    NABLA_CHECK_KIND(st >= 0, ErrorKind::shape, "from_dlpack: negative strides ", strides, " (make it contiguous first)");
  char* data = static_cast<char*>(d.data) + d.byte_offset;
  NABLA_CHECK(data != nullptr || numel(shape) == 0, "from_dlpack: null data for shape ", shape);
  NABLA_CHECK(reinterpret_cast<uintptr_t>(data) % itemsize(dtype) == 0, "from_dlpack: data not aligned to its elements");
  Tensor t = wrap_external(data, shape, strides, dtype, [m](void*) {
    if (!Py_IsInitialized()) return;  // the producer's memory went with the interpreter
    py::gil_scoped_acquire gil;  // NumPy's deleter releases an array
    if (m->deleter) m->deleter(m);
  });
  PyCapsule_SetName(cap.ptr(), "used_dltensor");  // consumed: the tensor owns it now
  return t;
}

// ---- indexing ------------------------------------------------------------------------

// t[idx] for an int, a slice (positive step), None, Ellipsis, an index tensor
// or list (index_select), or a tuple of these.
Tensor index(const Tensor& t, const py::handle& idx) {
  std::vector<py::handle> items;
  if (py::isinstance<py::tuple>(idx)) {
    for (py::handle h : py::reinterpret_borrow<py::tuple>(idx)) items.push_back(h);
  } else {
    items.push_back(idx);
  }
  int consuming = 0;  // items that use up a dimension
  for (py::handle h : items)
    if (!h.is_none() && h.ptr() != Py_Ellipsis) ++consuming;
  NABLA_CHECK_KIND(consuming <= t.dim(), ErrorKind::index, "index: ", consuming, " indices for a tensor of rank ",
                   t.dim(), " (shape ", t.shape(), ")");
  Tensor r = t;
  int64_t dim = 0;
  bool ellipsis = false;
  for (py::handle h : items) {
    if (h.is_none()) {
      r = r.unsqueeze(dim);
      ++dim;
    } else if (h.ptr() == Py_Ellipsis) {
      NABLA_CHECK_KIND(!ellipsis, ErrorKind::index, "index: more than one Ellipsis");
      ellipsis = true;
      dim += t.dim() - consuming;
    } else if (PyLong_Check(h.ptr()) || (py::hasattr(h, "__index__") && !py::isinstance<Tensor>(h) &&
                                         !py::isinstance<py::array>(h))) {
      int64_t i = py::int_(py::reinterpret_borrow<py::object>(h)).cast<int64_t>();
      const int64_t n = r.size(dim);
      NABLA_CHECK_KIND(i >= -n && i < n, ErrorKind::index, "index: ", i, " is out of range for dimension ", dim,
                       " of size ", n, " (shape ", t.shape(), ")");
      r = r.select(dim, i < 0 ? i + n : i);
    } else if (PySlice_Check(h.ptr())) {
      Py_ssize_t start = 0, stop = 0, step = 1;
      if (PySlice_Unpack(h.ptr(), &start, &stop, &step) < 0) throw py::error_already_set();
      NABLA_CHECK_KIND(step > 0, ErrorKind::index, "index: slice step ", step,
                       " is not positive (a reversed copy: index_select with a descending index)");
      const Py_ssize_t len = PySlice_AdjustIndices(static_cast<Py_ssize_t>(r.size(dim)), &start, &stop, step);
      if (len <= 0) stop = start;
      r = r.slice(dim, start, stop, step);
      ++dim;
    } else {
      Tensor ix = to_tensor(h, kFloat64);
      NABLA_CHECK_KIND(ix.dim() == 1, ErrorKind::index, "index: an index tensor must be 1-d, not ", ix.shape());
      r = index_select(r, dim, ix);
      ++dim;
    }
  }
  return r;
}

void set_index(Tensor& t, const py::handle& idx, const py::handle& value) {
  // Only basic indices give a view to write through; an index tensor selects a copy.
  auto basic = [](py::handle h) {
    return h.is_none() || h.ptr() == Py_Ellipsis || PyLong_Check(h.ptr()) || PySlice_Check(h.ptr());
  };
  bool ok = basic(idx);
  if (py::isinstance<py::tuple>(idx)) {
    ok = true;
    for (py::handle h : py::reinterpret_borrow<py::tuple>(idx)) ok = ok && basic(h);
  }
  NABLA_CHECK_KIND(ok, ErrorKind::index,
                   "index assignment: only ints, slices, None and ... select a view to write (an index tensor selects a copy)");
  Tensor view = index(t, idx);
  if (PyFloat_Check(value.ptr()) || PyLong_Check(value.ptr())) {
    view.fill_(value.cast<double>());
  } else {
    view.copy_(to_tensor(value, t.dtype()));
  }
}

std::string repr(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::ostringstream os;
  os << t;
  std::string s = os.str();
  const std::string from = "requires_grad=true";
  if (auto p = s.find(from); p != std::string::npos) s.replace(p, from.size(), "requires_grad=True");
  return s;
}

std::optional<int64_t> opt_dim(const py::object& d) {
  if (d.is_none()) return std::nullopt;
  return d.cast<int64_t>();
}

Dims dims_from(const py::object& d) {
  if (PyLong_Check(d.ptr())) return Dims{d.cast<int64_t>()};
  return shape_from(d, "dim");
}

// Matmul releases the GIL when the product is big enough for that to pay.
Tensor matmul_gil(const Tensor& a, const Tensor& b) {
  if (a.numel() * (b.dim() >= 1 ? b.shape().back() : 1) >= (1 << 16)) {
    py::gil_scoped_release nogil;
    return matmul(a, b);
  }
  return matmul(a, b);
}

Tensor other_like(const Tensor& a, const py::handle& b) { return to_tensor(b, a.dtype()); }

TensorOptions options(const py::object& dtype, bool requires_grad) {
  return TensorOptions(dtype_from(dtype).value_or(kFloat32)).requires_grad(requires_grad);
}

Generator& gen_or_default(const py::object& g) {
  return g.is_none() ? default_generator() : g.cast<Generator&>();
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType> dtype(m, "dtype", "element types");
  dtype.value("float32", kFloat32)
      .value("float64", kFloat64)
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });
  // printed as PyTorch prints its dtypes (enum_ has its own __repr__ and __str__ to replace)
  for (const char* name : {"__repr__", "__str__"})
    dtype.attr(name) = py::cpp_function([](DType d) { return std::string("nabla.") + dtype_name(d); },
                                        py::is_method(dtype));
  m.attr("float32") = kFloat32;
  m.attr("float64") = kFloat64;
  m.attr("float") = kFloat32;
  m.attr("double") = kFloat64;

  py::class_<Generator>(m, "Generator", "a seeded random stream (xoshiro256**): the same seed, the same numbers")
      .def(py::init<uint64_t>(), py::arg("seed") = 0)
      .def("manual_seed", [](Generator& g, uint64_t s) -> Generator& { g.manual_seed(s); return g; },
           py::return_value_policy::reference)
      .def("uniform", &Generator::uniform01, "a draw from U[0, 1)")
      .def("normal", &Generator::normal, "a draw from N(0, 1)");
  m.def("manual_seed", [](uint64_t s) { default_generator().manual_seed(s); },
        "seeds the generator used when none is given");
  m.def("default_generator", &default_generator, py::return_value_policy::reference);

  py::class_<Tensor> T(m, "Tensor", py::buffer_protocol(), R"(A dense n-d tensor of float32 or float64.

A handle: copies share storage, as in PyTorch. np.asarray(t), t.numpy() and
nabla.from_numpy(a) share memory with NumPy; t.__dlpack__() and
nabla.from_dlpack(x) with PyTorch and anything else that speaks DLPack.)");
  T.def(py::init([](const py::object& data, const py::object& dtype, bool requires_grad) {
          Tensor t = to_tensor(data, dtype_from(dtype));
          if (py::isinstance<Tensor>(data)) t = t.clone().detach();
          if (requires_grad) t.requires_grad_(true);
          return t;
        }),
        py::arg("data"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  T.def_buffer(&buffer_of);
  // NumPy defers to the tensor's reflected operators: array + tensor is a Tensor, as with torch
  T.attr("__array_priority__") = 1000;

  // metadata
  T.def_property_readonly("shape", [](const Tensor& t) { return shape_tuple(t.shape()); })
      .def("size", [](const Tensor& t, const py::object& d) -> py::object {
        if (d.is_none()) return shape_tuple(t.shape());
        return py::int_(t.size(d.cast<int64_t>()));
      }, py::arg("dim") = py::none())
      .def_property_readonly("dtype", &Tensor::dtype)
      .def_property_readonly("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("stride", [](const Tensor& t) { return shape_tuple(t.strides()); })
      .def_property_readonly("strides", [](const Tensor& t) { return shape_tuple(t.strides()); })
      .def("storage_offset", &Tensor::storage_offset)
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); },
           "the address of element 0 (as PyTorch's data_ptr())")
      .def_property_readonly("device", [](const Tensor&) { return "cpu"; })
      .def("__repr__", &repr)
      .def("__len__", [](const Tensor& t) {
        NABLA_CHECK_KIND(t.dim() > 0, ErrorKind::index, "len() of a rank-0 tensor");
        return t.size(0);
      })
      .def("__iter__", [](const Tensor& t) {
        NABLA_CHECK_KIND(t.dim() > 0, ErrorKind::index, "iteration over a rank-0 tensor");
        py::list rows;
        for (int64_t i = 0; i < t.size(0); ++i) rows.append(t.select(0, i));
        return py::iter(rows);
      })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def("item", [](const Tensor& t) { return t.item(); })
      .def("__float__", [](const Tensor& t) { return t.item(); })
      .def("__int__", [](const Tensor& t) { return static_cast<int64_t>(t.item()); })
      .def("__bool__", [](const Tensor& t) {
        NABLA_CHECK(t.numel() == 1, "bool() of a tensor of shape ", t.shape(),
                    " is ambiguous (use nabla.equal, allclose, or .item())");
        return t.item() != 0;
      })
      .def("tolist", [](const py::object& self) {
        const Tensor& t = self.cast<const Tensor&>();
        return to_numpy(py::cast(t.detach())).attr("tolist")();
      });

  // data exchange
  T.def("numpy", &to_numpy, "a NumPy array sharing this tensor's memory (the tensor stays alive while it does)")
      .def("__array__", [](const py::object& self, const py::object& dtype) {
        py::object a = to_numpy(self);
        return dtype.is_none() ? a : a.attr("astype")(dtype);
      }, py::arg("dtype") = py::none())
      .def("__dlpack__", [](const Tensor& t, const py::object&) { return to_dlpack(t); },
           py::arg("stream") = py::none(), "a DLPack capsule sharing this tensor's memory")
      .def("__dlpack_device__", [](const Tensor&) { return py::make_tuple(static_cast<int>(kDLCPU), 0); });
  m.def("from_numpy", [](const py::array& a) { return from_numpy(a); }, py::arg("array"),
        "a tensor sharing the array's memory (float32 or float64, writeable); it keeps the array alive");
  m.def("from_dlpack", &from_dlpack, py::arg("obj"),
        "a tensor sharing the memory of an object with __dlpack__ (a torch.Tensor, a NumPy array) or of a capsule");
  m.def("to_dlpack", &to_dlpack, py::arg("tensor"));

  // autograd
  T.def_property("requires_grad", &Tensor::requires_grad,
                 [](Tensor& t, bool r) { t.requires_grad_(r); })
      .def("requires_grad_", [](Tensor& t, bool r) -> Tensor& { return t.requires_grad_(r); },
           py::arg("requires_grad") = true, py::return_value_policy::reference_internal)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property("grad",
          [](const Tensor& t) -> py::object {
            const Tensor& g = t.grad();
            if (!g.defined()) return py::none();
            return py::cast(g);
          },
          [](Tensor& t, const py::object& g) {
            if (g.is_none()) t.zero_grad();
            else t.set_grad(g.cast<Tensor>());
          })
      .def_property_readonly("grad_fn", [](const Tensor& t) -> py::object {
        std::string n = t.grad_fn_name();
        if (n.empty()) return py::none();
        return py::str(n);
      })
      .def("zero_grad", &Tensor::zero_grad)
      .def("detach", &Tensor::detach)
      .def("backward", [](const Tensor& t, const py::object& gradient, bool retain_graph, bool create_graph) {
        Tensor g = gradient.is_none() ? Tensor() : to_tensor(gradient, t.dtype());
        py::gil_scoped_release nogil;
        t.backward(g, retain_graph, create_graph);
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = false, py::arg("create_graph") = false);

  // views and copies
  T.def("reshape", [](const Tensor& t, const py::args& s) { return t.reshape(shape_from_args(s, "reshape")); })
      .def("view", [](const Tensor& t, const py::args& s) { return t.view(shape_from_args(s, "view")); })
      .def("flatten", &Tensor::flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1)
      .def("transpose", &Tensor::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("t", &Tensor::t)
      .def_property_readonly("T", [](const Tensor& t) {
        Dims order;
        for (int64_t i = t.dim() - 1; i >= 0; --i) order.push_back(i);
        return t.permute(order);
      })
      .def_property_readonly("mT", [](const Tensor& t) { return t.transpose(-2, -1); })
      .def("permute", [](const Tensor& t, const py::args& s) { return t.permute(shape_from_args(s, "permute")); })
      .def("slice", &Tensor::slice, py::arg("dim"), py::arg("start"), py::arg("end"), py::arg("step") = 1)
      .def("narrow", &Tensor::narrow, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("select", &Tensor::select, py::arg("dim"), py::arg("index"))
      .def("expand", [](const Tensor& t, const py::args& s) { return t.expand(shape_from_args(s, "expand")); })
      .def("squeeze", [](const Tensor& t, const py::object& d) { return d.is_none() ? t.squeeze() : t.squeeze(d.cast<int64_t>()); },
           py::arg("dim") = py::none())
      .def("unsqueeze", &Tensor::unsqueeze, py::arg("dim"))
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone)
      .def("to", [](const Tensor& t, const py::object& d) { return t.to(*dtype_from(d)); }, py::arg("dtype"))
      .def("float", [](const Tensor& t) { return t.to(kFloat32); })
      .def("double", [](const Tensor& t) { return t.to(kFloat64); })
      .def("__getitem__", &index)
      .def("__setitem__", &set_index);

  // in place
  auto self_ref = py::return_value_policy::reference_internal;
  T.def("zero_", &Tensor::zero_, self_ref)
      .def("fill_", &Tensor::fill_, py::arg("value"), self_ref)
      .def("copy_", [](Tensor& t, const py::object& src) -> Tensor& { return t.copy_(to_tensor(src, t.dtype())); },
           py::arg("src"), self_ref)
      .def("add_", [](Tensor& t, const py::object& o, double alpha) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.add_(alpha * o.cast<double>());
        return t.add_(other_like(t, o), alpha);
      }, py::arg("other"), py::arg("alpha") = 1.0, self_ref)
      .def("sub_", [](Tensor& t, const py::object& o, double alpha) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.add_(-alpha * o.cast<double>());
        return t.sub_(other_like(t, o), alpha);
      }, py::arg("other"), py::arg("alpha") = 1.0, self_ref)
      .def("mul_", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.mul_(o.cast<double>());
        return t.mul_(other_like(t, o));
      }, py::arg("other"), self_ref)
      .def("div_", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.div_(o.cast<double>());
        return t.div_(other_like(t, o));
      }, py::arg("other"), self_ref)
      .def("__iadd__", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.add_(o.cast<double>());
        return t.add_(other_like(t, o));
      }, self_ref)
      .def("__isub__", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.add_(-o.cast<double>());
        return t.sub_(other_like(t, o));
      }, self_ref)
      .def("__imul__", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.mul_(o.cast<double>());
        return t.mul_(other_like(t, o));
      }, self_ref)
      .def("__itruediv__", [](Tensor& t, const py::object& o) -> Tensor& {
        if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) return t.div_(o.cast<double>());
        return t.div_(other_like(t, o));
      }, self_ref);

  // operators: a Tensor operand first (the fast path), then numbers and array-likes
#define NABLA_PY_BINARY(PYNAME, RPYNAME, EXPR_TT, EXPR_TD, EXPR_DT)                                            \
  T.def(PYNAME, [](const Tensor& a, const Tensor& b) { return EXPR_TT; }, py::is_operator());                 \
  T.def(PYNAME, [](const Tensor& a, const py::object& o) {                                                   \
    if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) {                                                   \
      const double b = o.cast<double>();                                                                     \
      return EXPR_TD;                                                                                        \
    }                                                                                                        \
    const Tensor b = other_like(a, o);                                                                       \
    return EXPR_TT;                                                                                          \
  }, py::is_operator());                                                                                     \
  T.def(RPYNAME, [](const Tensor& b, const py::object& o) {                                                  \
    if (PyFloat_Check(o.ptr()) || PyLong_Check(o.ptr())) {                                                   \
      const double a = o.cast<double>();                                                                     \
      return EXPR_DT;                                                                                        \
    }                                                                                                        \
    const Tensor a = other_like(b, o);                                                                       \
    return EXPR_TT;                                                                                          \
  }, py::is_operator());
  NABLA_PY_BINARY("__add__", "__radd__", a + b, a + b, a + b)
  NABLA_PY_BINARY("__sub__", "__rsub__", a - b, a - b, a - b)
  NABLA_PY_BINARY("__mul__", "__rmul__", a * b, a * b, a * b)
  NABLA_PY_BINARY("__truediv__", "__rtruediv__", a / b, a / b, a / b)
  NABLA_PY_BINARY("__pow__", "__rpow__", pow(a, b), pow(a, b), pow(full_like(b, a), b))
#undef NABLA_PY_BINARY
  T.def("__matmul__", [](const Tensor& a, const Tensor& b) { return matmul_gil(a, b); }, py::is_operator());
  T.def("__matmul__", [](const Tensor& a, const py::object& o) { return matmul_gil(a, other_like(a, o)); },
        py::is_operator());
  T.def("__rmatmul__", [](const Tensor& b, const py::object& o) { return matmul_gil(other_like(b, o), b); },
        py::is_operator());

#define NABLA_PY_COMPARE(PYNAME, FN)                                                                          \
  T.def(PYNAME, [](const Tensor& a, const Tensor& b) { return FN(a, b); }, py::is_operator());                \
  T.def(PYNAME, [](const Tensor& a, const py::object& o) { return FN(a, other_like(a, o)); }, py::is_operator());
  NABLA_PY_COMPARE("__lt__", lt)
  NABLA_PY_COMPARE("__le__", le)
  NABLA_PY_COMPARE("__gt__", gt)
  NABLA_PY_COMPARE("__ge__", ge)
#undef NABLA_PY_COMPARE
  T.def("__eq__", [](const Tensor& a, const Tensor& b) { return eq(a, b); }, py::is_operator());
  T.def("__eq__", [](const Tensor& a, const py::object& o) -> py::object {
    if (o.is_none()) return py::bool_(false);
    return py::cast(eq(a, other_like(a, o)));
  }, py::is_operator());
  T.def("__ne__", [](const Tensor& a, const Tensor& b) { return ne(a, b); }, py::is_operator());
  T.def("__ne__", [](const Tensor& a, const py::object& o) -> py::object {
    if (o.is_none()) return py::bool_(true);
    return py::cast(ne(a, other_like(a, o)));
  }, py::is_operator());
  T.def("__neg__", [](const Tensor& a) { return -a; });
  T.def("__pos__", [](const Tensor& a) { return a; });
  T.def("__abs__", [](const Tensor& a) { return abs(a); });

  // methods that are ops (the same ops as the module's functions of bind_ops)
  T.def("matmul", &matmul_gil, py::arg("other"));
#define NABLA_ELEMENTWISE(NAME, ...) T.def(#NAME, [](const Tensor& x) { return nabla::NAME(x); });
#include "nabla/elementwise.def"
  T.def("sum", [](const Tensor& x) { return sum(x); })
      .def("sum", [](const Tensor& x, const py::object& dim, bool keepdim) {
        return dim.is_none() ? sum(x) : sum(x, dims_from(dim), keepdim);
      }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("mean", [](const Tensor& x, const py::object& dim, bool keepdim) {
        return dim.is_none() ? mean(x) : mean(x, dims_from(dim), keepdim);
      }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("prod", [](const Tensor& x, const py::object& dim, bool keepdim) {
        return dim.is_none() ? prod(x) : prod(x, dim.cast<int64_t>(), keepdim);
      }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("max", [](const Tensor& x, const py::object& dim, bool keepdim) {
        return dim.is_none() ? max(x) : max(x, dim.cast<int64_t>(), keepdim);
      }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("min", [](const Tensor& x, const py::object& dim, bool keepdim) {
        return dim.is_none() ? min(x) : min(x, dim.cast<int64_t>(), keepdim);
      }, py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def("argmax", [](const Tensor& x, int64_t dim, bool keepdim) { return argmax(x, dim, keepdim); },
           py::arg("dim"), py::arg("keepdim") = false)
      .def("argmin", [](const Tensor& x, int64_t dim, bool keepdim) { return argmin(x, dim, keepdim); },
           py::arg("dim"), py::arg("keepdim") = false)
      .def("logsumexp", [](const Tensor& x, int64_t dim, bool keepdim) { return logsumexp(x, dim, keepdim); },
           py::arg("dim"), py::arg("keepdim") = false)
      .def("softmax", [](const Tensor& x, int64_t dim) { return softmax(x, dim); }, py::arg("dim"))
      .def("log_softmax", [](const Tensor& x, int64_t dim) { return log_softmax(x, dim); }, py::arg("dim"))
      .def("norm", [](const Tensor& x) { return norm(x); })
      .def("pow", [](const Tensor& x, const py::object& e) {
        if (PyFloat_Check(e.ptr()) || PyLong_Check(e.ptr())) return pow(x, e.cast<double>());
        return pow(x, other_like(x, e));
      }, py::arg("exponent"))
      .def("clamp", [](const Tensor& x, std::optional<double> lo, std::optional<double> hi) { return clamp(x, lo, hi); },
           py::arg("min") = py::none(), py::arg("max") = py::none())
      .def("leaky_relu", [](const Tensor& x, double s) { return leaky_relu(x, s); }, py::arg("negative_slope") = 0.01)
      .def("trace", [](const Tensor& x) { return trace(x); })
      .def("diag", [](const Tensor& x) { return diag(x); })
      .def("inv", [](const Tensor& x) { return inv(x); })
      .def("det", [](const Tensor& x) { return det(x); })
      .def("logdet", [](const Tensor& x) { return logdet(x); })
      .def("index_select", [](const Tensor& x, int64_t dim, const py::object& ix) {
        return index_select(x, dim, to_tensor(ix, x.dtype()));
      }, py::arg("dim"), py::arg("index"))
      .def("gather", [](const Tensor& x, int64_t dim, const py::object& ix) {
        return gather(x, dim, to_tensor(ix, x.dtype()));
      }, py::arg("dim"), py::arg("index"));

  // ---- factories ----------------------------------------------------------------
  const auto dt = py::arg("dtype") = py::none();
  const auto rg = py::arg("requires_grad") = false;
  m.def("tensor", [](const py::object& data, const py::object& dtype, bool requires_grad) {
    Tensor t = to_tensor(data, dtype_from(dtype));
    if (py::isinstance<Tensor>(data)) t = t.clone().detach();
    if (t.dtype() != dtype_from(dtype).value_or(t.dtype())) t = t.to(*dtype_from(dtype));
    if (requires_grad) t.requires_grad_(true);
    return t;
  }, py::arg("data"), dt, rg, "a new tensor holding a copy of `data` (numbers, nested lists, an array)");
  m.def("empty", [](const py::args& s, const py::object& d, bool r) { return empty(shape_from_args(s, "empty"), options(d, r)); },
        dt, rg);
  m.def("zeros", [](const py::args& s, const py::object& d, bool r) { return zeros(shape_from_args(s, "zeros"), options(d, r)); },
        dt, rg);
  m.def("ones", [](const py::args& s, const py::object& d, bool r) { return ones(shape_from_args(s, "ones"), options(d, r)); },
        dt, rg);
  m.def("full", [](const py::object& s, double v, const py::object& d, bool r) { return full(shape_from(s, "full"), v, options(d, r)); },
        py::arg("shape"), py::arg("fill_value"), dt, rg);
  m.def("scalar_tensor", [](double v, const py::object& d, bool r) { return scalar_tensor(v, options(d, r)); },
        py::arg("value"), dt, rg);
  m.def("zeros_like", &zeros_like, py::arg("input"));
  m.def("ones_like", &ones_like, py::arg("input"));
  m.def("empty_like", &empty_like, py::arg("input"));
  m.def("full_like", &full_like, py::arg("input"), py::arg("fill_value"));
  m.def("arange", [](double start, const py::object& end, double step, const py::object& d, bool r) {
    if (end.is_none()) return arange(0.0, start, step, options(d, r));
    return arange(start, end.cast<double>(), step, options(d, r));
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = 1.0, dt, rg);
  m.def("linspace", [](double a, double b, int64_t n, const py::object& d, bool r) { return linspace(a, b, n, options(d, r)); },
        py::arg("start"), py::arg("end"), py::arg("steps"), dt, rg);
  m.def("eye", [](int64_t n, const py::object& mm, const py::object& d, bool r) {
    return mm.is_none() ? eye(n, options(d, r)) : eye(n, mm.cast<int64_t>(), options(d, r));
  }, py::arg("n"), py::arg("m") = py::none(), dt, rg);
  const auto gen = py::arg("generator") = py::none();
  m.def("rand", [](const py::args& s, const py::object& g, const py::object& d, bool r) {
    return rand(shape_from_args(s, "rand"), gen_or_default(g), options(d, r));
  }, gen, dt, rg, "U[0, 1) draws from `generator` (default: nabla.default_generator())");
  m.def("randn", [](const py::args& s, const py::object& g, const py::object& d, bool r) {
    return randn(shape_from_args(s, "randn"), gen_or_default(g), options(d, r));
  }, gen, dt, rg, "N(0, 1) draws from `generator` (default: nabla.default_generator())");
  m.def("uniform", [](const py::object& s, double lo, double hi, const py::object& g, const py::object& d, bool r) {
    return uniform(shape_from(s, "uniform"), lo, hi, gen_or_default(g), options(d, r));
  }, py::arg("shape"), py::arg("low") = 0.0, py::arg("high") = 1.0, gen, dt, rg);
  m.def("normal", [](const py::object& s, double mean, double sd, const py::object& g, const py::object& d, bool r) {
    return normal(shape_from(s, "normal"), mean, sd, gen_or_default(g), options(d, r));
  }, py::arg("shape"), py::arg("mean") = 0.0, py::arg("std") = 1.0, gen, dt, rg);
}

}  // namespace nabla::python
