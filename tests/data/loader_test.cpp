// DataLoader: batching, seeded per-epoch shuffles, determinism, resuming.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "data/test_files.hpp"
#include "nabla/data.hpp"

namespace nabla::data {
namespace {

using nabla::testing::error_of;

// Row i is [i, i + 0.5, i + 0.25] with label i % 4.
Dataset numbered(int64_t n) {
  std::vector<float> x, y;
  for (int64_t i = 0; i < n; ++i) {
    for (float off : {0.0f, 0.5f, 0.25f}) x.push_back(float(i) + off);
    y.push_back(float(i % 4));
  }
  Dataset ds;
  ds.features = tensor(x, {n, 3});
  ds.labels = tensor(y, {n});
  ds.num_classes = 4;
  return ds;
}

// The row ids of a batch, checking that features and labels belong together.
std::vector<int64_t> ids(const Batch& b) {
  std::vector<int64_t> out;
  EXPECT_TRUE(b.features.is_contiguous());
  EXPECT_EQ(b.features.size(0), b.labels.size(0));
  for (int64_t r = 0; r < b.features.size(0); ++r) {
    const auto id = static_cast<int64_t>(b.features.at({r, 0}));
    EXPECT_EQ(b.features.at({r, 1}), double(id) + 0.5);
    EXPECT_EQ(b.features.at({r, 2}), double(id) + 0.25);
    EXPECT_EQ(b.labels.at({r}), double(id % 4));
    out.push_back(id);
  }
  return out;
}

// All batches of the loader's current epoch, as row ids.
std::vector<std::vector<int64_t>> one_epoch(DataLoader& loader) {
  std::vector<std::vector<int64_t>> out;
  Batch b;
  while (loader.next(b)) out.push_back(ids(b));
  return out;
}

TEST(DataLoaderTest, SequentialBatchesKeepTheLastPartialOne) {
  Dataset ds = numbered(10);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
  EXPECT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(loader.num_samples(), 10);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.features.shape(), Shape({4, 3}));
  EXPECT_EQ(b.labels.shape(), Shape({4}));
  EXPECT_EQ(b.features.to_vector<float>(),
            (std::vector<float>{0, 0.5, 0.25, 1, 1.5, 1.25, 2, 2.5, 2.25, 3, 3.5, 3.25}));
  EXPECT_EQ(b.labels.to_vector<float>(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(b.index, 0);
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(ids(b), (std::vector<int64_t>{4, 5, 6, 7}));
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(ids(b), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(b.index, 2);
  EXPECT_FALSE(loader.next(b));
  EXPECT_EQ(loader.epoch(), 1);  // the end of an epoch starts the next one
  EXPECT_EQ(loader.position(), 0);
}

TEST(DataLoaderTest, DropLast) {
  Dataset ds = numbered(10);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = true, .drop_last = true, .seed = 5});
  EXPECT_EQ(loader.num_batches(), 2);
  auto epoch = one_epoch(loader);
  ASSERT_EQ(epoch.size(), 2u);
  EXPECT_EQ(epoch[0].size(), 4u);
  EXPECT_EQ(epoch[1].size(), 4u);
  DataLoader exact(numbered(8), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(exact.num_batches(), 2);
}

TEST(DataLoaderTest, EachShuffledEpochIsAPermutation) {
  Dataset ds = numbered(103);
  DataLoader loader(ds, {.batch_size = 10, .shuffle = true, .seed = 11});
  std::vector<std::vector<int64_t>> orders;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> all;
    for (const auto& batch : one_epoch(loader)) all.insert(all.end(), batch.begin(), batch.end());
    orders.push_back(all);
    std::sort(all.begin(), all.end());
    for (int64_t i = 0; i < 103; ++i) ASSERT_EQ(all[size_t(i)], i);
  }
  EXPECT_NE(orders[0], orders[1]);  // reshuffled every epoch
  EXPECT_NE(orders[1], orders[2]);
  std::vector<int64_t> identity(103);
  for (int64_t i = 0; i < 103; ++i) identity[size_t(i)] = i;
  EXPECT_NE(orders[0], identity);
}

TEST(DataLoaderTest, SameSeedSameBatches) {
  Dataset ds = numbered(57);
  DataLoader a(ds, {.batch_size = 8, .seed = 2024}), b(ds, {.batch_size = 8, .seed = 2024});
  DataLoader c(ds, {.batch_size = 8, .seed = 2025});
  for (int e = 0; e < 3; ++e) {
    auto ea = one_epoch(a), eb = one_epoch(b), ec = one_epoch(c);
    EXPECT_EQ(ea, eb) << "epoch " << e;
    EXPECT_NE(ea, ec) << "epoch " << e;
  }
}

TEST(DataLoaderTest, PinnedOrder) {
  // Pins the permutation of one seed and epoch: a change to the shuffle would
  // silently change every seeded training run. Reproduced by a separate
  // implementation of the per-epoch seeding and Fisher–Yates shuffle.
  DataLoader loader(numbered(8), {.batch_size = 8, .seed = 1});
  EXPECT_EQ(loader.order(), (std::vector<int64_t>{6, 4, 3, 5, 0, 1, 2, 7}));
}

TEST(DataLoaderTest, ResumesFromSavedState) {
  Dataset ds = numbered(50);
  const LoaderOptions opts{.batch_size = 7, .shuffle = true, .seed = 99};
  DataLoader first(ds, opts);
  Batch b;
  one_epoch(first);
  one_epoch(first);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(first.next(b));
  const DataLoader::State saved = first.state();
  EXPECT_EQ(saved.epoch, 2);
  EXPECT_EQ(saved.position, 3);

  // The rest of epoch 2 and all of epoch 3, from the original loader...
  std::vector<std::vector<int64_t>> expected;
  while (first.next(b)) expected.push_back(ids(b));
  for (auto& batch : one_epoch(first)) expected.push_back(batch);
  // ...and from a new one that only knows the saved state.
  DataLoader resumed(ds, opts);
  resumed.set_state(saved);
  std::vector<std::vector<int64_t>> got;
  while (resumed.next(b)) got.push_back(ids(b));
  EXPECT_EQ(resumed.state().epoch, 3);
  for (auto& batch : one_epoch(resumed)) got.push_back(batch);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got.size(), 5u + 8u);  // 8 batches per epoch (50 / 7 rounded up), 3 already consumed
}

TEST(DataLoaderTest, RandomAccessMatchesIteration) {
  Dataset ds = numbered(30);
  DataLoader loader(ds, {.batch_size = 4, .seed = 3});
  loader.set_epoch(5);
  Batch third = loader.batch(2);
  EXPECT_EQ(loader.position(), 0);
  Batch b;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(ids(b), ids(third));
  EXPECT_EQ(b.epoch, 5);
  EXPECT_EQ(error_of([&] { loader.batch(8); }, ErrorKind::index), "DataLoader::batch: index 8 is outside [0, 8)");
}

TEST(DataLoaderTest, BatchesAreCopies) {
  Dataset ds = numbered(4);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  b.features.set({0, 0}, 123.0);
  EXPECT_EQ(ds.features.at({0, 0}), 0.0);
}

TEST(DataLoaderTest, BadArguments) {
  Dataset ds = numbered(10);
  EXPECT_EQ(error_of([&] { (void)DataLoader(ds, {.batch_size = 0}); }, ErrorKind::value),
            "DataLoader: batch_size must be >= 1, got 0");
  DataLoader loader(ds, {.batch_size = 4});
  EXPECT_EQ(error_of([&] { loader.set_state({0, 4}); }, ErrorKind::value),
            "DataLoader::set_state: position 4 is outside [0, 3]");
  EXPECT_EQ(error_of([&] { loader.set_state({-1, 0}); }, ErrorKind::value), "DataLoader::set_state: negative epoch -1");
  Dataset bad = ds;
  bad.labels = zeros({9});
  EXPECT_EQ(error_of([&] { (void)DataLoader(bad, {}); }, ErrorKind::shape),
            "DataLoader: labels must be [N] with N = 10, got [9]");
}

TEST(DataLoaderTest, FashionMnistSizedEpochIsFast) {
  // 60000 × 784 float32 (188 MB) shuffled and copied out in batches of 64.
  const int64_t n = 60000, d = 784;
  Dataset ds;
  ds.features = empty({n, d});
  float* p = ds.features.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) std::fill(p + i * d, p + (i + 1) * d, float(i));
  ds.labels = zeros({n});
  DataLoader loader(ds, {.batch_size = 64, .seed = 1});
  Batch b;
  double checksum = 0;
  int64_t rows = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (loader.next(b)) {
    checksum += b.features.data_ptr<float>()[b.features.numel() - 1];
    rows += b.features.size(0);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("epoch_ms", std::to_string(ms));
  std::printf("[ info ] one shuffled epoch of 60000x784 in batches of 64: %.1f ms\n", ms);
  EXPECT_EQ(rows, n);
  EXPECT_GT(checksum, 0.0);
#if defined(__SANITIZE_ADDRESS__)
  const double limit_ms = 20000.0;  // instrumented memcpy is an order of magnitude slower
#else
  const double limit_ms = 2000.0;  // typically tens of milliseconds; generous for shared machines
#endif
  EXPECT_LT(ms, limit_ms);
}

// (n + b - 1) / b overflowed for a batch size near 2^63: zero batches, a
// training run of no steps.
TEST(DataLoaderTest, HugeBatchSizeIsOneBatchOfEverything) {
  for (bool drop_last : {false, true}) {
    DataLoader loader(numbered(10), {.batch_size = INT64_MAX, .shuffle = false, .drop_last = drop_last});
    EXPECT_EQ(loader.num_batches(), drop_last ? 0 : 1);
    if (!drop_last) EXPECT_EQ(ids(loader.batch(0)).size(), 10u);
  }
  DataLoader even(numbered(12), {.batch_size = 4, .shuffle = false});
  EXPECT_EQ(even.num_batches(), 3);
  DataLoader odd(numbered(13), {.batch_size = 4, .shuffle = false});
  EXPECT_EQ(odd.num_batches(), 4);
}

// A user type implementing the Dataset interface: row i is [i, -i] with target 2i.
struct Doubles : Dataset {
  int64_t n;
  int64_t wrong_row = -1;  // this row has three features
  explicit Doubles(int64_t rows) : n(rows) {}
  int64_t size() const override { return n; }
  Example get(int64_t i) const override {
    if (i == wrong_row) return {tensor(std::vector<float>{1, 2, 3}, {3}), full({}, 0)};
    return {tensor(std::vector<float>{float(i), float(-i)}, {2}), full({}, 2.0 * double(i))};
  }
};

TEST(DataLoaderTest, UserDatasetThroughGet) {
  Doubles d(10);
  DataLoader loader(d, {.batch_size = 4, .shuffle = true, .seed = 3});
  EXPECT_EQ(loader.num_batches(), 3);
  EXPECT_EQ(loader.num_samples(), 10);
  std::vector<int64_t> seen;
  Batch b;
  while (loader.next(b)) {
    ASSERT_EQ(b.features.dim(), 2);
    EXPECT_EQ(b.features.size(1), 2);
    ASSERT_EQ(b.labels.shape(), Shape({b.features.size(0)}));
    for (int64_t r = 0; r < b.features.size(0); ++r) {
      const double id = b.features.at({r, 0});
      EXPECT_EQ(b.features.at({r, 1}), -id);
      EXPECT_EQ(b.labels.at({r}), 2 * id);
      seen.push_back(static_cast<int64_t>(id));
    }
  }
  // A shuffled epoch visits every row once, in the order a tensor dataset of the same size gets.
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Dataset tensors = numbered(10);
  DataLoader same(tensors, {.batch_size = 4, .shuffle = true, .seed = 3});
  std::vector<int64_t> expected;
  for (auto& batch : one_epoch(same)) expected.insert(expected.end(), batch.begin(), batch.end());
  EXPECT_NE(seen, sorted);
  EXPECT_EQ(seen, expected);

  d.wrong_row = 5;
  DataLoader bad(d, {.batch_size = 10, .shuffle = false});
  EXPECT_EQ(error_of([&] { bad.batch(0); }, ErrorKind::shape),
            "DataLoader: example 5 has 3 features, the batch's first has 2");
}

TEST(DataLoaderTest, PlainDatasetGet) {
  Dataset ds = numbered(3);
  Example e = ds.get(2);
  EXPECT_EQ(e.features.to_vector<float>(), (std::vector<float>{2, 2.5, 2.25}));
  EXPECT_EQ(e.label.item(), 2);
  EXPECT_EQ(error_of([&] { ds.get(3); }, ErrorKind::index), "Dataset::get: index 3 is outside [0, 3)");
  EXPECT_EQ(error_of([&] { DataLoader(Dataset{}, {}); }, ErrorKind::value),
            "DataLoader: the dataset has no features or labels");
}

}  // namespace
}  // namespace nabla::data
