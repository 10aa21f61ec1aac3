// nabla/train.hpp — the training loop behind `nabla train`, as a library.
//
// A Config names everything a run depends on (data, architecture, loss,
// optimizer, schedule, seed); fit() trains and reports through callbacks, so
// the command line decides how progress is shown. Checkpoints are safetensors
// files holding the model ("model.*"), the optimizer state ("optim.*"), the
// input normalization ("normalizer.*") and, as metadata, the configuration
// and the number of finished epochs: a run resumed from one repeats, bit for
// bit, the losses of a run that was never interrupted (same machine, same
// thread count).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/data.hpp"
#include "nabla/io.hpp"
#include "nabla/nn.hpp"
#include "nabla/optim.hpp"

namespace nabla::train {

struct Config {
  // Data: "fashion-mnist", a folder of IDX files, or a CSV file (label_column names the label).
  std::string data = "fashion-mnist";
  std::string label_column = "label";
  double validation_fraction = 0.1;        // held out of the training set
  std::string normalize = "per-feature";   // "none", "global" or "per-feature" (fitted on training rows)
  // Model: Linear layers of these widths, `activation` between them, `output` after the last.
  std::vector<int64_t> layers = {784, 256, 128, 10};
  std::string activation = "relu";
  std::string output = "none";             // "none" (logits), "softmax", "log_softmax", "sigmoid"
  std::string init = "default";            // "default", "xavier", "kaiming"
  // Objective.
  std::string loss = "cross-entropy";      // "cross-entropy" (from logits), "mse" (against one-hot), "nll"
  std::string optimizer = "adam";          // "sgd", "momentum", "nesterov", "adam", "adamw"
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "cosine";         // "none", "step", "cosine"
  int64_t warmup_epochs = 0;
  double clip_grad_norm = 0;               // 0: no clipping
  int64_t batch_size = 128;
  int64_t epochs = 10;
  uint64_t seed = 0;
  int threads = 0;                         // 0: the library default

  // The configuration as checkpoint metadata, and back (unknown keys are errors).
  io::Metadata to_metadata() const;
  static Config from_metadata(const io::Metadata& m);
};

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double validation_loss = 0;
  double validation_accuracy = 0;
  double test_accuracy = 0;  // NaN when there is no test set
  double seconds = 0;        // training time of the epoch (evaluation excluded)
  double samples_per_second = 0;
  double lr = 0;
};

struct Progress {
  int64_t epoch, epochs, batch, batches, samples;
  double running_loss, seconds;
};

struct Callbacks {
  std::function<void(const Progress&)> on_batch;         // after every optimizer step
  std::function<void(const EpochMetrics&)> on_epoch;     // after each epoch's evaluation
};

// Loads the data a Config names: train (minus the validation part), validation, and test
// (empty for CSV data) with the normalizer fitted on the training rows already applied.
struct Data {
  data::Dataset train, validation, test;
  data::Normalizer normalizer;
};
Data load_data(const Config& c);

// The model a Config describes (weights initialized from c.seed).
std::shared_ptr<nn::Sequential> build_model(const Config& c);

struct Evaluation {
  double loss = 0, accuracy = 0;
  std::vector<double> per_class_accuracy;           // NaN for classes absent from the data
  std::vector<std::vector<int64_t>> confusion;      // [true class][predicted class]
};
// Loss and accuracy of `model` on `ds` (features already normalized), in eval mode.
Evaluation evaluate(nn::Module& model, const Config& c, const data::Dataset& ds, int64_t batch_size = 1000);

class Trainer {
 public:
  explicit Trainer(Config c);
  // Restores model, optimizer, normalizer and epoch count from a checkpoint
  // written by a run with the same architecture; throws (kind io) naming the
  // first tensor that does not fit.
  void resume(const std::string& checkpoint);
  // Trains until c.epochs epochs are done; after each epoch writes the
  // checkpoint to `out` (if not empty), atomically. A NaN or infinite loss stops
  // the run with an Error naming the epoch and batch; the last checkpoint stays.
  std::vector<EpochMetrics> fit(const std::string& out = "", const Callbacks& cb = {});
  void save(const std::string& path) const;

  nn::Sequential& model() { return *model_; }
  const Config& config() const { return c_; }
  const Data& data() const { return data_; }
  int64_t epochs_done() const { return epoch_; }

 private:
  Config c_;
  Data data_;
  std::shared_ptr<nn::Sequential> model_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LRScheduler> sched_;
  int64_t epoch_ = 0;
};

// A saved model for inference: the Config from the metadata and the weights.
struct SavedModel {
  Config config;
  std::shared_ptr<nn::Sequential> model;
  data::Normalizer normalizer;
  int64_t epochs = 0;
};
SavedModel load_model(const std::string& checkpoint);

// Sets the threads the compute kernels may use (0: library default).
void set_threads(int n);

}  // namespace nabla::train
