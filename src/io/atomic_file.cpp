// Atomic file replacement: temporary file → fsync → rename → fsync(dir).
//
// rename(2) within one directory is atomic on POSIX file systems, so readers
// see either the old file or the complete new one. The fsync before the
// rename makes sure the new contents are on disk before the name points at
// them (otherwise a power loss can leave an empty target); the fsync of the
// directory makes the rename itself durable.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "fault.hpp"
#include "nabla/error.hpp"
#include "nabla/io.hpp"

namespace nabla::io {
namespace detail {
namespace {
std::atomic<FaultPoint> g_point{FaultPoint::none};
std::atomic<uint64_t> g_after{0};
std::atomic<int> g_error{0};
}  // namespace

void inject_fault(const Fault& fault) {
  g_after = fault.after_bytes;
  g_error = fault.error;
  g_point = fault.point;
}

// True (with errno set) when the armed fault fires at `point`.
static bool fault_at(FaultPoint point) {
  if (g_point.load() != point) return false;
  errno = g_error.load();
  return true;
}
}  // namespace detail

namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Note [Stale temporaries]: a process killed while it saves leaves
// "<name>.tmp.<pid>.<n>" behind. Before the next save of <name>, those whose
// pid is no process any more are removed (kill(pid, 0) fails with ESRCH).
// Our own pid's files are another thread's save in progress; a pid that is
// alive, or that we may not signal (EPERM), may be a save in progress too.
void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = base_name(path) + ".tmp.";
  DIR* d = ::opendir(directory_of(path).c_str());
  if (!d) return;
  const pid_t self = ::getpid();
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (!name.starts_with(prefix)) continue;
    const std::string_view rest = name.substr(prefix.size());
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec != std::errc() || pid <= 0 || end == rest.data() + rest.size() || *end != '.' || pid == self) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) (void)::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

}  // namespace

void check_writable(const std::string& path, const std::string& what) {
  NABLA_CHECK_KIND(!path.empty() && path.back() != '/', ErrorKind::io, what, " '", path, "' is not a file path");
  struct stat st {};
  NABLA_CHECK_KIND(::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode), ErrorKind::io, what, " ", path,
                   ": is a folder, not a file");
  const std::string dir = directory_of(path);
  NABLA_CHECK_KIND(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), ErrorKind::io, what, " ", path,
                   ": the folder ", dir, " does not exist");
  // The probe is named like write_atomic's temporaries, so a kill right here
  // leaves nothing that the next save would not remove.
  const std::string probe = path + ".tmp." + std::to_string(::getpid()) + ".probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  NABLA_CHECK_KIND(fd >= 0, ErrorKind::io, what, " ", path, ": cannot create a file in ", dir, ": ",
                   std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  const bool ea = ::stat(a.c_str(), &sa) == 0, eb = ::stat(b.c_str(), &sb) == 0;
  if (ea || eb) return ea && eb && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code e1, e2;
  const auto ca = std::filesystem::weakly_canonical(a, e1), cb = std::filesystem::weakly_canonical(b, e2);
  return !e1 && !e2 && ca == cb;
}

void AtomicWriter::write(const void* data, size_t nbytes) {
  const auto* p = static_cast<const char*>(data);
  while (nbytes > 0) {
    size_t chunk = std::min<size_t>(nbytes, size_t{1} << 30);
    ssize_t r;
    if (detail::g_point.load() == detail::FaultPoint::write && written_ + chunk > detail::g_after.load()) {
      // Let the bytes before the fault through, then fail as a full disk would.
      const uint64_t allowed = detail::g_after.load() > written_ ? detail::g_after.load() - written_ : 0;
      if (allowed > 0) {
        chunk = static_cast<size_t>(allowed);
        r = ::write(fd_, p, chunk);
      } else {
        errno = detail::g_error.load();
        r = -1;
      }
    } else {
      r = ::write(fd_, p, chunk);
    }
    if (r < 0 && errno == EINTR) continue;
    NABLA_CHECK_KIND(r >= 0, ErrorKind::io, target_, ": write to ", temp_, " failed at byte ", written_, ": ",
                     std::strerror(errno), "; the previous file is left unchanged");
    p += r;
    nbytes -= static_cast<size_t>(r);
    written_ += static_cast<uint64_t>(r);
  }
}

void write_atomic(const std::string& path, const std::function<void(AtomicWriter&)>& fill) {
  NABLA_CHECK_KIND(!path.empty() && path.back() != '/', ErrorKind::io, "write_atomic: '", path,
                   "' is not a file path");
  remove_stale_temporaries(path);  // Note [Stale temporaries]
  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  NABLA_CHECK_KIND(fd >= 0, ErrorKind::io, path, ": cannot create the temporary file ", temp, ": ",
                   std::strerror(errno));
  try {
    // Keep the permissions of the file being replaced.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) (void)::fchmod(fd, st.st_mode & 07777);

    AtomicWriter writer(fd, path, temp);
    fill(writer);
    NABLA_CHECK_KIND(!detail::fault_at(detail::FaultPoint::fsync) && ::fsync(fd) == 0, ErrorKind::io, path,
                     ": fsync of ", temp, " failed: ", std::strerror(errno), "; the previous file is left unchanged");
    const int closing = fd;
    fd = -1;
    NABLA_CHECK_KIND(::close(closing) == 0, ErrorKind::io, path, ": closing ", temp, " failed: ",
                     std::strerror(errno), "; the previous file is left unchanged");
    NABLA_CHECK_KIND(!detail::fault_at(detail::FaultPoint::rename) && ::rename(temp.c_str(), path.c_str()) == 0,
                     ErrorKind::io, path, ": cannot rename ", temp, " over it: ", std::strerror(errno),
                     "; the previous file is left unchanged");
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  // The new file is in place; make the rename durable.
  const std::string dir = directory_of(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  NABLA_CHECK_KIND(dfd >= 0, ErrorKind::io, path, ": written, but its directory ", dir,
                   " cannot be opened to sync it: ", std::strerror(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  // Some file systems cannot sync a directory (EINVAL); nothing more to do there.
  NABLA_CHECK_KIND(rc == 0 || err == EINVAL || err == ENOTSUP, ErrorKind::io, path,
                   ": written, but syncing its directory ", dir, " failed: ", std::strerror(err));
}

void write_atomic(const std::string& path, std::string_view bytes) {
  write_atomic(path, [&](AtomicWriter& w) { w.write(bytes); });
}

}  // namespace nabla::io
