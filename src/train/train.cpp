// The training loop, evaluation, checkpoints and saved models.
#include "nabla/train.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "../kernels/gemm.hpp"
#include "module_io.hpp"
#include "nabla/autograd.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/ops.hpp"
#include "sharded_step.hpp"

namespace nabla::train {

namespace fs = std::filesystem;

int max_threads() {
  return 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void set_threads(int n) {
  NABLA_CHECK(n >= 0 && n <= max_threads(), "threads: ", n, " is not a thread count from 0 (the default) to ",
              max_threads(), " (four per hardware thread of this machine)");
  if (n > 0) kernels::set_num_threads(n);
}

// ---- configuration <-> metadata ----------------------------------------------------

namespace {

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// The shortest text that reads back as the same double ("0.05", not
// "0.050000000000000003").
std::string shortest(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

double parse_double(const std::string& key, const std::string& v) {
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  NABLA_CHECK_KIND(ec == std::errc() && end == v.data() + v.size() && std::isfinite(d), ErrorKind::io,
                   "checkpoint metadata: '", key, "' = '", v.substr(0, 40), "' is not a finite number");
  return d;
}

// A whole number in [lo, hi]: no sign, no fraction, no overflow.
template <class Int>
Int parse_int(const std::string& key, const std::string& v, Int lo, Int hi) {
  Int n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  NABLA_CHECK_KIND(ec == std::errc() && end == v.data() + v.size() && n >= lo && n <= hi, ErrorKind::io,
                   "checkpoint metadata: '", key, "' = '", v.substr(0, 40), "' is not a whole number from ", lo,
                   " to ", hi);
  return n;
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

namespace {

void check_choice(const std::string& what, const std::string& v, std::initializer_list<const char*> choices) {
  std::string list, best;
  size_t best_distance = SIZE_MAX;
  for (const char* c : choices) {
    if (v == c) return;
    list += (list.empty() ? "" : ", ") + std::string(c);
    const size_t d = edit_distance(v, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  // A near miss ("adamm", "crossentropy") gets its likely meaning.
  const bool near = best_distance <= std::max<size_t>(1, best.size() / 3);
  throw Error(what + ": unknown choice '" + v.substr(0, 40) + "' (choose " + list + ")" +
              (near ? "; did you mean " + best + "?" : ""));
}

}  // namespace

std::vector<int64_t> parse_layers(const std::string& s, const std::string& what) {
  std::vector<int64_t> out;
  size_t pos = 0;
  const std::string shown = s.size() > 60 ? s.substr(0, 60) + "..." : s;
  for (;;) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data() + pos, s.data() + comma, v);
    NABLA_CHECK(ec != std::errc::result_out_of_range, what, ": '", shown, "': size '", s.substr(pos, comma - pos),
                "' does not fit in 64 bits");
    NABLA_CHECK(ec == std::errc() && end == s.data() + comma && v > 0, what, ": '", shown,
                "' is not a comma-separated list of positive sizes");
    out.push_back(v);
    if (comma == s.size()) break;
    pos = comma + 1;
  }
  NABLA_CHECK(out.size() >= 2, what, ": '", shown, "' needs at least an input and an output size");
  // Note [Checked sizes]: a model that cannot be allocated fails here, not in the middle of building it.
  try {
    nn::mlp_parameter_count(out);
  } catch (const Error& e) {
    throw Error(what + ": '" + shown + "': " + e.what(), e.kind());
  }
  return out;
}

void Config::validate() const {
  NABLA_CHECK(layers.size() >= 2, "layers: need at least an input and an output size, got ", layers.size());
  // A first or last width of 0 is filled in from the data.
  for (size_t i = 0; i < layers.size(); ++i)
    NABLA_CHECK(layers[i] > 0 || (layers[i] == 0 && (i == 0 || i + 1 == layers.size())),
                "layers: sizes must be positive, got ", join(layers));
  if (layers.front() > 0 && layers.back() > 0) nn::mlp_parameter_count(layers);
  nn::make_activation(activation);
  check_choice("task", task, {"auto", "classification", "regression"});
  check_choice("output", output, {"none", "softmax", "log_softmax", "sigmoid"});
  check_choice("init", init, {"default", "xavier", "kaiming"});
  check_choice("loss", loss, {"auto", "cross-entropy", "mse", "nll", "l1", "huber"});
  if (loss == "cross-entropy")
    NABLA_CHECK(output != "sigmoid", "loss: cross-entropy needs output none, softmax or log_softmax, not 'sigmoid'");
  if (task == "regression") {
    NABLA_CHECK(loss == "auto" || loss == "mse" || loss == "l1" || loss == "huber", "loss: ", loss,
                " is a classification loss; a regression takes mse, l1 or huber (--loss)");
    NABLA_CHECK(output == "none", "output: ", output,
                " squashes a regression's prediction; a regression takes --output none");
  }
  // Foot-guns: the loss must get the kind of output it is defined on.
  if (loss == "nll")
    NABLA_CHECK(output == "log_softmax", "loss: nll takes log-probabilities, but --output ", output, " gives ",
                output == "none" ? "logits" : "other values",
                "; add --output log_softmax, or use --loss cross-entropy (which takes logits)");
  if (loss == "cross-entropy")
    NABLA_CHECK(output != "softmax",
                "loss: cross-entropy applies softmax itself, so --output softmax would apply it twice; use --output "
                "none (logits) with cross-entropy, or --loss mse to train on probabilities");
  if (task == "classification")
    NABLA_CHECK(loss != "l1" && loss != "huber", "loss: ", loss,
                " is a regression loss; a classification takes cross-entropy, mse or nll (--loss), or give "
                "--task regression");
  NABLA_CHECK(std::isfinite(dropout) && dropout >= 0 && dropout < 1, "dropout (--dropout) must be in [0, 1), got ",
              dropout);
  NABLA_CHECK(patience >= 0, "patience (--patience) must be >= 0 (0: no early stopping), got ", patience);
  NABLA_CHECK(delimiter.size() == 1 && delimiter != "\"" && delimiter != "\n" && delimiter != "\r",
              "delimiter (--delimiter) must be one character other than a quote or a line break, got '", delimiter,
              "'");
  NABLA_CHECK(std::isfinite(target_mean) && std::isfinite(target_std) && target_std > 0,
              "target statistics: mean ", target_mean, " and standard deviation ", target_std,
              " must be finite, the deviation > 0");
  for (const std::string& n : class_names)
    NABLA_CHECK(n.find('\n') == std::string::npos, "class names: a name holds a line break");
  check_choice("optimizer", optimizer, {"sgd", "momentum", "nesterov", "adam", "adamw"});
  check_choice("schedule", schedule, {"none", "step", "cosine"});
  check_choice("normalize", normalize, {"none", "global", "per-feature"});
  NABLA_CHECK(std::isfinite(lr) && lr > 0, "learning rate (--lr) must be a finite number > 0, got ", lr);
  NABLA_CHECK(std::isfinite(momentum) && momentum >= 0 && momentum < 1, "momentum (--momentum) must be in [0, 1), got ",
              momentum);
  NABLA_CHECK(std::isfinite(weight_decay) && weight_decay >= 0,
              "weight decay (--weight-decay) must be a finite number >= 0, got ", weight_decay);
  NABLA_CHECK(warmup_epochs >= 0, "warm-up epochs (--warmup) must be >= 0, got ", warmup_epochs);
  NABLA_CHECK(std::isfinite(clip_grad_norm) && clip_grad_norm >= 0,
              "gradient clipping norm (--clip-grad-norm) must be a finite number >= 0 (0: off), got ", clip_grad_norm);
  NABLA_CHECK(batch_size >= 0, "batch size (--batch-size) must be positive, got ", batch_size);
  NABLA_CHECK(accumulate > 0, "batches per step (--accumulate) must be positive, got ", accumulate);
  NABLA_CHECK(epochs >= 0, "epochs (--epochs) must be >= 0, got ", epochs);
  NABLA_CHECK(validation_fraction >= 0 && validation_fraction < 1,
              "validation fraction (--validation) must be in [0, 1), got ", validation_fraction);
  NABLA_CHECK(threads >= 0 && threads <= max_threads(), "threads (--threads): ", threads,
              " is not a thread count from 0 (the default) to ", max_threads(),
              " (four per hardware thread of this machine)");
}

io::Metadata Config::to_metadata() const {
  std::string classes;
  for (size_t i = 0; i < class_names.size(); ++i) classes += (i ? "\n" : "") + class_names[i];
  return {{"format", "nabla-checkpoint-1"},
          {"data", data},
          {"label_column", label_column},
          {"test_data", test_data},
          {"delimiter", delimiter},
          {"header", header ? "1" : "0"},
          {"task", task},
          {"class_names", classes},
          {"classes", std::to_string(class_names.size())},
          {"target_mean", shortest(target_mean)},
          {"target_std", shortest(target_std)},
          {"dropout", shortest(dropout)},
          {"patience", std::to_string(patience)},
          {"validation_fraction", shortest(validation_fraction)},
          {"normalize", normalize},
          {"layers", join(layers)},
          {"activation", activation},
          {"output", output},
          {"init", init},
          {"loss", loss},
          {"optimizer", optimizer},
          {"lr", shortest(lr)},
          {"momentum", shortest(momentum)},
          {"weight_decay", shortest(weight_decay)},
          {"schedule", schedule},
          {"warmup_epochs", std::to_string(warmup_epochs)},
          {"clip_grad_norm", shortest(clip_grad_norm)},
          {"batch_size", std::to_string(batch_size)},
          {"accumulate", std::to_string(accumulate)},
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
  // Keys later versions added: absent from older checkpoints, which were all
  // classification runs without them.
  auto opt = [&](const char* k, const char* fallback) -> std::string {
    auto it = m.find(k);
    return it == m.end() ? fallback : it->second;
  };
  Config c;
  c.data = get("data");
  c.label_column = get("label_column");
  c.test_data = opt("test_data", "");
  c.delimiter = opt("delimiter", ",");
  const std::string header = opt("header", "1");
  NABLA_CHECK_KIND(header == "0" || header == "1", ErrorKind::io, "checkpoint metadata: 'header' = '",
                   header.substr(0, 40), "' is not 0 or 1");
  c.header = header == "1";
  c.task = opt("task", "classification");
  const std::string classes = opt("class_names", "");
  const auto count = parse_int<size_t>("classes", opt("classes", "0"), 0, SIZE_MAX);
  if (count > 0)
    for (size_t pos = 0;;) {
      const size_t nl = std::min(classes.find('\n', pos), classes.size());
      c.class_names.push_back(classes.substr(pos, nl - pos));
      if (nl == classes.size()) break;
      pos = nl + 1;
    }
  NABLA_CHECK_KIND(c.class_names.size() == count, ErrorKind::io, "checkpoint metadata: 'class_names' holds ",
                   c.class_names.size(), " names, 'classes' says ", count);
  c.target_mean = parse_double("target_mean", opt("target_mean", "0"));
  c.target_std = parse_double("target_std", opt("target_std", "1"));
  c.dropout = parse_double("dropout", opt("dropout", "0"));
  c.patience = parse_int<int64_t>("patience", opt("patience", "0"), 0, INT64_MAX);
  c.validation_fraction = parse_double("validation_fraction", get("validation_fraction"));
  c.normalize = get("normalize");
  try {
    c.layers = parse_layers(get("layers"), "layers");
  } catch (const Error& e) {
    throw Error(std::string("checkpoint metadata: ") + e.what(), ErrorKind::io);
  }
  c.activation = get("activation");
  c.output = get("output");
  c.init = get("init");
  c.loss = get("loss");
  c.optimizer = get("optimizer");
  c.lr = parse_double("lr", get("lr"));
  c.momentum = parse_double("momentum", get("momentum"));
  c.weight_decay = parse_double("weight_decay", get("weight_decay"));
  c.schedule = get("schedule");
  c.warmup_epochs = parse_int<int64_t>("warmup_epochs", get("warmup_epochs"), 0, INT64_MAX);
  c.clip_grad_norm = parse_double("clip_grad_norm", get("clip_grad_norm"));
  c.batch_size = parse_int<int64_t>("batch_size", get("batch_size"), 1, INT64_MAX);
  if (m.count("accumulate")) c.accumulate = parse_int<int64_t>("accumulate", m.at("accumulate"), 1, INT64_MAX);
  c.epochs = parse_int<int64_t>("epochs", get("epochs"), 0, INT64_MAX);
  c.seed = parse_int<uint64_t>("seed", get("seed"), 0, UINT64_MAX);
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(std::string("checkpoint metadata: ") + e.what(), ErrorKind::io);
  }
  return c;
}

data::CsvOptions csv_options(const Config& c) {
  data::CsvOptions o;
  o.label_column = c.label_column;
  o.delimiter = c.delimiter.empty() ? ',' : c.delimiter[0];
  o.header = c.header;
  o.automatic_task = c.task == "auto";
  o.classification = c.task != "regression";
  o.class_names = c.class_names;
  return o;
}

// ---- data and model -----------------------------------------------------------------------

Data load_data(const Config& c) {
  NABLA_CHECK(c.validation_fraction >= 0 && c.validation_fraction < 1, "validation fraction must be in [0, 1), got ",
              c.validation_fraction);
  Data d;
  data::Dataset all;
  NABLA_CHECK(c.test_data.empty() || !(c.data == "fashion-mnist" || fs::is_directory(c.data)), "test data: '",
              c.test_data, "' goes with CSV data; IDX data brings its own test set (t10k-*)");
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
    data::CsvOptions o = csv_options(c);
    all = data::read_csv(c.data, o);
    if (!c.test_data.empty()) {
      NABLA_CHECK_KIND(fs::exists(c.test_data), ErrorKind::io, "test data: '", c.test_data, "' does not exist");
      o.automatic_task = false;
      o.classification = all.num_classes > 0;
      o.class_names = all.class_names;
      d.test = data::read_csv(c.test_data, o);
      NABLA_CHECK_KIND(d.test.num_features() == all.num_features(), ErrorKind::shape, "test data: '", c.test_data,
                       "' has ", d.test.num_features(), " features, the training data '", c.data, "' ",
                       all.num_features());
    }
    d.class_names = all.class_names;
  }
  const bool idx = c.data == "fashion-mnist" || fs::is_directory(c.data);
  NABLA_CHECK_KIND(!idx || all.num_classes > 0, ErrorKind::value, "data: '", c.data, "' has no class labels");
  d.task = idx || all.num_classes > 0 ? "classification" : "regression";
  NABLA_CHECK_KIND(c.task == "auto" || c.task == d.task, ErrorKind::value, "data: '", c.data, "' has ",
                   d.task == "regression" ? "regression targets" : "class labels", ", not the ", c.task,
                   " the run asks for");
  NABLA_CHECK_KIND(all.size() > 0, ErrorKind::value, "data: '", c.data, "' has no training rows");
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
  NABLA_CHECK_KIND(c.layers.front() == 0 || c.layers.front() == d.train.num_features(), ErrorKind::shape,
                   "layers: the first layer takes ", c.layers.front(), " inputs but the data has ",
                   d.train.num_features(), " features");
  const int64_t outputs = d.task == "regression" ? 1 : d.train.num_classes;
  NABLA_CHECK_KIND(c.layers.back() == 0 || c.layers.back() == outputs, ErrorKind::shape, "layers: the last layer has ",
                   c.layers.back(), " outputs but the data has ",
                   d.task == "regression" ? std::string("one target") : std::to_string(outputs) + " classes");
  return d;
}

std::shared_ptr<nn::Sequential> build_model(const Config& c) {
  Generator gen(c.seed);
  nn::Linear::Options o;
  if (c.init == "xavier") o.init = nn::Init::xavier_uniform;
  else if (c.init == "kaiming") o.init = nn::Init::kaiming_uniform;
  else NABLA_CHECK(c.init == "default", "init: unknown scheme '", c.init, "' (choose default, xavier or kaiming)");
  if (c.dropout == 0) return nn::mlp(c.layers, c.activation, c.output, gen, o);
  // Linear, activation, Dropout for each hidden layer; the output layer as mlp() makes it.
  auto net = std::make_shared<nn::Sequential>();
  for (size_t i = 0; i + 1 < c.layers.size(); ++i) {
    net->push_back(std::make_shared<nn::Linear>(c.layers[i], c.layers[i + 1], gen, o));
    if (i + 2 < c.layers.size()) {
      if (auto act = nn::make_activation(c.activation)) net->push_back(act);
      net->push_back(std::make_shared<nn::Dropout>(c.dropout, c.seed + 1 + i));
    }
  }
  if (auto out = nn::make_activation(c.output)) net->push_back(out);
  return net;
}

std::vector<double> predictions(const Config& c, const Tensor& out) {
  std::vector<double> p;
  if (c.regression()) {
    for (float v : out.reshape({-1}).to_vector<float>()) p.push_back(c.target_mean + c.target_std * double(v));
    return p;
  }
  for (float v : argmax(out, 1).to_vector<float>()) p.push_back(v);
  return p;
}

namespace {

// The objective on a batch of model outputs [B, K] and class labels [B].
Tensor compute_loss(const Config& c, const Tensor& out, const Tensor& labels) {
  if (c.regression()) {
    // The standardized target against the one output.
    Tensor t = ((labels - c.target_mean) * (1.0 / c.target_std)).reshape({-1, 1});
    Tensor d = out - t;
    if (c.loss == "l1") return mean(abs(d));
    if (c.loss == "huber") {
      Tensor a = abs(d), q = clamp(a, std::nullopt, 1.0);  // δ = 1
      return mean(q * q * 0.5 + (a - q));
    }
    return mean(d * d);
  }
  if (c.loss == "cross-entropy" || c.loss == "auto") {
    if (c.output == "none") return cross_entropy(out, labels);
    if (c.output == "log_softmax") return nll_loss(out, labels);
    if (c.output == "softmax") return nll_loss(log(out), labels);
    throw Error("loss: cross-entropy needs output none, softmax or log_softmax, not '" + c.output + "'");
  }
  if (c.loss == "nll") return nll_loss(out, labels);
  if (c.loss == "mse") {
    // L = (Y_n − Y)ᵀ(Y_n − Y) per sample against one-hot Y, averaged over the batch
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

// Copies every "model.*" tensor of a checkpoint into the model's parameters.
void load_parameters(nn::Module& model, const io::TensorFile& f, const std::string& path) {
  detail::load_named_parameters(model, f, path, "model.");
}

data::Normalizer load_normalizer(const io::TensorFile& f, const Config& c, const std::string& path) {
  const bool mean = f.contains("normalizer.mean"), sd = f.contains("normalizer.std");
  if (!mean && !sd) return {};
  NABLA_CHECK_KIND(mean && sd, ErrorKind::io, path, ": holds '", mean ? "normalizer.mean" : "normalizer.std",
                   "' without '", mean ? "normalizer.std" : "normalizer.mean", "'");
  const Tensor& m = f.at("normalizer.mean");
  NABLA_CHECK_KIND(m.dim() == 1 && (m.size(0) == 1 || m.size(0) == c.layers.front()), ErrorKind::io, path,
                   ": tensor 'normalizer.mean' has shape ", m.shape(), ", expected [1] or [", c.layers.front(), "]");
  try {
    return data::Normalizer(m, f.at("normalizer.std"));
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), ErrorKind::io);
  }
}

// Config::from_metadata, its errors prefixed with the file's name.
Config config_of(const io::Metadata& m, const std::string& path) {
  try {
    return Config::from_metadata(m);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), ErrorKind::io);
  }
}

int64_t epochs_done_of(const io::Metadata& m, const Config& c, const std::string& path) {
  auto it = m.find("epochs_done");
  NABLA_CHECK_KIND(it != m.end(), ErrorKind::io, path, ": checkpoint metadata lacks 'epochs_done'");
  int64_t done = 0;
  try {
    done = parse_int<int64_t>("epochs_done", it->second, 0, c.epochs);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), ErrorKind::io);
  }
  return done;
}

// Note [Checked sizes]: the metadata's layers against the tensor table,
// before a model of those layers is built: the model is then no larger than
// the file.
void check_table(const std::vector<std::pair<std::string, Shape>>& table, const Config& c, const std::string& path) {
  int64_t found = 0;
  for (const auto& [name, shape] : table)
    if (name.rfind("model.", 0) == 0) found = checked_add(found, checked_numel(shape, "checkpoint"), "checkpoint");
  const int64_t expected = nn::mlp_parameter_count(c.layers);
  NABLA_CHECK_KIND(found == expected, ErrorKind::io, path, ": the metadata's layers ", join(c.layers), " have ",
                   expected, " parameters but the file's model tensors hold ", found);
}

std::vector<std::pair<std::string, Shape>> table_of(const io::TensorFile& f) {
  std::vector<std::pair<std::string, Shape>> t;
  for (const auto& [n, x] : f.tensors) t.emplace_back(n, x.shape());
  return t;
}

// Every tensor of a checkpoint is finite: a NaN weight or optimizer moment
// would only show up later as a diverged run.
void check_finite(const io::TensorFile& f, const std::string& path) {
  for (const auto& entry : f.tensors) {
    const std::string& name = entry.first;
    const Tensor& t = entry.second;  // not a structured binding: the lambda below captures it
    int64_t bad = -1;
    double value = 0;
    dispatch(t.dtype(), [&]<class T>() {
      const T* p = t.data_ptr<T>();
      for (int64_t i = 0, n = t.numel(); i < n && bad < 0; ++i)
        if (!std::isfinite(p[i])) bad = i, value = static_cast<double>(p[i]);
    });
    NABLA_CHECK_KIND(bad < 0, ErrorKind::io, path, ": tensor '", name, "' holds ", value, " at element ", bad,
                     "; a checkpoint holds finite values only (damaged, or saved from a diverged run?)");
  }
}

// The history as metadata: one line per epoch, its figures in kHistoryFields'
// order, comma-separated ("nan" where one does not apply).
constexpr double EpochMetrics::*kHistoryFields[] = {
    &EpochMetrics::train_loss,      &EpochMetrics::validation_loss, &EpochMetrics::validation_accuracy,
    &EpochMetrics::test_accuracy,   &EpochMetrics::seconds,         &EpochMetrics::samples_per_second,
    &EpochMetrics::lr,              &EpochMetrics::validation_rmse, &EpochMetrics::validation_mae,
    &EpochMetrics::validation_r2,   &EpochMetrics::test_loss,       &EpochMetrics::test_rmse,
    &EpochMetrics::test_mae,        &EpochMetrics::test_r2};

std::string history_text(const std::vector<EpochMetrics>& h) {
  std::string out;
  for (const EpochMetrics& m : h) {
    out += std::to_string(m.epoch);
    for (auto f : kHistoryFields) out += "," + shortest(m.*f);
    out += "\n";
  }
  return out;
}

std::vector<EpochMetrics> history_of(const io::Metadata& meta, const std::string& path) {
  std::vector<EpochMetrics> h;
  auto it = meta.find("history");
  if (it == meta.end()) return h;
  const std::string& text = it->second;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    EpochMetrics m;
    const char* p = line.data();
    const char* end = line.data() + line.size();
    auto r = std::from_chars(p, end, m.epoch);
    bool ok = r.ec == std::errc() && m.epoch == static_cast<int64_t>(h.size()) + 1;
    p = r.ptr;
    for (auto f : kHistoryFields) {
      if (!ok || p == end || *p != ',') {
        ok = false;
        break;
      }
      auto q = std::from_chars(p + 1, end, m.*f);
      ok = q.ec == std::errc();
      p = q.ptr;
    }
    NABLA_CHECK_KIND(ok && p == end, ErrorKind::io, path, ": checkpoint metadata: line ", h.size() + 1,
                     " of 'history' is not epoch ", h.size() + 1, " and its ", std::size(kHistoryFields),
                     " figures");
    h.push_back(m);
  }
  return h;
}

// The settings that shape a run's trajectory, as metadata keys: a resumed
// run takes them from its checkpoint. `data` and `epochs` are not among
// them (the data may have moved; a run may be extended).
constexpr const char* kSettings[] = {"task", "dropout", "delimiter", "header", "label_column", "validation_fraction", "normalize", "layers",
                                     "activation",   "output",              "init",      "loss",
                                     "optimizer",    "lr",                  "momentum",  "weight_decay",
                                     "schedule",     "warmup_epochs",       "clip_grad_norm", "batch_size",
                                     "accumulate",   "seed"};

// "" when `run` and `saved` agree on every setting, else the first that differs.
std::string setting_difference(const Config& run, const Config& saved) {
  const io::Metadata a = run.to_metadata(), b = saved.to_metadata();
  for (const char* k : kSettings)
    if (a.at(k) != b.at(k) && a.at(k) != "auto" && b.at(k) != "auto")  // "auto" is resolved from the data
      return std::string("the checkpoint was trained with ") + k + " " + b.at(k) + ", this run has " + a.at(k);
  return {};
}

}  // namespace

Evaluation evaluate(nn::Module& model, const Config& c, const data::Dataset& ds, int64_t batch_size) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  Evaluation ev;
  const int64_t K = c.layers.back(), n = ds.size();
  if (c.regression()) {
    // Loss on the standardized target; RMSE, MAE and R² in the target's units.
    double loss_sum = 0, se = 0, ae = 0, sum_y = 0, sum_y2 = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t end = std::min(n, start + batch_size);
      Tensor x = ds.features.slice(0, start, end), y = ds.labels.slice(0, start, end);
      Tensor out = model.forward(x);
      loss_sum += compute_loss(c, out, y).item() * static_cast<double>(end - start);
      const std::vector<double> pred = predictions(c, out);
      const std::vector<float> truth = y.to_vector<float>();
      for (size_t i = 0; i < pred.size(); ++i) {
        const double e = pred[i] - truth[i];
        se += e * e, ae += std::fabs(e), sum_y += truth[i], sum_y2 += double(truth[i]) * truth[i];
      }
    }
    model.train(was_training);
    const double dn = static_cast<double>(n);
    ev.loss = n ? loss_sum / dn : NAN;
    ev.accuracy = NAN;
    ev.rmse = n ? std::sqrt(se / dn) : NAN;
    ev.mae = n ? ae / dn : NAN;
    const double ss_tot = sum_y2 - sum_y * sum_y / std::max(dn, 1.0);
    ev.r2 = n && ss_tot > 0 ? 1 - se / ss_tot : NAN;
    return ev;
  }
  NABLA_CHECK_KIND(ds.num_classes <= K, ErrorKind::shape, "evaluate: the data has ", ds.num_classes,
                   " classes, the model ", K);
  if (K <= kMaxConfusionClasses)
    ev.confusion.assign(static_cast<size_t>(K), std::vector<int64_t>(static_cast<size_t>(K), 0));
  std::vector<int64_t> class_total(static_cast<size_t>(K), 0), class_correct(static_cast<size_t>(K), 0);
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
      NABLA_CHECK_KIND(truth[i] >= 0 && truth[i] < static_cast<float>(K), ErrorKind::index, "evaluate: label ",
                       truth[i], " of row ", start + static_cast<int64_t>(i), " is not a class of the model (0 to ",
                       K - 1, ")");
      auto t = static_cast<size_t>(truth[i]), p = static_cast<size_t>(pred[i]);
      if (!ev.confusion.empty()) ++ev.confusion[t][p];
      ++class_total[t];
      class_correct[t] += t == p;
      correct += t == p;
    }
  }
  model.train(was_training);
  ev.loss = n ? loss_sum / static_cast<double>(n) : NAN;
  ev.accuracy = n ? static_cast<double>(correct) / static_cast<double>(n) : NAN;
  for (size_t k = 0; k < static_cast<size_t>(K); ++k)
    ev.per_class_accuracy.push_back(
        class_total[k] ? static_cast<double>(class_correct[k]) / static_cast<double>(class_total[k]) : NAN);
  return ev;
}

// ---- Trainer --------------------------------------------------------------------------------

Trainer::Trainer(Config c) : c_(std::move(c)) {
  c_.validate();
  set_threads(c_.threads);
  data_ = load_data(c_);
  // What the data decides: the task and its default loss, the widths left
  // at 0, the classes, the target's scale.
  c_.task = data_.task;
  if (c_.loss == "auto") c_.loss = c_.regression() ? "mse" : "cross-entropy";
  if (c_.layers.front() == 0) c_.layers.front() = data_.train.num_features();
  if (c_.layers.back() == 0) c_.layers.back() = c_.regression() ? 1 : data_.train.num_classes;
  c_.class_names = data_.class_names;
  // Small data gets more, smaller steps: Fashion-MNIST's 54 000 rows take 422
  // steps of 128 an epoch; iris's 135 would take 2.
  const int64_t rows = data_.train.size();
  if (c_.batch_size == 0) c_.batch_size = std::clamp<int64_t>(rows / 20, 8, 128);
  if (c_.epochs == 0) {
    const int64_t steps = std::max<int64_t>(1, (rows + c_.batch_size - 1) / c_.batch_size);
    c_.epochs = steps >= 100 ? 10 : std::min<int64_t>(200, (1000 + steps - 1) / steps);
  }
  if (c_.regression()) {
    double sum = 0, sum2 = 0;
    const std::vector<float> y = data_.train.labels.to_vector<float>();
    for (float v : y) sum += v, sum2 += double(v) * v;
    const double n = static_cast<double>(std::max<size_t>(y.size(), 1)), mean = sum / n;
    const double var = std::max(sum2 / n - mean * mean, 0.0);
    c_.target_mean = mean;
    c_.target_std = var > 0 ? std::sqrt(var) : 1;
  }
  c_.validate();
  NABLA_CHECK(c_.patience == 0 || data_.validation.size() > 0,
              "patience (--patience): early stopping watches the validation loss; give --validation above 0");
  model_ = build_model(c_);
  opt_ = make_optimizer(c_, model_->parameters());
  sched_ = make_schedule(c_, *opt_);
  if (sched_) sched_->set_epoch(0);
}

void Trainer::resume(const std::string& path) {
  read_checkpoint_header(path);  // refuses a file that is no checkpoint before its tensors are read
  io::TensorFile f = io::load_safetensors(path);
  const Config saved = config_of(f.metadata, path);
  const std::string diff = setting_difference(c_, saved);
  NABLA_CHECK_KIND(diff.empty(), ErrorKind::io, path, ": ", diff);
  check_table(table_of(f), saved, path);
  check_finite(f, path);
  const int64_t done = epochs_done_of(f.metadata, saved, path);
  NABLA_CHECK_KIND(saved.class_names.empty() || saved.class_names == c_.class_names, ErrorKind::io, path,
                   ": the checkpoint's ", saved.class_names.size(), " classes are not the data's ",
                   c_.class_names.size());
  load_parameters(*model_, f, path);
  // The model learned the target on the checkpoint's scale.
  c_.target_mean = saved.target_mean;
  c_.target_std = saved.target_std;
  history_ = history_of(f.metadata, path);
  if (history_.size() > static_cast<size_t>(done)) history_.resize(static_cast<size_t>(done));
  best_epoch_ = parse_int<int64_t>("best_epoch", f.metadata.count("best_epoch") ? f.metadata.at("best_epoch") : "0",
                                   0, done);
  if (best_epoch_ > 0) {
    for (auto& [n, t] : model_->named_parameters()) {
      NABLA_CHECK_KIND(f.contains("best." + n), ErrorKind::io, path, ": tensor 'best.", n, "' is missing");
      best_state_.emplace_back(n, f.at("best." + n));
    }
    best_loss_ = history_.size() >= static_cast<size_t>(best_epoch_)
                     ? history_[static_cast<size_t>(best_epoch_ - 1)].validation_loss
                     : INFINITY;
  }
  stopped_early_ = f.metadata.count("stopped_early") && f.metadata.at("stopped_early") == "1";
  io::NamedTensors ost;
  for (const auto& [n, t] : f.tensors)
    if (n.rfind("optim.", 0) == 0) ost.emplace_back(n.substr(6), t);
  try {
    opt_->load_state(ost);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what(), ErrorKind::io);
  }
  epoch_ = done;
  // Without a schedule the rate is the configured one, whatever the state says.
  if (sched_) sched_->set_epoch(epoch_);
  else opt_->set_lr(c_.lr);
  resumed_from_ = path;
}

void Trainer::save(const std::string& path) const {
  io::NamedTensors ts;
  for (auto& [n, t] : model_->named_parameters()) ts.emplace_back("model." + n, t);
  for (auto& [n, t] : opt_->state()) ts.emplace_back("optim." + n, t);
  if (data_.normalizer.fitted())
    for (auto& e : data_.normalizer.state_dict("normalizer.")) ts.push_back(e);
  for (auto& [n, t] : best_state_) ts.emplace_back("best." + n, t);
  io::Metadata m = c_.to_metadata();
  m["epochs_done"] = std::to_string(epoch_);
  m["history"] = history_text(history_);
  if (best_epoch_ > 0) m["best_epoch"] = std::to_string(best_epoch_);
  if (stopped_early_) m["stopped_early"] = "1";
  io::save_safetensors(path, ts, m);
}

void Trainer::distribute(dist::Communicator& comm) {
  comm_ = &comm;
  // Every rank runs rank 0's settings (its data may be at another path): a
  // rank with another --epochs, say, would leave the others waiting for it.
  io::Metadata mine = c_.to_metadata();
  mine.erase("data");
  // One line a setting; a value's own newlines (class_names) escaped.
  for (auto& [k, v] : mine) {
    std::string e;
    for (char ch : v) e += ch == '\n' ? std::string("\\n") : ch == '\\' ? std::string("\\\\") : std::string(1, ch);
    v = e;
  }
  std::string text;
  for (const auto& [k, v] : mine) text += k + "=" + v + "\n";
  const std::string root = comm.broadcast(text);
  if (root != text) {
    io::Metadata theirs;
    std::istringstream lines(root);
    for (std::string line; std::getline(lines, line);)
      if (const size_t eq = line.find('='); eq != std::string::npos) theirs[line.substr(0, eq)] = line.substr(eq + 1);
    for (const auto& [k, v] : mine)
      NABLA_CHECK(theirs.count(k) && theirs.at(k) == v, "distributed training: this rank has ", k, " ", v,
                  ", rank 0 has ", theirs.count(k) ? theirs.at(k) : "none", "; every rank needs the same settings");
  }
  const auto e = static_cast<uint64_t>(epoch_);
  NABLA_CHECK(comm.broadcast(e) == e, "distributed training: this rank resumed after epoch ", epoch_,
              ", rank 0 after another; every rank must resume from the same checkpoint");
  comm.broadcast(model_->parameters());
  comm.check_replicas(model_->parameters(), "at the start");
}

CheckpointHeader read_checkpoint_header(const std::string& path) {
  const io::SafetensorsHeader h = io::read_safetensors_header(path);
  CheckpointHeader out;
  out.config = config_of(h.metadata, path);
  std::vector<std::pair<std::string, Shape>> table;
  for (const auto& t : h.tensors) table.emplace_back(t.name, t.shape);
  check_table(table, out.config, path);
  if (h.metadata.count("epochs_done")) out.epochs_done = epochs_done_of(h.metadata, out.config, path);
  out.history = history_of(h.metadata, path);
  out.stopped_early = h.metadata.count("stopped_early") && h.metadata.at("stopped_early") == "1";
  return out;
}

std::vector<EpochMetrics> Trainer::fit(const std::string& out, const Callbacks& cb) {
  using clock = std::chrono::steady_clock;
  std::vector<EpochMetrics> history;
  data::LoaderOptions lo;
  lo.batch_size = c_.batch_size;
  lo.shuffle = true;
  lo.seed = c_.seed;
  data::DataLoader loader(data_.train, lo);
  NABLA_CHECK(loader.num_batches() > 0 || epoch_ >= c_.epochs, "data: no training rows to make a batch of");
  // Where the divergence messages say the last good state is: only a file
  // this run wrote, or the one it resumed from.
  bool saved_here = false;
  auto kept = [&]() -> std::string {
    if (out.empty()) return "";
    if (saved_here || (!resumed_from_.empty() && io::same_file(resumed_from_, out)))
      return "; the last good checkpoint is kept in " + out;
    return "; nothing was saved to " + out;
  };
  model_->train();
  for (; epoch_ < c_.epochs && !stopped_early_; ++epoch_) {
    loader.set_epoch(epoch_);
    auto t0 = clock::now();
    double loss_sum = 0;
    int64_t samples = 0;
    data::Batch b;
    const int64_t batches = loader.num_batches();
    while (loader.next(b)) {
      // Note [Sharded steps]: the step's batches (--accumulate), this rank's shard of each.
      std::vector<data::Batch> step{std::move(b)};
      while (static_cast<int64_t>(step.size()) < c_.accumulate && loader.position() < batches)
        loader.next(step.emplace_back());
      b = step.back();
      opt_->zero_grad();
      // Dropout draws from its layers' generators: one thread only.
      const detail::StepGradients g = detail::sharded_backward(
          comm_, step, [&](const Tensor& x, const Tensor& y) { return compute_loss(c_, model_->forward(x), y); },
          opt_->params(), c_.dropout > 0);
      const double lv = g.loss;
      const int64_t bs = g.rows;
      NABLA_CHECK(std::isfinite(lv), "training diverged: the loss is ", lv, " at epoch ", epoch_ + 1, ", batch ",
                  b.index + 1, " of ", batches, kept(),
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
                  kept(), " (try a smaller learning rate)");
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
      m.validation_rmse = ev.rmse, m.validation_mae = ev.mae, m.validation_r2 = ev.r2;
      NABLA_CHECK(std::isfinite(ev.loss), "training diverged: the validation loss is ", ev.loss, " after epoch ",
                  epoch_ + 1, kept(),
                  " (try a smaller learning rate)");
    } else {
      m.validation_loss = m.validation_accuracy = NAN;
    }
    m.test_accuracy = NAN;
    if (data_.test.size() > 0) {
      Evaluation te = evaluate(*model_, c_, data_.test);
      m.test_accuracy = te.accuracy, m.test_loss = te.loss;
      m.test_rmse = te.rmse, m.test_mae = te.mae, m.test_r2 = te.r2;
    }
    if (sched_) sched_->step();
    if (comm_) comm_->check_replicas(model_->parameters(), "after epoch " + std::to_string(epoch_ + 1));
    history_.push_back(m);
    // Early stopping: keep the best epoch's model; stop after `patience` epochs without a better one.
    if (c_.patience > 0) {
      if (m.validation_loss < best_loss_) {
        best_loss_ = m.validation_loss;
        best_epoch_ = m.epoch;
        best_state_.clear();
        for (auto& [n, t] : model_->named_parameters()) best_state_.emplace_back(n, t.detach().clone());
      } else if (m.epoch - best_epoch_ >= c_.patience) {
        stopped_early_ = true;
      }
    }
    int64_t finished = epoch_ + 1;
    std::swap(epoch_, finished);
    if (!out.empty() && (!comm_ || comm_->is_root())) save(out);  // one writer
    if (!out.empty()) saved_here = true;
    std::swap(epoch_, finished);
    history.push_back(m);
    if (cb.on_epoch) cb.on_epoch(m);
  }
  return history;
}

SavedModel load_model(const std::string& path) {
  // The header first: a file that is no checkpoint of a model that fits is
  // refused before its tensors are read, and the model is built only once
  // its size agrees with the file's tensors.
  SavedModel s;
  s.config = read_checkpoint_header(path).config;
  io::TensorFile f = io::load_safetensors(path);
  s.config = config_of(f.metadata, path);  // the file may have changed in between
  check_table(table_of(f), s.config, path);
  check_finite(f, path);
  if (f.metadata.count("epochs_done")) s.epochs = epochs_done_of(f.metadata, s.config, path);
  s.model = build_model(s.config);
  // Early stopping keeps the best epoch's model beside the last one's: that is the model.
  if (f.metadata.count("best_epoch") && f.contains("best." + s.model->named_parameters().front().first))
    detail::load_named_parameters(*s.model, f, path, "best.");
  else
    load_parameters(*s.model, f, path);
  s.history = history_of(f.metadata, path);
  s.normalizer = load_normalizer(f, s.config, path);
  s.model->eval();
  return s;
}

}  // namespace nabla::train
