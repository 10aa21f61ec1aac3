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

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/data.hpp"
#include "nabla/distributed.hpp"
#include "nabla/io.hpp"
#include "nabla/nn.hpp"
#include "nabla/optim.hpp"

namespace nabla::train {

struct Config {
  // Data: "fashion-mnist", a folder of IDX files, or a CSV file (label_column
  // names the label, or gives its 1-based number).
  std::string data = "fashion-mnist";
  std::string label_column = "label";
  std::string test_data;                   // a CSV file scored after every epoch (CSV data only)
  std::string delimiter = ",";             // of CSV files: one character
  bool header = true;                      // CSV files start with a row of column names
  // "classification", "regression", or "auto" (a Trainer resolves it from
  // the labels, as data::CsvOptions::automatic_task says).
  std::string task = "auto";
  // Filled in by a Trainer from the data: the classes' labels (class k is
  // class_names[k]; empty for IDX data, whose labels are the indices), and
  // for regression the training targets' mean and standard deviation (the
  // model learns the standardized target).
  std::vector<std::string> class_names;
  double target_mean = 0, target_std = 1;
  double validation_fraction = 0.1;        // held out of the training set
  std::string normalize = "per-feature";   // "none", "global" or "per-feature" (fitted on training rows)
  // Model: Linear layers of these widths, `activation` between them, `output`
  // after the last. A first or last width of 0 is taken from the data (its
  // features; its classes, or 1 for regression) by a Trainer.
  std::vector<int64_t> layers = {784, 256, 128, 10};
  std::string activation = "relu";
  double dropout = 0;                      // Dropout(p) after each hidden activation
  std::string output = "none";             // "none" (logits), "softmax", "log_softmax", "sigmoid"
  std::string init = "default";            // "default", "xavier", "kaiming"
  // Objective. Classification: "cross-entropy" (from logits), "mse" (against
  // one-hot), "nll" (of log-probabilities); regression: "mse", "l1",
  // "huber" (δ = 1, on the standardized target). "auto": cross-entropy for
  // classification, mse for regression (resolved by a Trainer).
  std::string loss = "auto";
  std::string optimizer = "adam";          // "sgd", "momentum", "nesterov", "adam", "adamw"
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "cosine";         // "none", "step", "cosine"
  int64_t warmup_epochs = 0;
  double clip_grad_norm = 0;               // 0: no clipping
  // 0: chosen by a Trainer from the training rows N: batch N/20 within [8, 128],
  // and 10 epochs, or on small data enough for about 1000 steps (at most 200).
  int64_t batch_size = 128;
  int64_t accumulate = 1;                  // batches per optimizer step (gradient accumulation)
  int64_t epochs = 10;
  // Early stopping: stop after this many epochs without a better validation
  // loss, keeping the best epoch's model in the checkpoint (0: off).
  int64_t patience = 0;
  uint64_t seed = 0;
  int threads = 0;                         // 0: the library default

  // The configuration as checkpoint metadata, and back: from_metadata reads
  // numbers strictly (whole numbers where a count is meant, finite values)
  // and validates the result; every fault is an Error of kind io.
  io::Metadata to_metadata() const;
  static Config from_metadata(const io::Metadata& m);
  // Throws (kind value) naming the first setting that is impossible: an
  // unknown name, a rate, norm or count out of range, a model too large for
  // this machine (Note [Checked sizes] in nabla/shape.hpp).
  void validate() const;
  bool regression() const { return task == "regression"; }
};

// The Levenshtein distance between two words: what "did you mean" suggestions rank by.
size_t edit_distance(const std::string& a, const std::string& b);

// "784,256,10" as layer widths: positive whole numbers, at least two, whose
// model fits this machine's memory; throws naming `what` ("--layers").
std::vector<int64_t> parse_layers(const std::string& text, const std::string& what = "layers");

// Figures that do not apply (accuracy in regression, RMSE in
// classification, anything of an absent validation or test set) are NaN.
struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double validation_loss = 0;
  double validation_accuracy = 0;
  double test_accuracy = 0;  // NaN when there is no test set
  double validation_rmse = NAN, validation_mae = NAN, validation_r2 = NAN;  // regression, in the target's units
  double test_loss = NAN, test_rmse = NAN, test_mae = NAN, test_r2 = NAN;
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
// A task of "auto" is resolved from the labels (Data::task), and CSV labels
// are mapped to classes (Data::class_names; c.class_names when given).
struct Data {
  data::Dataset train, validation, test;
  data::Normalizer normalizer;
  std::string task;                      // "classification" or "regression"
  std::vector<std::string> class_names;  // CSV classification: the classes' labels
};
Data load_data(const Config& c);
// How a Config's CSV files are read: label column, delimiter, header, task, classes.
data::CsvOptions csv_options(const Config& c);

// The model's outputs [N, K] as predictions in the data's terms: per row the
// class index (classification) or the target (regression, in its units).
std::vector<double> predictions(const Config& c, const Tensor& outputs);

// The model a Config describes (weights initialized from c.seed).
std::shared_ptr<nn::Sequential> build_model(const Config& c);

// Beyond this many classes evaluate() leaves the confusion matrix empty (it
// would take K² counts: 20 GB for 50 000 classes).
inline constexpr int64_t kMaxConfusionClasses = 1000;

struct Evaluation {
  double loss = 0, accuracy = 0;                     // accuracy: NaN in regression
  double rmse = NAN, mae = NAN, r2 = NAN;            // regression, in the target's units
  std::vector<double> per_class_accuracy;           // NaN for classes absent from the data
  std::vector<std::vector<int64_t>> confusion;      // [true class][predicted class]; empty above kMaxConfusionClasses
};
// Loss and accuracy (regression: RMSE, MAE, R²) of `model` on `ds` (features
// already normalized), in eval mode.
Evaluation evaluate(nn::Module& model, const Config& c, const data::Dataset& ds, int64_t batch_size = 1000);

class Trainer {
 public:
  explicit Trainer(Config c);
  // Restores model, optimizer and epoch count from a checkpoint written by a
  // run with the same settings (all but data and epochs; see
  // read_checkpoint_header); throws (kind io) naming the first setting that
  // differs, the first tensor that does not fit, or a non-finite value.
  void resume(const std::string& checkpoint);
  // Trains until c.epochs epochs are done; after each epoch writes the
  // checkpoint to `out` (if not empty), atomically. A NaN or infinite loss stops
  // the run with an Error naming the epoch and batch; the last checkpoint stays.
  std::vector<EpochMetrics> fit(const std::string& out = "", const Callbacks& cb = {});
  void save(const std::string& path) const;
  // Trains as one replica of a data-parallel job over the ranks of `comm`
  // (nabla/distributed.hpp), after resume() if any: every rank's settings
  // (but data) and epoch count are checked against rank 0's (an Error names
  // the first that differs), rank 0's parameters are broadcast, every rank
  // takes its shard of each batch and
  // the gradients are summed over the ranks before each step, the replicas'
  // parameters are compared after each epoch (a mismatch is an Error), and
  // only rank 0 writes the checkpoint. The losses are those of one process,
  // up to the order of the sums (Note [Sharded steps] in sharded_step.cpp).
  void distribute(dist::Communicator& comm);

  nn::Sequential& model() { return *model_; }
  // The configuration with everything taken from the data filled in: task,
  // loss, layer widths, classes, target statistics.
  const Config& config() const { return c_; }
  const Data& data() const { return data_; }
  int64_t epochs_done() const { return epoch_; }
  // Every epoch of the run, those before a resume included (checkpoints carry it).
  const std::vector<EpochMetrics>& history() const { return history_; }
  // Early stopping: the epoch whose model the checkpoint keeps (0: none yet),
  // and whether fit() stopped for want of progress.
  int64_t best_epoch() const { return best_epoch_; }
  bool stopped_early() const { return stopped_early_; }

 private:
  Config c_;
  Data data_;
  std::shared_ptr<nn::Sequential> model_;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LRScheduler> sched_;
  int64_t epoch_ = 0;
  std::string resumed_from_;
  dist::Communicator* comm_ = nullptr;
  std::vector<EpochMetrics> history_;
  int64_t best_epoch_ = 0;
  double best_loss_ = INFINITY;
  bool stopped_early_ = false;
  io::NamedTensors best_state_;  // the best epoch's model, kept for the checkpoint under early stopping
};

// A checkpoint's configuration and finished epochs, from its header alone
// (no tensor is read), checked as load_model checks them: what a resumed
// run starts from before it allocates anything.
struct CheckpointHeader {
  Config config;
  int64_t epochs_done = 0;  // 0 when the metadata has none (resume() requires it)
  std::vector<EpochMetrics> history;  // empty in checkpoints written before it was kept
  bool stopped_early = false;         // early stopping ended the run
};
CheckpointHeader read_checkpoint_header(const std::string& checkpoint);

// A saved model for inference: the Config from the metadata and the weights.
struct SavedModel {
  Config config;
  std::shared_ptr<nn::Sequential> model;
  data::Normalizer normalizer;
  int64_t epochs = 0;
  std::vector<EpochMetrics> history;
};
SavedModel load_model(const std::string& checkpoint);

// Sets the threads the compute kernels may use (0: library default; at most
// max_threads()).
void set_threads(int n);
int max_threads();  // four per hardware thread

}  // namespace nabla::train

namespace nabla::nn {

// A module's parameters as a safetensors file, each under the name
// named_parameters() gives it ("0.weight", "0.bias", ...), written atomically:
// libtorch's torch::save(module, path) / torch::load(module, path). load()
// fills a module of the same architecture: every parameter must be in the
// file with its shape and dtype, and the file may hold no other tensor;
// otherwise it throws (kind io) naming the file and the first tensor that
// does not fit, before any parameter is changed. (Declared here, with the
// training loop, because it joins nn and io.)
void save(const Module& module, const std::string& path);
void load(Module& module, const std::string& path);

}  // namespace nabla::nn
