// nabla.data: data sets (IDX, CSV, Fashion-MNIST), splits, normalization and
// the mini-batch DataLoader, over nabla's Dataset or NumPy arrays.
#include "common.hpp"
#include "nabla/data.hpp"

namespace nabla::python {

namespace {

using namespace nabla::data;

// Features as a float32 [N, D] contiguous tensor: a float32 C-contiguous
// writeable array is shared, anything else copied.
Tensor features_of(const py::object& x) {
  if (py::isinstance<Tensor>(x)) return x.cast<Tensor>().detach().to(kFloat32).contiguous();
  if (py::isinstance<py::array>(x)) {
    py::array a = py::reinterpret_borrow<py::array>(x);
    if (a.dtype().is(py::dtype::of<float>()) && (a.flags() & py::array::c_style) && a.writeable()) return from_numpy(a);
  }
  return to_tensor(x, kFloat32);
}

Dataset dataset_of(const py::object& x, const py::object& y, int64_t num_classes) {
  Dataset ds;
  ds.features = features_of(x);
  NABLA_CHECK_KIND(ds.features.dim() == 2, ErrorKind::shape, "DataLoader: features must be [N, D], not ",
                   ds.features.shape());
  const int64_t n = ds.features.size(0);
  ds.labels = y.is_none() ? zeros({n}) : features_of(y).reshape({-1});
  NABLA_CHECK_KIND(ds.labels.numel() == n, ErrorKind::shape, "DataLoader: ", n, " feature rows but ",
                   ds.labels.numel(), " labels");
  ds.num_classes = num_classes;
  return ds;
}

PixelScale scale_of(const std::string& s) {
  if (s == "unit") return PixelScale::unit;
  if (s == "raw") return PixelScale::raw;
  NABLA_CHECK(false, "scale: '", s, "' is not unit or raw");
  return PixelScale::unit;
}

}  // namespace

void bind_data(py::module_& m) {
  py::class_<Dataset>(m, "Dataset", "features [N, D] float32 and labels [N] (class indices when num_classes > 0)")
      .def(py::init([](const py::object& x, const py::object& y, int64_t k) { return dataset_of(x, y, k); }),
           py::arg("features"), py::arg("labels") = py::none(), py::arg("num_classes") = 0)
      .def_readwrite("features", &Dataset::features)
      .def_readwrite("labels", &Dataset::labels)
      .def_readwrite("num_classes", &Dataset::num_classes)
      .def_readwrite("feature_names", &Dataset::feature_names)
      .def_readwrite("class_names", &Dataset::class_names)
      .def("__len__", &Dataset::size)
      .def_property_readonly("num_features", &Dataset::num_features)
      .def("subset", [](const Dataset& ds, const std::vector<int64_t>& idx) { return subset(ds, idx); }, py::arg("indices"))
      .def("__repr__", [](const Dataset& ds) {
        return "Dataset(" + std::to_string(ds.size()) + " samples, " + std::to_string(ds.num_features()) + " features, " +
               std::to_string(ds.num_classes) + " classes)";
      });

  py::class_<TrainTest>(m, "TrainTest").def_readwrite("train", &TrainTest::train).def_readwrite("test", &TrainTest::test);
  m.def("load_fashion_mnist", [](const std::string& dir, const std::string& scale) { return load_fashion_mnist(dir, scale_of(scale)); },
        py::arg("dir") = std::string(kFashionMnistDir), py::arg("scale") = "unit",
        py::call_guard<py::gil_scoped_release>(), "60000 train and 10000 test images of 784 pixels, 10 classes");
  m.def("load_idx_folder", [](const std::string& dir, const std::string& scale) { return load_idx_folder(dir, scale_of(scale)); },
        py::arg("dir"), py::arg("scale") = "unit", py::call_guard<py::gil_scoped_release>());
  m.def("read_idx_images", [](const std::string& p, const std::string& scale) { return read_idx_images(p, scale_of(scale)); },
        py::arg("path"), py::arg("scale") = "unit");
  m.def("read_idx_labels", &read_idx_labels, py::arg("path"));
  m.def("fashion_mnist_class_names", &fashion_mnist_class_names);
  m.attr("FASHION_MNIST_DIR") = kFashionMnistDir;
  m.def("read_csv", [](const std::string& path, const std::string& label, const std::string& delim, bool classification,
                       int64_t k) {
    NABLA_CHECK(delim.size() == 1, "read_csv: the delimiter must be one character, not '", delim, "'");
    return read_csv(path, CsvOptions{label, delim[0], classification, k});
  }, py::arg("path"), py::arg("label_column") = "label", py::arg("delimiter") = ",", py::arg("classification") = true,
     py::arg("num_classes") = 0);
  m.def("train_validation_split", [](const Dataset& ds, double f, uint64_t seed) {
    Split s = train_validation_split(ds, f, seed);
    return py::make_tuple(s.train, s.validation);
  }, py::arg("dataset"), py::arg("validation_fraction"), py::arg("seed") = 0);

  py::class_<Normalizer>(m, "Normalizer", "(x − mean) / std with statistics fitted on training features")
      .def(py::init<>())
      .def(py::init<Tensor, Tensor>(), py::arg("mean"), py::arg("std"))
      .def_static("fit", [](const py::object& x, const std::string& mode) {
        NABLA_CHECK(mode == "per-feature" || mode == "per_feature" || mode == "global", "Normalizer.fit: mode '", mode,
                    "' is not per-feature or global");
        return Normalizer::fit(features_of(x), mode == "global" ? Normalization::global : Normalization::per_feature);
      }, py::arg("features"), py::arg("mode") = "per-feature")
      .def_property_readonly("fitted", &Normalizer::fitted)
      .def_property_readonly("mean", &Normalizer::mean)
      .def_property_readonly("std", &Normalizer::stddev)
      .def("apply", [](const Normalizer& n, const py::object& x) { return n.apply(features_of(x)); }, py::arg("features"))
      .def("apply_to", &Normalizer::apply_to, py::arg("dataset"));

  py::class_<DataLoader>(m, "_DataLoader")
      .def(py::init([](const Dataset& ds, int64_t bs, bool shuffle, bool drop_last, uint64_t seed) {
        return DataLoader(ds, LoaderOptions{bs, shuffle, drop_last, seed});
      }), py::arg("dataset"), py::arg("batch_size") = 64, py::arg("shuffle") = true, py::arg("drop_last") = false,
          py::arg("seed") = 0)
      .def_static("from_arrays", [](const py::object& x, const py::object& y, int64_t bs, bool shuffle, bool drop_last,
                                    uint64_t seed) {
        return DataLoader(dataset_of(x, y, 0), LoaderOptions{bs, shuffle, drop_last, seed});
      })
      .def("__len__", &DataLoader::num_batches)
      .def_property_readonly("num_samples", &DataLoader::num_samples)
      .def_property_readonly("epoch", &DataLoader::epoch)
      .def_property_readonly("position", &DataLoader::position)
      .def("set_epoch", &DataLoader::set_epoch, py::arg("epoch"))
      .def("order", [](const DataLoader& l) { return l.order(); })
      .def("next", [](DataLoader& l) -> py::object {
        Batch b;
        if (!l.next(b)) return py::none();
        return py::make_tuple(b.features, b.labels);
      }, "the next (features, labels) of this epoch, or None at its end (which moves to the next epoch)")
      .def("batch", [](const DataLoader& l, int64_t i) {
        Batch b = l.batch(i);
        return py::make_tuple(b.features, b.labels);
      }, py::arg("index"));
}

}  // namespace nabla::python
