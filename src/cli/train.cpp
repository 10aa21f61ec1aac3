// `nabla train`, `nabla evaluate`, `nabla predict`, `nabla summary`: thin
// layers over nabla::train — argument parsing, progress display, metrics
// files and plots.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "distributed.hpp"
#include "nabla/autograd.hpp"
#include "nabla/io.hpp"
#include "nabla/ops.hpp"
#include "nabla/train.hpp"

namespace nabla::cli {
namespace {

struct TrainArgs {
  train::Config c;
  std::string layers = "784,256,128,10";
  std::string out = "model.safetensors";
  std::string resume, metrics_json, plot;
  // The options that are settings, by their checkpoint metadata key.
  std::vector<std::pair<std::string, CLI::Option*>> settings;
};

// Text from a file, safe to print: control characters (a terminal's escape
// sequences among them) are shown as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Note [Resumed settings]: a resumed run continues the checkpoint's run, so
// every setting comes from the checkpoint; one given on the command line
// must agree with it, or the run stops naming both values. --epochs and
// --data are overrides (a run may be extended, its data moved) and are
// printed as such.
void adopt_checkpoint_settings(TrainArgs& a, const train::CheckpointHeader& h) {
  io::Metadata mine = a.c.to_metadata();
  const io::Metadata saved = h.config.to_metadata();
  for (const auto& [key, opt] : a.settings) {
    const std::string& theirs = saved.at(key);
    if (!opt->count()) {
      mine[key] = theirs;
    } else if (mine[key] != theirs) {
      if (key == "epochs" || key == "data") {
        std::printf("nabla train: %s %s overrides the checkpoint's %s\n", opt->get_name().c_str(),
                    printable(mine[key]).c_str(), printable(theirs).c_str());
        continue;
      }
      NABLA_CHECK(false, opt->get_name(), " ", mine[key], " contradicts the checkpoint's ", key, " ",
                  printable(theirs), " (", a.resume, "); leave it out to continue with the checkpoint's value");
    }
  }
  const int threads = a.c.threads;
  a.c = train::Config::from_metadata(mine);
  a.c.threads = threads;
  a.layers = mine.at("layers");
}

// Note [Outputs]: no output may be an input or another output, and every
// output's folder must take a new file, before the first epoch runs. Only
// --out may name the --resume checkpoint (it is the file being continued).
void check_outputs(const TrainArgs& a) {
  std::vector<std::pair<std::string, std::string>> outs;  // flag, path
  if (!a.out.empty()) outs.emplace_back("--out", a.out);
  if (!a.metrics_json.empty()) outs.emplace_back("--metrics-json", a.metrics_json);
  if (!a.plot.empty()) outs.emplace_back("--plot", a.plot);
  std::vector<std::string> data_files;
  const std::string dir = a.c.data == "fashion-mnist" ? data::kFashionMnistDir : a.c.data;
  if (std::filesystem::is_directory(dir)) {
    for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"})
      for (const char* ext : {"", ".gz"}) data_files.push_back(dir + "/" + name + ext);
  } else {
    data_files.push_back(a.c.data);
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    const auto& [flag, path] = outs[i];
    for (size_t j = 0; j < i; ++j)
      NABLA_CHECK_KIND(!io::same_file(path, outs[j].second), ErrorKind::io, flag, " ", path, " and ", outs[j].first,
                       " ", outs[j].second, " name the same file; give each output its own path");
    for (const std::string& f : data_files)
      NABLA_CHECK_KIND(!std::filesystem::exists(f) || !io::same_file(path, f), ErrorKind::io, flag, " ", path,
                       " would overwrite the training data (", f, "); choose another path");
    if (flag != "--out" && !a.resume.empty())
      NABLA_CHECK_KIND(!io::same_file(path, a.resume), ErrorKind::io, flag, " ", path,
                       " would overwrite the checkpoint to resume from (--resume ", a.resume, ")");
    io::check_writable(path, flag);
  }
}

std::string fmt_time(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

// A live bar on a terminal: "epoch 3/10 [#########.........] 41% 96.3k samples/s loss 0.3121 ETA 0.4s".
void draw_bar(const train::Progress& p) {
  const int width = 28;
  double frac = static_cast<double>(p.batch) / static_cast<double>(std::max<int64_t>(p.batches, 1));
  int fill = static_cast<int>(frac * width);
  double rate = p.seconds > 0 ? static_cast<double>(p.samples) / p.seconds : 0;
  double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
  std::fprintf(stdout, "\r\033[2Kepoch %lld/%lld [%s%s] %3d%% %6.1fk samples/s  loss %.4f  ETA %s",
               static_cast<long long>(p.epoch), static_cast<long long>(p.epochs), std::string(static_cast<size_t>(fill), '#').c_str(),
               std::string(static_cast<size_t>(width - fill), '.').c_str(), static_cast<int>(frac * 100), rate / 1000,
               p.running_loss, fmt_time(eta).c_str());
  std::fflush(stdout);
}

void print_epoch(const train::EpochMetrics& m, int64_t epochs, bool tty) {
  if (tty) std::fputs("\r\033[2K", stdout);
  std::printf("epoch %lld/%lld  train loss %.4f", static_cast<long long>(m.epoch), static_cast<long long>(epochs),
              m.train_loss);
  if (!std::isnan(m.validation_accuracy)) std::printf("  val acc %.2f%%", 100 * m.validation_accuracy);
  if (!std::isnan(m.test_accuracy)) std::printf("  test acc %.2f%%", 100 * m.test_accuracy);
  std::printf("  %.2fs  %.1fk samples/s\n", m.seconds, m.samples_per_second / 1000);
  std::fflush(stdout);
}

nlohmann::json to_json(const train::EpochMetrics& m) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"epoch", m.epoch},
          {"train_loss", num(m.train_loss)},
          {"validation_loss", num(m.validation_loss)},
          {"validation_accuracy", num(m.validation_accuracy)},
          {"test_accuracy", num(m.test_accuracy)},
          {"seconds", m.seconds},
          {"samples_per_second", m.samples_per_second},
          {"lr", m.lr}};
}

// Two panels: training loss, and validation/test accuracy, per epoch.
std::string svg_plot(const std::vector<train::EpochMetrics>& h, const std::string& title) {
  const double W = 900, H = 360, pad = 50, pw = (W - 3 * pad) / 2, ph = H - 2 * pad - 20;
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='20' text-anchor='middle' font-size='15'>" << title << "</text>\n";
  auto panel = [&](double x0, const std::string& name, std::vector<std::pair<std::string, std::vector<double>>> series,
                   const char* const* colors) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& [n, v] : series)
      for (double d : v)
        if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9) hi = lo + 1;
    double y0 = pad + 20;
    size_t n = h.size();
    auto X = [&](size_t i) { return x0 + (n > 1 ? pw * static_cast<double>(i) / static_cast<double>(n - 1) : pw / 2); };
    auto Y = [&](double v) { return y0 + ph * (1 - (v - lo) / (hi - lo)); };
    s << "<rect x='" << x0 << "' y='" << y0 << "' width='" << pw << "' height='" << ph << "' fill='none' stroke='#999'/>\n"
      << "<text x='" << x0 + pw / 2 << "' y='" << y0 - 6 << "' text-anchor='middle'>" << name << "</text>\n";
    for (int t = 0; t <= 4; ++t) {
      double v = lo + (hi - lo) * t / 4;
      s << "<text x='" << x0 - 4 << "' y='" << Y(v) + 4 << "' text-anchor='end'>" << std::setprecision(3) << v
        << std::setprecision(2) << "</text>\n";
    }
    for (size_t i = 0; i < n; ++i)
      s << "<text x='" << X(i) << "' y='" << y0 + ph + 15 << "' text-anchor='middle'>" << h[i].epoch << "</text>\n";
    int k = 0;
    for (auto& [label, v] : series) {
      s << "<polyline fill='none' stroke='" << colors[k] << "' stroke-width='2' points='";
      for (size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i])) s << X(i) << "," << Y(v[i]) << " ";
      s << "'/>\n<text x='" << x0 + 8 << "' y='" << y0 + 16 + 14 * k << "' fill='" << colors[k] << "'>" << label << "</text>\n";
      ++k;
    }
    s << "<text x='" << x0 + pw / 2 << "' y='" << H - 8 << "' text-anchor='middle'>epoch</text>\n";
  };
  std::vector<double> loss, vloss, vacc, tacc;
  for (auto& m : h) loss.push_back(m.train_loss), vloss.push_back(m.validation_loss), vacc.push_back(m.validation_accuracy),
      tacc.push_back(m.test_accuracy);
  static const char* c1[] = {"#1f77b4", "#ff7f0e"};
  static const char* c2[] = {"#2ca02c", "#d62728"};
  panel(pad, "loss", {{"train loss", loss}, {"validation loss", vloss}}, c1);
  panel(2 * pad + pw, "accuracy", {{"validation accuracy", vacc}, {"test accuracy", tacc}}, c2);
  s << "</svg>\n";
  return s.str();
}

void run_train(TrainArgs& a) {
  dist::Communicator& comm = join_training_job(a.c);  // Note [Distributed runs]
  a.c.layers = train::parse_layers(a.layers, "--layers");
  int64_t done = 0;
  if (!a.resume.empty()) {
    const train::CheckpointHeader h = train::read_checkpoint_header(a.resume);
    adopt_checkpoint_settings(a, h);  // Note [Resumed settings]
    done = h.epochs_done;
  }
  a.c.validate();
  NABLA_CHECK(a.c.epochs > 0, "--epochs 0: nothing to train");
  NABLA_CHECK(done < a.c.epochs, "--resume ", a.resume, ": the checkpoint has finished all ", done,
              " epochs; nothing to train (give --epochs above ", done, " to continue)");
  if (comm.is_root()) check_outputs(a);  // Note [Outputs]
  const bool tty = isatty(STDOUT_FILENO);
  train::Trainer t(a.c);
  if (!a.resume.empty()) t.resume(a.resume);
  if (comm.size() > 1) t.distribute(comm);
  const auto& d = t.data();
  std::printf("nabla train: %s — %lld training, %lld validation, %lld test samples; %lld features, %lld classes\n",
              a.c.data.c_str(), static_cast<long long>(d.train.size()), static_cast<long long>(d.validation.size()),
              static_cast<long long>(d.test.size()), static_cast<long long>(d.train.num_features()),
              static_cast<long long>(d.train.num_classes));
  std::printf("model: %s, %lld parameters; %s, lr %g, batch %lld, %lld epochs, seed %llu%s\n", a.layers.c_str(),
              static_cast<long long>(t.model().num_parameters()), a.c.optimizer.c_str(), a.c.lr,
              static_cast<long long>(a.c.batch_size), static_cast<long long>(a.c.epochs),
              static_cast<unsigned long long>(a.c.seed),
              t.epochs_done() ? (", resuming after epoch " + std::to_string(t.epochs_done())).c_str() : "");
  std::fflush(stdout);
  std::vector<train::EpochMetrics> history;
  train::Callbacks cb;
  if (tty) cb.on_batch = [](const train::Progress& p) {
    if (p.batch % 8 == 0 || p.batch == p.batches) draw_bar(p);
  };
  auto write_reports = [&]() {
    if (!a.metrics_json.empty()) {
      nlohmann::json j = nlohmann::json::array();
      for (auto& m : history) j.push_back(to_json(m));
      io::write_atomic(a.metrics_json, j.dump(2) + "\n");
    }
    if (!a.plot.empty()) io::write_atomic(a.plot, svg_plot(history, "nabla train: " + a.layers + " " + a.c.activation));
  };
  cb.on_epoch = [&](const train::EpochMetrics& m) {
    history.push_back(m);
    print_epoch(m, a.c.epochs, tty);
    if (comm.is_root()) write_reports();
  };
  try {
    t.fit(a.out, cb);
  } catch (...) {
    if (tty) std::fputs("\n", stdout);
    std::fflush(stdout);
    throw;
  }
  if (!history.empty()) {
    const auto& last = history.back();
    if (!std::isnan(last.test_accuracy)) std::printf("test accuracy: %.2f%%\n", 100 * last.test_accuracy);
  }
  if (!a.out.empty()) std::printf("saved %s\n", a.out.c_str());
  report_communication(comm);
}

void add_train_options(CLI::App* cmd, TrainArgs& a) {
  auto setting = [&](const char* key, CLI::Option* o) { a.settings.emplace_back(key, o->capture_default_str()); };
  setting("data", cmd->add_option("--data", a.c.data, "fashion-mnist, a folder of IDX files, or a CSV file"));
  setting("label_column", cmd->add_option("--label", a.c.label_column, "label column of a CSV file"));
  setting("layers", cmd->add_option("--layers", a.layers, "layer widths, input first"));
  setting("activation", cmd->add_option("--activation", a.c.activation, "relu, leaky_relu, tanh, sigmoid, gelu"));
  setting("output", cmd->add_option("--output", a.c.output, "output function: none (logits), softmax, log_softmax"));
  setting("init", cmd->add_option("--init", a.c.init, "weight init: default, xavier, kaiming"));
  setting("loss", cmd->add_option("--loss", a.c.loss, "cross-entropy, mse (one-hot targets) or nll"));
  setting("optimizer", cmd->add_option("--optimizer", a.c.optimizer, "sgd, momentum, nesterov, adam, adamw"));
  setting("lr", cmd->add_option("--lr", a.c.lr, "learning rate"));
  setting("momentum", cmd->add_option("--momentum", a.c.momentum, "momentum for momentum/nesterov"));
  setting("weight_decay", cmd->add_option("--weight-decay", a.c.weight_decay, "weight decay"));
  setting("schedule", cmd->add_option("--schedule", a.c.schedule, "learning-rate schedule: none, step, cosine"));
  setting("warmup_epochs", cmd->add_option("--warmup", a.c.warmup_epochs, "warm-up epochs"));
  setting("clip_grad_norm",
          cmd->add_option("--clip-grad-norm", a.c.clip_grad_norm, "clip gradients to this global norm (0: off)"));
  setting("batch_size", cmd->add_option("--batch-size", a.c.batch_size, "mini-batch size"));
  setting("accumulate", cmd->add_option("--accumulate", a.c.accumulate,
                                        "batches whose gradients are summed into one optimizer step"));
  setting("epochs", cmd->add_option("--epochs", a.c.epochs, "epochs (with --resume: the total to reach)"));
  setting("seed", cmd->add_option("--seed", a.c.seed, "random seed"));
  setting("validation_fraction",
          cmd->add_option("--validation", a.c.validation_fraction, "fraction of training data held out"));
  setting("normalize", cmd->add_option("--normalize", a.c.normalize, "input normalization: none, global, per-feature"));
  cmd->add_option("--threads", a.c.threads, "compute threads (0: default)")->capture_default_str();
  cmd->add_option("--out", a.out, "checkpoint written after every epoch")->capture_default_str();
  cmd->add_option("--resume", a.resume,
                  "continue from this checkpoint, with its settings: a flag that contradicts one is an error; "
                  "--epochs and --data override");
  cmd->add_option("--metrics-json", a.metrics_json, "write every epoch's figures to this JSON file");
  cmd->add_option("--plot", a.plot, "draw loss and accuracy curves into this SVG file");
}

// Rows to predict: an IDX image file, or a CSV file of feature rows (its label
// column, named by --label, is read and ignored).
Tensor read_inputs(const std::string& path, int64_t features, const std::string& label) {
  Tensor x;
  if (path.ends_with(".csv") || path.ends_with(".csv.gz")) {
    data::CsvOptions o;
    o.label_column = label;
    o.classification = false;
    x = data::read_csv(path, o).features;
  } else {
    x = data::read_idx_images(path);
  }
  NABLA_CHECK_KIND(x.shape()[1] == features, ErrorKind::shape, path, ": rows have ", x.shape()[1],
                   " features, the model expects ", features);
  return x;
}

}  // namespace

void register_train(CLI::App& app) {
  static TrainArgs train_args;
  auto* tr = app.add_subcommand("train", "Train a network (default: 784-256-128-10 ReLU on Fashion-MNIST)");
  add_train_options(tr, train_args);
  tr->callback([] { run_train(train_args); });

  static std::string model_path, data_path = "fashion-mnist", label = "label", input;
  static int64_t limit = 10;
  auto* ev = app.add_subcommand("evaluate", "Accuracy, per-class accuracy and confusion matrix of a saved model");
  ev->add_option("--model", model_path, "checkpoint")->required();
  ev->add_option("--data", data_path, "fashion-mnist (test split), a folder of IDX files, or a CSV file")->capture_default_str();
  ev->add_option("--label", label, "label column of a CSV file")->capture_default_str();
  ev->callback([] {
    train::SavedModel s = train::load_model(model_path);
    train::Config c = s.config;
    data::Dataset ds;
    if (data_path == "fashion-mnist") ds = data::load_fashion_mnist().test;
    else if (std::filesystem::is_directory(data_path)) ds = data::load_idx_folder(data_path).test;
    else {
      data::CsvOptions o;
      o.label_column = label;
      ds = data::read_csv(data_path, o);
    }
    NABLA_CHECK_KIND(ds.num_features() == c.layers.front(), ErrorKind::shape, data_path, ": ", ds.num_features(),
                     " features, the model expects ", c.layers.front());
    NABLA_CHECK_KIND(ds.num_classes <= c.layers.back(), ErrorKind::shape, data_path, ": labels go up to ",
                     ds.num_classes - 1, ", the model has ", c.layers.back(), " classes");
    if (s.normalizer.fitted()) s.normalizer.apply_to(ds);
    train::Evaluation e = train::evaluate(*s.model, c, ds);
    std::printf("%s on %s: %lld samples, loss %.4f, accuracy %.2f%%\n", model_path.c_str(), data_path.c_str(),
                static_cast<long long>(ds.size()), e.loss, 100 * e.accuracy);
    std::printf("per-class accuracy:\n");
    for (size_t k = 0; k < e.per_class_accuracy.size(); ++k) {
      std::string name = k < ds.class_names.size() ? printable(ds.class_names[k]) : std::to_string(k);
      std::printf("  %2zu %-14s %6.2f%%\n", k, name.c_str(), 100 * e.per_class_accuracy[k]);
    }
    if (e.confusion.empty()) {
      std::printf("confusion matrix omitted: %lld classes (at most %lld are shown)\n",
                  static_cast<long long>(c.layers.back()), static_cast<long long>(train::kMaxConfusionClasses));
      return;
    }
    std::printf("confusion matrix (rows: true class, columns: predicted):\n     ");
    for (size_t k = 0; k < e.confusion.size(); ++k) std::printf("%6zu", k);
    std::printf("\n");
    for (size_t r = 0; r < e.confusion.size(); ++r) {
      std::printf("  %2zu ", r);
      for (int64_t v : e.confusion[r]) std::printf("%6lld", static_cast<long long>(v));
      std::printf("\n");
    }
  });

  auto* pr = app.add_subcommand("predict", "Class and probabilities for each input row");
  pr->add_option("--model", model_path, "checkpoint")->required();
  pr->add_option("--input", input, "an IDX image file, or a CSV file of feature rows")->required();
  pr->add_option("--label", label, "label column of a CSV input (ignored)")->capture_default_str();
  pr->add_option("--limit", limit, "rows to predict (0: all)")->capture_default_str();
  pr->callback([] {
    train::SavedModel s = train::load_model(model_path);
    Tensor x = read_inputs(input, s.config.layers.front(), label);
    if (limit > 0 && x.shape()[0] > limit) x = x.slice(0, 0, limit).contiguous();
    if (s.normalizer.fitted()) x = s.normalizer.apply(x);
    NoGradGuard ng;
    Tensor out = s.model->forward(x);
    Tensor probs = s.config.output == "softmax" ? out : s.config.output == "log_softmax" ? exp(out) : softmax(out, 1);
    std::vector<float> p = probs.to_vector<float>();
    int64_t K = probs.shape()[1];
    const auto& names = s.config.data == "fashion-mnist" ? data::fashion_mnist_class_names() : std::vector<std::string>{};
    for (int64_t r = 0; r < probs.shape()[0]; ++r) {
      for (int64_t k = 0; k < K; ++k)
        NABLA_CHECK(std::isfinite(p[static_cast<size_t>(r * K + k)]), input, ": row ", r,
                    ": the model's output is not finite (", p[static_cast<size_t>(r * K + k)],
                    "); the row's values are too large for this model");
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (p[static_cast<size_t>(r * K + k)] > p[static_cast<size_t>(r * K + best)]) best = k;
      std::printf("%lld: class %lld%s%s  [", static_cast<long long>(r), static_cast<long long>(best),
                  names.empty() ? "" : " ", names.empty() ? "" : names[static_cast<size_t>(best)].c_str());
      for (int64_t k = 0; k < K; ++k) std::printf("%s%.4f", k ? ", " : "", p[static_cast<size_t>(r * K + k)]);
      std::printf("]\n");
    }
  });

  auto* su = app.add_subcommand("summary", "Layers, shapes and parameter count of a saved model");
  su->add_option("--model", model_path, "checkpoint")->required();
  su->callback([] {
    train::SavedModel s = train::load_model(model_path);
    std::printf("%s: trained %lld epochs on %s (%s, %s loss)\n", printable(model_path).c_str(),
                static_cast<long long>(s.epochs), printable(s.config.data).c_str(), s.config.optimizer.c_str(),
                s.config.loss.c_str());
    std::printf("%s", s.model->summary(s.config.layers.front()).c_str());
  });
}

int run_default() {
  TrainArgs a;
  run_train(a);
  return 0;
}

}  // namespace nabla::cli
