// nabla/data.hpp — data sets: IDX and CSV readers, splits, normalization and
// the mini-batch loader.
//
// A Dataset is a feature matrix X of shape [N, D] (float32, row-major, one
// sample per row) and a label vector y of shape [N] (float32 holding class
// indices 0..K-1 for classification, K = num_classes; arbitrary targets when
// num_classes is 0). Everything here is deterministic: splits and shuffles
// take an explicit seed, and the same seed gives the same rows in the same
// order on every machine.
//
// Readers validate what they read and throw nabla::Error of kind `io` with a
// one-line message naming the file and the byte offset, line and column, or
// field at fault. Nothing here prints.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::data {

// ---- Dataset ------------------------------------------------------------------

// One sample of a Dataset: a feature vector [D] and a scalar label (a class
// index for classification, the target for regression).
struct Example {
  Tensor features;  // [D] float32
  Tensor label;     // [] or [1] float32
};

// In memory, a Dataset holds its rows as two tensors (what the readers below
// return). It is also the interface a user type implements for the
// DataLoader, as libtorch's datasets are: derive, leave `features` undefined,
// and override size() and get():
//
//   struct Squares : nabla::data::Dataset {
//     int64_t size() const override { return 100; }
//     nabla::data::Example get(int64_t i) const override {
//       float x = static_cast<float>(i) / 100;
//       return {nabla::full({1}, x), nabla::full({}, x * x)};
//     }
//   };
//   Squares sq;
//   nabla::data::DataLoader loader(sq, {.batch_size = 10});  // batches [10, 1], [10]
//
// The loader calls get() for the rows of each batch and stacks them; it
// keeps a reference to such a dataset, which must outlive it.
struct Dataset {
  Tensor features;  // [N, D] float32, contiguous; undefined in a type that overrides get()
  Tensor labels;    // [N] float32: class indices when num_classes > 0
  int64_t num_classes = 0;                 // K; 0 for regression targets
  std::vector<std::string> feature_names;  // D names (CSV header), or empty
  std::vector<std::string> class_names;    // K names when known, or empty

  Dataset() = default;
  Dataset(const Dataset&) = default;
  Dataset(Dataset&&) = default;
  Dataset& operator=(const Dataset&) = default;
  Dataset& operator=(Dataset&&) = default;
  virtual ~Dataset() = default;

  virtual int64_t size() const;               // N
  virtual Example get(int64_t index) const;   // row `index` (kind index outside [0, N))
  int64_t num_features() const;  // D (of the tensors; 0 when features is undefined)
};

// The rows `indices` of `ds`, in that order, copied into a new Dataset
// (names and num_classes carried over). Throws (kind index) on an index
// outside [0, N).
Dataset subset(const Dataset& ds, std::span<const int64_t> indices);

// ---- IDX (MNIST / Fashion-MNIST files) ------------------------------------------
//
// Layout (all integers big-endian): bytes 0-1 zero, byte 2 the element type
// (0x08 = unsigned byte, the only one accepted), byte 3 the rank R, then R
// uint32 extents, then prod(extents) bytes of data and nothing else. Image
// files have magic 0x00000803 ([N, rows, cols]); label files 0x00000801 ([N]).
// A file starting with the gzip magic 1f 8b is decompressed first (byte
// offsets in messages then count decompressed bytes).

// Raw contents of an IDX file of unsigned bytes.
struct IdxArray {
  std::vector<int64_t> dims;  // the R extents, as stored
  std::vector<uint8_t> data;  // prod(dims) bytes, row-major
};

// Reads any ubyte IDX file; `expected_rank` > 0 makes a different rank an error.
IdxArray read_idx(const std::string& path, int expected_rank = 0);

// How pixel bytes become floats: raw keeps 0..255, unit divides by 255 → [0, 1].
enum class PixelScale { raw, unit };

// An image file (magic 0x00000803) as a float32 tensor [N, rows*cols].
Tensor read_idx_images(const std::string& path, PixelScale scale = PixelScale::unit);
// A label file (magic 0x00000801) as a float32 tensor [N] of class indices.
Tensor read_idx_labels(const std::string& path);
// A label file as its raw bytes (N values).
std::vector<uint8_t> read_idx_labels_u8(const std::string& path);

// An image file and a label file as one Dataset; throws when their sample
// counts differ. num_classes = max label + 1 unless given; a label ≥ the
// given num_classes is an error.
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         PixelScale scale = PixelScale::unit, int64_t num_classes = 0);

struct TrainTest {
  Dataset train;
  Dataset test;
};

// A folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally with a
// .gz suffix (the plain file wins when both exist). Train and test share one
// num_classes (max label over both + 1) and must have the same row length.
TrainTest load_idx_folder(const std::string& dir, PixelScale scale = PixelScale::unit);

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST: 60000 train and 10000 test images of 28×28 = 784 features,
// 10 classes with their names ("T-shirt/top", "Trouser", …, "Ankle boot").
TrainTest load_fashion_mnist(const std::string& dir = kFashionMnistDir,
                             PixelScale scale = PixelScale::unit);

// The ten Fashion-MNIST class names, index = label.
const std::vector<std::string>& fashion_mnist_class_names();

// ---- CSV --------------------------------------------------------------------------
//
// A header row of column names (or none, with header = false: the columns are
// then named by number, "1", "2", ...), then one row per sample; every
// feature cell numeric (decimal or exponent notation, optional surrounding
// spaces or double quotes; no empty cells, no inf/nan). Blank lines are
// skipped, CRLF accepted, a .gz file is decompressed. The label column is
// picked by name or by its 1-based number; all other columns, in file order,
// are the features. Errors read "file:line:column: what".

struct CsvOptions {
  std::string label_column = "label";  // a header name, or a 1-based column number ("5")
  char delimiter = ',';
  // Classification: each distinct label is a class, of any kind ("3",
  // "setosa"); numbers sort numerically and come before other text, and
  // class k is the k-th in that order, its text in ds.class_names[k]
  // (integers written as integers: "1.0" and "1" are one class "1").
  // With num_classes > 0 the labels must instead be class indices, integers
  // in [0, num_classes), taken as given. Regression (false): labels are any
  // finite number, num_classes = 0.
  bool classification = true;
  int64_t num_classes = 0;
  bool header = true;
  // Chooses classification or regression from the labels: regression when
  // every label is a number, and one of them is not an integer or there are
  // more distinct integers than half the rows (and more than 20).
  bool automatic_task = false;
  // Classification against known classes (a trained model's): every label
  // must be one of these texts, and class k is class_names[k].
  std::vector<std::string> class_names = {};
  // A file without the label column (by name; by number: one column short)
  // reads as features alone: labels stays undefined.
  bool label_optional = false;
};

Dataset read_csv(const std::string& path, const CsvOptions& options = {});

// ---- split --------------------------------------------------------------------------

struct Split {
  Dataset train;
  Dataset validation;
};

// Sends round(N * validation_fraction) rows, drawn by a seeded shuffle, to
// validation and the rest to train; each part keeps the original row order.
// validation_fraction ∈ [0, 1); the same seed gives the same split.
Split train_validation_split(const Dataset& ds, double validation_fraction, uint64_t seed);

// ---- normalization ------------------------------------------------------------------

enum class Normalization {
  per_feature,  // one mean and standard deviation per column: stats of shape [D]
  global,       // one mean and standard deviation over all values: shape [1]
};

// x ↦ (x − mean) / std, with the statistics fitted on training features only
// and then applied unchanged to validation and test features. The standard
// deviation is the population one (divide by N); a constant feature (zero
// deviation) gets std = 1 so that it maps to 0 instead of NaN. The stats are
// float32 tensors, the exact values apply() uses, so saving them in a
// checkpoint and reloading reproduces the normalization bit for bit.
class Normalizer {
 public:
  Normalizer() = default;
  // From saved statistics: mean and std both [D] (per feature) or both [1]
  // (global), float32, std > 0.
  Normalizer(Tensor mean, Tensor stddev);

  // Fits on `features` [N, D] (N ≥ 1); sums in float64.
  static Normalizer fit(const Tensor& features, Normalization mode = Normalization::per_feature);

  bool fitted() const noexcept { return mean_.defined(); }
  Normalization mode() const;
  const Tensor& mean() const noexcept { return mean_; }      // [D] or [1]
  const Tensor& stddev() const noexcept { return stddev_; }  // [D] or [1]

  // (features − mean) / std as a new contiguous tensor of the same shape and
  // dtype; features is [M, D] (D must match per-feature stats).
  Tensor apply(const Tensor& features) const;
  // Replaces ds.features with apply(ds.features).
  void apply_to(Dataset& ds) const;

  // {prefix + "mean", mean}, {prefix + "std", std}: ready for
  // nabla::io::save_safetensors.
  std::vector<std::pair<std::string, Tensor>> state_dict(const std::string& prefix = "normalizer.") const;

 private:
  Tensor mean_, stddev_;
};

// ---- DataLoader ---------------------------------------------------------------------
//
// Cuts a Dataset into mini-batches, epoch after epoch. With shuffling, the
// order of epoch e is a Fisher–Yates permutation drawn from a Generator seeded
// by (seed, e) alone, so any epoch can be replayed without replaying the ones
// before it: the whole state of a loader is (epoch, position), and a loader
// rebuilt with the same options and set_state() yields the same batches as
// the one that was saved.
//
//   DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 42});
//   for (int e = 0; e < epochs; ++e) {
//     Batch b;
//     while (loader.next(b)) step(b.features, b.labels);  // [B, D], [B]
//   }

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;
};

struct Batch {
  Tensor features;  // [B, D], a fresh contiguous copy of the rows
  Tensor labels;    // [B]
  int64_t epoch = 0;
  int64_t index = 0;  // batch number within the epoch
};

class DataLoader {
 public:
  // Holds the dataset's tensors (shared, not copied); for a dataset without
  // tensors (a user type overriding size() and get()), holds a reference to it.
  DataLoader(const Dataset& ds, LoaderOptions options);

  int64_t num_batches() const noexcept;  // per epoch
  int64_t num_samples() const noexcept;  // N
  const LoaderOptions& options() const noexcept { return options_; }

  // Writes the next batch of the current epoch into `out` and returns true;
  // at the end of the epoch returns false and moves to the start of the next
  // one, so `while (loader.next(b))` runs exactly one epoch.
  bool next(Batch& out);
  // Batch `index` of the current epoch, without moving the position.
  Batch batch(int64_t index) const;

  struct State {
    int64_t epoch = 0;
    int64_t position = 0;  // batches of `epoch` already handed out
  };
  State state() const noexcept { return {epoch_, position_}; }
  void set_state(State state);
  void set_epoch(int64_t epoch) { set_state({epoch, 0}); }
  int64_t epoch() const noexcept { return epoch_; }
  int64_t position() const noexcept { return position_; }

  // Row order of the current epoch (the identity without shuffling).
  const std::vector<int64_t>& order() const noexcept { return order_; }

 private:
  void make_order();
  Tensor gather_examples(std::span<const int64_t> rows, Tensor& labels) const;
  Tensor features_, labels_;
  const Dataset* source_ = nullptr;  // a user dataset, read through get()
  int64_t n_ = 0, d_ = 0;
  LoaderOptions options_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace nabla::data
