// The training loop, evaluation, checkpoints and saved models.
#include "nabla/train.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "../kernels/gemm.hpp"
#include "nabla/autograd.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/ops.hpp"

namespace nabla::train {

namespace fs = std::filesystem;

void set_threads(int n) {
  NABLA_CHECK(n >= 0, "threads: expected a non-negative count, got ", n);
  if (n > 0) kernels::set_num_threads(n);
}

// ---- configuration <-> metadata ----------------------------------------------------

namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::vector<int64_t> parse_layers(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    NABLA_CHECK(used == item.size() && !item.empty() && v > 0, "layers: '", s,
                "' is not a comma-separated list of positive sizes");
    out.push_back(v);
  }
  NABLA_CHECK(out.size() >= 2, "layers: '", s, "' needs at least an input and an output size");
  return out;
}

double parse_double(const std::string& key, const std::string& v) {
  size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (...) {
    used = 0;
  }
  NABLA_CHECK_KIND(used == v.size() && !v.empty(), ErrorKind::io, "checkpoint metadata: '", key, "' = '", v,
                   "' is not a number");
  return d;
}

}  // namespace

io::Metadata Config::to_metadata() const {
  std::ostringstream lr_s, mom_s, wd_s, vf_s, clip_s;
  lr_s.precision(17), mom_s.precision(17), wd_s.precision(17), vf_s.precision(17), clip_s.precision(17);
  lr_s << lr, mom_s << momentum, wd_s << weight_decay, vf_s << validation_fraction, clip_s << clip_grad_norm;
  return {{"format", "nabla-checkpoint-1"},
          {"data", data},
          {"label_column", label_column},
          {"validation_fraction", vf_s.str()},
          {"normalize", normalize},
          {"layers", join(layers)},
          {"activation", activation},
          {"output", output},
          {"init", init},
          {"loss", loss},
          {"optimizer", optimizer},
          {"lr", lr_s.str()},
          {"momentum", mom_s.str()},
          {"weight_decay", wd_s.str()},
          {"schedule", schedule},
          {"warmup_epochs", std::to_string(warmup_epochs)},
          {"clip_grad_norm", clip_s.str()},
          {"batch_size", std::to_string(batch_size)},
          {"epochs", std::to_string(epochs)},
          {"seed", std::to_string(seed)}};
}

Config Config::from_metadata(const io::Metadata& m) {
  auto get = [&](const char* k) -> const std::string& {
    auto it = m.find(k);
    NABLA_CHECK_KIND(it != m.end(), ErrorKind::io, "checkpoint metadata: missing '", k,
                     "' (not a nabla checkpoint?)");
    return it->second;
  };
  NABLA_CHECK_KIND(get("format") == "nabla-checkpoint-1", ErrorKind::io, "checkpoint metadata: unknown format '",
                   get("format"), "'");
  Config c;
  c.data = get("data");
  c.label_column = get("label_column");
  c.validation_fraction = parse_double("validation_fraction", get("validation_fraction"));
  c.normalize = get("normalize");
  c.layers = parse_layers(get("layers"));
  c.activation = get("activation");
  c.output = get("output");
  c.init = get("init");
  c.loss = get("loss");
  c.optimizer = get("optimizer");
  c.lr = parse_double("lr", get("lr"));
  c.momentum = parse_double("momentum", get("momentum"));
  c.weight_decay = parse_double("weight_decay", get("weight_decay"));
  c.schedule = get("schedule");
  c.warmup_epochs = static_cast<int64_t>(parse_double("warmup_epochs", get("warmup_epochs")));
  c.clip_grad_norm = parse_double("clip_grad_norm", get("clip_grad_norm"));
  c.batch_size = static_cast<int64_t>(parse_double("batch_size", get("batch_size")));
  c.epochs = static_cast<int64_t>(parse_double("epochs", get("epochs")));
  c.seed = static_cast<uint64_t>(parse_double("seed", get("seed")));
  return c;
}

// ---- data and model -----------------------------------------------------------------------

Data load_data(const Config& c) {
  NABLA_CHECK(c.validation_fraction >= 0 && c.validation_fraction < 1, "validation fraction must be in [0, 1), got ",
              c.validation_fraction);
  Data d;
  data::Dataset all;
  if (c.data == "fashion-mnist") {
    auto tt = data::load_fashion_mnist();
    all = std::move(tt.train);
    d.test = std::move(tt.test);
  } else if (fs::is_directory(c.data)) {
    auto tt = data::load_idx_folder(c.data);
    all = std::move(tt.train);
    d.test = std::move(tt.test);
  } else {
    NABLA_CHECK_KIND(fs::exists(c.data), ErrorKind::io, "data: '", c.data,
                     "' is neither 'fashion-mnist', a folder of IDX files, nor an existing CSV file");
    data::CsvOptions o;
    o.label_column = c.label_column;
    all = data::read_csv(c.data, o);
  }
  NABLA_CHECK_KIND(all.num_classes > 0, ErrorKind::value, "data: '", c.data, "' has no class labels");
  if (c.validation_fraction > 0) {
    auto sp = data::train_validation_split(all, c.validation_fraction, c.seed);
    d.train = std::move(sp.train);
    d.validation = std::move(sp.validation);
  } else {
    d.train = std::move(all);
  }
  if (c.normalize != "none") {
    NABLA_CHECK(c.normalize == "global" || c.normalize == "per-feature", "normalize: unknown mode '", c.normalize,
                "' (choose none, global or per-feature)");
    d.normalizer = data::Normalizer::fit(d.train.features, c.normalize == "global" ? data::Normalization::global
                                                                                   : data::Normalization::per_feature);
    d.normalizer.apply_to(d.train);
    if (d.validation.size() > 0) d.normalizer.apply_to(d.validation);
    if (d.test.size() > 0) d.normalizer.apply_to(d.test);
  }
  NABLA_CHECK_KIND(c.layers.front() == d.train.num_features(), ErrorKind::shape, "layers: the first layer takes ",
                   c.layers.front(), " inputs but the data has ", d.train.num_features(), " features");
  NABLA_CHECK_KIND(c.layers.back() == d.train.num_classes, ErrorKind::shape, "layers: the last layer has ",
                   c.layers.back(), " outputs but the data has ", d.train.num_classes, " classes");
  return d;
}

std::shared_ptr<nn::Sequential> build_model(const Config& c) {
  Generator gen(c.seed);
  nn::Linear::Options o;
  if (c.init == "xavier") o.init = nn::Init::xavier_uniform;
  else if (c.init == "kaiming") o.init = nn::Init::kaiming_uniform;
  else NABLA_CHECK(c.init == "default", "init: unknown scheme '", c.init, "' (choose default, xavier or kaiming)");
  return nn::mlp(c.layers, c.activation, c.output, gen, o);
}

namespace {

// The objective on a batch of model outputs [B, K] and class labels [B].
Tensor compute_loss(const Config& c, const Tensor& out, const Tensor& labels) {
  if (c.loss == "cross-entropy") {
    if (c.output == "none") return cross_entropy(out, labels);
    if (c.output == "log_softmax") return nll_loss(out, labels);
    if (c.output == "softmax") return nll_loss(log(out), labels);
    throw Error("loss: cross-entropy needs output none, softmax or log_softmax, not '" + c.output + "'");
  }
  if (c.loss == "nll") return nll_loss(out, labels);
  if (c.loss == "mse") {
    // seed 004: L = (Y_n − Y)ᵀ(Y_n − Y) per sample against one-hot Y, averaged over the batch
    Tensor target = one_hot(labels, out.shape()[1], out.dtype());
    return mse_loss(out, target, Reduction::sum) * (1.0 / static_cast<double>(out.shape()[0]));
  }
  throw Error("loss: unknown loss '" + c.loss + "' (choose cross-entropy, mse or nll)");
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd" || c.optimizer == "momentum" || c.optimizer == "nesterov") {
    optim::SGDOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    if (c.optimizer != "sgd") o.momentum = c.momentum;
    o.nesterov = c.optimizer == "nesterov";
    return std::make_unique<optim::SGD>(std::move(params), o);
  }
  if (c.optimizer == "adam" || c.optimizer == "adamw") {
    optim::AdamOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(std::move(params), o);
    return std::make_unique<optim::Adam>(std::move(params), o);
  }
  throw Error("optimizer: unknown optimizer '" + c.optimizer + "' (choose sgd, momentum, nesterov, adam or adamw)");
}

std::unique_ptr<optim::LRScheduler> make_schedule(const Config& c, optim::Optimizer& opt) {
  std::shared_ptr<optim::LRScheduler> main;
  int64_t span = std::max<int64_t>(c.epochs - c.warmup_epochs, 1);
  if (c.schedule == "cosine") main = std::make_shared<optim::CosineAnnealingLR>(opt, span);
  else if (c.schedule == "step") main = std::make_shared<optim::StepLR>(opt, std::max<int64_t>(span / 3, 1), 0.1);
  else NABLA_CHECK(c.schedule == "none", "schedule: unknown schedule '", c.schedule, "' (choose none, step or cosine)");
  if (c.warmup_epochs > 0) return std::make_unique<optim::WarmupLR>(opt, c.warmup_epochs, 0.1, main);
  if (!main) return nullptr;
  struct Wrap : optim::LRScheduler {
    std::shared_ptr<optim::LRScheduler> inner;
    Wrap(optim::Optimizer& o, std::shared_ptr<optim::LRScheduler> i) : LRScheduler(o), inner(std::move(i)) {}
    double lr_at(int64_t e) const override { return inner->lr_at(e); }
  };
  return std::make_unique<Wrap>(opt, main);
}

void copy_into(Tensor& dst, const Tensor& src, const std::string& name, const std::string& file) {
  NABLA_CHECK_KIND(src.shape() == dst.shape() && src.dtype() == dst.dtype(), ErrorKind::io, file, ": tensor '", name,
                   "' has shape ", src.shape(), " ", src.dtype(), " but the model expects ", dst.shape(), " ",
                   dst.dtype(), " (a checkpoint of another architecture?)");
  NoGradGuard ng;
  dst.copy_(src);
}

// Copies every "model.*" tensor of a checkpoint into the model's parameters.
void load_parameters(nn::Module& model, const io::TensorFile& f, const std::string& path) {
  for (auto& [name, p] : model.named_parameters()) {
    std::string key = "model." + name;
    NABLA_CHECK_KIND(f.contains(key), ErrorKind::io, path, ": tensor '", key,
                     "' is missing (a checkpoint of another architecture?)");
    copy_into(p, f.at(key), key, path);
  }
  size_t expected = model.named_parameters().size(), found = 0;
  for (const auto& n : f.names())
    if (n.rfind("model.", 0) == 0) ++found;
  NABLA_CHECK_KIND(found == expected, ErrorKind::io, path, ": holds ", found, " model tensors, the model has ",
                   expected, " (a checkpoint of another architecture?)");
}

data::Normalizer load_normalizer(const io::TensorFile& f) {
  if (!f.contains("normalizer.mean")) return {};
  return data::Normalizer(f.at("normalizer.mean"), f.at("normalizer.std"));
}

}  // namespace

Evaluation evaluate(nn::Module& model, const Config& c, const data::Dataset& ds, int64_t batch_size) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  Evaluation ev;
  const int64_t K = c.layers.back(), n = ds.size();
  ev.confusion.assign(static_cast<size_t>(K), std::vector<int64_t>(static_cast<size_t>(K), 0));
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t end = std::min(n, start + batch_size);
    Tensor x = ds.features.slice(0, start, end), y = ds.labels.slice(0, start, end);
    Tensor out = model.forward(x);
    loss_sum += compute_loss(c, out, y).item() * static_cast<double>(end - start);
    std::vector<float> pred = argmax(out, 1).to_vector<float>();
    std::vector<float> truth = y.to_vector<float>();
    for (size_t i = 0; i < pred.size(); ++i) {
      auto t = static_cast<size_t>(truth[i]), p = static_cast<size_t>(pred[i]);
      ++ev.confusion[t][p];
      correct += t == p;
    }
  }
  model.train(was_training);
  ev.loss = n ? loss_sum / static_cast<double>(n) : NAN;
  ev.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : NAN;
  for (int64_t k = 0; k < K; ++k) {
    int64_t total = 0;
    for (int64_t v : ev.confusion[static_cast<size_t>(k)]) total += v;
    ev.per_class_accuracy.push_back(total ? static_cast<double>(ev.confusion[static_cast<size_t>(k)][static_cast<size_t>(k)]) /
                                                static_cast<double>(total)
                                          : NAN);
  }
  return ev;
}

// ---- Trainer --------------------------------------------------------------------------------

Trainer::Trainer(Config c) : c_(std::move(c)) {
  NABLA_CHECK(c_.batch_size > 0, "batch size must be positive, got ", c_.batch_size);
  NABLA_CHECK(c_.epochs >= 0, "epochs must be non-negative, got ", c_.epochs);
  NABLA_CHECK(c_.lr > 0 && std::isfinite(c_.lr), "learning rate must be positive, got ", c_.lr);
  set_threads(c_.threads);
  data_ = load_data(c_);
  model_ = build_model(c_);
  opt_ = make_optimizer(c_, model_->parameters());
  sched_ = make_schedule(c_, *opt_);
  if (sched_) sched_->set_epoch(0);
}

void Trainer::resume(const std::string& path) {
  io::TensorFile f = io::load_safetensors(path);
  Config saved = Config::from_metadata(f.metadata);
  NABLA_CHECK_KIND(saved.layers == c_.layers && saved.activation == c_.activation && saved.output == c_.output,
                   ErrorKind::io, path, ": the checkpoint holds layers ", join(saved.layers), " (", saved.activation,
                   ", output ", saved.output, ") but this run has ", join(c_.layers), " (", c_.activation, ", output ",
                   c_.output, ")");
  load_parameters(*model_, f, path);
  io::NamedTensors ost;
  for (const auto& [n, t] : f.tensors)
    if (n.rfind("optim.", 0) == 0) ost.emplace_back(n.substr(6), t);
  opt_->load_state(ost);
  auto it = f.metadata.find("epochs_done");
  NABLA_CHECK_KIND(it != f.metadata.end(), ErrorKind::io, path, ": metadata lacks 'epochs_done'");
  epoch_ = static_cast<int64_t>(parse_double("epochs_done", it->second));
  if (sched_) sched_->set_epoch(epoch_);
}

void Trainer::save(const std::string& path) const {
  io::NamedTensors ts;
  for (auto& [n, t] : model_->named_parameters()) ts.emplace_back("model." + n, t);
  for (auto& [n, t] : opt_->state()) ts.emplace_back("optim." + n, t);
  if (data_.normalizer.fitted())
    for (auto& e : data_.normalizer.state_dict("normalizer.")) ts.push_back(e);
  io::Metadata m = c_.to_metadata();
  m["epochs_done"] = std::to_string(epoch_);
  io::save_safetensors(path, ts, m);
}

std::vector<EpochMetrics> Trainer::fit(const std::string& out, const Callbacks& cb) {
  using clock = std::chrono::steady_clock;
  std::vector<EpochMetrics> history;
  data::LoaderOptions lo;
  lo.batch_size = c_.batch_size;
  lo.shuffle = true;
  lo.seed = c_.seed;
  data::DataLoader loader(data_.train, lo);
  model_->train();
  for (; epoch_ < c_.epochs; ++epoch_) {
    loader.set_epoch(epoch_);
    auto t0 = clock::now();
    double loss_sum = 0;
    int64_t samples = 0;
    data::Batch b;
    const int64_t batches = loader.num_batches();
    while (loader.next(b)) {
      const int64_t bs = b.features.shape()[0];
      // Note [Data-parallel steps] in autodiff/data_parallel.cpp: with two
      // threads and batch ≥ 128, each thread runs the step on half the rows.
      opt_->zero_grad();
      const double lv = data_parallel_backward(
          [&](const Tensor& x, const Tensor& y) { return compute_loss(c_, model_->forward(x), y); }, b.features,
          b.labels, opt_->params());
      NABLA_CHECK(std::isfinite(lv), "training diverged: the loss is ", lv, " at epoch ", epoch_ + 1, ", batch ",
                  b.index + 1, " of ", batches, (out.empty() ? "" : "; the last good checkpoint is kept in " + out),
                  " (try a smaller learning rate)");
      if (c_.clip_grad_norm > 0) optim::clip_grad_norm_(opt_->params(), c_.clip_grad_norm);
      opt_->step();
      loss_sum += lv * static_cast<double>(bs);
      samples += bs;
      if (cb.on_batch) {
        double secs = std::chrono::duration<double>(clock::now() - t0).count();
        cb.on_batch({epoch_ + 1, c_.epochs, b.index + 1, batches, samples, loss_sum / static_cast<double>(samples), secs});
      }
    }
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    // The last step of an epoch is followed by no loss that would reveal a
    // blown-up update: check the parameters before anything is saved.
    for (const Tensor& p : model_->parameters()) {
      bool finite = true;
      dispatch(p.dtype(), [&]<class T>() {
        const T* q = p.data_ptr<T>();
        for (int64_t i = 0, n = p.numel(); i < n && finite; ++i) finite = std::isfinite(q[i]);
      });
      NABLA_CHECK(finite, "training diverged: the parameters are no longer finite after epoch ", epoch_ + 1,
                  ", batch ", batches, " of ", batches,
                  (out.empty() ? "" : "; the last good checkpoint is kept in " + out), " (try a smaller learning rate)");
    }
    EpochMetrics m;
    m.epoch = epoch_ + 1;
    m.train_loss = samples ? loss_sum / static_cast<double>(samples) : NAN;
    m.seconds = secs;
    m.samples_per_second = secs > 0 ? static_cast<double>(samples) / secs : 0;
    m.lr = opt_->lr();
    if (data_.validation.size() > 0) {
      Evaluation ev = evaluate(*model_, c_, data_.validation);
      m.validation_loss = ev.loss;
      m.validation_accuracy = ev.accuracy;
      NABLA_CHECK(std::isfinite(ev.loss), "training diverged: the validation loss is ", ev.loss, " after epoch ",
                  epoch_ + 1, (out.empty() ? "" : "; the last good checkpoint is kept in " + out),
                  " (try a smaller learning rate)");
    } else {
      m.validation_loss = m.validation_accuracy = NAN;
    }
    m.test_accuracy = data_.test.size() > 0 ? evaluate(*model_, c_, data_.test).accuracy : NAN;
    if (sched_) sched_->step();
    int64_t finished = epoch_ + 1;
    std::swap(epoch_, finished);
    if (!out.empty()) save(out);
    std::swap(epoch_, finished);
    history.push_back(m);
    if (cb.on_epoch) cb.on_epoch(m);
  }
  return history;
}

SavedModel load_model(const std::string& path) {
  io::TensorFile f = io::load_safetensors(path);
  SavedModel s;
  s.config = Config::from_metadata(f.metadata);
  s.model = build_model(s.config);
  load_parameters(*s.model, f, path);
  s.normalizer = load_normalizer(f);
  auto it = f.metadata.find("epochs_done");
  if (it != f.metadata.end()) s.epochs = static_cast<int64_t>(parse_double("epochs_done", it->second));
  s.model->eval();
  return s;
}

}  // namespace nabla::train
