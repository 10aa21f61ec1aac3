// Crafted inputs through the real `nabla` command: each is refused with one
// line and exit code 2 (or, where the input is legitimate, handled), within a
// few seconds and a 1 GB address space, and no file that existed before is
// changed unless it is the checkpoint being written.
#include <gtest/gtest.h>

#include <cmath>

#include "cli/cli_helpers.hpp"
#include "data/test_files.hpp"
#include "nabla/io.hpp"
#include "nabla/nn.hpp"
#include "nabla/train.hpp"

namespace {

using namespace nabla_cli_test;

constexpr int kMemMb = 1024;

class CliHardening : public CliFixture {
 protected:
  // A valid checkpoint of a 4-2 model trained one epoch on the IDX folder `dir`.
  fs::path checkpoint(const std::string& name = "m.safetensors", const std::string& extra = "") {
    write_idx(dir, 32);
    const fs::path m = dir / name;
    Result r = run("train --data " + dir.string() + " --layers 4,2 --epochs 1 --out " + m.string() + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return m;
  }
  // `path` rewritten with its metadata or tensors edited.
  static void edit_checkpoint(const fs::path& path, const std::function<void(nabla::io::Metadata&)>& meta,
                              const std::function<void(nabla::io::NamedTensors&)>& tensors = {}) {
    nabla::io::TensorFile f = nabla::io::load_safetensors(path.string());
    meta(f.metadata);
    if (tensors) tensors(f.tensors);
    nabla::io::save_safetensors(path.string(), f.tensors, f.metadata);
  }
  // Runs `args` and expects the one-line error `needle` with every file in
  // `dir` left as it was.
  void expect_refused(const std::string& args, const std::string& needle) {
    std::map<std::string, std::string> before;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) before[e.path().string()] = slurp(e.path());
    Result r = run(args, kMemMb);
    expect_error(r, needle);
    std::map<std::string, std::string> after;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) after[e.path().string()] = slurp(e.path());
    EXPECT_EQ(before.size(), after.size()) << args;
    for (const auto& [p, bytes] : before) EXPECT_TRUE(after.count(p) && after[p] == bytes) << p << " changed";
  }
};

}  // namespace

// 1. Unchecked size arithmetic.
TEST_F(CliHardening, HugeLayerSizes) {
  write_idx(dir, 32);
  const std::string base = "train --data " + dir.string() + " --out " + (dir / "m.safetensors").string();
  expect_refused(base + " --layers 4,4611686018427387904,2",
                 "--layers: '4,4611686018427387904,2': mlp: size 4 x 4611686018427387904 overflows 64 bits");
  expect_refused(base + " --layers 4,99999999999999999999,2",
                 "--layers: '4,99999999999999999999,2': size '99999999999999999999' does not fit in 64 bits");
  expect_refused(base + " --layers 4,200000000000,2", "mlp: needs ");  // 800 GB: beyond the machine
}

TEST_F(CliHardening, CheckpointClaimingHugeLayers) {
  const fs::path m = checkpoint();
  edit_checkpoint(m, [](auto& md) { md["layers"] = "4,4611686018427387904,2"; });
  const std::string img = (dir / "t10k-images-idx3-ubyte").string();
  for (const std::string cmd : {"summary --model " + m.string(), "evaluate --data " + dir.string() + " --model " + m.string(),
                                "predict --input " + img + " --model " + m.string()})
    expect_refused(cmd, "checkpoint metadata: layers: '4,4611686018427387904,2': mlp: size 4 x 4611686018427387904");
  // 6. Work before validation: 2 000 000 hidden units claimed, 10 parameters present.
  edit_checkpoint(m, [](auto& md) { md["layers"] = "4,2000000,2"; });
  expect_refused("summary --model " + m.string(),
                 "the metadata's layers 4,2000000,2 have 14000002 parameters but the file's model tensors hold 10");
}

// 2. Deep and long JSON in a safetensors header.
TEST_F(CliHardening, DeepAndLongHeaders) {
  auto write = [&](const std::string& name, const std::string& header) {
    std::string le(8, '\0');
    for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    nabla::testing::write_file((dir / name).string(), le + header);
    return (dir / name).string();
  };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_refused("summary --model " + write("deep.st", R"({"a":{"dtype":"F32","shape":)" + deep + "}}"),
                 "deep.st: safetensors: tensor 'a': a \"shape\" extent is not a non-negative integer: an array");
  std::string offsets;
  for (int i = 0; i < 2000000; ++i) offsets += "0,";
  Result r = run("summary --model " + write("offs.st", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[)" + offsets + "0]}}"),
                 kMemMb);
  expect_error(r, "offs.st: safetensors: tensor 'a': \"data_offsets\" must be [begin, end], got an array of 2000001 values");
  EXPECT_LT(r.err.size(), 300u);
  // 5. Quadratic work: 100 000 entries are read in one pass (and this is no checkpoint).
  std::string many = "{";
  for (int i = 0; i < 100000; ++i)
    many += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  expect_refused("summary --model " + write("many.st", many + "}"),
                 "many.st: checkpoint metadata: missing 'format' (not a nabla checkpoint?)");
}

// 3. Outputs that would destroy an input or another output.
TEST_F(CliHardening, OutputsNeverOverwriteInputsOrEachOther) {
  std::ofstream(dir / "d.csv") << "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
  const std::string csv = (dir / "d.csv").string(), m = (dir / "m.safetensors").string();
  const std::string base = "train --layers 2,2 --validation 0 --data " + csv;
  expect_refused(base + " --out " + csv, "--out " + csv + " would overwrite the training data (" + csv + ")");
  fs::create_directories(dir / "sub");
  expect_refused(base + " --out " + (dir / "sub" / ".." / "d.csv").string(), "would overwrite the training data");
  fs::create_symlink(dir / "d.csv", dir / "link.csv");
  expect_refused(base + " --out " + (dir / "link.csv").string(), "would overwrite the training data");
  expect_refused(base + " --out " + m + " --metrics-json " + m,
                 "--metrics-json " + m + " and --out " + m + " name the same file");
  expect_refused(base + " --out " + m + " --plot " + m, "--plot " + m + " and --out " + m + " name the same file");
  fs::create_directories(dir / "idx");  // an IDX folder's files are inputs too
  write_idx(dir / "idx", 32);
  expect_refused("train --layers 4,2 --epochs 1 --data " + (dir / "idx").string() + " --out " +
                     (dir / "idx" / "train-labels-idx1-ubyte").string(),
                 "would overwrite the training data");
  // The checkpoint being continued may be rewritten; no other output may name it.
  ASSERT_EQ(run(base + " --epochs 1 --out " + m).code, 0);
  expect_refused(base + " --epochs 2 --resume " + m + " --out " + (dir / "n.safetensors").string() + " --plot " + m,
                 "--plot " + m + " would overwrite the checkpoint to resume from");
  EXPECT_EQ(run(base + " --epochs 2 --resume " + m + " --out " + m).code, 0);
}

// 6. Output locations are checked before the first epoch.
TEST_F(CliHardening, UnwritableOutputsFailBeforeTraining) {
  write_idx(dir, 32);
  const std::string base = "train --layers 4,2 --epochs 1 --data " + dir.string();
  Result r = run(base + " --out " + (dir / "no" / "m.safetensors").string());
  expect_error(r, "--out " + (dir / "no" / "m.safetensors").string() + ": the folder " + (dir / "no").string() +
                      " does not exist");
  EXPECT_EQ(r.out.find("epoch 1/"), std::string::npos) << r.out;
  r = run(base + " --out " + (dir / "m.safetensors").string() + " --metrics-json " + dir.string());
  expect_error(r, "--metrics-json " + dir.string() + ": is a folder, not a file");
  EXPECT_EQ(r.out.find("epoch 1/"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "m.safetensors"));
}

// 4. Decompression is capped at what the IDX header declares.
TEST_F(CliHardening, GzipBombIsRefusedAtTheDeclaredSize) {
  write_idx(dir, 32);
  fs::remove(dir / "train-images-idx3-ubyte");
  std::string header = nabla::testing::bytes({0, 0, 8, 3, 0, 0, 0, 32, 0, 0, 0, 2, 0, 0, 0, 2});
  // 32 images of 2x2 declared, 512 MB of zeros behind them (3.4 MB of gzip).
  nabla::testing::write_file((dir / "train-images-idx3-ubyte.gz").string(),
                             nabla::testing::gzip_zeros(header, uint64_t{512} << 20));
  expect_refused("train --layers 4,2 --epochs 1 --data " + dir.string() + " --out " + (dir / "m.st").string(),
                 "train-images-idx3-ubyte.gz: the gzip data inflates to more than the 144 bytes its IDX header declares");
}

// 7. Nothing done is no success.
TEST_F(CliHardening, NothingToTrainIsAnError) {
  const fs::path m = checkpoint();
  const std::string base = "train --data " + dir.string() + " --layers 4,2 --out " + m.string();
  expect_refused(base + " --epochs 0", "--epochs 0: nothing to train");
  expect_refused(base + " --resume " + m.string(),
                 "--resume " + m.string() + ": the checkpoint has finished all 1 epochs; nothing to train (give "
                                            "--epochs above 1 to continue)");
  // An empty training set.
  fs::create_directories(dir / "empty");
  write_idx(dir / "empty", 0);
  expect_refused("train --layers 4,2 --epochs 1 --data " + (dir / "empty").string() + " --out " +
                     (dir / "e.st").string(),
                 "has no class labels");
  // A batch far larger than the data is one batch of everything: trained, not a NaN loss.
  Result r = run("train --data " + dir.string() + " --layers 4,2 --epochs 1 --batch-size 9223372036854775807 --out " +
                     (dir / "b.st").string(),
                 kMemMb);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("saved "), std::string::npos) << r.out;
}

TEST_F(CliHardening, NonFiniteCheckpointState) {
  const fs::path m = checkpoint();
  edit_checkpoint(m, [](auto& md) { md["epochs_done"] = "nan"; });
  expect_refused("summary --model " + m.string(),
                 "checkpoint metadata: 'epochs_done' = 'nan' is not a whole number from 0 to 1");
  edit_checkpoint(m, [](auto& md) { md["epochs_done"] = "1"; }, [](auto& ts) {
    for (auto& [n, t] : ts)
      if (n == "model.0.bias") t.set({1}, NAN);
  });
  expect_refused("evaluate --data " + dir.string() + " --model " + m.string(),
                 "tensor 'model.0.bias' holds nan at element 1");
  expect_refused("train --data " + dir.string() + " --layers 4,2 --epochs 2 --resume " + m.string() + " --out " +
                     m.string(),
                 "tensor 'model.0.bias' holds nan at element 1");
}

TEST_F(CliHardening, DivergenceDoesNotNameAMissingCheckpoint) {
  write_idx(dir, 32);
  const fs::path m = dir / "m.safetensors";
  Result r = run("train --data " + dir.string() + " --layers 4,8,2 --epochs 2 --batch-size 4 --optimizer sgd "
                 "--lr 1e38 --out " + m.string());
  expect_error(r, "; nothing was saved to " + m.string());
  EXPECT_EQ(r.err.find("last good checkpoint"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(m));
}

// 8. Silent wrong results.
TEST_F(CliHardening, CsvValueBeyondFloat32) {
  std::ofstream(dir / "x.csv") << "a,b,label\n1,2,0\n1e39,3,1\n";
  const fs::path m = checkpoint();
  expect_refused("predict --model " + m.string() + " --input " + (dir / "x.csv").string(),
                 "x.csv:3:1: value \"1e39\" in column \"a\" is out of float32 range");
}

TEST_F(CliHardening, ResumeTakesTheCheckpointsSettings) {
  const fs::path m = checkpoint("m.safetensors", "--lr 0.01 --schedule cosine");
  const std::string base = "train --data " + dir.string() + " --epochs 2 --resume " + m.string() + " --out " +
                           m.string();
  expect_refused(base + " --schedule none",
                 "--schedule none contradicts the checkpoint's schedule cosine (" + m.string() +
                     "); leave it out to continue with the checkpoint's value");
  expect_refused(base + " --lr 0.5", "--lr 0.5 contradicts the checkpoint's lr 0.01");
  // Left out, the settings come from the checkpoint, and the printed rate is the one used.
  Result r = run(base, kMemMb);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("adam, lr 0.01, batch 8, 2 epochs"), std::string::npos) << r.out;  // batch: 29 rows / 20, at least 8
  EXPECT_NE(r.out.find("--epochs 2 overrides the checkpoint's 1"), std::string::npos) << r.out;
}

TEST_F(CliHardening, ManyClassesEvaluateWithoutAHugeConfusionMatrix) {
  // A 2-50000 model (150 000 parameters); its confusion matrix would be 20 GB.
  nabla::train::Config c;
  c.layers = {2, 50000};
  c.data = (dir / "c.csv").string();
  c.validation_fraction = 0;
  c.normalize = "none";
  nabla::Generator g(1);
  auto model = nabla::nn::mlp(c.layers, c.activation, c.output, g);
  nabla::io::NamedTensors ts;
  for (auto& [n, t] : model->named_parameters()) ts.emplace_back("model." + n, t);
  nabla::io::Metadata md = c.to_metadata();
  md["epochs_done"] = "1";
  nabla::io::save_safetensors((dir / "m.st").string(), ts, md);
  std::ofstream(dir / "c.csv") << "a,b,label\n1,2,49999\n3,4,0\n";
  Result r = run("evaluate --model " + (dir / "m.st").string() + " --data " + (dir / "c.csv").string(), kMemMb);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("confusion matrix omitted: 50000 classes (at most 1000 are shown)"), std::string::npos);
}

// 9. Leftovers.
TEST_F(CliHardening, StaleTemporariesOfDeadProcessesAreRemoved) {
  write_idx(dir, 32);
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const fs::path m = dir / "m.safetensors";
  const fs::path stale = dir / ("m.safetensors.tmp." + std::to_string(dead) + ".0");
  nabla::testing::write_file(stale.string(), std::string(1 << 20, 'x'));
  ASSERT_EQ(run("train --data " + dir.string() + " --layers 4,2 --epochs 1 --out " + m.string()).code, 0);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(m));
}

TEST_F(CliHardening, SummaryEscapesControlCharacters) {
  const fs::path m = checkpoint();
  edit_checkpoint(m, [](auto& md) { md["data"] = "\x1b]0;owned\x07\x1b[2Jdata"; });
  Result r = run("summary --model " + m.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_NE(r.out.find("trained 1 epochs on \\x1b]0;owned\\x07\\x1b[2Jdata (adam"), std::string::npos) << r.out;
}

TEST_F(CliHardening, ImpossibleOptions) {
  write_idx(dir, 32);
  const std::string base = "train --data " + dir.string() + " --layers 4,2 --epochs 1 --out " +
                           (dir / "m.st").string();
  expect_refused(base + " --clip-grad-norm nan",
                 "gradient clipping norm (--clip-grad-norm) must be a finite number >= 0 (0: off), got nan");
  expect_refused(base + " --warmup -1", "warm-up epochs (--warmup) must be >= 0, got -1");
  expect_refused(base + " --threads 100000", "threads (--threads): 100000 is not a thread count from 0");
  expect_refused(base + " --momentum 1.5", "momentum (--momentum) must be in [0, 1), got 1.5");
}
