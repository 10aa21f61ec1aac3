// Atomic checkpoint writes: a failure at any step (injected write error,
// fsync error, rename error, an exception from the caller, a crash of the
// process mid-write) must leave the previous checkpoint intact and loadable.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "data/test_files.hpp"
#include "io/fault.hpp"
#include "nabla/io.hpp"

namespace nabla::io {
namespace {

using detail::Fault;
using detail::FaultGuard;
using detail::FaultPoint;
using nabla::testing::error_of;
using nabla::testing::read_file;
using nabla::testing::TempDir;

// A checkpoint big enough that a failure can land in the middle of its data.
NamedTensors checkpoint(float fill) {
  return {{"w", full({64, 32}, fill)}, {"b", full({32}, -fill)}, {"step", scalar_tensor(double(fill), kFloat64)}};
}

void expect_checkpoint(const std::string& path, float fill) {
  TensorFile f = load_safetensors(path);
  EXPECT_EQ(f.metadata.at("version"), std::to_string(int(fill)));
  EXPECT_EQ(f.at("w").to_vector<float>(), std::vector<float>(64 * 32, fill));
  EXPECT_EQ(f.at("b").to_vector<float>(), std::vector<float>(32, -fill));
  EXPECT_EQ(f.at("step").item(), double(fill));
}

void save_version(const std::string& path, float fill) {
  save_safetensors(path, checkpoint(fill), {{"version", std::to_string(int(fill))}});
}

TEST(CheckpointAtomic, CreatesAndReplaces) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  expect_checkpoint(path, 1);
  save_version(path, 2);
  expect_checkpoint(path, 2);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));
}

TEST(CheckpointAtomic, WriteFailureMidFileKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  const std::string before = read_file(path);
  {
    FaultGuard fault(Fault{FaultPoint::write, 5000, ENOSPC});  // inside tensor "w"'s data
    std::string msg = error_of([&] { save_version(path, 2); });
    EXPECT_EQ(msg.rfind(path + ": write to " + path + ".tmp.", 0), 0u) << msg;
    EXPECT_NE(msg.find("failed at byte 5000: No space left on device; the previous file is left unchanged"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(read_file(path), before);
  expect_checkpoint(path, 1);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));  // the temporary file was removed
  save_version(path, 3);  // and the next save works
  expect_checkpoint(path, 3);
}

TEST(CheckpointAtomic, WriteFailureOnTheFirstByte) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  {
    FaultGuard fault(Fault{FaultPoint::write, 0, EIO});
    std::string msg = error_of([&] { save_version(path, 2); });
    EXPECT_NE(msg.find("failed at byte 0: Input/output error"), std::string::npos) << msg;
  }
  expect_checkpoint(path, 1);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));
}

TEST(CheckpointAtomic, FsyncFailureKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  {
    FaultGuard fault(Fault{FaultPoint::fsync, 0, EIO});
    std::string msg = error_of([&] { save_version(path, 2); });
    EXPECT_NE(msg.find(": fsync of " + path + ".tmp."), std::string::npos) << msg;
    EXPECT_NE(msg.find("failed: Input/output error; the previous file is left unchanged"), std::string::npos) << msg;
  }
  expect_checkpoint(path, 1);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));
}

TEST(CheckpointAtomic, RenameFailureKeepsThePreviousCheckpoint) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  {
    FaultGuard fault(Fault{FaultPoint::rename, 0, EXDEV});
    std::string msg = error_of([&] { save_version(path, 2); });
    EXPECT_NE(msg.find("over it: Invalid cross-device link; the previous file is left unchanged"), std::string::npos)
        << msg;
  }
  expect_checkpoint(path, 1);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"ckpt.safetensors"}));
}

TEST(CheckpointAtomic, ExceptionFromTheWriterKeepsThePreviousFile) {
  TempDir dir;
  const std::string path = dir.file("state.bin");
  write_atomic(path, "version one");
  struct Boom {};
  EXPECT_THROW(write_atomic(path,
                            [](AtomicWriter& w) {
                              w.write("version two, half");
                              EXPECT_EQ(w.bytes_written(), 17u);
                              throw Boom{};
                            }),
               Boom);
  EXPECT_EQ(read_file(path), "version one");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"state.bin"}));
}

TEST(CheckpointAtomic, FailureWithNoPreviousFileLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("new.safetensors");
  {
    FaultGuard fault(Fault{FaultPoint::write, 100, ENOSPC});
    error_of([&] { save_version(path, 1); });
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CheckpointAtomic, CrashMidWriteNeverLeavesAHalfWrittenTarget) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  const std::string before = read_file(path);
  // A child process starts replacing the checkpoint and dies half way, with
  // no chance to clean up (as on SIGKILL or power loss).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      write_atomic(path, [](AtomicWriter& w) {
        w.write(std::string(4096, 'x'));
        ::_exit(0);
      });
    } catch (...) {
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(read_file(path), before);
  expect_checkpoint(path, 1);
  // At most a stray temporary file remains, named after the target.
  std::vector<std::string> entries = dir.entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0], "ckpt.safetensors");
  EXPECT_EQ(entries[1].rfind("ckpt.safetensors.tmp." + std::to_string(pid) + ".", 0), 0u) << entries[1];
}

TEST(CheckpointAtomic, MissingDirectory) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/ckpt.safetensors");
  std::string msg = error_of([&] { save_version(path, 1); });
  EXPECT_EQ(msg.rfind(path + ": cannot create the temporary file " + path + ".tmp.", 0), 0u) << msg;
  EXPECT_NE(msg.find(": No such file or directory"), std::string::npos) << msg;
}

TEST(CheckpointAtomic, KeepsThePermissionsOfTheReplacedFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  save_version(path, 1);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  save_version(path, 2);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CheckpointAtomic, RelativePathInTheCurrentDirectory) {
  TempDir dir;
  char old[4096];
  ASSERT_NE(::getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  write_atomic("plain.txt", "hello");
  EXPECT_EQ(read_file("plain.txt"), "hello");
  ASSERT_EQ(::chdir(old), 0);
}

// Note [Stale temporaries]: the temporary files of dead processes go at the next save.
TEST(CheckpointAtomic, RemovesTheTemporariesOfDeadProcesses) {
  TempDir dir;
  const std::string path = dir.file("ck.safetensors");
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string stale = path + ".tmp." + std::to_string(dead) + ".4";
  const std::string ours = path + ".tmp." + std::to_string(::getpid()) + ".999";
  const std::string alive = path + ".tmp.1.0";  // init never dies
  const std::string other = dir.file("other.tmp." + std::to_string(dead) + ".0");
  for (const std::string& f : {stale, ours, alive, other}) nabla::testing::write_file(f, "partial");
  save_version(path, 3);
  expect_checkpoint(path, 3);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(ours));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(other));  // another file's temporaries are not this save's business
}

TEST(CheckpointAtomic, WritableCheckLeavesNothingBehind) {
  TempDir dir;
  check_writable(dir.file("new.safetensors"), "--out");
  EXPECT_TRUE(dir.entries().empty());
  EXPECT_EQ(error_of([&] { check_writable(dir.file("no/x.safetensors"), "--out"); }),
            "--out " + dir.file("no/x.safetensors") + ": the folder " + dir.file("no") + " does not exist");
  EXPECT_EQ(error_of([&] { check_writable(dir.path().string(), "--plot"); }),
            "--plot " + dir.path().string() + ": is a folder, not a file");
  EXPECT_EQ(error_of([&] { check_writable(dir.path().string() + "/", "--plot"); }),
            "--plot '" + dir.path().string() + "/' is not a file path");
  if (::geteuid() != 0) {  // root may write anywhere
    std::filesystem::create_directory(dir.file("ro"));
    ::chmod(dir.file("ro").c_str(), 0555);
    EXPECT_NE(error_of([&] { check_writable(dir.file("ro/x"), "--out"); }).find("Permission denied"),
              std::string::npos);
  }
}

TEST(CheckpointAtomic, SameFileThroughLinksAndDots) {
  TempDir dir;
  const std::string a = dir.file("a.csv");
  nabla::testing::write_file(a, "x");
  std::filesystem::create_directory(dir.file("sub"));
  std::filesystem::create_symlink(a, dir.file("sym.csv"));
  std::filesystem::create_hard_link(a, dir.file("hard.csv"));
  EXPECT_TRUE(same_file(a, dir.file("sub/../a.csv")));
  EXPECT_TRUE(same_file(a, dir.file("sym.csv")));
  EXPECT_TRUE(same_file(a, dir.file("hard.csv")));
  EXPECT_FALSE(same_file(a, dir.file("b.csv")));
  EXPECT_TRUE(same_file(dir.file("new.json"), dir.file("sub/../new.json")));
  EXPECT_FALSE(same_file(dir.file("new.json"), dir.file("new.svg")));
}

}  // namespace
}  // namespace nabla::io
