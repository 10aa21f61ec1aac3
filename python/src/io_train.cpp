// Checkpoints in safetensors (nabla.save_safetensors / load_safetensors) and
// the training loop of `nabla train` (nabla.Trainer, nabla.train_config;
// the package's nabla.train() wraps them). fit() runs with the GIL released;
// the callbacks take it.
#include <pybind11/functional.h>

#include "common.hpp"
#include "nabla/io.hpp"
#include "nabla/train.hpp"

namespace nabla::python {

namespace {

io::NamedTensors named_of(const py::object& o) {
  io::NamedTensors out;
  py::object items = py::isinstance<py::dict>(o) ? o.attr("items")() : o;
  for (py::handle kv : items) {
    auto pair = py::reinterpret_borrow<py::tuple>(kv);
    if (pair.size() != 2) throw py::type_error("save_safetensors: expected a dict or (name, tensor) pairs");
    out.emplace_back(pair[0].cast<std::string>(), to_tensor(pair[1]).detach());
  }
  return out;
}

py::dict dict_of(const io::NamedTensors& ts) {
  py::dict d;
  for (const auto& [k, v] : ts) d[py::str(k)] = v;
  return d;
}

py::dict metrics_dict(const train::EpochMetrics& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["train_loss"] = e.train_loss;
  d["validation_loss"] = e.validation_loss;
  d["validation_accuracy"] = e.validation_accuracy;
  d["test_accuracy"] = e.test_accuracy;
  d["seconds"] = e.seconds;
  d["samples_per_second"] = e.samples_per_second;
  d["lr"] = e.lr;
  return d;
}

}  // namespace

void bind_io_train(py::module_& m) {
  m.def("save_safetensors", [](const std::string& path, const py::object& tensors, const io::Metadata& meta) {
    io::NamedTensors ts = named_of(tensors);
    py::gil_scoped_release nogil;
    io::save_safetensors(path, ts, meta);
  }, py::arg("path"), py::arg("tensors"), py::arg("metadata") = io::Metadata{},
     "writes a dict (or pairs) of name → tensor as a safetensors file, atomically");
  m.def("load_safetensors", [](const std::string& path, bool with_metadata) -> py::object {
    io::TensorFile f;
    {
      py::gil_scoped_release nogil;
      f = io::load_safetensors(path);
    }
    if (with_metadata) return py::make_tuple(dict_of(f.tensors), f.metadata);
    return dict_of(f.tensors);
  }, py::arg("path"), py::arg("metadata") = false,
     "a safetensors file as a dict name → tensor (and its metadata dict with metadata=True)");
  m.def("to_safetensors", [](const py::object& tensors, const io::Metadata& meta) {
    return py::bytes(io::to_safetensors(named_of(tensors), meta));
  }, py::arg("tensors"), py::arg("metadata") = io::Metadata{});
  m.def("from_safetensors", [](const py::bytes& b) {
    io::TensorFile f = io::from_safetensors(std::string_view(b), "<bytes>");
    return py::make_tuple(dict_of(f.tensors), f.metadata);
  }, py::arg("data"));

  using train::Config;
  py::class_<Config>(m, "TrainConfig", "everything a run of `nabla train` depends on")
      .def(py::init<>())
      .def_readwrite("data", &Config::data)
      .def_readwrite("label_column", &Config::label_column)
      .def_readwrite("validation_fraction", &Config::validation_fraction)
      .def_readwrite("normalize", &Config::normalize)
      .def_readwrite("layers", &Config::layers)
      .def_readwrite("activation", &Config::activation)
      .def_readwrite("output", &Config::output)
      .def_readwrite("init", &Config::init)
      .def_readwrite("loss", &Config::loss)
      .def_readwrite("optimizer", &Config::optimizer)
      .def_readwrite("lr", &Config::lr)
      .def_readwrite("momentum", &Config::momentum)
      .def_readwrite("weight_decay", &Config::weight_decay)
      .def_readwrite("schedule", &Config::schedule)
      .def_readwrite("warmup_epochs", &Config::warmup_epochs)
      .def_readwrite("clip_grad_norm", &Config::clip_grad_norm)
      .def_readwrite("batch_size", &Config::batch_size)
      .def_readwrite("epochs", &Config::epochs)
      .def_readwrite("seed", &Config::seed)
      .def_readwrite("threads", &Config::threads)
      .def("to_metadata", &Config::to_metadata)
      .def_static("from_metadata", &Config::from_metadata, py::arg("metadata"));

  py::class_<train::Evaluation>(m, "Evaluation")
      .def_readonly("loss", &train::Evaluation::loss)
      .def_readonly("accuracy", &train::Evaluation::accuracy)
      .def_readonly("per_class_accuracy", &train::Evaluation::per_class_accuracy)
      .def_readonly("confusion", &train::Evaluation::confusion);

  py::class_<train::Trainer>(m, "Trainer", "the training loop of `nabla train`")
      .def(py::init([](const Config& c) {
        py::gil_scoped_release nogil;  // loads and normalizes the data
        return std::make_unique<train::Trainer>(c);
      }), py::arg("config"))
      .def("resume", &train::Trainer::resume, py::arg("checkpoint"), py::call_guard<py::gil_scoped_release>())
      .def("fit", [](train::Trainer& t, const std::string& out, const py::object& on_epoch, const py::object& on_batch) {
        train::Callbacks cb;
        if (!on_epoch.is_none()) {
          PyRef f(on_epoch);
          cb.on_epoch = [f](const train::EpochMetrics& e) {
            py::gil_scoped_acquire gil;
            f.get()(metrics_dict(e));
          };
        }
        if (!on_batch.is_none()) {
          PyRef f(on_batch);
          cb.on_batch = [f](const train::Progress& p) {
            py::gil_scoped_acquire gil;
            py::dict d;
            d["epoch"] = p.epoch;
            d["epochs"] = p.epochs;
            d["batch"] = p.batch;
            d["batches"] = p.batches;
            d["samples"] = p.samples;
            d["running_loss"] = p.running_loss;
            d["seconds"] = p.seconds;
            f.get()(d);
          };
        }
        std::vector<train::EpochMetrics> h;
        {
          py::gil_scoped_release nogil;
          h = t.fit(out, cb);
        }
        py::list l;
        for (auto& e : h) l.append(metrics_dict(e));
        return l;
      }, py::arg("out") = "", py::arg("on_epoch") = py::none(), py::arg("on_batch") = py::none(),
         "trains until config.epochs are done (a checkpoint to `out` after each); returns each epoch's metrics")
      .def("save", &train::Trainer::save, py::arg("path"))
      .def_property_readonly("model", [](train::Trainer& t) -> nn::Sequential& { return t.model(); },
                             py::return_value_policy::reference_internal)
      .def_property_readonly("config", &train::Trainer::config)
      .def_property_readonly("epochs_done", &train::Trainer::epochs_done)
      .def_property_readonly("train_data", [](const train::Trainer& t) { return t.data().train; })
      .def_property_readonly("validation_data", [](const train::Trainer& t) { return t.data().validation; })
      .def_property_readonly("test_data", [](const train::Trainer& t) { return t.data().test; })
      .def_property_readonly("normalizer", [](const train::Trainer& t) { return t.data().normalizer; });

  m.def("build_model", &train::build_model, py::arg("config"));
  m.def("evaluate", [](nn::Module& model, const Config& c, const data::Dataset& ds, int64_t bs) {
    py::gil_scoped_release nogil;
    return train::evaluate(model, c, ds, bs);
  }, py::arg("model"), py::arg("config"), py::arg("dataset"), py::arg("batch_size") = 1000);

  py::class_<train::SavedModel>(m, "SavedModel")
      .def_readonly("config", &train::SavedModel::config)
      .def_readonly("model", &train::SavedModel::model)
      .def_readonly("normalizer", &train::SavedModel::normalizer)
      .def_readonly("epochs", &train::SavedModel::epochs);
  m.def("load_model", &train::load_model, py::arg("checkpoint"), "a checkpoint of `nabla train` for inference");
  m.def("set_threads", &train::set_threads, py::arg("n"), "the threads the compute kernels may use (0: default)");
}

}  // namespace nabla::python
