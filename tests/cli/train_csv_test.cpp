// `nabla train / evaluate / predict / summary` on CSV files, through the real
// binary: regression and classes of any kind, files without a header or with
// another delimiter, a separate test file, checkpoints that remember their
// settings and history, and a command line that suggests what was meant.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_helpers.hpp"

namespace {

using namespace nabla_cli_test;

using TrainCsv = CliFixture;

// y = 3·a − 2·b + 0.5 (+ a small, seeded wobble), non-integer: a regression.
void write_regression(const fs::path& p, int n, bool label = true, unsigned seed = 1) {
  std::ofstream f(p);
  f << "a,b" << (label ? ",y" : "") << "\n";
  for (int i = 0; i < n; ++i) {
    const double a = std::sin(i * 1.7 + seed), b = std::cos(i * 0.9 + 2 * seed);
    f << a << "," << b;
    if (label) f << "," << 3 * a - 2 * b + 0.5 + 0.01 * std::sin(i * 13.0);
    f << "\n";
  }
}

// Three separable classes named by text, in the last column.
void write_species(const fs::path& p, int n, char delim = ',', bool header = true) {
  std::ofstream f(p);
  if (header) f << "x" << delim << "y" << delim << "species\n";
  const char* names[] = {"setosa", "versicolor", "virginica"};
  for (int i = 0; i < n; ++i) {
    const int k = i % 3;
    f << k * 2 + 0.1 * std::sin(i) << delim << -k + 0.1 * std::cos(i) << delim << names[k] << "\n";
  }
}

nlohmann::json json_of(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

TEST_F(TrainCsv, RegressionIsChosenFromTheTargetAndScoredInItsUnits) {
  write_regression(dir / "r.csv", 200);
  write_regression(dir / "t.csv", 50, true, 7);
  write_regression(dir / "x.csv", 3, false, 7);  // features alone
  const fs::path m = dir / "r.safetensors", mj = dir / "r.json", ej = dir / "e.json";
  Result r = run("train --data " + (dir / "r.csv").string() + " --label y --test-data " + (dir / "t.csv").string() +
                 " --hidden 32 --epochs 20 --lr 0.01 --out " + m.string() + " --metrics-json " + mj.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("task: regression (from the labels of 'y'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model: 2,32,1 relu"), std::string::npos) << r.out;  // widths from the data
  EXPECT_NE(r.out.find("mse loss"), std::string::npos) << r.out;
  const nlohmann::json h = json_of(mj);
  ASSERT_EQ(h.size(), 20u);
  EXPECT_TRUE(h.back()["validation_accuracy"].is_null());
  const double r2 = h.back()["test_r2"], rmse = h.back()["test_rmse"];
  EXPECT_GT(r2, 0.95) << r.out;  // y is almost linear in a, b
  EXPECT_LT(rmse, 1.0);
  EXPECT_NE(r.out.find("test RMSE"), std::string::npos) << r.out;
  // evaluate takes data, label and task from the checkpoint: its test file.
  r = run("evaluate --model " + m.string() + " --metrics-json " + ej.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("on " + (dir / "t.csv").string() + ": 50 samples"), std::string::npos) << r.out;
  EXPECT_NEAR(double(json_of(ej)["rmse"]), rmse, 1e-4);
  EXPECT_NEAR(double(json_of(ej)["r2"]), r2, 1e-4);
  // predict on a file of features alone prints values in the target's units.
  r = run("predict --model " + m.string() + " --input " + (dir / "x.csv").string());
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::getline(lines, line)) << r.out;
    const double a = std::sin(i * 1.7 + 7), b = std::cos(i * 0.9 + 14);
    EXPECT_NEAR(std::stod(line.substr(line.find(':') + 1)), 3 * a - 2 * b + 0.5, 0.5) << line;
  }
  r = run("summary --model " + m.string());
  EXPECT_NE(r.out.find("label column y; regression target"), std::string::npos) << r.out;
  // A flag that contradicts the checkpoint names both values.
  expect_error(run("evaluate --model " + m.string() + " --label a"),
               "--label a contradicts the checkpoint's label_column y");
}

TEST_F(TrainCsv, TextLabelsBecomeClassesAndPredictPrintsTheirNames) {
  write_species(dir / "s.csv", 90);
  const fs::path m = dir / "s.safetensors";
  Result r = run("train --data " + (dir / "s.csv").string() + " --label species --hidden 16 --epochs 20 --lr 0.01 --quiet --out " +
                 m.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;  // --quiet
  EXPECT_NE(r.out.find("validation accuracy: 100.00%"), std::string::npos) << r.out;
  r = run("predict --model " + m.string() + " --input " + (dir / "s.csv").string() + " --limit 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0: class 0 setosa"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1: class 1 versicolor"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2: class 2 virginica"), std::string::npos) << r.out;
  r = run("evaluate --model " + m.string());
  EXPECT_NE(r.out.find("accuracy 100.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("virginica"), std::string::npos) << r.out;
  r = run("summary --model " + m.string());
  EXPECT_NE(r.out.find("classes setosa, versicolor, virginica"), std::string::npos) << r.out;
}

TEST_F(TrainCsv, LabelsOneToKAreKClasses) {
  std::ofstream f(dir / "k.csv");
  f << "x,label\n";
  for (int i = 0; i < 40; ++i) f << i % 4 << "," << 1 + i % 4 << "\n";
  f.close();
  Result r = run("train --data " + (dir / "k.csv").string() + " --epochs 2 --out " + (dir / "k.st").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 features, 4 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model: 1,256,128,4"), std::string::npos) << r.out;
}

TEST_F(TrainCsv, NoHeaderAnotherDelimiterAndATestFile) {
  write_species(dir / "a.csv", 60, ';', false);
  write_species(dir / "b.csv", 30, ';', false);
  const fs::path m = dir / "m.st";
  expect_error(run("train --data " + (dir / "a.csv").string() + " --delimiter ';' --no-header"),
               "name the label column by its number, 1 to 3");
  Result r = run("train --data " + (dir / "a.csv").string() + " --delimiter ';' --no-header --label 3 --test-data " +
                 (dir / "b.csv").string() + " --hidden 8 --epochs 30 --lr 0.03 --out " + m.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("30 test samples; 2 features, 3 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test accuracy: 100.00%"), std::string::npos) << r.out;
  // predict reads the input as the data was read: no header, ';'.
  r = run("predict --model " + m.string() + " --input " + (dir / "b.csv").string() + " --limit 1");
  EXPECT_NE(r.out.find("0: class 0 setosa"), std::string::npos) << r.out << r.err;
}

TEST_F(TrainCsv, ResumeContinuesTheCheckpointAndItsHistory) {
  write_species(dir / "s.csv", 60);
  const fs::path m = dir / "s.st", mj = dir / "h.json", plot = dir / "h.svg";
  const std::string data = " --data " + (dir / "s.csv").string() + " --label species";
  ASSERT_EQ(run("train" + data + " --hidden 8 --epochs 2 --out " + m.string()).code, 0);
  // No --data, --label, --hidden again; no --out: the checkpoint itself is continued.
  Result r = run("train --resume " + m.string() + " --epochs 4 --metrics-json " + mj.string() + " --plot " +
                 plot.string());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("resuming after epoch 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("saved " + m.string()), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists("model.safetensors") && fs::last_write_time("model.safetensors") > fs::last_write_time(mj));
  const nlohmann::json h = json_of(mj);
  ASSERT_EQ(h.size(), 4u);  // the whole run: epochs 1 and 2 come from the checkpoint
  EXPECT_EQ(h[0]["epoch"], 1);
  EXPECT_EQ(h[3]["epoch"], 4);
  EXPECT_EQ(slurp(plot).find("test accuracy"), std::string::npos);  // no test set, no test curve
  r = run("summary --model " + m.string());
  EXPECT_NE(r.out.find("trained 4 epochs"), std::string::npos) << r.out;
  // A finished run says so and writes nothing.
  const auto before = fs::last_write_time(m);
  r = run("train --resume " + m.string());
  expect_error(r, "the checkpoint has finished all 4 epochs; nothing to train (give --epochs above 4 to continue)");
  EXPECT_EQ(r.out.find("saved"), std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(m), before);
  // A contradicting flag names both values.
  expect_error(run("train --resume " + m.string() + " --epochs 6 --hidden 16"),
               "--hidden 16 contradicts the checkpoint's hidden widths 8");
  expect_error(run("train --resume " + m.string() + " --epochs 6 --lr 0.5"),
               "--lr 0.5 contradicts the checkpoint's lr 0.001");
  expect_error(run("train --resume " + m.string() + " --epochs 6 --optimizer sgd"),
               "leave --optimizer out to continue with adam, or start a new run to train with sgd");
}

TEST_F(TrainCsv, EarlyStoppingKeepsTheBestEpoch) {
  // Labels unrelated to the features: the validation loss soon gets worse.
  std::ofstream f(dir / "n.csv");
  f << "a,b,label\n";
  for (int i = 0; i < 80; ++i) f << std::sin(i * 2.3) << "," << std::cos(i * 1.1) << "," << (i * 7919 % 13) % 2 << "\n";
  f.close();
  const fs::path m = dir / "n.st";
  Result r = run("train --data " + (dir / "n.csv").string() + " --hidden 64 --lr 0.01 --epochs 200 --patience 3 "
                 "--validation 0.3 --out " + m.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("stopped early after epoch"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 200/200"), std::string::npos);
  expect_error(run("train --resume " + m.string()), "the run stopped early after epoch");
  expect_error(run("train --data " + (dir / "n.csv").string() + " --patience 2 --validation 0"),
               "early stopping watches the validation loss");
}

TEST_F(TrainCsv, MistakesGetTheFixInTheMessage) {
  write_species(dir / "s.csv", 30);
  const std::string data = "train --data " + (dir / "s.csv").string() + " --label species ";
  expect_error(run(data + "--lrr 0.1"), "unknown option --lrr for nabla train; did you mean --lr?");
  expect_error(run(data + "--optimizer adamm"), "did you mean adam?");
  expect_error(run(data + "--loss nll"), "add --output log_softmax");
  expect_error(run(data + "--output softmax"), "would apply it twice");
  expect_error(run(data + "--layers 2,8,3 --hidden 8"), "--layers and --hidden both give the architecture");
  expect_error(run(data + "--task regression"), "target \"setosa\" in column \"species\" is not a finite float32 number");
  Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("nabla 0.", 0), 0u) << r.out;
}

TEST_F(TrainCsv, TheBarFitsTheTerminal) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1) to make a terminal";
  write_species(dir / "s.csv", 3000);
  // A 50-column pseudo-terminal; every redraw (between carriage returns) fits in it.
  const std::string cmd = std::string("stty cols 50; ") + nabla_cli_path() + " train --data " +
                          (dir / "s.csv").string() + " --label species --hidden 8 --epochs 2 --batch-size 8 --out " +
                          (dir / "m.st").string();
  const fs::path log = dir / "tty.log";
  ASSERT_EQ(std::system(("script -qec '" + cmd + "' " + log.string() + " >/dev/null 2>&1 </dev/null").c_str()), 0);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("epoch 1/2 ["), std::string::npos) << out;
  size_t longest = 0, start = 0;
  for (size_t i = 0; i <= out.size(); ++i)
    if (i == out.size() || out[i] == '\r' || out[i] == '\n') {
      std::string seg = out.substr(start, i - start);
      if (seg.starts_with("\033[2K")) seg.erase(0, 4);
      if (seg.find("[#") != std::string::npos || seg.find("[.") != std::string::npos) longest = std::max(longest, seg.size());
      start = i + 1;
    }
  EXPECT_GT(longest, 0u) << out;
  EXPECT_LE(longest, 49u) << out;
}

}  // namespace
