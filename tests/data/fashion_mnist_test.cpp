// The real Fashion-MNIST files from Debian's dataset-fashion-mnist package.
// Reference values (label heads, class counts, pixel sums) were computed
// independently with NumPy from the same files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "nabla/data.hpp"

namespace nabla::data {
namespace {

bool have_fashion_mnist() {
  struct stat st {};
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    if (::stat((std::string(kFashionMnistDir) + "/" + f).c_str(), &st) != 0) return false;
  return true;
}

// Loaded once for the whole suite (decompressing 26 MB takes a moment).
const TrainTest& fashion() {
  static const TrainTest tt = load_fashion_mnist();
  return tt;
}

double sum_row(const Tensor& x, int64_t row) {
  const float* p = x.data_ptr<float>() + row * x.size(1);
  double s = 0;
  for (int64_t j = 0; j < x.size(1); ++j) s += p[j];
  return s;
}

class IdxFashionMnist : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed in " << kFashionMnistDir;
  }
};

TEST_F(IdxFashionMnist, Shapes) {
  const TrainTest& tt = fashion();
  EXPECT_EQ(tt.train.features.shape(), Shape({60000, 784}));
  EXPECT_EQ(tt.train.labels.shape(), Shape({60000}));
  EXPECT_EQ(tt.test.features.shape(), Shape({10000, 784}));
  EXPECT_EQ(tt.test.labels.shape(), Shape({10000}));
  EXPECT_EQ(tt.train.num_classes, 10);
  EXPECT_EQ(tt.test.num_classes, 10);
  ASSERT_EQ(tt.train.class_names.size(), 10u);
  EXPECT_EQ(tt.train.class_names[0], "T-shirt/top");
  EXPECT_EQ(tt.train.class_names[9], "Ankle boot");
}

TEST_F(IdxFashionMnist, LabelsAreBalancedClassIndices) {
  const TrainTest& tt = fashion();
  std::vector<float> train = tt.train.labels.to_vector<float>(), test = tt.test.labels.to_vector<float>();
  EXPECT_EQ(std::vector<float>(train.begin(), train.begin() + 10),
            (std::vector<float>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  EXPECT_EQ(std::vector<float>(test.begin(), test.begin() + 10), (std::vector<float>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  std::vector<int> count_train(10), count_test(10);
  for (float v : train) {
    ASSERT_TRUE(v >= 0 && v <= 9 && v == std::floor(v)) << v;
    ++count_train[static_cast<size_t>(v)];
  }
  for (float v : test) {
    ASSERT_TRUE(v >= 0 && v <= 9 && v == std::floor(v)) << v;
    ++count_test[static_cast<size_t>(v)];
  }
  EXPECT_EQ(count_train, std::vector<int>(10, 6000));
  EXPECT_EQ(count_test, std::vector<int>(10, 1000));
}

TEST_F(IdxFashionMnist, PixelValues) {
  const TrainTest& tt = fashion();
  // Sums of raw bytes, divided by 255: 76247 (train[0]) and 33456 (test[0]).
  EXPECT_NEAR(sum_row(tt.train.features, 0), 76247.0 / 255.0, 1e-3);
  EXPECT_NEAR(sum_row(tt.test.features, 0), 33456.0 / 255.0, 1e-3);
  EXPECT_FLOAT_EQ(static_cast<float>(tt.train.features.at({0, 417})), 1.0f);  // the brightest pixel of train[0]
  double total = 0, lo = 1, hi = 0;
  const float* p = tt.train.features.data_ptr<float>();
  for (int64_t i = 0; i < tt.train.features.numel(); ++i) {
    total += p[i];
    lo = std::min<double>(lo, p[i]);
    hi = std::max<double>(hi, p[i]);
  }
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 1.0);
  EXPECT_NEAR(total, 3431114169.0 / 255.0, 1.0);  // all train bytes summed, /255
  EXPECT_NEAR(total / (60000.0 * 784.0), 0.2860406, 1e-6);
}

TEST_F(IdxFashionMnist, RawScaleAndTiming) {
  const auto t0 = std::chrono::steady_clock::now();
  TrainTest raw = load_fashion_mnist(kFashionMnistDir, PixelScale::raw);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("load_ms", std::to_string(ms));
  EXPECT_EQ(raw.test.features.at({0, 0}), 0.0);
  double total = 0;
  const float* p = raw.test.features.data_ptr<float>();
  for (int64_t i = 0; i < raw.test.features.numel(); ++i) total += p[i];
  EXPECT_EQ(total, 573469082.0);  // exact: integers below 2^53
}

}  // namespace
}  // namespace nabla::data
