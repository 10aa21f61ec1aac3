// The `nabla` command end to end: exit codes, one-line errors, files left intact.
// The binary's path comes from NABLA_CLI (set by CMake); without it the tests skip.
#include <gtest/gtest.h>

#include "cli/cli_helpers.hpp"

namespace {

using namespace nabla_cli_test;

using Cli = CliFixture;

}  // namespace

TEST_F(Cli, TrainsSavesSummarizesEvaluatesPredicts) {
  write_idx(dir, 64);
  fs::path m = dir / "m.safetensors", metrics = dir / "m.json", plot = dir / "m.svg";
  Result r = run("train --data " + dir.string() + " --layers 4,8,2 --epochs 3 --batch-size 16 --lr 0.05 --out " +
                 m.string() + " --metrics-json " + metrics.string() + " --plot " + plot.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("epoch 3/3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test acc 100.00%"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(m));
  EXPECT_NE(slurp(metrics).find("\"samples_per_second\""), std::string::npos);
  EXPECT_NE(slurp(plot).find("<svg"), std::string::npos);
  r = run("summary --model " + m.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("total parameters: 58"), std::string::npos) << r.out;  // 4·8+8 + 8·2+2
  r = run("evaluate --model " + m.string() + " --data " + dir.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("accuracy 100.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  r = run("predict --model " + m.string() + " --input " + (dir / "t10k-images-idx3-ubyte").string() + " --limit 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0: class 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1: class 1"), std::string::npos) << r.out;
}

TEST_F(Cli, BadInputsFailWithOneLine) {
  write_idx(dir, 32);
  expect_error(run("train --data " + (dir / "nope").string()), "nope");
  expect_error(run("train --data " + dir.string() + " --layers 5,2"), "4 features");
  expect_error(run("train --data " + dir.string() + " --layers 4,x,2"), "--layers");
  expect_error(run("train --data " + dir.string() + " --layers 4,2 --optimizer adamax"), "adamax");
  // A truncated IDX file.
  std::string bytes = slurp(dir / "train-images-idx3-ubyte");
  std::ofstream(dir / "train-images-idx3-ubyte", std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  expect_error(run("train --data " + dir.string() + " --layers 4,2"), "train-images-idx3-ubyte");
  // Wrong magic.
  std::ofstream(dir / "train-images-idx3-ubyte", std::ios::binary) << std::string("\0\0\x09\x03", 4) + bytes.substr(4);
  expect_error(run("train --data " + dir.string() + " --layers 4,2"), "train-images-idx3-ubyte");
  // A CSV with a non-numeric cell.
  std::ofstream(dir / "bad.csv") << "a,b,label\n1,2,0\n3,oops,1\n";
  expect_error(run("train --data " + (dir / "bad.csv").string() + " --layers 2,2"), "bad.csv:3");
  // A corrupt checkpoint and a missing one.
  std::ofstream(dir / "junk.safetensors") << "not a checkpoint";
  expect_error(run("summary --model " + (dir / "junk.safetensors").string()), "junk.safetensors");
  expect_error(run("evaluate --model " + (dir / "missing.safetensors").string()), "missing.safetensors");
}

TEST_F(Cli, DivergenceKeepsTheGoodCheckpoint) {
  write_idx(dir, 32);
  fs::path m = dir / "m.safetensors";
  ASSERT_EQ(run("train --data " + dir.string() + " --layers 4,8,2 --epochs 1 --out " + m.string()).code, 0);
  std::string good = slurp(m);
  Result r = run("train --data " + dir.string() + " --layers 4,8,2 --epochs 2 --batch-size 4 --optimizer sgd --lr 1e38 --out " +
                 m.string());
  expect_error(r, "epoch 1, batch");
  EXPECT_EQ(slurp(m), good);
  // Resuming with another architecture is refused, and the file stays.
  r = run("train --data " + dir.string() + " --layers 4,16,2 --resume " + m.string() + " --out " + m.string());
  expect_error(r, "layers");
  EXPECT_EQ(slurp(m), good);
}

TEST_F(Cli, ResumeRepeatsTheUninterruptedRun) {
  write_idx(dir, 64);
  // Without a schedule the first two epochs of a 4-epoch run are a 2-epoch run:
  // stop there, resume, and compare with the run that went straight through.
  std::string base = "train --data " + dir.string() + " --layers 4,8,2 --batch-size 8 --seed 3 --schedule none ";
  fs::path full = dir / "full.json", a = dir / "a.safetensors", b = dir / "b.json";
  ASSERT_EQ(run(base + "--epochs 4 --out \"\" --metrics-json " + full.string()).code, 0);
  ASSERT_EQ(run(base + "--epochs 2 --out " + a.string()).code, 0);
  ASSERT_EQ(run(base + "--epochs 4 --resume " + a.string() + " --out \"\" --metrics-json " + b.string()).code, 0);
  std::string f = slurp(full), s = slurp(b);
  // The resumed run's epochs 3 and 4 carry the same train losses as the uninterrupted run's.
  auto losses = [](const std::string& j) {
    std::vector<std::string> v;
    for (size_t p = j.find("\"train_loss\""); p != std::string::npos; p = j.find("\"train_loss\"", p + 1))
      v.push_back(j.substr(p, j.find(',', p) - p));
    return v;
  };
  auto lf = losses(f), ls = losses(s);
  ASSERT_EQ(lf.size(), 4u);
  // The resumed run's report covers the whole run: epochs 1 and 2 from the checkpoint.
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls, lf);
}
