// `nabla train`, `nabla evaluate`, `nabla predict`, `nabla summary`: thin
// layers over nabla::train — argument parsing, progress display, metrics
// files and plots.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  std::string layers;              // --layers: every width, input first
  std::string hidden = "256,128";  // --hidden: the hidden widths; input and output come from the data
  std::string out = "model.safetensors";
  std::string resume, metrics_json, plot;
  bool no_header = false, quiet = false;
  // The options that are settings, by their checkpoint metadata key.
  std::vector<std::pair<std::string, CLI::Option*>> settings;
  CLI::Option *out_opt = nullptr, *layers_opt = nullptr, *hidden_opt = nullptr, *epochs_opt = nullptr;
};

// The widths a run asks for: --layers as given, or --hidden between the
// data's input and output widths (0: filled in by the Trainer).
std::vector<int64_t> requested_layers(const TrainArgs& a) {
  NABLA_CHECK(!(a.layers_opt->count() && a.hidden_opt->count()),
              "--layers and --hidden both give the architecture; give one (--hidden 256,128 takes the input and "
              "output widths from the data)");
  if (!a.layers.empty()) return train::parse_layers(a.layers, "--layers");
  std::vector<int64_t> w{0};
  if (!a.hidden.empty() && a.hidden != "none") {
    // parse_layers wants two sizes at least: parse "1,<hidden>" and drop the 1.
    std::vector<int64_t> h = train::parse_layers("1," + a.hidden, "--hidden");
    w.insert(w.end(), h.begin() + 1, h.end());
  }
  w.push_back(0);
  return w;
}

std::string join_widths(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

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
// must agree with it, or the run stops naming both values. --epochs, --data
// and --test-data are overrides (a run may be extended, its data moved) and
// are printed as such. "auto" (--task, --loss) agrees with any value.
void adopt_checkpoint_settings(TrainArgs& a, const train::CheckpointHeader& h) {
  io::Metadata mine = a.c.to_metadata();
  io::Metadata merged = h.config.to_metadata();
  auto contradiction = [&](const std::string& flag, const std::string& value, const std::string& key,
                           const std::string& theirs) {
    NABLA_CHECK(false, flag, " ", printable(value), " contradicts the checkpoint's ", key, " ", printable(theirs),
                " (", a.resume, "); leave it out to continue with the checkpoint's value");
  };
  for (const auto& [key, opt] : a.settings) {
    const std::string& theirs = merged.at(key);
    if (!opt->count() || mine[key] == theirs || mine[key] == "auto") continue;
    if (key == "epochs" || key == "data" || key == "test_data") {
      if (!a.quiet)
        std::printf("nabla train: %s %s overrides the checkpoint's %s\n", opt->get_name().c_str(),
                    printable(mine[key]).c_str(), printable(theirs).c_str());
      merged[key] = mine[key];
      continue;
    }
    if (key == "optimizer")
      NABLA_CHECK(false, "--optimizer ", mine[key], " contradicts the checkpoint's optimizer ", theirs, " (", a.resume,
                  "): its state (momenta, moment estimates) belongs to ", theirs,
                  " and does not carry over; leave --optimizer out to continue with ", theirs,
                  ", or start a new run to train with ", mine[key]);
    contradiction(opt->get_name(), key == "header" ? "(given)" : mine[key], key, theirs);
  }
  const std::vector<int64_t>& saved = h.config.layers;
  if (a.layers_opt->count() && a.layers != merged.at("layers"))
    contradiction("--layers", a.layers, "layers", merged.at("layers"));
  if (a.hidden_opt->count()) {
    const std::vector<int64_t> want = requested_layers(a);
    const std::string inner = join_widths({saved.begin() + 1, saved.end() - 1});
    if (join_widths({want.begin() + 1, want.end() - 1}) != inner)
      contradiction("--hidden", a.hidden, "hidden widths", inner.empty() ? "none" : inner);
  }
  const int threads = a.c.threads;
  a.c = train::Config::from_metadata(merged);
  a.c.threads = threads;
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

// The terminal's width, measured at every redraw (a resized window gets a
// bar that fits): TIOCGWINSZ, else $COLUMNS, else 80; at most 80.
int terminal_columns() {
  int cols = 0;
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) cols = ws.ws_col;
  if (cols == 0)
    if (const char* env = std::getenv("COLUMNS")) cols = std::atoi(env);
  if (cols <= 0) cols = 80;
  return std::min(cols, 80);
}

// A live bar on a terminal, one column short of its width (a full line would
// wrap on some terminals): "epoch 3/10 [#####.....] 41% 96.3k/s loss 0.3121 ETA 0.4s".
// Narrower terminals lose the bar first, then the rate and ETA.
void draw_bar(const train::Progress& p) {
  const double frac = static_cast<double>(p.batch) / static_cast<double>(std::max<int64_t>(p.batches, 1));
  const double rate = p.seconds > 0 ? static_cast<double>(p.samples) / p.seconds : 0;
  const double eta = frac > 0 ? p.seconds * (1 - frac) / frac : 0;
  char head[64], tail[96], rest[64];
  std::snprintf(head, sizeof head, "epoch %lld/%lld", static_cast<long long>(p.epoch), static_cast<long long>(p.epochs));
  std::snprintf(tail, sizeof tail, " %3d%% loss %.4f", static_cast<int>(frac * 100), p.running_loss);
  std::snprintf(rest, sizeof rest, " %.1fk/s ETA %s", rate / 1000, fmt_time(eta).c_str());
  const int room = terminal_columns() - 1;
  const int fixed = static_cast<int>(std::strlen(head) + std::strlen(tail)), extra = static_cast<int>(std::strlen(rest));
  // The bar gets at least 10 columns before the rate and ETA are shown.
  const bool with_rest = room - fixed - extra - 3 >= 10 || room - fixed - 3 < 5;
  const int bar = std::min(30, room - fixed - 3 - (with_rest ? extra : 0));
  std::string line = head;
  if (bar >= 5) {
    const int fill = static_cast<int>(frac * bar);
    line += " [" + std::string(static_cast<size_t>(fill), '#') + std::string(static_cast<size_t>(bar - fill), '.') + "]";
  }
  line += tail;
  if (with_rest && static_cast<int>(line.size()) + extra <= room) line += rest;
  if (static_cast<int>(line.size()) > room) line.resize(static_cast<size_t>(std::max(room, 0)));
  std::fprintf(stdout, "\r\033[2K%s", line.c_str());
  std::fflush(stdout);
}

void print_epoch(const train::EpochMetrics& m, int64_t epochs, bool tty) {
  if (tty) std::fputs("\r\033[2K", stdout);
  std::printf("epoch %lld/%lld  train loss %.4f", static_cast<long long>(m.epoch), static_cast<long long>(epochs),
              m.train_loss);
  if (!std::isnan(m.validation_accuracy)) std::printf("  val acc %.2f%%", 100 * m.validation_accuracy);
  if (!std::isnan(m.validation_rmse)) std::printf("  val RMSE %.4g  R² %.3f", m.validation_rmse, m.validation_r2);
  if (!std::isnan(m.test_accuracy)) std::printf("  test acc %.2f%%", 100 * m.test_accuracy);
  if (!std::isnan(m.test_rmse)) std::printf("  test RMSE %.4g  R² %.3f", m.test_rmse, m.test_r2);
  std::printf("  %.2fs  %.1fk samples/s\n", m.seconds, m.samples_per_second / 1000);
  std::fflush(stdout);
}

nlohmann::json num(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json to_json(const train::EpochMetrics& m) {
  nlohmann::json j = {{"epoch", m.epoch},
                      {"train_loss", num(m.train_loss)},
                      {"validation_loss", num(m.validation_loss)},
                      {"validation_accuracy", num(m.validation_accuracy)},
                      {"test_accuracy", num(m.test_accuracy)},
                      {"seconds", m.seconds},
                      {"samples_per_second", m.samples_per_second},
                      {"lr", m.lr}};
  // Regression figures, where there are any.
  for (auto [key, v] : {std::pair{"validation_rmse", m.validation_rmse}, {"validation_mae", m.validation_mae},
                        {"validation_r2", m.validation_r2}, {"test_loss", m.test_loss}, {"test_rmse", m.test_rmse},
                        {"test_mae", m.test_mae}, {"test_r2", m.test_r2}})
    if (!std::isnan(v)) j[key] = v;
  return j;
}

// Ticks at 1, 2 or 5 times a power of ten, about `want` of them over [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int want) {
  const double raw = (hi - lo) / std::max(want, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);  // 0, not -1.4e-17
  return t;
}

// Note [Plot]: two panels, the losses and the accuracy (regression: RMSE),
// over epochs 1..N of the whole run. The x axis has at most ~8 labelled
// ticks whatever N is; each panel's legend sits below it, so it never covers
// a curve; short runs (up to 30 epochs) mark each epoch with a point, so a
// one-epoch run shows its values; a curve that has no value (no test set)
// is not drawn and has no legend entry.
std::string svg_plot(const std::vector<train::EpochMetrics>& h, const std::string& title, bool regression) {
  const double W = 900, H = 400, pad = 60, pw = (W - 3 * pad) / 2, ph = 230, y0 = 50;
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='20' text-anchor='middle' font-size='15'>" << title << "</text>\n";
  const double first = h.empty() ? 1 : static_cast<double>(h.front().epoch);
  const double last = h.empty() ? 1 : static_cast<double>(h.back().epoch);
  auto panel = [&](double x0, const std::string& name, std::vector<std::pair<std::string, std::vector<double>>> series,
                   const char* const* colors) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& [n, v] : series)
      for (double d : v)
        if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-9 * std::max(1.0, std::fabs(hi))) lo -= 0.5, hi += 0.5;
    const double margin = (hi - lo) * 0.05;
    lo -= margin, hi += margin;
    auto X = [&](double epoch) { return x0 + (last > first ? pw * (epoch - first) / (last - first) : pw / 2); };
    auto Y = [&](double v) { return y0 + ph * (1 - (v - lo) / (hi - lo)); };
    s << "<rect x='" << x0 << "' y='" << y0 << "' width='" << pw << "' height='" << ph << "' fill='none' stroke='#999'/>\n"
      << "<text x='" << x0 + pw / 2 << "' y='" << y0 - 6 << "' text-anchor='middle'>" << name << "</text>\n";
    for (double v : nice_ticks(lo, hi, 5)) {
      s << "<line x1='" << x0 - 4 << "' x2='" << x0 << "' y1='" << Y(v) << "' y2='" << Y(v) << "' stroke='#999'/>"
        << "<text x='" << x0 - 6 << "' y='" << Y(v) + 4 << "' text-anchor='end'>" << std::setprecision(4)
        << std::defaultfloat << v << std::fixed << std::setprecision(2) << "</text>\n";
    }
    std::vector<double> xt = last > first ? nice_ticks(first, last, 6) : std::vector<double>{first};
    std::erase_if(xt, [](double e) { return e != std::floor(e); });
    for (double e : xt)
      s << "<line x1='" << X(e) << "' x2='" << X(e) << "' y1='" << y0 + ph << "' y2='" << y0 + ph + 4
        << "' stroke='#999'/><text x='" << X(e) << "' y='" << y0 + ph + 17 << "' text-anchor='middle'>"
        << static_cast<long long>(e) << "</text>\n";
    s << "<text x='" << x0 + pw / 2 << "' y='" << y0 + ph + 34 << "' text-anchor='middle'>epoch</text>\n";
    int k = 0;
    for (auto& [label, v] : series) {
      s << "<polyline fill='none' stroke='" << colors[k] << "' stroke-width='2' points='";
      for (size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i])) s << X(static_cast<double>(h[i].epoch)) << "," << Y(v[i]) << " ";
      s << "'/>\n";
      if (v.size() <= 30)
        for (size_t i = 0; i < v.size(); ++i)
          if (std::isfinite(v[i]))
            s << "<circle cx='" << X(static_cast<double>(h[i].epoch)) << "' cy='" << Y(v[i]) << "' r='3.5' fill='"
              << colors[k] << "'/>\n";
      // The legend: below the panel, one entry per line.
      const double ly = y0 + ph + 54 + 16 * k;
      s << "<line x1='" << x0 << "' x2='" << x0 + 22 << "' y1='" << ly - 4 << "' y2='" << ly - 4 << "' stroke='"
        << colors[k] << "' stroke-width='2'/><text x='" << x0 + 28 << "' y='" << ly << "'>" << label << "</text>\n";
      ++k;
    }
  };
  auto series = [&](double train::EpochMetrics::*f) {
    std::vector<double> v;
    for (auto& m : h) v.push_back(m.*f);
    return v;
  };
  // Only the curves that exist: a run without a test set draws no test curve.
  auto existing = [](std::vector<std::pair<std::string, std::vector<double>>> all) {
    std::erase_if(all, [](const auto& e) {
      return std::none_of(e.second.begin(), e.second.end(), [](double d) { return std::isfinite(d); });
    });
    return all;
  };
  static const char* c1[] = {"#1f77b4", "#ff7f0e", "#9467bd"};
  static const char* c2[] = {"#2ca02c", "#d62728"};
  using M = train::EpochMetrics;
  panel(pad, "loss",
        existing({{"train loss", series(&M::train_loss)},
                  {"validation loss", series(&M::validation_loss)},
                  {"test loss", series(&M::test_loss)}}),
        c1);
  if (regression)
    panel(2 * pad + pw, "RMSE",
          existing({{"validation RMSE", series(&M::validation_rmse)}, {"test RMSE", series(&M::test_rmse)}}), c2);
  else
    panel(2 * pad + pw, "accuracy",
          existing({{"validation accuracy", series(&M::validation_accuracy)},
                    {"test accuracy", series(&M::test_accuracy)}}),
          c2);
  s << "</svg>\n";
  return s.str();
}

void run_train(TrainArgs& a) {
  dist::Communicator& comm = join_training_job(a.c);  // Note [Distributed runs]
  a.c.header = !a.no_header;
  a.c.layers = requested_layers(a);
  int64_t done = 0;
  const std::string asked_task = a.c.task;
  if (!a.resume.empty()) {
    const train::CheckpointHeader h = train::read_checkpoint_header(a.resume);
    adopt_checkpoint_settings(a, h);  // Note [Resumed settings]
    done = h.epochs_done;
    // Resume writes back to the checkpoint it continues, unless --out says otherwise.
    if (!a.out_opt->count()) a.out = a.resume;
    // A finished run says so, and nothing is written.
    NABLA_CHECK(!h.stopped_early, "--resume ", a.resume, ": the run stopped early after epoch ", done,
                " (no better validation loss for ", a.c.patience, " epochs); nothing to train");
    NABLA_CHECK(done < a.c.epochs, "--resume ", a.resume, ": the checkpoint has finished all ", done,
                " epochs; nothing to train (give --epochs above ", done, " to continue)");
  }
  a.c.validate();
  NABLA_CHECK(a.c.epochs > 0 || !a.epochs_opt->count(), "--epochs 0: nothing to train");
  if (comm.is_root()) check_outputs(a);  // Note [Outputs]
  const bool tty = isatty(STDOUT_FILENO) && !a.quiet;
  train::Trainer t(a.c);
  if (!a.resume.empty()) t.resume(a.resume);
  if (comm.size() > 1) t.distribute(comm);
  const train::Config& c = t.config();
  const auto& d = t.data();
  const std::string targets = c.regression() ? std::string("a regression target")
                                             : std::to_string(d.train.num_classes) + " classes";
  if (!a.quiet) std::printf("nabla train: %s — %lld training, %lld validation, %lld test samples; %lld features, %s\n",
      printable(c.data).c_str(), static_cast<long long>(d.train.size()), static_cast<long long>(d.validation.size()),
      static_cast<long long>(d.test.size()), static_cast<long long>(d.train.num_features()), targets.c_str());
  if (asked_task == "auto" && a.resume.empty() && !(c.data == "fashion-mnist" || std::filesystem::is_directory(c.data)))
    if (!a.quiet) std::printf("task: %s (from the labels of '%s': %s; --task to choose)\n", c.task.c_str(), printable(c.label_column).c_str(),
        c.regression() ? "numbers, not all integers or most of them distinct"
                                      : "each distinct label a class");
  if (!a.quiet) std::printf("model: %s %s, %lld parameters; %s loss, %s, lr %g, batch %lld, %lld epochs, seed %llu%s\n",
      join_widths(c.layers).c_str(), c.activation.c_str(), static_cast<long long>(t.model().num_parameters()),
      c.loss.c_str(), c.optimizer.c_str(), c.lr, static_cast<long long>(c.batch_size),
      static_cast<long long>(c.epochs), static_cast<unsigned long long>(c.seed),
      t.epochs_done() ? (", resuming after epoch " + std::to_string(t.epochs_done())).c_str() : "");
  std::fflush(stdout);
  train::Callbacks cb;
  if (tty) cb.on_batch = [](const train::Progress& p) {
    if (p.batch % 8 == 0 || p.batch == p.batches) draw_bar(p);
  };
  // The reports cover the whole run: the epochs before a resume come from the checkpoint.
  auto write_reports = [&]() {
    if (!a.metrics_json.empty()) {
      nlohmann::json j = nlohmann::json::array();
      for (auto& m : t.history()) j.push_back(to_json(m));
      io::write_atomic(a.metrics_json, j.dump(2) + "\n");
    }
    if (!a.plot.empty())
      io::write_atomic(a.plot, svg_plot(t.history(), "nabla train: " + join_widths(c.layers) + " " + c.activation,
                                        c.regression()));
  };
  cb.on_epoch = [&](const train::EpochMetrics& m) {
    if (!a.quiet) print_epoch(m, c.epochs, tty);
    if (comm.is_root()) write_reports();
  };
  try {
    t.fit(a.out, cb);
  } catch (...) {
    if (tty) std::fputs("\n", stdout);
    std::fflush(stdout);
    throw;
  }
  if (!t.history().empty()) {
    // The figures of the model the checkpoint keeps: the best epoch's under early stopping.
    const auto& last = t.best_epoch() > 0 ? t.history()[static_cast<size_t>(t.best_epoch() - 1)] : t.history().back();
    if (t.stopped_early())
      std::printf("stopped early after epoch %lld: no better validation loss since epoch %lld, whose model is kept\n",
                  static_cast<long long>(t.history().back().epoch), static_cast<long long>(t.best_epoch()));
    else if (t.best_epoch() > 0)
      std::printf("best validation loss at epoch %lld, whose model is kept\n", static_cast<long long>(t.best_epoch()));
    if (!std::isnan(last.test_accuracy)) std::printf("test accuracy: %.2f%%\n", 100 * last.test_accuracy);
    if (!std::isnan(last.test_rmse))
      std::printf("test RMSE %.4g, MAE %.4g, R² %.4f\n", last.test_rmse, last.test_mae, last.test_r2);
    if (std::isnan(last.test_accuracy) && std::isnan(last.test_rmse)) {
      if (!std::isnan(last.validation_accuracy))
        std::printf("validation accuracy: %.2f%%\n", 100 * last.validation_accuracy);
      if (!std::isnan(last.validation_rmse))
        std::printf("validation RMSE %.4g, MAE %.4g, R² %.4f\n", last.validation_rmse, last.validation_mae,
                    last.validation_r2);
    }
  }
  if (!a.out.empty()) std::printf("saved %s\n", printable(a.out).c_str());
  report_communication(comm);
}

void add_train_options(CLI::App* cmd, TrainArgs& a) {
  auto setting = [&](const char* key, CLI::Option* o) { a.settings.emplace_back(key, o->capture_default_str()); };
  setting("data", cmd->add_option("--data", a.c.data, "fashion-mnist, a folder of IDX files, or a CSV file"));
  setting("test_data", cmd->add_option("--test-data", a.c.test_data, "a CSV file to score after every epoch"));
  setting("label_column", cmd->add_option("--label", a.c.label_column, "label column of a CSV file: its name or number"));
  setting("delimiter", cmd->add_option("--delimiter", a.c.delimiter, "CSV delimiter: one character"));
  setting("header", cmd->add_flag("--no-header", a.no_header, "the CSV files have no header row"));
  setting("task", cmd->add_option("--task", a.c.task, "classification, regression, or auto (from the labels)"));
  a.hidden_opt = cmd->add_option("--hidden", a.hidden,
                                 "hidden widths (none: a linear model); input and output widths come from the data")
                     ->capture_default_str();
  a.layers_opt = cmd->add_option("--layers", a.layers, "every width, input first (instead of --hidden)");
  setting("activation", cmd->add_option("--activation", a.c.activation, "relu, leaky_relu, tanh, sigmoid, gelu"));
  setting("dropout", cmd->add_option("--dropout", a.c.dropout, "dropout probability after each hidden layer"));
  setting("output", cmd->add_option("--output", a.c.output, "output function: none (logits), softmax, log_softmax"));
  setting("init", cmd->add_option("--init", a.c.init, "weight init: default, xavier, kaiming"));
  setting("loss", cmd->add_option("--loss", a.c.loss,
                                  "auto; classification: cross-entropy, mse (one-hot), nll; regression: mse, l1, huber"));
  setting("optimizer", cmd->add_option("--optimizer", a.c.optimizer, "sgd, momentum, nesterov, adam, adamw"));
  setting("lr", cmd->add_option("--lr", a.c.lr, "learning rate"));
  setting("momentum", cmd->add_option("--momentum", a.c.momentum, "momentum for momentum/nesterov"));
  setting("weight_decay", cmd->add_option("--weight-decay", a.c.weight_decay, "weight decay"));
  setting("schedule", cmd->add_option("--schedule", a.c.schedule, "learning-rate schedule: none, step, cosine"));
  setting("warmup_epochs", cmd->add_option("--warmup", a.c.warmup_epochs, "warm-up epochs"));
  setting("clip_grad_norm",
          cmd->add_option("--clip-grad-norm", a.c.clip_grad_norm, "clip gradients to this global norm (0: off)"));
  setting("accumulate", cmd->add_option("--accumulate", a.c.accumulate,
                                        "batches whose gradients are summed into one optimizer step"));
  // The defaults depend on the data (train::Config: 0 is chosen by the Trainer).
  a.c.batch_size = 0;
  a.c.epochs = 0;
  setting("batch_size", cmd->add_option("--batch-size", a.c.batch_size,
                                        "mini-batch size (default: a twentieth of the training rows, 8 to 128)"));
  a.epochs_opt = cmd->add_option("--epochs", a.c.epochs,
                                 "epochs (with --resume: the total to reach; default: 10, or on small data enough "
                                 "for about 1000 steps, at most 200)");
  setting("epochs", a.epochs_opt);
  setting("patience", cmd->add_option("--patience", a.c.patience,
                                      "stop after this many epochs without a better validation loss, keeping the "
                                      "best model (0: off)"));
  setting("seed", cmd->add_option("--seed", a.c.seed, "random seed"));
  setting("validation_fraction",
          cmd->add_option("--validation", a.c.validation_fraction, "fraction of training data held out"));
  setting("normalize", cmd->add_option("--normalize", a.c.normalize, "input normalization: none, global, per-feature"));
  cmd->add_option("--threads", a.c.threads, "compute threads (0: default)")->capture_default_str();
  a.out_opt = cmd->add_option("--out", a.out, "checkpoint written after every epoch (with --resume: that checkpoint)")
                  ->capture_default_str();
  cmd->add_option("--resume", a.resume,
                  "continue from this checkpoint, with its settings: a flag that contradicts one is an error; "
                  "--epochs, --data and --test-data override");
  cmd->add_option("--metrics-json", a.metrics_json, "write every epoch's figures to this JSON file");
  cmd->add_option("--plot", a.plot, "draw loss and accuracy (or RMSE) curves into this SVG file");
  cmd->add_flag("--quiet,-q", a.quiet, "no progress: only the final figures and the saved file");
}

// A flag of evaluate/predict given against the checkpoint: it must agree.
void agree(const CLI::Option* opt, const std::string& value, const std::string& key, const std::string& saved,
           const std::string& model) {
  NABLA_CHECK(!opt->count() || value == saved, opt->get_name(), " ", printable(value), " contradicts the checkpoint's ",
              key, " ", printable(saved), " (", model, "); leave it out to use the checkpoint's");
}

bool is_csv(const std::string& path) {
  return !(path == "fashion-mnist" || std::filesystem::is_directory(path));
}

// The test split of an IDX folder alone (t10k-*, plain or .gz), without the training files.
data::Dataset idx_test_split(const std::string& source, const train::Config& c) {
  const std::string dir = source == "fashion-mnist" ? data::kFashionMnistDir : source;
  auto find = [&](const char* name) {
    const std::string plain = dir + "/" + name;
    if (std::filesystem::exists(plain) || !std::filesystem::exists(plain + ".gz")) return plain;
    return plain + ".gz";
  };
  NABLA_CHECK_KIND(source != "fashion-mnist" || std::filesystem::exists(find("t10k-images-idx3-ubyte")), ErrorKind::io,
                   "fashion-mnist: no test images in ", dir, "; install Debian's dataset-fashion-mnist package "
                   "(apt-get install dataset-fashion-mnist)");
  data::Dataset ds = data::read_idx_dataset(find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte"),
                                            data::PixelScale::unit, c.layers.back());
  if (source == "fashion-mnist") ds.class_names = data::fashion_mnist_class_names();
  return ds;
}

// Rows to predict: an IDX image file, or a CSV file of feature rows, read as
// the checkpoint's data was (delimiter, header); its label column, when it
// has one, is ignored.
Tensor read_inputs(const std::string& path, const train::Config& c) {
  Tensor x;
  if (path.ends_with(".csv") || path.ends_with(".csv.gz") || path.ends_with(".tsv") || is_csv(c.data)) {
    data::CsvOptions o = train::csv_options(c);
    o.label_optional = true;
    o.automatic_task = false;
    o.classification = true;  // any labels, mapped and then ignored
    o.class_names.clear();
    data::Dataset ds = data::read_csv(path, o);
    x = ds.features;
  } else {
    x = data::read_idx_images(path);
  }
  NABLA_CHECK_KIND(x.shape()[1] == c.layers.front(), ErrorKind::shape, path, ": rows have ", x.shape()[1],
                   " features, the model expects ", c.layers.front());
  return x;
}

TrainArgs train_args;  // `nabla train`'s options, and those of `nabla` alone (the main job)

}  // namespace

void register_train(CLI::App& app) {
  auto* tr = app.add_subcommand("train", "Train a network (default: 784-256-128-10 ReLU on Fashion-MNIST)");
  add_train_options(tr, train_args);
  tr->callback([] { run_train(train_args); });

  static std::string model_path, data_path, label, input, metrics_json, delimiter;
  static int64_t limit = 10;
  auto* ev = app.add_subcommand("evaluate", "Accuracy (or RMSE, MAE, R²), per-class accuracy and confusion matrix of a saved model");
  ev->add_option("--model", model_path, "checkpoint")->required();
  auto* ev_data = ev->add_option("--data", data_path,
                                 "what to score: fashion-mnist or an IDX folder (its test split), or a CSV file "
                                 "(default: the checkpoint's test data, else its data)");
  auto* ev_label = ev->add_option("--label", label, "label column of a CSV file (default: the checkpoint's)");
  auto* ev_delim = ev->add_option("--delimiter", delimiter, "CSV delimiter (default: the checkpoint's)");
  ev->add_option("--metrics-json", metrics_json, "write the figures to this JSON file");
  ev->callback([ev_data, ev_label, ev_delim] {
    train::SavedModel s = train::load_model(model_path);
    train::Config c = s.config;
    agree(ev_label, label, "label_column", c.label_column, model_path);
    agree(ev_delim, delimiter, "delimiter", c.delimiter, model_path);
    // What to score: the flag, else the checkpoint's test data, else its data (a CSV: every row of it).
    std::string source = ev_data->count() ? data_path : !c.test_data.empty() ? c.test_data : c.data;
    if (ev_data->count() && is_csv(data_path) != is_csv(c.data))
      NABLA_CHECK(false, "--data ", printable(data_path), " is ", is_csv(data_path) ? "a CSV file" : "IDX data",
                  ", the checkpoint's data ", printable(c.data), " ", is_csv(c.data) ? "a CSV file" : "IDX data",
                  " (", model_path, ")");
    data::Dataset ds;
    if (!is_csv(source)) {
      ds = idx_test_split(source, c);
    } else {
      data::CsvOptions o = train::csv_options(c);
      o.automatic_task = false;
      ds = data::read_csv(source, o);
    }
    NABLA_CHECK_KIND(ds.num_features() == c.layers.front(), ErrorKind::shape, source, ": ", ds.num_features(),
                     " features, the model expects ", c.layers.front());
    if (s.normalizer.fitted()) s.normalizer.apply_to(ds);
    if (is_csv(source) && source == c.data)
      std::printf("(%s is the training data, the rows trained on among them; --data FILE, or training with "
                  "--test-data, scores held-out rows)\n",
                  printable(source).c_str());
    train::Evaluation e = train::evaluate(*s.model, c, ds);
    nlohmann::json j = {{"model", model_path}, {"data", source}, {"samples", ds.size()}, {"loss", num(e.loss)}};
    if (c.regression()) {
      std::printf("%s on %s: %lld samples, loss %.4f, RMSE %.4g, MAE %.4g, R² %.4f\n", printable(model_path).c_str(),
                  printable(source).c_str(), static_cast<long long>(ds.size()), e.loss, e.rmse, e.mae, e.r2);
      j["rmse"] = num(e.rmse), j["mae"] = num(e.mae), j["r2"] = num(e.r2);
      if (!metrics_json.empty()) io::write_atomic(metrics_json, j.dump(2) + "\n");
      return;
    }
    std::printf("%s on %s: %lld samples, loss %.4f, accuracy %.2f%%\n", printable(model_path).c_str(),
                printable(source).c_str(), static_cast<long long>(ds.size()), e.loss, 100 * e.accuracy);
    j["accuracy"] = num(e.accuracy);
    const std::vector<std::string>& names = c.class_names.empty() ? ds.class_names : c.class_names;
    nlohmann::json per = nlohmann::json::array();
    std::printf("per-class accuracy:\n");
    for (size_t k = 0; k < e.per_class_accuracy.size(); ++k) {
      std::string name = k < names.size() ? printable(names[k]) : std::to_string(k);
      std::printf("  %2zu %-14s %6.2f%%\n", k, name.c_str(), 100 * e.per_class_accuracy[k]);
      per.push_back(num(e.per_class_accuracy[k]));
    }
    j["per_class_accuracy"] = per;
    if (!metrics_json.empty()) io::write_atomic(metrics_json, j.dump(2) + "\n");
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

  auto* pr = app.add_subcommand("predict", "Class and probabilities (or the predicted value) for each input row");
  pr->add_option("--model", model_path, "checkpoint")->required();
  pr->add_option("--input", input, "an IDX image file, or a CSV file of feature rows (a label column is ignored)")
      ->required();
  pr->add_option("--limit", limit, "rows to predict (0: all)")->capture_default_str();
  pr->callback([] {
    train::SavedModel s = train::load_model(model_path);
    const train::Config& c = s.config;
    Tensor x = read_inputs(input, c);
    if (limit > 0 && x.shape()[0] > limit) x = x.slice(0, 0, limit).contiguous();
    if (s.normalizer.fitted()) x = s.normalizer.apply(x);
    NoGradGuard ng;
    Tensor out = s.model->forward(x);
    if (c.regression()) {
      const std::vector<double> y = train::predictions(c, out);
      for (size_t r = 0; r < y.size(); ++r) {
        NABLA_CHECK(std::isfinite(y[r]), input, ": row ", r, ": the model's output is not finite (", y[r],
                    "); the row's values are too large for this model");
        std::printf("%zu: %.6g\n", r, y[r]);
      }
      return;
    }
    Tensor probs = c.output == "softmax" ? out : c.output == "log_softmax" ? exp(out) : softmax(out, 1);
    std::vector<float> p = probs.to_vector<float>();
    int64_t K = probs.shape()[1];
    const auto& names = c.data == "fashion-mnist" ? data::fashion_mnist_class_names() : c.class_names;
    for (int64_t r = 0; r < probs.shape()[0]; ++r) {
      for (int64_t k = 0; k < K; ++k)
        NABLA_CHECK(std::isfinite(p[static_cast<size_t>(r * K + k)]), input, ": row ", r,
                    ": the model's output is not finite (", p[static_cast<size_t>(r * K + k)],
                    "); the row's values are too large for this model");
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (p[static_cast<size_t>(r * K + k)] > p[static_cast<size_t>(r * K + best)]) best = k;
      const std::string name = static_cast<size_t>(best) < names.size() ? " " + printable(names[static_cast<size_t>(best)]) : "";
      std::printf("%lld: class %lld%s  [", static_cast<long long>(r), static_cast<long long>(best), name.c_str());
      for (int64_t k = 0; k < K; ++k) std::printf("%s%.4f", k ? ", " : "", p[static_cast<size_t>(r * K + k)]);
      std::printf("]\n");
    }
  });

  auto* su = app.add_subcommand("summary", "Layers, shapes and parameter count of a saved model");
  su->add_option("--model", model_path, "checkpoint")->required();
  su->callback([] {
    train::SavedModel s = train::load_model(model_path);
    const train::Config& c = s.config;
    std::printf("%s: trained %lld epochs on %s (%s, %s loss, %s)\n", printable(model_path).c_str(),
                static_cast<long long>(s.epochs), printable(c.data).c_str(), c.optimizer.c_str(), c.loss.c_str(),
                c.task.c_str());
    if (is_csv(c.data)) {
      std::string classes;
      for (size_t k = 0; k < c.class_names.size() && k < 20; ++k) classes += (k ? ", " : "") + printable(c.class_names[k]);
      if (c.class_names.size() > 20) classes += ", ...";
      std::printf("label column %s; %s\n", printable(c.label_column).c_str(),
                  c.regression() ? "regression target" : ("classes " + classes).c_str());
    }
    std::printf("input normalization: %s\n", c.normalize.c_str());
    std::printf("%s", s.model->summary(c.layers.front()).c_str());
  });
}

int run_default() {
  run_train(train_args);
  return 0;
}

}  // namespace nabla::cli
