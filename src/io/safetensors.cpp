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

using ojson = nlohmann::json;  // for reading: Note [Header parsing]

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

DType dtype_of(const std::string& s, const std::string& name, const std::string& src) {
  if (s == "F32") return DType::f32;
  if (s == "F64") return DType::f64;
  static const std::set<std::string> known = {"BOOL", "U8",  "I8",  "I16",     "U16",     "F16",    "BF16",
                                              "I32",  "U32", "I64", "U64",     "F8_E4M3", "F8_E5M2", "C64",
                                              "F4",   "F6_E2M3", "F6_E3M2", "E8M0", "F8_E8M0"};
  if (known.count(s)) fail(src, "tensor " + q(name) + ": unsupported dtype " + s + " (nabla reads F32 and F64)");
  fail(src, "tensor " + q(name) + ": unknown dtype " + q(s));
}

// Note [Header parsing]: the header is read through nlohmann's SAX interface
// straight into entries, in one pass and without a document tree. A tree
// costs too much on crafted input: the callback parser rescans the parent
// object at the end of every entry (quadratic: 100 000 entries took half a
// minute), ordered_json looks keys up linearly, and 20 M offsets took
// gigabytes. Here each value is checked as it arrives, so nesting never goes
// beyond the three levels of the format (object, entry, shape), an array is
// counted rather than stored past what its field can hold, and a message
// quotes a long value by its size only.
class HeaderReader {
 public:
  HeaderReader(const std::string& src, Header& out) : src_(src), out_(out) {}

  bool null() { return scalar("null", nullptr, nullptr); }
  bool boolean(bool v) { return scalar(v ? "true" : "false", nullptr, nullptr); }
  bool number_integer(int64_t v) { return scalar(std::to_string(v), nullptr, nullptr); }
  bool number_unsigned(uint64_t v) { return scalar(std::to_string(v), nullptr, &v); }
  bool number_float(double, const std::string& text) { return scalar(text.substr(0, 40), nullptr, nullptr); }
  bool string(std::string& v) { return scalar("the string " + q(v), &v, nullptr); }
  bool binary(ojson::binary_t&) { return scalar("binary data", nullptr, nullptr); }

  bool start_object(size_t) { return open("an object"); }
  bool start_array(size_t) {
    if (depth_ == 2 && !in_meta_ && (field_ == Field::shape || field_ == Field::offsets)) {
      depth_ = 3;
      count_ = 0;
      shown_.clear();
      return true;
    }
    return open("an array");
  }
  bool key(std::string& k) {
    if (depth_ == 1) {
      if (!names_.insert(k).second) fail(src_, "duplicate entry " + q(k) + " in the header");
      in_meta_ = k == "__metadata__";
      entry_ = Entry{};
      entry_.name = k;
    } else if (in_meta_) {
      meta_key_ = k;
    } else {
      field_ = k == "dtype" ? Field::dtype : k == "shape" ? Field::shape : k == "data_offsets" ? Field::offsets
                                                                                             : Field::none;
      if (field_ == Field::none) fail(src_, tensor() + ": unknown field " + q(k));
      if (have_[int(field_)]) fail(src_, tensor() + ": duplicate field " + q(k));
    }
    return true;
  }
  bool end_array() {  // only shape and data_offsets arrays are ever opened
    depth_ = 2;
    if (field_ == Field::shape) {
      shape_rank_ = count_;
      if (count_ > uint64_t(kMaxRank))
        fail(src_, tensor() + ": rank " + std::to_string(count_) + " exceeds nabla's maximum of " +
                       std::to_string(kMaxRank));
    } else if (count_ != 2) {
      fail(src_, tensor() + ": \"data_offsets\" must be [begin, end], got " +
                     (count_ <= 4 ? "[" + shown_ + "]" : "an array of " + std::to_string(count_) + " values"));
    }
    have_[int(field_)] = true;
    return true;
  }
  bool end_object() {
    if (depth_ == 2 && !in_meta_) finish_entry();
    --depth_;
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    std::string what = one_line(e.what());
    if (what.size() > 200) what = what.substr(0, 200) + "...";
    fail(src_, "malformed JSON header: " + what);
  }

 private:
  enum class Field { dtype, shape, offsets, none };

  std::string tensor() const { return "tensor " + q(entry_.name); }

  // An object or array where the format has none.
  bool open(const char* what) {
    switch (depth_) {
      case 0: depth_ = 1; return true;  // the header (a '{', checked before parsing)
      case 1:
        if (std::string_view(what) == "an object") {
          depth_ = 2;
          have_[0] = have_[1] = have_[2] = false;
          return true;
        }
        if (in_meta_) fail(src_, "\"__metadata__\" is not an object");
        fail(src_, tensor() + ": entry is not an object");
      default: return scalar(what, nullptr, nullptr);
    }
  }

  // A value (`shown` in messages; `str` or `uns` when it is a string or an
  // unsigned number) at the current place.
  bool scalar(const std::string& shown, const std::string* str, const uint64_t* uns) {
    if (depth_ == 1) {
      if (in_meta_) fail(src_, "\"__metadata__\" is not an object");
      fail(src_, tensor() + ": entry is not an object");
    }
    if (depth_ == 2 && in_meta_) {
      if (!str) fail(src_, "\"__metadata__\" value for " + q(meta_key_) + " is not a string");
      out_.metadata[meta_key_] = *str;
      return true;
    }
    if (depth_ == 2) {
      switch (field_) {
        case Field::dtype:
          if (!str) fail(src_, tensor() + ": \"dtype\" is not a string");
          entry_.dtype = dtype_of(*str, entry_.name, src_);
          have_[0] = true;
          return true;
        case Field::shape: fail(src_, tensor() + ": \"shape\" is not an array");
        default: fail(src_, tensor() + ": \"data_offsets\" must be [begin, end], got " + shown);
      }
    }
    // depth 3: an element of shape or data_offsets
    if (field_ == Field::shape) {
      if (!uns) fail(src_, tensor() + ": a \"shape\" extent is not a non-negative integer: " + shown);
      if (count_ < uint64_t(kMaxRank)) extents_[count_] = *uns;
    } else {
      if (!uns)
        fail(src_, tensor() + ": data_offsets " + (count_ == 0 ? "begin" : "end") +
                       " is not a non-negative integer: " + shown);
      if (count_ < 4) shown_ += (count_ ? "," : "") + shown;
      if (count_ == 0) entry_.begin = *uns;
      if (count_ == 1) entry_.end = *uns;
    }
    ++count_;
    return true;
  }

  void finish_entry() {
    static const char* const names[] = {"dtype", "shape", "data_offsets"};
    for (int f = 0; f < 3; ++f)
      if (!have_[f]) fail(src_, tensor() + ": missing \"" + names[f] + "\"");
    Entry& e = entry_;
    const int rank = static_cast<int>(shape_rank_);
    std::string shape = "[";
    uint64_t numel = 1;
    bool overflow = false;
    for (int i = 0; i < rank; ++i) {
      const uint64_t extent = extents_[i];
      shape += (i ? "," : "") + std::to_string(extent);
      overflow = overflow || extent > uint64_t(INT64_MAX) || __builtin_mul_overflow(numel, extent, &numel);
      e.shape.push_back(static_cast<int64_t>(extent));
    }
    shape += "]";
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end) fail(src_, tensor() + ": data_offsets " + range + " has begin > end");
    uint64_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, uint64_t(itemsize(e.dtype)), &nbytes))
      fail(src_, tensor() + ": shape " + shape + " is too large");
    if (nbytes != e.end - e.begin)
      fail(src_, tensor() + ": shape " + shape + " of " + dtype_code(e.dtype) + " needs " + std::to_string(nbytes) +
                     " bytes but data_offsets " + range + " span " + std::to_string(e.end - e.begin));
    out_.entries.push_back(std::move(e));
  }

  const std::string& src_;
  Header& out_;
  std::set<std::string> names_;  // top-level keys: JSON parsers would keep the last of a duplicate
  int depth_ = 0;                // 1: in the header object, 2: in an entry or the metadata, 3: in an array
  bool in_meta_ = false;
  std::string meta_key_;
  Entry entry_;
  Field field_ = Field::none;
  bool have_[3] = {};
  uint64_t count_ = 0;  // elements of the open array
  uint64_t extents_[kMaxRank] = {};
  uint64_t shape_rank_ = 0;
  std::string shown_;  // the first data_offsets, for messages
};

Header parse_header(std::string_view text, uint64_t data_size, const std::string& src) {
  if (text.empty() || text.front() != '{')
    fail(src, "the header at byte 8 does not start with '{' (not a safetensors file?)");
  Header out;
  HeaderReader reader(src, out);
  ojson::sax_parse(text.begin(), text.end(), &reader);
  for (const Entry& e : out.entries)
    if (e.end > data_size)
      fail(src, "tensor " + q(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    "] are out of range: the data section has " + std::to_string(data_size) +
                    " bytes (truncated file?)");
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
  using ojson = nlohmann::ordered_json;  // written in save order
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

namespace {

struct OpenFile {
  int fd = -1;
  uint64_t header_bytes = 0;  // N
  Header header;
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` and reads and validates its header (the data section is only
// measured, not read).
void open_checked(const std::string& path, OpenFile& f) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno), ErrorKind::io);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const auto total = static_cast<uint64_t>(st.st_size);
  if (total < 8) fail(path, "truncated: " + std::to_string(total) + " bytes, the header length alone needs 8");
  unsigned char len[8];
  pread_all(f.fd, len, 8, 0, path);
  f.header_bytes = read_u64_le(len);
  const uint64_t data_size = check_lengths(f.header_bytes, total, path);
  std::string text(f.header_bytes, '\0');
  pread_all(f.fd, text.data(), f.header_bytes, 8, path);
  f.header = parse_header(text, data_size, path);
}

}  // namespace

TensorFile load_safetensors(const std::string& path) {
  OpenFile f;
  open_checked(path, f);
  TensorFile out;
  out.metadata = std::move(f.header.metadata);
  for (const Entry& e : f.header.entries) {
    Tensor t = empty(e.shape, e.dtype);
    pread_all(f.fd, t.raw_data(), e.end - e.begin, 8 + f.header_bytes + e.begin, path);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  OpenFile f;
  open_checked(path, f);
  SafetensorsHeader out;
  out.metadata = std::move(f.header.metadata);
  for (Entry& e : f.header.entries) out.tensors.push_back({std::move(e.name), e.dtype, e.shape});
  return out;
}

}  // namespace nabla::io
