// Whole-file reads with gzip detection: plain files are read with read(2);
// gzip files are inflated in memory with zlib so that corruption, truncation
// and trailing bytes are all reported with the compressed offset.
#include "file_bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "../tensor/small_alloc.hpp"
#include "nabla/error.hpp"
#include "nabla/shape.hpp"

namespace nabla::data::detail {
namespace {

// v.resize(n), with the memory asked for transparent huge pages before the
// resize first touches it (Note [Huge pages] in src/tensor/tensor.cpp): a
// 47 MB image file, and the 26 MB it is compressed to, then take some forty
// page faults instead of 18 000.
void resize_huge(std::vector<uint8_t>& v, size_t n) {
  if (n > v.capacity() && n >= nabla::detail::kHugePage) {
    std::vector<uint8_t> fresh;
    fresh.reserve(n);
    nabla::detail::advise_huge_pages(fresh.data(), n);
    fresh.assign(v.begin(), v.end());
    v.swap(fresh);
  }
  v.resize(n);
}

std::vector<uint8_t> read_raw(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  NABLA_CHECK_KIND(fd >= 0, ErrorKind::io, path, ": cannot open: ", std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  NABLA_CHECK_KIND(::fstat(fd, &st) == 0, ErrorKind::io, path, ": cannot stat: ", std::strerror(errno));
  NABLA_CHECK_KIND(!S_ISDIR(st.st_mode), ErrorKind::io, path, ": is a directory, not a file");
  // One byte more than the size, so that a regular file is read without a
  // reallocation and its end is seen as a zero-length read.
  std::vector<uint8_t> out;
  resize_huge(out, S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 16);
  size_t used = 0;
  for (;;) {
    if (used == out.size()) resize_huge(out, out.size() * 2);
    ssize_t r = ::read(fd, out.data() + used, out.size() - used);
    if (r < 0 && errno == EINTR) continue;
    NABLA_CHECK_KIND(r >= 0, ErrorKind::io, path, ": read failed at byte ", used, ": ", std::strerror(errno));
    if (r == 0) break;
    used += static_cast<size_t>(r);
  }
  out.resize(used);
  return out;
}

// Note [Inflate limit]: a gzip file says nothing trustworthy about its
// decompressed size (the trailer holds it mod 2^32, and a crafted or corrupt
// one says anything), and 3 MB of gzip can inflate to gigabytes. So the
// first kLimitPrefix bytes are inflated on their own and handed to the
// reader's limit function: an IDX header declares exactly how many bytes
// follow it, and a CSV file must at least be text. Nothing beyond the limit
// is ever inflated, and the buffer never grows past it.
std::vector<uint8_t> gunzip(const std::string& path, const std::vector<uint8_t>& in, const LimitFn& limit) {
  std::vector<uint8_t> out;
  z_stream zs{};
  NABLA_CHECK_KIND(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, ErrorKind::io, path, ": cannot initialize zlib");
  struct Ender {
    z_stream* zs;
    ~Ender() { inflateEnd(zs); }
  } ender{&zs};

  InflateLimit cap{kLimitPrefix, ""};
  bool capped = false;  // `cap` is the limit function's, not the prefix size
  auto apply_limit = [&](size_t used) {
    const std::span<const uint8_t> prefix(out.data(), used);
    cap = limit ? limit(prefix) : InflateLimit{max_tensor_bytes(), "this machine allows"};
    capped = true;
    // The last four bytes of a gzip file hold the uncompressed size mod 2^32:
    // a good first guess for the buffer, within the limit and deflate's
    // maximum ratio (about 1032:1).
    size_t guess = size_t{1} << 20;
    if (in.size() >= 18) {
      const uint8_t* t = in.data() + in.size() - 4;
      guess = uint32_t(t[0]) | uint32_t(t[1]) << 8 | uint32_t(t[2]) << 16 | uint32_t(t[3]) << 24;
    }
    guess = std::min<uint64_t>({guess, in.size() * uint64_t{1032}, cap.bytes + 1});
    if (guess > out.size()) resize_huge(out, guess);
  };
  out.resize(kLimitPrefix);

  size_t in_pos = 0, used = 0;
  constexpr size_t kMaxIn = size_t{1} << 30;  // avail_in is 32-bit
  for (;;) {
    if (zs.avail_in == 0 && in_pos < in.size()) {
      size_t n = std::min(kMaxIn, in.size() - in_pos);
      zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (!capped && used == kLimitPrefix) apply_limit(used);
    // One byte past the limit is room enough to see that the data goes on.
    const uint64_t end = capped ? cap.bytes + 1 : kLimitPrefix;
    if (used >= end) {
      NABLA_CHECK_KIND(false, ErrorKind::io, path, ": the gzip data inflates to more than the ", cap.bytes,
                       " bytes ", cap.why, " (stopped at compressed byte ", in_pos - zs.avail_in, ")");
    }
    if (out.size() - used < (size_t{1} << 16) && out.size() < end)
      resize_huge(out, std::min<uint64_t>(std::max(2 * out.size(), used + (size_t{1} << 20)), end));
    size_t room = std::min<uint64_t>({out.size() - used, kMaxIn, end - used});
    zs.next_out = out.data() + used;
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    used += room - zs.avail_out;
    size_t consumed = in_pos - zs.avail_in;  // compressed bytes read so far
    if (rc == Z_STREAM_END) {
      if (consumed == in.size()) break;
      // Another member may follow; anything else is trailing garbage.
      NABLA_CHECK_KIND(in.size() - consumed >= 2 && in[consumed] == 0x1f && in[consumed + 1] == 0x8b,
                       ErrorKind::io, path, ": ", in.size() - consumed,
                       " bytes of trailing garbage after the gzip stream at compressed byte ", consumed);
      NABLA_CHECK_KIND(inflateReset(&zs) == Z_OK, ErrorKind::io, path, ": cannot reset zlib");
      continue;
    }
    NABLA_CHECK_KIND(rc == Z_OK || rc == Z_BUF_ERROR, ErrorKind::io, path, ": corrupt gzip data near compressed byte ",
                     consumed, ": ", zs.msg ? zs.msg : zError(rc));
    if (rc == Z_BUF_ERROR && zs.avail_out != 0) {
      // No progress possible with output room left: the input ran out.
      NABLA_CHECK_KIND(zs.avail_in != 0 || in_pos < in.size(), ErrorKind::io, path,
                       ": truncated gzip stream: input ends at compressed byte ", in.size(),
                       " before the end of the compressed data");
    }
  }
  // Shorter than the prefix: the limit function still sees (and checks) it.
  // Data that ended within a byte of the limit, or within the prefix, is
  // all there: the reader names what lies beyond what it expects.
  if (!capped) apply_limit(used);
  out.resize(used);
  return out;
}

}  // namespace

FileBytes read_file_bytes(const std::string& path, const LimitFn& limit) {
  FileBytes fb;
  fb.bytes = read_raw(path);
  if (fb.bytes.size() >= 2 && fb.bytes[0] == 0x1f && fb.bytes[1] == 0x8b) {
    fb.gzip = true;
    fb.bytes = gunzip(path, fb.bytes, limit);
  }
  return fb;
}

}  // namespace nabla::data::detail
