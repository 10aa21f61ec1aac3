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

namespace {

// The message of the nabla::Error `fn` throws (fails the test when none).
template <class F>
std::string message_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a nabla::Error";
  return {};
}

// A checkpoint of `c` whose metadata `edit` may change after the fact.
void write_checkpoint(const fs::path& path, const train::Config& c, const std::function<void(io::Metadata&)>& edit,
                      const std::function<void(io::NamedTensors&)>& edit_tensors = {}) {
  Generator g(1);
  auto model = nn::mlp(c.layers, c.activation, c.output, g);
  io::NamedTensors ts;
  for (auto& [n, t] : model->named_parameters()) ts.emplace_back("model." + n, t);
  ts.emplace_back("optim.step", scalar_tensor(3, kFloat64));
  ts.emplace_back("optim.lr", scalar_tensor(c.lr, kFloat64));
  if (edit_tensors) edit_tensors(ts);
  io::Metadata m = c.to_metadata();
  m["epochs_done"] = "1";
  edit(m);
  io::save_safetensors(path.string(), ts, m);
}

}  // namespace

TEST(TrainConfig, ValidateNamesTheImpossibleSetting) {
  train::Config c;
  EXPECT_NO_THROW(c.validate());
  auto bad = [](auto&& edit) {
    train::Config c;
    edit(c);
    return message_of([&] { c.validate(); });
  };
  EXPECT_EQ(bad([](auto& c) { c.clip_grad_norm = NAN; }),
            "gradient clipping norm (--clip-grad-norm) must be a finite number >= 0 (0: off), got nan");
  EXPECT_EQ(bad([](auto& c) { c.warmup_epochs = -1; }), "warm-up epochs (--warmup) must be >= 0, got -1");
  EXPECT_EQ(bad([](auto& c) { c.threads = 100000; }).rfind("threads (--threads): 100000 is not a thread count", 0), 0u);
  EXPECT_EQ(bad([](auto& c) { c.lr = INFINITY; }), "learning rate (--lr) must be a finite number > 0, got inf");
  EXPECT_EQ(bad([](auto& c) { c.loss = "hinge"; }),
            "loss: unknown choice 'hinge' (choose auto, cross-entropy, mse, nll, l1, huber)");
  EXPECT_EQ(bad([](auto& c) { c.optimizer = "adamm"; }),
            "optimizer: unknown choice 'adamm' (choose sgd, momentum, nesterov, adam, adamw); did you mean adam?");
  // Foot-guns: log-probabilities expected but logits given, and a double softmax.
  EXPECT_EQ(bad([](auto& c) { c.loss = "nll"; }),
            "loss: nll takes log-probabilities, but --output none gives logits; add --output log_softmax, or use "
            "--loss cross-entropy (which takes logits)");
  EXPECT_NE(bad([](auto& c) { c.loss = "cross-entropy", c.output = "softmax"; }).find("would apply it twice"),
            std::string::npos);
  EXPECT_EQ(bad([](auto& c) { c.task = "regression", c.loss = "nll"; }).rfind("loss: nll is a classification loss", 0),
            0u);
  EXPECT_EQ(bad([](auto& c) { c.dropout = 1; }), "dropout (--dropout) must be in [0, 1), got 1");
  EXPECT_EQ(bad([](auto& c) { c.layers = {784, int64_t{1} << 62, 10}; }),
            "mlp: size 784 x 4611686018427387904 overflows 64 bits");
}

TEST(TrainConfig, LayersAreParsedStrictly) {
  EXPECT_EQ(train::parse_layers("784,256,10"), (std::vector<int64_t>{784, 256, 10}));
  EXPECT_EQ(message_of([] { train::parse_layers("784,99999999999999999999,10", "--layers"); }),
            "--layers: '784,99999999999999999999,10': size '99999999999999999999' does not fit in 64 bits");
  EXPECT_EQ(message_of([] { train::parse_layers("784,4611686018427387904,10", "--layers"); }),
            "--layers: '784,4611686018427387904,10': mlp: size 784 x 4611686018427387904 overflows 64 bits");
  for (const char* s : {"784,-5,10", "784,+5,10", "784, 5,10", "784,,10", "784,5,", "0,5"})
    EXPECT_NE(message_of([&] { train::parse_layers(s); }).find("is not a comma-separated list of positive sizes"),
              std::string::npos)
        << s;
  // The shortest text that reads back, not 17 digits.
  train::Config c;
  c.lr = 0.05;
  EXPECT_EQ(c.to_metadata().at("lr"), "0.05");
}

TEST_F(TrainFixture, CraftedCheckpointsAreRefusedBeforeTheModelIsBuilt) {
  const train::Config c = config();
  const fs::path p = dir / "crafted.safetensors";
  // 36·2000000 + 2000000·3 parameters (300 MB) claimed, 0.7k present: refused from the header.
  write_checkpoint(p, c, [](io::Metadata& m) { m["layers"] = "36,2000000,3"; });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": the metadata's layers 36,2000000,3 have 80000003 parameters but the file's model tensors "
                         "hold 643");
  write_checkpoint(p, c, [](io::Metadata& m) { m["layers"] = "36,4611686018427387904,3"; });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": checkpoint metadata: layers: '36,4611686018427387904,3': mlp: size 36 x "
                         "4611686018427387904 overflows 64 bits");
  write_checkpoint(p, c, [](io::Metadata& m) { m["epochs_done"] = "nan"; });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": checkpoint metadata: 'epochs_done' = 'nan' is not a whole number from 0 to 4");
  write_checkpoint(p, c, [](io::Metadata& m) { m["batch_size"] = "1e3"; });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": checkpoint metadata: 'batch_size' = '1e3' is not a whole number from 1 to "
                         "9223372036854775807");
  write_checkpoint(p, c, [](io::Metadata& m) { m["optimizer"] = "\x1b[2J"; });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": checkpoint metadata: optimizer: unknown choice '\x1b[2J' (choose sgd, momentum, "
                         "nesterov, adam, adamw)");
  // Non-finite state: a weight, an optimizer moment.
  write_checkpoint(p, c, [](io::Metadata&) {}, [](io::NamedTensors& ts) { ts[0].second.set({1, 2}, NAN); });
  EXPECT_EQ(message_of([&] { train::load_model(p.string()); }),
            p.string() + ": tensor 'model.0.weight' holds nan at element 38; a checkpoint holds finite values only "
                         "(damaged, or saved from a diverged run?)");
  write_checkpoint(p, c, [](io::Metadata&) {}, [](io::NamedTensors& ts) {
    ts.emplace_back("optim.exp_avg.0", full({16, 36}, INFINITY));
  });
  train::Trainer t(c);
  EXPECT_EQ(message_of([&] { t.resume(p.string()); }),
            p.string() + ": tensor 'optim.exp_avg.0' holds inf at element 0; a checkpoint holds finite values only "
                         "(damaged, or saved from a diverged run?)");
}

TEST_F(TrainFixture, ResumeRefusesOtherSettingsAndTakesTheConfiguredRate) {
  train::Config c = config();
  c.schedule = "none";
  c.epochs = 1;
  const fs::path p = dir / "ck.safetensors";
  train::Trainer(c).fit(p.string());
  train::Config other = c;
  other.epochs = 2;
  other.lr = 0.5;
  train::Trainer t(other);
  EXPECT_EQ(message_of([&] { t.resume(p.string()); }),
            p.string() + ": the checkpoint was trained with lr 0.001, this run has 0.5");
  // The optimizer state's rate is not the run's: without a schedule the configured one holds.
  write_checkpoint(p, c, [](io::Metadata&) {}, [](io::NamedTensors& ts) {
    for (auto& [n, x] : ts)
      if (n == "optim.lr") x = scalar_tensor(0, kFloat64);
  });
  train::Config more = c;
  more.epochs = 2;
  train::Trainer r(more);
  r.resume(p.string());
  auto h = r.fit();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].lr, 0.001);
  EXPECT_EQ(train::read_checkpoint_header(p.string()).epochs_done, 1);
}

TEST_F(TrainFixture, DivergenceNamesOnlyACheckpointThatExists) {
  train::Config bad = config();
  bad.optimizer = "sgd";
  bad.lr = 1e30;
  const fs::path p = dir / "never.safetensors";
  train::Trainer t(bad);
  const std::string m = message_of([&] { t.fit(p.string()); });
  EXPECT_NE(m.find("; nothing was saved to " + p.string()), std::string::npos) << m;
  EXPECT_EQ(m.find("last good checkpoint"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(TrainFixture, NoTrainingRowsIsAnError) {
  write_idx_set(dir, "train", 0, 1);
  train::Config c = config();
  c.validation_fraction = 0;
  EXPECT_EQ(message_of([&] { train::Trainer t(c); }), "data: '" + dir.string() + "' has no training rows");
}

TEST_F(TrainFixture, ManyClassesEvaluateWithoutAConfusionMatrix) {
  train::Config c = config();
  c.layers = {36, 5000};
  Generator g(2);
  auto model = nn::mlp(c.layers, c.activation, c.output, g);
  data::Dataset ds;
  ds.features = zeros({3, 36});
  ds.labels = tensor(std::vector<float>{4999, 0, 17});
  ds.num_classes = 5000;
  train::Evaluation e = train::evaluate(*model, c, ds);
  EXPECT_TRUE(e.confusion.empty());  // 5000² counts would be 200 MB
  ASSERT_EQ(e.per_class_accuracy.size(), 5000u);
  EXPECT_TRUE(std::isnan(e.per_class_accuracy[1]));
  // All rows are zeros: one prediction for all three, right for at most one.
  int right = 0;
  for (int k : {0, 17, 4999}) right += e.per_class_accuracy[static_cast<size_t>(k)] == 1.0;
  EXPECT_EQ(e.accuracy, right / 3.0);
  ds.labels = tensor(std::vector<float>{5000, 0, 1});
  ds.num_classes = 0;
  EXPECT_EQ(message_of([&] { train::evaluate(*model, c, ds); }),
            "cross_entropy: label 5000 at position 0 is not a class index in [0, 5000)");
}
