// Dataset helpers: row subsets, the seeded train/validation split and
// mean/std normalization.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "nabla/data.hpp"
#include "nabla/error.hpp"
#include "nabla/generator.hpp"
#include "rows.hpp"

namespace nabla::data {

int64_t Dataset::size() const { return features.defined() ? features.size(0) : 0; }
Example Dataset::get(int64_t index) const {
  const int64_t n = size();
  NABLA_CHECK_KIND(index >= 0 && index < n, ErrorKind::index, "Dataset::get: index ", index, " is outside [0, ", n,
                   ")");
  NABLA_CHECK_KIND(features.defined() && labels.defined(), ErrorKind::value,
                   "Dataset::get: the dataset has no features or labels (a type without them overrides get())");
  return {features.select(0, index).detach().clone(), labels.select(0, index).detach().clone()};
}

int64_t Dataset::num_features() const { return features.defined() && features.dim() == 2 ? features.size(1) : 0; }

namespace {

void check_dataset(const Dataset& ds, const char* op) {
  NABLA_CHECK_KIND(ds.features.defined() && ds.labels.defined(), ErrorKind::value, op,
                   ": the dataset has no features or labels");
  NABLA_CHECK_KIND(ds.features.dim() == 2, ErrorKind::shape, op, ": features must be [N, D], got ",
                   ds.features.shape());
  NABLA_CHECK_KIND(ds.labels.dim() == 1 && ds.labels.size(0) == ds.features.size(0), ErrorKind::shape, op,
                   ": labels must be [N] with N = ", ds.features.size(0), ", got ", ds.labels.shape());
}

}  // namespace

Dataset subset(const Dataset& ds, std::span<const int64_t> indices) {
  check_dataset(ds, "subset");
  Dataset out;
  out.features = detail::gather_rows(ds.features.contiguous(), indices);
  out.labels = detail::gather_rows(ds.labels.contiguous(), indices);
  out.num_classes = ds.num_classes;
  out.feature_names = ds.feature_names;
  out.class_names = ds.class_names;
  return out;
}

Split train_validation_split(const Dataset& ds, double validation_fraction, uint64_t seed) {
  check_dataset(ds, "train_validation_split");
  NABLA_CHECK(validation_fraction >= 0.0 && validation_fraction < 1.0,
              "train_validation_split: validation_fraction must be in [0, 1), got ", validation_fraction);
  const int64_t n = ds.size();
  const auto n_val = static_cast<int64_t>(std::llround(static_cast<double>(n) * validation_fraction));
  NABLA_CHECK(n_val < n || n == 0, "train_validation_split: a validation fraction of ", validation_fraction,
              " leaves no training rows out of ", n);
  // Fisher–Yates on 0..n-1; the first n_val positions go to validation.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  Generator gen(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(gen.below(static_cast<uint64_t>(i) + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  std::vector<int64_t> val(perm.begin(), perm.begin() + n_val), train(perm.begin() + n_val, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {subset(ds, train), subset(ds, val)};
}

// ---- Normalizer -----------------------------------------------------------------

Normalizer::Normalizer(Tensor mean, Tensor stddev) {
  NABLA_CHECK_KIND(mean.defined() && stddev.defined(), ErrorKind::value, "Normalizer: mean and std must be defined");
  NABLA_CHECK_KIND(mean.dim() == 1 && mean.shape() == stddev.shape() && mean.size(0) >= 1, ErrorKind::shape,
                   "Normalizer: mean and std must both be [D] or [1], got ", mean.shape(), " and ", stddev.shape());
  mean_ = mean.detach().to(kFloat32).clone();  // clone: a private contiguous copy
  stddev_ = stddev.detach().to(kFloat32).clone();
  const float* s = stddev_.data_ptr<float>();
  const float* m = mean_.data_ptr<float>();
  for (int64_t i = 0; i < stddev_.numel(); ++i) {
    NABLA_CHECK(std::isfinite(m[i]), "Normalizer: mean[", i, "] = ", m[i], " is not finite");
    NABLA_CHECK(std::isfinite(s[i]) && s[i] > 0, "Normalizer: std[", i, "] = ", s[i], " must be finite and > 0");
  }
}

Normalization Normalizer::mode() const {
  NABLA_CHECK(fitted(), "Normalizer: not fitted");
  return mean_.numel() == 1 ? Normalization::global : Normalization::per_feature;
}

Normalizer Normalizer::fit(const Tensor& features, Normalization mode) {
  NABLA_CHECK_KIND(features.defined() && features.dim() == 2 && features.size(0) >= 1, ErrorKind::shape,
                   "Normalizer::fit: features must be [N, D] with N >= 1, got ",
                   features.defined() ? features.shape_str() : std::string("an undefined tensor"));
  const Tensor x = features.detach().contiguous();
  const int64_t n = x.size(0), d = x.size(1);
  const int64_t groups = mode == Normalization::global ? 1 : d;
  std::vector<double> sum(static_cast<size_t>(groups), 0.0), sq(static_cast<size_t>(groups), 0.0);
  const double count = mode == Normalization::global ? double(n) * double(d) : double(n);
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data_ptr<T>();
    // Two passes (mean, then squared deviations): accurate for large offsets.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) sum[static_cast<size_t>(mode == Normalization::global ? 0 : j)] += p[i * d + j];
    for (double& s : sum) s /= count;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) {
        const size_t g = static_cast<size_t>(mode == Normalization::global ? 0 : j);
        const double dev = double(p[i * d + j]) - sum[g];
        sq[g] += dev * dev;
      }
  });
  std::vector<float> mean(static_cast<size_t>(groups)), sd(static_cast<size_t>(groups));
  for (size_t g = 0; g < sum.size(); ++g) {
    mean[g] = static_cast<float>(sum[g]);
    const double s = std::sqrt(sq[g] / count);
    // A constant feature: map it to 0 rather than divide by zero.
    sd[g] = s > 1e-12 * std::max(1.0, std::abs(sum[g])) ? static_cast<float>(s) : 1.0f;
  }
  return Normalizer(tensor(mean), tensor(sd));
}

Tensor Normalizer::apply(const Tensor& features) const {
  NABLA_CHECK(fitted(), "Normalizer::apply: not fitted");
  NABLA_CHECK_KIND(features.defined() && features.dim() == 2, ErrorKind::shape,
                   "Normalizer::apply: features must be [M, D], got ",
                   features.defined() ? features.shape_str() : std::string("an undefined tensor"));
  const bool global = mean_.numel() == 1;
  const int64_t m = features.size(0), d = features.size(1);
  NABLA_CHECK_KIND(global || d == mean_.numel(), ErrorKind::shape, "Normalizer::apply: features ",
                   features.shape(), " do not match statistics of ", mean_.numel(), " features");
  const Tensor x = features.detach().contiguous();
  Tensor out = empty(x.shape(), x.dtype());
  const float* mu = mean_.data_ptr<float>();
  const float* sd = stddev_.data_ptr<float>();
  dispatch(x.dtype(), [&]<class T>() {
    const T* p = x.data_ptr<T>();
    T* q = out.data_ptr<T>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < d; ++j) {
        const int64_t g = global ? 0 : j;
        q[i * d + j] = (p[i * d + j] - T(mu[g])) / T(sd[g]);
      }
  });
  return out;
}

void Normalizer::apply_to(Dataset& ds) const { ds.features = apply(ds.features); }

std::vector<std::pair<std::string, Tensor>> Normalizer::state_dict(const std::string& prefix) const {
  NABLA_CHECK(fitted(), "Normalizer::state_dict: not fitted");
  return {{prefix + "mean", mean_}, {prefix + "std", stddev_}};
}

}  // namespace nabla::data
