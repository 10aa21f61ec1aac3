// Atomic file replacement: temporary file → fsync → rename → fsync(dir).
//
// rename(2) within one directory is atomic on POSIX file systems, so readers
// see either the old file or the complete new one. The fsync before the
// rename makes sure the new contents are on disk before the name points at
// them (otherwise a power loss can leave an empty target); the fsync of the
// directory makes the rename itself durable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

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

}  // namespace

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
