// Checked size arithmetic and the allocation limit (Note [Checked sizes] in
// nabla/shape.hpp).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "nabla/shape.hpp"

namespace nabla {
namespace {

std::string human_bytes(uint64_t b) {
  char buf[48];
  const double d = static_cast<double>(b);
  if (b >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f GB", d / double(uint64_t{1} << 30));
  else if (b >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", d / double(uint64_t{1} << 20));
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
  return buf;
}

uint64_t compute_limit() {
  uint64_t limit = std::numeric_limits<uint64_t>::max();
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) limit = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  for (int res : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl {};
    if (::getrlimit(res, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) limit = std::min<uint64_t>(limit, rl.rlim_cur);
  }
  return limit;
}

}  // namespace

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  NABLA_CHECK_KIND(a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &r), ErrorKind::shape, what, ": size ", a,
                   " x ", b, " overflows 64 bits");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  NABLA_CHECK_KIND(a >= 0 && b >= 0 && !__builtin_add_overflow(a, b, &r), ErrorKind::shape, what, ": size ", a,
                   " + ", b, " overflows 64 bits");
  return r;
}

int64_t checked_numel(const Dims& s, const char* what) {
  int64_t n = 1;
  for (int64_t e : s) NABLA_CHECK_KIND(e >= 0, ErrorKind::shape, what, ": negative extent in shape ", s);
  for (int64_t e : s)
    NABLA_CHECK_KIND(!__builtin_mul_overflow(n, e, &n), ErrorKind::shape, what, ": shape ", s,
                     " has more elements than 64 bits can count");
  return n;
}

uint64_t max_tensor_bytes() {
  // Read once: the limit a process starts with is the one it runs under.
  static const uint64_t limit = compute_limit();
  return limit;
}

void check_allocation(uint64_t bytes, const char* what) {
  NABLA_CHECK_KIND(bytes <= max_tensor_bytes(), ErrorKind::shape, what, ": needs ", human_bytes(bytes),
                   ", more than the ", human_bytes(max_tensor_bytes()), " this machine allows");
}

namespace {
// checked_nbytes past its fast path: the same checks one at a time, each
// with its own message.
size_t checked_nbytes_slow(const Dims& s, size_t itemsize, const char* what) {
  const int64_t n = checked_numel(s, what);
  uint64_t bytes = 0;
  NABLA_CHECK_KIND(!__builtin_mul_overflow(static_cast<uint64_t>(n), static_cast<uint64_t>(itemsize), &bytes),
                   ErrorKind::shape, what, ": shape ", s, " has more bytes than 64 bits can count");
  check_allocation(bytes, what);
  return static_cast<size_t>(bytes);
}
}  // namespace

size_t checked_nbytes(const Dims& s, size_t itemsize, const char* what) {
  // Every tensor allocation comes here: one pass over the extents and no
  // calls when the size is fine (a valid size fits in 64 bits as bytes, so
  // its element count does too); anything else takes the slow path.
  static const uint64_t limit = max_tensor_bytes();
  uint64_t bytes = itemsize;
  bool ok = true;
  for (int64_t e : s) ok &= e >= 0 && !__builtin_mul_overflow(bytes, static_cast<uint64_t>(e), &bytes);
  if (ok && bytes <= limit) [[likely]]
    return static_cast<size_t>(bytes);
  return checked_nbytes_slow(s, itemsize, what);
}

}  // namespace nabla
