// Shared by the command-line tests: running `nabla` and reading back what it
// did, and small data sets to run it on.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cli_path.hpp"

namespace nabla_cli_test {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out, err;
};

// Runs `nabla <args>` through the shell (stdin empty). With mem_mb > 0 the
// command runs under an address-space limit of that many MB (ulimit -v),
// except in sanitizer builds, whose shadow memory needs terabytes of it.
inline Result run(const std::string& args, int mem_mb = 0) {
  const char* cli = nabla_cli_path();
  fs::path errf = fs::temp_directory_path() / ("nabla_cli_err_" + std::to_string(::getpid()));
  std::string limit;
#if !defined(__SANITIZE_ADDRESS__)
  if (mem_mb > 0) limit = "ulimit -v " + std::to_string(mem_mb * 1024) + "; ";
#endif
  std::string cmd = limit + std::string(cli) + " " + args + " 2>" + errf.string() + " </dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  std::ifstream ef(errf);
  std::string err((std::istreambuf_iterator<char>(ef)), {});
  fs::remove(errf);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err};
}

inline void put_be32(std::ofstream& f, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) f.put(static_cast<char>((v >> s) & 0xff));
}

// Writes a tiny valid IDX folder (n images of 2×2, labels 0/1).
inline void write_idx(const fs::path& dir, int n) {
  for (std::string split : {"train", "t10k"}) {
    std::ofstream img(dir / (split + "-images-idx3-ubyte"), std::ios::binary);
    std::ofstream lab(dir / (split + "-labels-idx1-ubyte"), std::ios::binary);
    put_be32(img, 0x803), put_be32(img, n), put_be32(img, 2), put_be32(img, 2);
    put_be32(lab, 0x801), put_be32(lab, n);
    for (int i = 0; i < n; ++i) {
      lab.put(static_cast<char>(i % 2));
      for (int k = 0; k < 4; ++k) img.put(static_cast<char>(i % 2 ? 200 : 10));
    }
  }
}

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A scratch folder per test; skips when the command's path is unknown.
class CliFixture : public ::testing::Test {
 protected:
  fs::path dir;
  void SetUp() override {
    if (!nabla_cli_path()) GTEST_SKIP() << "NABLA_CLI is not set";
    dir = fs::temp_directory_path() / ("nabla_cli_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  // One line on stderr naming `needle`, exit code 2.
  static void expect_error(const Result& r, const std::string& needle) {
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
};

}  // namespace nabla_cli_test
