// The training loop: configuration round trip, bit-exact resume, checkpoints
// that survive divergence, and clear errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "nabla/nabla.hpp"
#include "kernels/gemm.hpp"
#include "nabla/train.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

void put_be32(std::ofstream& f, uint32_t v) {
  unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                        static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  f.write(reinterpret_cast<char*>(b), 4);
}

// A small, learnable IDX data set: class k images are bright in column block k.
void write_idx_set(const fs::path& dir, const std::string& prefix, int n, uint64_t seed) {
  const int side = 6, classes = 3;
  Generator g(seed);
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  put_be32(img, 0x803), put_be32(img, static_cast<uint32_t>(n)), put_be32(img, side), put_be32(img, side);
  put_be32(lab, 0x801), put_be32(lab, static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) {
    int k = static_cast<int>(g.below(classes));
    lab.put(static_cast<char>(k));
    for (int r = 0; r < side; ++r)
      for (int c = 0; c < side; ++c) {
        double v = 40 * g.uniform01() + (c / 2 == k ? 150 : 0);
        img.put(static_cast<char>(static_cast<unsigned char>(v)));
      }
  }
}

struct TrainFixture : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = fs::temp_directory_path() / ("nabla_train_test_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
    write_idx_set(dir, "train", 480, 1);
    write_idx_set(dir, "t10k", 120, 2);
  }
  void TearDown() override { fs::remove_all(dir); }
  train::Config config() const {
    train::Config c;
    c.data = dir.string();
    c.layers = {36, 16, 3};
    c.batch_size = 32;
    c.epochs = 4;
    c.seed = 5;
    c.validation_fraction = 0.25;
    return c;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
};

}  // namespace

TEST_F(TrainFixture, LearnsTheToyProblem) {
  train::Trainer t(config());
  auto h = t.fit();
  ASSERT_EQ(h.size(), 4u);
  EXPECT_LT(h.back().train_loss, h.front().train_loss);
  EXPECT_GT(h.back().validation_accuracy, 0.95);
  EXPECT_GT(h.back().test_accuracy, 0.95);
  EXPECT_EQ(t.data().train.size(), 360);
  EXPECT_EQ(t.data().validation.size(), 120);
}

TEST_F(TrainFixture, SeededRunRepeatsBitForBit) {
  auto a = train::Trainer(config()).fit();
  auto b = train::Trainer(config()).fit();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].train_loss, b[i].train_loss);
}

TEST_F(TrainFixture, DataParallelStepsMatchOneThread) {
  // With two threads a step splits its batch over them (Note [Data-parallel
  // steps]); the result is the one-thread step's, up to float rounding.
  const int saved = kernels::get_num_threads();
  train::Config c = config();
  c.epochs = 2;
  c.batch_size = 128;  // two shards of 64 rows; the last batch (104 rows) stays whole
  c.threads = 1;
  train::Trainer one(c);
  auto h1 = one.fit();
  c.threads = 2;
  train::Trainer two(c);
  auto h2 = two.fit();
  train::set_threads(saved);
  ASSERT_EQ(h1.size(), h2.size());
  for (size_t i = 0; i < h1.size(); ++i) {
    EXPECT_NEAR(h2[i].train_loss, h1[i].train_loss, 1e-5 * h1[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(h2[i].validation_accuracy, h1[i].validation_accuracy) << "epoch " << i + 1;
  }
  auto p1 = one.model().parameters(), p2 = two.model().parameters();
  for (size_t i = 0; i < p1.size(); ++i) {
    double worst = max(abs(p1[i] - p2[i])).item();
    EXPECT_LT(worst, 1e-4) << "parameter " << i;
  }
  // Two threads repeat themselves bit for bit.
  train::Trainer again(c);
  auto h3 = again.fit();
  train::set_threads(saved);
  for (size_t i = 0; i < h2.size(); ++i) EXPECT_EQ(h3[i].train_loss, h2[i].train_loss);
}

TEST_F(TrainFixture, ResumeMatchesUninterruptedRun) {
  for (std::string opt : {"adam", "momentum"}) {
    train::Config c = config();
    c.optimizer = opt;
    c.lr = opt == "adam" ? 1e-2 : 0.1;
    train::Trainer full(c);
    auto ref = full.fit();

    // The same run, killed right after its second checkpoint.
    fs::path ck = dir / "ck.safetensors";
    struct Killed {};
    train::Trainer first(c);
    train::Callbacks cb;
    cb.on_epoch = [](const train::EpochMetrics& m) {
      if (m.epoch == 2) throw Killed{};
    };
    EXPECT_THROW(first.fit(ck.string(), cb), Killed);
    train::Trainer second(c);
    second.resume(ck.string());
    EXPECT_EQ(second.epochs_done(), 2);
    auto rest = second.fit();
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].train_loss, ref[2].train_loss) << opt;
    EXPECT_EQ(rest[1].train_loss, ref[3].train_loss) << opt;
    auto pa = full.model().parameters(), pb = second.model().parameters();
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(equal(pa[i], pb[i])) << opt << " parameter " << i;
  }
}

TEST_F(TrainFixture, DivergenceStopsAndKeepsTheLastGoodCheckpoint) {
  train::Config c = config();
  c.epochs = 1;
  fs::path ck = dir / "good.safetensors";
  train::Trainer(c).fit(ck.string());
  std::string before = slurp(ck);
  train::Config bad = config();
  bad.optimizer = "sgd";
  bad.lr = 1e30;
  train::Trainer t(bad);
  try {
    t.fit(ck.string());
    FAIL() << "expected divergence";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("epoch"), std::string::npos) << m;
    EXPECT_NE(m.find("batch"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // Epoch 1 may or may not have finished before the loss blew up; the file is
  // either the old checkpoint or a complete later one, never a broken one.
  std::string after = slurp(ck);
  if (after != before) EXPECT_NO_THROW(train::load_model(ck.string()));
  EXPECT_NO_THROW(train::load_model(ck.string()));
}

TEST_F(TrainFixture, BadInputsGiveOneLineErrors) {
  auto expect_error = [](auto&& fn, const char* needle) {
    try {
      fn();
      ADD_FAILURE() << "expected an error mentioning '" << needle << "'";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  train::Config c = config();
  c.layers = {35, 16, 3};
  expect_error([&] { train::Trainer t(c); }, "36 features");
  c = config();
  c.layers = {36, 16, 4};
  expect_error([&] { train::Trainer t(c); }, "3 classes");
  c = config();
  c.optimizer = "adamax";
  expect_error([&] { train::Trainer t(c); }, "adamax");
  c = config();
  c.data = (dir / "missing").string();
  expect_error([&] { train::Trainer t(c); }, "missing");

  // A checkpoint of another architecture, and a corrupt one.
  c = config();
  c.epochs = 1;
  fs::path ck = dir / "ck.safetensors";
  train::Trainer(c).fit(ck.string());
  train::Config other = config();
  other.layers = {36, 8, 3};
  expect_error([&] { train::Trainer t(other); t.resume(ck.string()); }, "layers");
  std::string bytes = slurp(ck);
  std::ofstream(dir / "corrupt.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error([&] { train::load_model((dir / "corrupt.safetensors").string()); }, "corrupt.safetensors");
}

TEST_F(TrainFixture, SavedModelEvaluatesLikeTheTrainer) {
  train::Config c = config();
  fs::path ck = dir / "m.safetensors";
  train::Trainer t(c);
  auto h = t.fit(ck.string());
  train::SavedModel s = train::load_model(ck.string());
  EXPECT_EQ(s.epochs, 4);
  EXPECT_EQ(s.config.layers, c.layers);
  data::Dataset test = data::load_idx_folder(dir.string()).test;
  s.normalizer.apply_to(test);
  train::Evaluation e = train::evaluate(*s.model, s.config, test);
  EXPECT_DOUBLE_EQ(e.accuracy, h.back().test_accuracy);
  int64_t total = 0;
  for (auto& row : e.confusion)
    for (int64_t v : row) total += v;
  EXPECT_EQ(total, 120);
}

TEST(TrainConfig, MetadataRoundTrip) {
  train::Config c;
  c.layers = {10, 7, 2};
  c.lr = 0.0123456789;
  c.optimizer = "nesterov";
  c.seed = 99;
  train::Config d = train::Config::from_metadata(c.to_metadata());
  EXPECT_EQ(d.layers, c.layers);
  EXPECT_EQ(d.lr, c.lr);
  EXPECT_EQ(d.optimizer, c.optimizer);
  EXPECT_EQ(d.seed, c.seed);
  io::Metadata m = c.to_metadata();
  m.erase("layers");
  EXPECT_THROW(train::Config::from_metadata(m), Error);
}
