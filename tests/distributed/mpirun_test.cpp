// `mpirun -np 2 nabla train …` against one process, and the faults: a rank
// whose data is missing, a diverged loss, replicas that drift apart, a rank
// killed mid-epoch, a rank that stops answering. Every run is under
// `timeout`, so that a hang fails the test instead of blocking the suite.
//
// Skipped when the build has no MPI (then one test checks that `nabla train`
// started by mpirun says so). In the sanitizer tree the ranks run with
// ASAN_OPTIONS=detect_leaks=0: OpenMPI keeps allocations to the end of the
// process by design, which LeakSanitizer would report as leaks of every run;
// the Fashion-MNIST epoch runs in the Release tree only (it takes minutes
// under the sanitizers).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "cli_path.hpp"
#include "nabla/distributed.hpp"
#include "nabla/io.hpp"
#include "nabla/nabla.hpp"
#include "nabla/train.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// The launcher line: CI runs as root, and two ranks may share fewer cores.
std::string mpirun(int np) {
  std::string s = "mpirun -np " + std::to_string(np) + " --oversubscribe";
  if (::geteuid() == 0) s += " --allow-run-as-root";
  return s;
}

struct MpirunFixture : ::testing::Test {
  fs::path dir;
  std::string nabla;
  std::string env;  // prefixed to every command

  void SetUp() override {
    if (!dist::built_with_mpi()) GTEST_SKIP() << "this build has no MPI (CMake did not find it)";
    ASSERT_NE(nabla_cli_path(), nullptr) << "NABLA_CLI is not set";
    ASSERT_EQ(std::system("command -v mpirun >/dev/null 2>&1"), 0)
        << "the build has MPI but mpirun is not on PATH (Debian: openmpi-bin)";
    nabla = nabla_cli_path();
    dir = fs::temp_directory_path() / ("nabla_mpirun_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
    env = "cd " + dir.string() + " && NABLA_TEST_TAG=" + tag() + " OMPI_MCA_btl_vader_single_copy_mechanism=none ";
#if defined(__SANITIZE_ADDRESS__)
    env += "ASAN_OPTIONS=detect_leaks=0 ";
#endif
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  std::string tag() const { return std::to_string(::getpid()) + "_" + dir.filename().string(); }

  // Runs a shell command under `timeout` (plus 5 s to kill), in dir.
  Outcome sh(const std::string& cmd, int timeout_s = 120) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string full = env + "timeout -k 5 " + std::to_string(timeout_s) + " " + cmd + " >" +
                             (dir / "stdout").string() + " 2>" + (dir / "stderr").string() + " </dev/null";
    const int status = std::system(full.c_str());
    Outcome r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir / "stdout");
    r.err = slurp(dir / "stderr");
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

  void write_csv(const std::string& name, int rows, uint64_t seed = 3) {
    Generator g(seed);
    std::ofstream f(dir / name);
    f << "a,b,c,d,label\n";
    for (int i = 0; i < rows; ++i) {
      double x[4];
      for (double& v : x) v = 2 * g.uniform01() - 1;
      f << x[0] << "," << x[1] << "," << x[2] << "," << x[3] << "," << (x[0] + 0.5 * x[1] > 0) + (x[2] > 0.3) << "\n";
    }
  }

  static std::vector<double> losses(const fs::path& metrics) {
    std::vector<double> out;
    for (const auto& e : nlohmann::json::parse(slurp(metrics))) out.push_back(e.at("train_loss").get<double>());
    return out;
  }
  static void expect_same_run(const fs::path& a, const fs::path& b, const std::string& what) {
    const auto la = losses(a.string() + ".json"), lb = losses(b.string() + ".json");
    ASSERT_EQ(la.size(), lb.size()) << what;
    for (size_t e = 0; e < la.size(); ++e)
      EXPECT_NEAR(lb[e], la[e], 1e-5 * std::abs(la[e])) << what << ": epoch " << e + 1;
    const io::TensorFile fa = io::load_safetensors(a.string() + ".safetensors"),
                         fb = io::load_safetensors(b.string() + ".safetensors");
    ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
    for (const auto& [name, t] : fa.tensors) {
      if (name.rfind("model.", 0) != 0) continue;
      EXPECT_LT(max(abs(t - fb.at(name))).item(), 1e-5) << what << ": " << name;
    }
  }
  // `nabla train` with one process and with mpirun -np 2 on the same settings.
  std::string train(const std::string& name, int np, const std::string& args) {
    const std::string cmd = (np > 1 ? mpirun(np) + " " : "") + nabla + " train " + args + " --out " + name +
                            ".safetensors --metrics-json " + name + ".json";
    const Outcome r = sh(cmd);
    EXPECT_EQ(r.code, 0) << cmd << "\n" << r.out << r.err;
    return r.out;
  }

  // The pid of rank `rank` of this test's job (its environment has our tag), or 0.
  pid_t rank_pid(int rank) const {
    const std::string want_tag = "NABLA_TEST_TAG=" + tag(), want_rank = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
      const fs::directory_entry& e = *it;
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string environ = slurp(e.path() / "environ");
      bool tagged = false, ranked = false;
      for (size_t pos = 0; pos < environ.size();) {
        const size_t end = std::min(environ.find('\0', pos), environ.size());
        const std::string_view var(environ.data() + pos, end - pos);
        tagged |= var == want_tag, ranked |= var == want_rank;
        pos = end + 1;
      }
      if (tagged && ranked && slurp(e.path() / "comm").rfind("nabla", 0) == 0) return static_cast<pid_t>(std::stoi(name));
    }
    return 0;
  }

  // Starts `cmd` in the background; returns the shell's pid.
  pid_t start(const std::string& cmd, int timeout_s) {
    const std::string full = env + "exec timeout -k 5 " + std::to_string(timeout_s) + " " + cmd + " >" +
                             (dir / "stdout").string() + " 2>" + (dir / "stderr").string() + " </dev/null";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }
  // Waits for `pid` at most `limit` seconds; the exit code, or -1 after killing it.
  static int wait_for(pid_t pid, double limit, double& seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (seconds > limit) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // Waits until `path` is a checkpoint of at least one epoch (at most `limit` s).
  bool wait_checkpoint(const fs::path& path, double limit) {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < limit) {
      if (fs::exists(path)) {
        try {
          if (train::read_checkpoint_header(path.string()).epochs_done >= 1) return true;
        } catch (const Error&) {  // being replaced: try again
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

std::string csv_args(int epochs = 3, const std::string& batch = "--batch-size 32") {
  return " --data d.csv --layers 4,16,3 --seed 11 " + batch + " --epochs " + std::to_string(epochs);
}

}  // namespace

TEST_F(MpirunFixture, TwoRanksTrainAsOneProcessOnACsv) {
  write_csv("d.csv", 301);  // 270 training rows: 8 batches of 32 and one of 14, split 7/7
  train("one", 1, csv_args());
  const std::string out = train("two", 2, csv_args());
  expect_same_run(dir / "one", dir / "two", "mpirun -np 2");
  // rank 0 alone speaks: three header lines (data, task, model), one per epoch, the
  // validation accuracy, "saved", and the allreduce's figures
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 9) << out;
  EXPECT_NE(out.find("allreduce over 2 ranks: 27 steps, 0.001 MB a step"), std::string::npos) << out;  // 9 a epoch
  // and the odd batch sizes: 3 ranks of a batch of 32 take 10, 11, 11 rows; --accumulate too
  train("three", 3, csv_args(3, "--batch-size 16 --accumulate 2"));
  expect_same_run(dir / "one", dir / "three", "mpirun -np 3 --batch-size 16 --accumulate 2");
  // with the thread split inside each rank: a batch of 256 is 128 rows a rank, 64 a thread
  train("wide1", 1, csv_args(3, "--batch-size 256 --threads 2"));
  train("wide2", 2, csv_args(3, "--batch-size 256 --threads 2"));
  expect_same_run(dir / "wide1", dir / "wide2", "mpirun -np 2 --threads 2 --batch-size 256");
}

TEST_F(MpirunFixture, ResumesAcrossProcessCounts) {
  write_csv("d.csv", 301);
  // (no schedule: a cosine schedule's rates depend on the number of epochs, which a resume extends)
  const std::string flat = " --schedule none";
  train("one", 1, csv_args() + flat);
  // 1 epoch on two ranks, then the rest on one process; and the other way round
  train("mixed", 2, csv_args(1) + flat);
  ASSERT_EQ(sh(nabla + " train --resume mixed.safetensors --epochs 3 --out mixed.safetensors").code, 0);
  train("other", 1, csv_args(2) + flat);
  const Outcome r = sh(mpirun(2) + " " + nabla + " train --resume other.safetensors --epochs 3 --out other.safetensors");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* name : {"mixed", "other"}) {
    const io::TensorFile a = io::load_safetensors((dir / "one.safetensors").string()),
                         b = io::load_safetensors((dir / (std::string(name) + ".safetensors")).string());
    EXPECT_EQ(b.metadata.at("epochs_done"), "3");
    for (const auto& [n, t] : a.tensors) {
      if (n.rfind("model.", 0) == 0) {
        EXPECT_LT(max(abs(t - b.at(n))).item(), 1e-5) << name << " " << n;
      }
    }
  }
}

TEST_F(MpirunFixture, FashionMnistEpochMatchesOneProcess) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the Fashion-MNIST epoch runs in the Release tree only (minutes under the sanitizers)";
#endif
  if (!fs::exists(std::string(data::kFashionMnistDir))) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const std::string args = " --layers 784,64,10 --epochs 1 --seed 3";
  train("one", 1, args + " --threads 1");
  train("two", 2, args);
  expect_same_run(dir / "one", dir / "two", "Fashion-MNIST, mpirun -np 2");
  const auto a = nlohmann::json::parse(slurp(dir / "one.json")), b = nlohmann::json::parse(slurp(dir / "two.json"));
  EXPECT_GT(a[0].at("test_accuracy").get<double>(), 0.8);
  EXPECT_NEAR(b[0].at("test_accuracy").get<double>(), a[0].at("test_accuracy").get<double>(), 2e-4);  // ≤ 2 of 10 000
}

TEST_F(MpirunFixture, ARankWithoutItsDataEndsEveryRank) {
  write_csv("d.csv", 100);
  // MPMD: rank 0 reads d.csv and waits for rank 1 in the first broadcast;
  // rank 1's file does not exist.
  const Outcome r = sh(mpirun(1) + " " + nabla + " train --data d.csv --layers 4,3 : " + "-np 1 " + nabla +
                       " train --data missing.csv --layers 4,3",
                   60);
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.seconds, 30);
  EXPECT_NE(r.err.find("nabla: error: rank 1 of 2: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.csv"), std::string::npos) << r.err;
}

TEST_F(MpirunFixture, DivergedLossEndsEveryRank) {
  write_csv("d.csv", 301);
  // SGD at lr 1e30 diverges in the first batch, on every rank at once (the loss is the allreduced one)
  const Outcome r = sh(mpirun(2) + " " + nabla + " train --data d.csv --layers 4,16,3 --optimizer sgd --lr 1e30" +
                       " --epochs 3 --out bad.safetensors",
                   60);
  EXPECT_NE(r.code, 0);
  EXPECT_LT(r.seconds, 30);
  EXPECT_TRUE(std::regex_search(r.err, std::regex("nabla: error: rank [01] of 2: training diverged"))) << r.err;
  EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
}

TEST_F(MpirunFixture, RanksWithOtherSettingsAreRefused) {
  // MPMD with another learning rate on rank 1: it would apply other steps
  // to the same gradients, and another --epochs would leave rank 0 waiting.
  write_csv("d.csv", 100);
  const std::string args = " train --data d.csv --layers 4,3 --out m.safetensors";
  for (const char* other : {" --epochs 2 --lr 0.5", " --epochs 3"}) {
    const Outcome r = sh(mpirun(1) + " " + nabla + args + " --epochs 2 : -np 1 " + nabla + args + other, 60);
    EXPECT_NE(r.code, 0) << other;
    EXPECT_LT(r.seconds, 30) << other;
    EXPECT_TRUE(std::regex_search(r.err, std::regex("nabla: error: rank 1 of 2: distributed training: this rank has "
                                                    "(lr 0.5, rank 0 has 0.001|epochs 3, rank 0 has 2)")))
        << other << "\n" << r.err;
    EXPECT_FALSE(fs::exists(dir / "m.safetensors"));
  }
}

TEST_F(MpirunFixture, CollectivesAcrossRanks) {
  // broadcast, the bucketed allreduce over f32, f64 and undefined gradients,
  // and replicas that differ in one bit (tests/distributed/dist_probe.cpp)
  const Outcome r = sh(mpirun(2) + " " + NABLA_DIST_PROBE_PATH, 60);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  for (int rank = 0; rank < 2; ++rank)
    for (const char* name : {"broadcast", "broadcast-text", "allreduce-f32", "allreduce-f64", "allreduce-undefined",
                             "allreduce-loss", "allreduce-sum", "replicas-equal", "replicas-differ"})
      EXPECT_NE(r.out.find("rank " + std::to_string(rank) + ": ok " + name + "\n"), std::string::npos)
          << name << " on rank " << rank << "\n" << r.out;
}

TEST_F(MpirunFixture, AKilledRankEndsTheJobAndTheCheckpointSurvives) {
  write_csv("d.csv", 2000);
  const pid_t job = start(mpirun(2) + " " + nabla +
                              " train --data d.csv --layers 4,64,64,3 --batch-size 8 --epochs 1000 --out m.safetensors",
                          120);
  ASSERT_TRUE(wait_checkpoint(dir / "m.safetensors", 60)) << slurp(dir / "stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // into the next epoch
  const pid_t victim = rank_pid(1);
  ASSERT_GT(victim, 0) << "rank 1 not found";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  double seconds = 0;
  const int code = wait_for(job, 30, seconds);
  EXPECT_NE(code, -1) << "the job did not end within 30 s of the kill";
  EXPECT_NE(code, 0);
  EXPECT_LT(seconds, 15) << "every rank ends within seconds";
  const std::string err = slurp(dir / "stderr");
  EXPECT_TRUE(std::regex_search(err, std::regex("rank 1 .*(exited on signal 9|Killed)"))) << err;
  EXPECT_EQ(rank_pid(0), 0) << "rank 0 is still running";
  // the last checkpoint is whole: it loads, with the epochs it says
  const train::SavedModel s = train::load_model((dir / "m.safetensors").string());
  EXPECT_GE(s.epochs, 1);
}

TEST_F(MpirunFixture, ARankThatStopsAnsweringEndsTheJob) {
  // SIGSTOP: the rank is alive but silent, so no launcher notices; rank 0's
  // collective gives up after NABLA_MPI_TIMEOUT seconds and ends the job.
  write_csv("d.csv", 2000);
  env += "NABLA_MPI_TIMEOUT=2 ";
  const pid_t job = start(mpirun(2) + " " + nabla +
                              " train --data d.csv --layers 4,64,64,3 --batch-size 8 --epochs 1000 --out m.safetensors",
                          120);
  ASSERT_TRUE(wait_checkpoint(dir / "m.safetensors", 60)) << slurp(dir / "stderr");
  const pid_t victim = rank_pid(1);
  ASSERT_GT(victim, 0) << "rank 1 not found";
  ASSERT_EQ(::kill(victim, SIGSTOP), 0);
  double seconds = 0;
  const int code = wait_for(job, 40, seconds);
  if (code == -1) ::kill(victim, SIGKILL);
  EXPECT_NE(code, -1) << "the job did not end within 40 s";
  EXPECT_NE(code, 0);
  EXPECT_LT(seconds, 20);
  const std::string err = slurp(dir / "stderr");
  EXPECT_NE(err.find("nabla: error: rank 0 of 2: no answer from the other ranks for 2 s"), std::string::npos) << err;
  if (rank_pid(1) == victim) ::kill(victim, SIGKILL);
  EXPECT_GE(train::load_model((dir / "m.safetensors").string()).epochs, 1);
}

// A build without MPI, started by mpirun, says so instead of running K
// separate trainings (the launcher's variables are set by hand: mpirun needs
// no MPI in the program to start it).
TEST(MpirunWithoutMpi, SaysTheBuildHasNoMpi) {
  if (dist::built_with_mpi()) GTEST_SKIP() << "this build has MPI";
  ASSERT_NE(nabla_cli_path(), nullptr);
  const std::string cmd = std::string("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 ") + nabla_cli_path() +
                          " train --epochs 1 2>&1 >/dev/null </dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string err;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) err.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(err.find("built without MPI"), std::string::npos) << err;
}
