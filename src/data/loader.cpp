// The mini-batch loader. An epoch's order depends only on (seed, epoch), which
// is what makes a loader resumable from its (epoch, position) state alone.
#include <algorithm>
#include <numeric>
#include <typeinfo>

#include "nabla/data.hpp"
#include "nabla/error.hpp"
#include "nabla/generator.hpp"
#include "rows.hpp"

namespace nabla::data {
namespace {

// A 64-bit finalizer (splitmix64's), used to derive one independent seed per
// epoch: seeding epoch e with seed + e would give overlapping streams.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

DataLoader::DataLoader(const Dataset& ds, LoaderOptions options) : options_(options) {
  NABLA_CHECK(options.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ", options.batch_size);
  if (!ds.features.defined() && !ds.labels.defined() && typeid(ds) != typeid(Dataset)) {
    // A user dataset: rows come from get(), one at a time.
    source_ = &ds;
    n_ = ds.size();
    NABLA_CHECK_KIND(n_ >= 0, ErrorKind::value, "DataLoader: the dataset's size() is negative (", n_, ")");
    d_ = -1;  // known from the first example
    make_order();
    return;
  }
  NABLA_CHECK_KIND(ds.features.defined() && ds.labels.defined(), ErrorKind::value,
                   "DataLoader: the dataset has no features or labels");
  NABLA_CHECK_KIND(ds.features.dim() == 2, ErrorKind::shape, "DataLoader: features must be [N, D], got ",
                   ds.features.shape());
  NABLA_CHECK_KIND(ds.labels.dim() == 1 && ds.labels.size(0) == ds.features.size(0), ErrorKind::shape,
                   "DataLoader: labels must be [N] with N = ", ds.features.size(0), ", got ", ds.labels.shape());
  NABLA_CHECK(options.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ", options.batch_size);
  features_ = ds.features.detach().contiguous();
  labels_ = ds.labels.detach().contiguous();
  n_ = features_.size(0);
  d_ = features_.size(1);
  make_order();
}

int64_t DataLoader::num_samples() const noexcept { return n_; }

int64_t DataLoader::num_batches() const noexcept {
  const int64_t b = options_.batch_size;
  return options_.drop_last || n_ % b == 0 ? n_ / b : n_ / b + 1;  // not (n + b - 1) / b: b may be near 2^63
}

void DataLoader::make_order() {
  order_.resize(static_cast<size_t>(n_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (!options_.shuffle) return;
  Generator gen(mix64(options_.seed ^ mix64(static_cast<uint64_t>(epoch_) + 0x9E3779B97F4A7C15ull)));
  for (int64_t i = n_ - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i) + 1));
    std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
  }
}

void DataLoader::set_state(State state) {
  NABLA_CHECK(state.epoch >= 0, "DataLoader::set_state: negative epoch ", state.epoch);
  NABLA_CHECK(state.position >= 0 && state.position <= num_batches(), "DataLoader::set_state: position ",
              state.position, " is outside [0, ", num_batches(), "]");
  const bool reorder = state.epoch != epoch_;
  epoch_ = state.epoch;
  position_ = state.position;
  if (reorder) make_order();
}

Batch DataLoader::batch(int64_t index) const {
  NABLA_CHECK_KIND(index >= 0 && index < num_batches(), ErrorKind::index, "DataLoader::batch: index ", index,
                   " is outside [0, ", num_batches(), ")");
  const int64_t start = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n_ - start);
  std::span<const int64_t> rows(order_.data() + start, static_cast<size_t>(count));
  Batch b;
  if (source_) {
    b.features = gather_examples(rows, b.labels);
    b.epoch = epoch_;
    b.index = index;
    return b;
  }
  b.features = detail::gather_rows(features_, rows);
  b.labels = detail::gather_rows(labels_, rows);
  b.epoch = epoch_;
  b.index = index;
  return b;
}

// Stacks the examples of a user dataset: features [B, D] and labels [B],
// float32, every example with the D features of the first.
Tensor DataLoader::gather_examples(std::span<const int64_t> rows, Tensor& labels) const {
  const auto count = static_cast<int64_t>(rows.size());
  Tensor x, y = empty({count});
  float* yp = y.data_ptr<float>();
  for (int64_t r = 0; r < count; ++r) {
    const int64_t i = rows[static_cast<size_t>(r)];
    Example e = source_->get(i);
    NABLA_CHECK_KIND(e.features.defined() && e.features.dim() == 1, ErrorKind::shape, "DataLoader: example ", i,
                     ": features must be a vector [D], got ",
                     e.features.defined() ? to_string(e.features.shape()) : std::string("none"));
    NABLA_CHECK_KIND(e.label.defined() && e.label.numel() == 1, ErrorKind::shape, "DataLoader: example ", i,
                     ": the label must hold one value, got ",
                     e.label.defined() ? to_string(e.label.shape()) : std::string("none"));
    const int64_t d = e.features.size(0);
    if (!x.defined()) x = empty({count, d});
    NABLA_CHECK_KIND(d == x.size(1), ErrorKind::shape, "DataLoader: example ", i, " has ", d,
                     " features, the batch's first has ", x.size(1));
    std::vector<float> v = e.features.to(kFloat32).detach().contiguous().to_vector<float>();
    std::copy(v.begin(), v.end(), x.data_ptr<float>() + r * d);
    yp[r] = static_cast<float>(e.label.item());
  }
  labels = y;
  return x;
}

bool DataLoader::next(Batch& out) {
  if (position_ >= num_batches()) {
    set_state({epoch_ + 1, 0});
    return false;
  }
  out = batch(position_);
  ++position_;
  return true;
}

}  // namespace nabla::data
