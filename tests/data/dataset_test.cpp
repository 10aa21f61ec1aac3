// Subsets, the seeded train/validation split, and normalization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/test_files.hpp"
#include "nabla/data.hpp"
#include "nabla/io.hpp"

namespace nabla::data {
namespace {

using nabla::testing::error_of;

// n rows; row i is [i, 10 i] with label i % k, so a row names itself.
Dataset numbered(int64_t n, int64_t k = 3) {
  std::vector<float> x, y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(float(i));
    x.push_back(float(10 * i));
    y.push_back(float(i % k));
  }
  Dataset ds;
  ds.features = tensor(x, {n, 2});
  ds.labels = tensor(y, {n});
  ds.num_classes = k;
  ds.feature_names = {"i", "ten_i"};
  return ds;
}

std::vector<int64_t> row_ids(const Dataset& ds) {
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < ds.size(); ++r) {
    ids.push_back(static_cast<int64_t>(ds.features.at({r, 0})));
    EXPECT_EQ(ds.features.at({r, 1}), 10.0 * double(ids.back()));
    EXPECT_EQ(ds.labels.at({r}), double(ids.back() % ds.num_classes));
  }
  return ids;
}

TEST(DataSubset, GathersRowsInOrder) {
  Dataset ds = numbered(6);
  std::vector<int64_t> idx = {4, 1, 2, 3, 0};
  Dataset s = subset(ds, idx);
  EXPECT_EQ(row_ids(s), idx);
  EXPECT_EQ(s.num_classes, 3);
  EXPECT_EQ(s.feature_names, ds.feature_names);
  std::vector<int64_t> bad = {0, 6};
  std::string msg = error_of([&] { subset(ds, bad); }, ErrorKind::index);
  EXPECT_EQ(msg, "data: row index 6 is out of range for 6 rows");
}

TEST(DataSplit, PartitionsTheRows) {
  Dataset ds = numbered(10);
  Split sp = train_validation_split(ds, 0.3, 7);
  EXPECT_EQ(sp.train.size(), 7);
  EXPECT_EQ(sp.validation.size(), 3);
  std::vector<int64_t> tr = row_ids(sp.train), va = row_ids(sp.validation);
  EXPECT_TRUE(std::is_sorted(tr.begin(), tr.end()));
  EXPECT_TRUE(std::is_sorted(va.begin(), va.end()));
  std::vector<int64_t> all = tr;
  all.insert(all.end(), va.begin(), va.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(sp.validation.num_classes, 3);
  EXPECT_EQ(sp.train.feature_names, ds.feature_names);
}

TEST(DataSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  Dataset ds = numbered(1000);
  Split a = train_validation_split(ds, 0.2, 42), b = train_validation_split(ds, 0.2, 42);
  Split c = train_validation_split(ds, 0.2, 43);
  EXPECT_EQ(a.validation.size(), 200);
  EXPECT_EQ(row_ids(a.validation), row_ids(b.validation));
  EXPECT_EQ(a.train.features.to_vector<float>(), b.train.features.to_vector<float>());
  EXPECT_NE(row_ids(a.validation), row_ids(c.validation));
}

TEST(DataSplit, PinnedSelection) {
  // Pins the exact rows chosen for one seed, so that a change to the shuffle
  // (which would silently change every experiment's split) is noticed. The
  // rows were reproduced by a separate implementation of the algorithm
  // (splitmix64 seeding, xoshiro256**, rejection-sampled Fisher–Yates).
  Split sp = train_validation_split(numbered(10), 0.3, 7);
  EXPECT_EQ(row_ids(sp.validation), (std::vector<int64_t>{3, 8, 9}));
}

TEST(DataSplit, EdgeFractions) {
  Dataset ds = numbered(5);
  Split none = train_validation_split(ds, 0.0, 1);
  EXPECT_EQ(none.train.size(), 5);
  EXPECT_EQ(none.validation.size(), 0);
  EXPECT_EQ(none.validation.features.shape(), Shape({0, 2}));
  EXPECT_EQ(train_validation_split(ds, 0.5, 1).validation.size(), 3);  // round(2.5) = 3
  EXPECT_NE(error_of([&] { train_validation_split(ds, 1.0, 1); }, ErrorKind::value).find("must be in [0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { train_validation_split(ds, -0.1, 1); }, ErrorKind::value).find("must be in [0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { train_validation_split(ds, 0.95, 1); }, ErrorKind::value).find("leaves no training rows"),
            std::string::npos);
}

// ---- normalization ------------------------------------------------------------------

TEST(DataNormalizer, PerFeature) {
  Tensor x = tensor({{1, 10, -2}, {3, 10, 0}, {5, 10, 2}});
  Normalizer nz = Normalizer::fit(x.to(kFloat32));
  EXPECT_EQ(nz.mode(), Normalization::per_feature);
  EXPECT_EQ(nz.mean().to_vector<float>(), (std::vector<float>{3, 10, 0}));
  const float s = static_cast<float>(std::sqrt(8.0 / 3.0));
  EXPECT_EQ(nz.stddev().to_vector<float>(), (std::vector<float>{s, 1.0f, s}));  // constant column → 1
  Tensor y = nz.apply(x.to(kFloat32));
  EXPECT_EQ(y.dtype(), kFloat32);
  const float z = 2.0f / s;
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{-z, 0, -z, 0, 0, 0, z, 0, z}));
}

TEST(DataNormalizer, Global) {
  Tensor x = tensor({{1, 2}, {3, 6}}).to(kFloat32);  // mean 3, variance (4+1+0+9)/4 = 3.5
  Normalizer nz = Normalizer::fit(x, Normalization::global);
  EXPECT_EQ(nz.mode(), Normalization::global);
  EXPECT_EQ(nz.mean().shape(), Shape({1}));
  EXPECT_FLOAT_EQ(static_cast<float>(nz.stddev().item()), static_cast<float>(std::sqrt(3.5)));
  std::vector<float> y = nz.apply(x).to_vector<float>();
  const float s = static_cast<float>(std::sqrt(3.5));
  EXPECT_EQ(y, (std::vector<float>{(1 - 3.0f) / s, (2 - 3.0f) / s, 0.0f, (6 - 3.0f) / s}));
}

TEST(DataNormalizer, TrainStatisticsApplyToOtherSplits) {
  Dataset ds = numbered(100);
  Split sp = train_validation_split(ds, 0.25, 3);
  Normalizer nz = Normalizer::fit(sp.train.features);
  // Fitted data has mean 0 and (population) std 1 per column...
  Tensor t = nz.apply(sp.train.features);
  for (int64_t j = 0; j < 2; ++j) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < t.size(0); ++i) m += t.at({i, j});
    m /= double(t.size(0));
    for (int64_t i = 0; i < t.size(0); ++i) v += (t.at({i, j}) - m) * (t.at({i, j}) - m);
    EXPECT_NEAR(m, 0.0, 1e-6);
    EXPECT_NEAR(std::sqrt(v / double(t.size(0))), 1.0, 1e-6);
  }
  // ...and validation rows use the training statistics, not their own.
  const double raw0 = sp.validation.features.at({0, 0});
  nz.apply_to(sp.validation);
  const double mu = nz.mean().at({0}), sd = nz.stddev().at({0});
  EXPECT_FLOAT_EQ(static_cast<float>(sp.validation.features.at({0, 0})), static_cast<float>((raw0 - mu) / sd));
}

TEST(DataNormalizer, Float64Features) {
  Tensor x = tensor(std::vector<double>{1.0, 2.0, 4.0}, {3, 1}, kFloat64);
  Normalizer nz = Normalizer::fit(x);
  Tensor y = nz.apply(x);
  EXPECT_EQ(y.dtype(), kFloat64);
  const double mu = static_cast<float>(7.0 / 3.0), sd = nz.stddev().at({0});
  EXPECT_DOUBLE_EQ(y.at({2, 0}), (4.0 - mu) / sd);
}

TEST(DataNormalizer, StatsRoundTripThroughACheckpoint) {
  Dataset ds = numbered(50);
  for (Normalization mode : {Normalization::per_feature, Normalization::global}) {
    Normalizer nz = Normalizer::fit(ds.features, mode);
    io::TensorFile f = io::from_safetensors(io::to_safetensors(nz.state_dict("norm.")));
    EXPECT_EQ(f.names(), (std::vector<std::string>{"norm.mean", "norm.std"}));
    Normalizer back(f.at("norm.mean"), f.at("norm.std"));
    EXPECT_EQ(back.mode(), mode);
    EXPECT_EQ(back.apply(ds.features).to_vector<float>(), nz.apply(ds.features).to_vector<float>());  // bit for bit
  }
}

TEST(DataNormalizer, Errors) {
  Normalizer nz = Normalizer::fit(tensor({{1, 2}, {3, 4}}).to(kFloat32));
  EXPECT_EQ(error_of([&] { nz.apply(tensor({{1, 2, 3}}).to(kFloat32)); }, ErrorKind::shape),
            "Normalizer::apply: features [1,3] do not match statistics of 2 features");
  EXPECT_EQ(error_of([&] { Normalizer(tensor({0.0, 1.0}), tensor({1.0, 0.0})); }, ErrorKind::value),
            "Normalizer: std[1] = 0 must be finite and > 0");
  EXPECT_EQ(error_of([&] { Normalizer(tensor({0.0, 1.0}), tensor({1.0})); }, ErrorKind::shape),
            "Normalizer: mean and std must both be [D] or [1], got [2] and [1]");
  EXPECT_NE(error_of([&] { Normalizer::fit(zeros({0, 3})); }, ErrorKind::shape).find("N >= 1"), std::string::npos);
  Normalizer empty;
  EXPECT_FALSE(empty.fitted());
  EXPECT_EQ(error_of([&] { empty.apply(zeros({1, 1})); }, ErrorKind::value), "Normalizer::apply: not fitted");
}

}  // namespace
}  // namespace nabla::data
