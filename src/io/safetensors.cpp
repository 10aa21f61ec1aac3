// safetensors reading and writing. The header is parsed with nlohmann::json
// and checked field by field before a single data byte is trusted; the data
// section must be covered exactly once by the tensors' byte ranges (no
// overlap, no hole, nothing after the last tensor), as the format requires.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "nabla/error.hpp"
#include "nabla/io.hpp"

namespace nabla::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; nabla copies it as is and needs a little-endian host");

namespace {

using ojson = nlohmann::ordered_json;

constexpr uint64_t kMaxHeader = uint64_t{100} << 20;  // the format's limit: 100 MB

const char* dtype_code(DType t) { return t == DType::f32 ? "F32" : "F64"; }

// Names in messages: quoted, control characters replaced, long names cut.
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  if (s.size() > 80) out += "...";
  return out + "'";
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw Error(source + ": safetensors: " + what, ErrorKind::io);
}

struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  Metadata metadata;
};

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// The header length N and the data-section size, checked against the total size.
uint64_t check_lengths(uint64_t n, uint64_t total, const std::string& src) {
  if (n > kMaxHeader)
    fail(src, "header length " + std::to_string(n) + " (bytes 0-7) exceeds the format's 100 MB limit");
  if (n > total - 8)
    fail(src, "header length " + std::to_string(n) + " (bytes 0-7) exceeds the " + std::to_string(total - 8) +
                  " bytes that follow it (truncated file, or not a safetensors file)");
  if (n < 2) fail(src, "header length " + std::to_string(n) + " is too short for a JSON object");
  return total - 8 - n;
}

DType parse_dtype(const ojson& v, const std::string& name, const std::string& src) {
  if (!v.is_string()) fail(src, "tensor " + q(name) + ": \"dtype\" is not a string");
  const std::string s = v.get<std::string>();
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  static const std::set<std::string> known = {"BOOL", "U8",  "I8",  "I16",     "U16",     "F16",    "BF16",
                                              "I32",  "U32", "I64", "U64",     "F8_E4M3", "F8_E5M2", "C64",
                                              "F4",   "F6_E2M3", "F6_E3M2", "E8M0", "F8_E8M0"};
  if (known.count(s)) fail(src, "tensor " + q(name) + ": unsupported dtype " + s + " (nabla reads F32 and F64)");
  fail(src, "tensor " + q(name) + ": unknown dtype " + q(s));
}

uint64_t parse_uint(const ojson& v, const std::string& what, const std::string& src) {
  if (!v.is_number_unsigned()) fail(src, what + " is not a non-negative integer: " + one_line(v.dump()));
  return v.get<uint64_t>();
}

Header parse_header(std::string_view text, uint64_t data_size, const std::string& src) {
  if (text.empty() || text.front() != '{')
    fail(src, "the header at byte 8 does not start with '{' (not a safetensors file?)");
  // Keys of the top-level object, to catch duplicates (JSON parsers keep the last).
  std::set<std::string> seen;
  std::string duplicate;
  ojson::parser_callback_t cb = [&](int depth, ojson::parse_event_t event, ojson& parsed) {
    if (depth == 1 && event == ojson::parse_event_t::key && duplicate.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  ojson h;
  try {
    h = ojson::parse(text.begin(), text.end(), cb);
  } catch (const ojson::exception& e) {
    fail(src, "malformed JSON header: " + one_line(e.what()));
  }
  if (!h.is_object()) fail(src, "the JSON header is not an object");
  if (!duplicate.empty()) fail(src, "duplicate entry " + q(duplicate) + " in the header");

  Header out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const ojson& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(src, "\"__metadata__\" is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(src, "\"__metadata__\" value for " + q(m.key()) + " is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail(src, "tensor " + q(name) + ": entry is not an object");
    for (auto f = v.begin(); f != v.end(); ++f)
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
        fail(src, "tensor " + q(name) + ": unknown field " + q(f.key()));
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) fail(src, "tensor " + q(name) + ": missing \"" + field + "\"");
    Entry e;
    e.name = name;
    e.dtype = parse_dtype(v["dtype"], name, src);
    const ojson& shape = v["shape"];
    if (!shape.is_array()) fail(src, "tensor " + q(name) + ": \"shape\" is not an array");
    if (shape.size() > size_t(kMaxRank))
      fail(src, "tensor " + q(name) + ": rank " + std::to_string(shape.size()) + " exceeds nabla's maximum of " +
                    std::to_string(kMaxRank));
    uint64_t numel = 1;
    bool overflow = false;
    for (const ojson& d : shape) {
      const uint64_t extent = parse_uint(d, "tensor " + q(name) + ": a \"shape\" extent", src);
      if (extent > uint64_t(INT64_MAX)) overflow = true;
      overflow = overflow || __builtin_mul_overflow(numel, extent, &numel);
      e.shape.push_back(static_cast<int64_t>(extent));
    }
    const ojson& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2)
      fail(src, "tensor " + q(name) + ": \"data_offsets\" must be [begin, end], got " + one_line(off.dump()));
    e.begin = parse_uint(off[0], "tensor " + q(name) + ": data_offsets begin", src);
    e.end = parse_uint(off[1], "tensor " + q(name) + ": data_offsets end", src);
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) fail(src, "tensor " + q(name) + ": data_offsets " + range + " has begin > end");
    uint64_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, uint64_t(itemsize(e.dtype)), &nbytes))
      fail(src, "tensor " + q(name) + ": shape " + one_line(shape.dump()) + " is too large");
    if (nbytes != e.end - e.begin)
      fail(src, "tensor " + q(name) + ": shape " + one_line(shape.dump()) + " of " + dtype_code(e.dtype) + " needs " +
                    std::to_string(nbytes) + " bytes but data_offsets " + range + " span " +
                    std::to_string(e.end - e.begin));
    if (e.end > data_size)
      fail(src, "tensor " + q(name) + ": data_offsets " + range + " are out of range: the data section has " +
                    std::to_string(data_size) + " bytes (truncated file?)");
    out.entries.push_back(std::move(e));
  }
  // Header order breaks ties between empty tensors at the same offset.
  std::stable_sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : out.entries) {
    if (e.begin < covered)
      fail(src, "tensor " + q(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    "] overlap tensor " + q(prev->name) + " [" + std::to_string(prev->begin) + ", " +
                    std::to_string(prev->end) + "]");
    if (e.begin > covered)
      fail(src, "hole in the data section: bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
                    ") belong to no tensor");
    covered = e.end;
    prev = &e;
  }
  if (covered != data_size)
    fail(src, std::to_string(data_size - covered) + " bytes after the last tensor (data section bytes [" +
                  std::to_string(covered) + ", " + std::to_string(data_size) + ") belong to no tensor)");
  return out;
}

// The padded JSON header for `tensors` (already contiguous), in their order.
std::string make_header(const NamedTensors& tensors, const Metadata& metadata) {
  ojson h = ojson::object();
  if (!metadata.empty()) {
    ojson m = ojson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    NABLA_CHECK_KIND(!name.empty(), ErrorKind::value, "save_safetensors: empty tensor name");
    NABLA_CHECK_KIND(name != "__metadata__", ErrorKind::value,
                     "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
    NABLA_CHECK_KIND(names.insert(name).second, ErrorKind::value, "save_safetensors: duplicate tensor name ", q(name));
    NABLA_CHECK_KIND(t.defined(), ErrorKind::value, "save_safetensors: tensor ", q(name), " is undefined");
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * itemsize(t.dtype());
    ojson shape = ojson::array();
    for (int64_t e : t.shape()) shape.push_back(e);
    h[name] = ojson{{"dtype", dtype_code(t.dtype())}, {"shape", std::move(shape)},
                    {"data_offsets", ojson::array({offset, offset + nbytes})}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = h.dump(-1, ' ', false, ojson::error_handler_t::strict);
  } catch (const ojson::exception& e) {
    throw Error(std::string("save_safetensors: a tensor name or metadata string is not valid UTF-8 (") +
                    one_line(e.what()) + ")",
                ErrorKind::value);
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  NABLA_CHECK_KIND(text.size() <= kMaxHeader, ErrorKind::value, "save_safetensors: the header would be ",
                   text.size(), " bytes, above the format's 100 MB limit");
  return text;
}

std::string length_prefix(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

NamedTensors contiguous_all(const NamedTensors& tensors) {
  NamedTensors out;
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) out.emplace_back(name, t.defined() ? t.detach().contiguous() : t);
  return out;
}

// Reads exactly n bytes at `offset`, or fails naming the file.
void pread_all(int fd, void* dst, uint64_t n, uint64_t offset, const std::string& src) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, std::min<uint64_t>(n, uint64_t{1} << 30), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(src, "read failed at byte " + std::to_string(offset) + ": " + std::strerror(errno));
    if (r == 0) fail(src, "file ended at byte " + std::to_string(offset) + " while reading (changed on disk?)");
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

}  // namespace

// ---- TensorFile ---------------------------------------------------------------------

bool TensorFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
}

const Tensor& TensorFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Error("safetensors: no tensor named " + q(name), ErrorKind::index);
}

std::vector<std::string> TensorFile::names() const {
  std::vector<std::string> out;
  for (const auto& p : tensors) out.push_back(p.first);
  return out;
}

// ---- writing ------------------------------------------------------------------------

std::string to_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  const NamedTensors ts = contiguous_all(tensors);
  const std::string header = make_header(ts, metadata);
  std::string out = length_prefix(header.size()) + header;
  for (const auto& [name, t] : ts)
    out.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * itemsize(t.dtype()));
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  const NamedTensors ts = contiguous_all(tensors);
  const std::string header = make_header(ts, metadata);  // validates before the file is touched
  write_atomic(path, [&](AtomicWriter& w) {
    w.write(length_prefix(header.size()));
    w.write(header);
    for (const auto& [name, t] : ts) w.write(t.raw_data(), static_cast<size_t>(t.numel()) * itemsize(t.dtype()));
  });
}

// ---- reading ------------------------------------------------------------------------

TensorFile from_safetensors(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8)
    fail(source, "truncated: " + std::to_string(bytes.size()) + " bytes, the header length alone needs 8");
  const uint64_t n = read_u64_le(reinterpret_cast<const unsigned char*>(bytes.data()));
  const uint64_t data_size = check_lengths(n, bytes.size(), source);
  Header h = parse_header(bytes.substr(8, n), data_size, source);
  const char* data = bytes.data() + 8 + n;
  TensorFile out;
  out.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), data + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

TensorFile load_safetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno), ErrorKind::io);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const auto total = static_cast<uint64_t>(st.st_size);
  if (total < 8) fail(path, "truncated: " + std::to_string(total) + " bytes, the header length alone needs 8");
  unsigned char len[8];
  pread_all(fd, len, 8, 0, path);
  const uint64_t n = read_u64_le(len);
  const uint64_t data_size = check_lengths(n, total, path);
  std::string text(n, '\0');
  pread_all(fd, text.data(), n, 8, path);
  Header h = parse_header(text, data_size, path);
  TensorFile out;
  out.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    pread_all(fd, t.raw_data(), e.end - e.begin, 8 + n + e.begin, path);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

}  // namespace nabla::io
