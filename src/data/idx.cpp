// IDX files (the MNIST family): strict reading and the folder/Fashion-MNIST
// loaders. Every header field is checked against the bytes actually present.
#include <filesystem>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <utility>

#include "file_bytes.hpp"
#include "nabla/data.hpp"
#include "nabla/error.hpp"
#include "nabla/shape.hpp"

namespace nabla::data {
namespace {

constexpr uint8_t kUbyte = 0x08;

const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 7; i >= 0; --i) s += digits[(v >> (4 * i)) & 0xF];
  return s;
}

// "<path>" or "<path> (gzip; offsets in decompressed bytes)".
std::string where(const std::string& path, bool gzip) {
  return gzip ? path + " (gzip, decompressed offsets)" : path;
}

struct IdxHeader {
  std::vector<int64_t> dims;
  size_t header = 0;   // bytes before the data: 4 + 4 · rank
  uint64_t count = 0;  // data bytes the dimensions call for
};

// The header of an IDX file whose first bytes are `b` (at least the whole
// header when the file has one), checked; `w` names the file in messages.
IdxHeader parse_header(const std::string& w, std::span<const uint8_t> b, int expected_rank, const char* what) {
  NABLA_CHECK_KIND(!b.empty(), ErrorKind::io, w, ": empty file, expected an IDX header");
  NABLA_CHECK_KIND(b.size() >= 4, ErrorKind::io, w, ": truncated header: the 4-byte magic at byte 0 has only ",
                   b.size(), " bytes");
  const uint32_t magic = be32(b.data());
  NABLA_CHECK_KIND(b[0] == 0 && b[1] == 0, ErrorKind::io, w, ": wrong magic ", hex32(magic),
                   " at byte 0: not an IDX file (bytes 0-1 must be zero)");
  NABLA_CHECK_KIND(b[2] == kUbyte, ErrorKind::io, w, ": unsupported element type 0x", hex32(b[2]).substr(8), " (",
                   idx_type_name(b[2]), ") at byte 2; only 0x08 (unsigned byte) is supported");
  const int rank = b[3];
  if (expected_rank > 0) {
    NABLA_CHECK_KIND(rank == expected_rank, ErrorKind::io, w, ": wrong magic ", hex32(magic), " at byte 0: ",
                     rank, " dimension(s), expected ", expected_rank, " for ", what, " (magic ",
                     hex32(0x800u | unsigned(expected_rank)), ")");
  }
  NABLA_CHECK_KIND(rank >= 1, ErrorKind::io, w, ": dimension count 0 at byte 3; an IDX array needs at least one");
  IdxHeader h;
  h.header = 4 + 4 * size_t(rank);
  h.count = 1;
  uint64_t row = 1;  // the product of all dimensions but the first: bounded too, even when the first is 0
  for (int i = 0; i < rank; ++i) {
    const size_t at = 4 + 4 * size_t(i);
    NABLA_CHECK_KIND(b.size() >= at + 4, ErrorKind::io, w, ": truncated header: dimension ", i, " at byte ", at,
                     " is missing (file has ", b.size(), " bytes, the header needs ", h.header, ")");
    const uint32_t e = be32(b.data() + at);
    h.dims.push_back(e);
    h.count *= e;  // ≤ 2^32 per factor; checked below before it can overflow
    if (i > 0) row *= e;
    NABLA_CHECK_KIND(h.count <= (uint64_t{1} << 40) && row <= (uint64_t{1} << 40), ErrorKind::io, w,
                     ": dimensions at bytes 4..", h.header,
                     " describe more than 2^40 elements; not a plausible IDX file");
  }
  // Note [Checked sizes]: the float tensor the bytes become must fit too.
  try {
    check_allocation(h.count * sizeof(float), "the data");
  } catch (const Error& e) {
    throw Error(w + ": dimensions at bytes 4.." + std::to_string(h.header) + ": " + e.what(), ErrorKind::io);
  }
  return h;
}

IdxArray parse_idx(const std::string& path, detail::FileBytes fb, int expected_rank, const char* what) {
  std::vector<uint8_t>& b = fb.bytes;
  const std::string w = where(path, fb.gzip);
  const IdxHeader h = parse_header(w, b, expected_rank, what);
  const uint64_t have = b.size() - h.header, count = h.count;
  NABLA_CHECK_KIND(have >= count, ErrorKind::io, w, ": truncated data: the dimensions call for ", count,
                   " bytes from byte ", h.header, " but only ", have, " are present (file ends at byte ", b.size(),
                   ")");
  NABLA_CHECK_KIND(have == count, ErrorKind::io, w, ": trailing garbage: ", have - count,
                   " unexpected bytes after the data, from byte ", h.header + count);
  b.erase(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(h.header));  // a memmove, not a second buffer
  IdxArray out;
  out.dims = h.dims;
  out.data = std::move(b);
  return out;
}

IdxArray read_checked(const std::string& path, int rank, const char* what) {
  // Note [Inflate limit]: a gzip file inflates to what its header declares, and no further.
  auto limit = [&](std::span<const uint8_t> prefix) {
    const IdxHeader h = parse_header(where(path, true), prefix, rank, what);
    return detail::InflateLimit{h.header + h.count, "its IDX header declares"};
  };
  return parse_idx(path, detail::read_file_bytes(path, limit), rank, what);
}

Tensor labels_tensor(const std::vector<uint8_t>& raw) {
  Tensor t = empty({static_cast<int64_t>(raw.size())});
  float* p = t.data_ptr<float>();
  for (size_t i = 0; i < raw.size(); ++i) p[i] = raw[i];
  return t;
}

Tensor images_tensor(const std::string& path, const IdxArray& a, PixelScale scale) {
  NABLA_CHECK_KIND(a.dims[1] > 0 && a.dims[2] > 0, ErrorKind::io, path, ": image size ", a.dims[1], "x", a.dims[2],
                   " (bytes 8..16) is empty");
  const int64_t n = a.dims[0], d = a.dims[1] * a.dims[2];
  Tensor t = empty({n, d});
  float lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = scale == PixelScale::unit ? static_cast<float>(v) / 255.0f : float(v);
  float* p = t.data_ptr<float>();
  const uint8_t* src = a.data.data();
  const size_t total = a.data.size();
  for (size_t i = 0; i < total; ++i) p[i] = lut[src[i]];
  return t;
}

int64_t max_label(const Tensor& labels) {
  int64_t m = -1;
  const float* p = labels.data_ptr<float>();
  for (int64_t i = 0; i < labels.numel(); ++i) m = std::max<int64_t>(m, static_cast<int64_t>(p[i]));
  return m;
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// "<dir>/<name>" if it exists, else "<dir>/<name>.gz"; throws if neither does.
std::string find_idx(const std::string& dir, const char* name) {
  std::string base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  if (is_file(base)) return base;
  if (is_file(base + ".gz")) return base + ".gz";
  NABLA_CHECK_KIND(false, ErrorKind::io, dir, ": missing ", name, " (nor ", name, ".gz) in the data folder");
  return {};
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_rank) {
  return read_checked(path, expected_rank, "this array");
}

Tensor read_idx_images(const std::string& path, PixelScale scale) {
  return images_tensor(path, read_checked(path, 3, "an image file"), scale);
}

Tensor read_idx_labels(const std::string& path) { return labels_tensor(read_checked(path, 1, "a label file").data); }

std::vector<uint8_t> read_idx_labels_u8(const std::string& path) {
  return read_checked(path, 1, "a label file").data;
}

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path, PixelScale scale,
                         int64_t num_classes) {
  IdxArray img = read_checked(images_path, 3, "an image file");
  IdxArray lab = read_checked(labels_path, 1, "a label file");
  NABLA_CHECK_KIND(img.dims[0] == lab.dims[0], ErrorKind::io, "IDX size mismatch: ", images_path, " has ",
                   img.dims[0], " images (field at byte 4) but ", labels_path, " has ", lab.dims[0],
                   " labels (field at byte 4)");
  Dataset ds;
  ds.features = images_tensor(images_path, img, scale);
  ds.labels = labels_tensor(lab.data);
  const int64_t top = max_label(ds.labels);
  if (num_classes > 0) {
    NABLA_CHECK_KIND(top < num_classes, ErrorKind::io, labels_path, ": label ", top, " is out of range for ",
                     num_classes, " classes");
    ds.num_classes = num_classes;
  } else {
    ds.num_classes = top + 1;
  }
  return ds;
}

TrainTest load_idx_folder(const std::string& dir, PixelScale scale) {
  TrainTest tt;
  tt.train = read_idx_dataset(find_idx(dir, "train-images-idx3-ubyte"), find_idx(dir, "train-labels-idx1-ubyte"),
                              scale);
  tt.test = read_idx_dataset(find_idx(dir, "t10k-images-idx3-ubyte"), find_idx(dir, "t10k-labels-idx1-ubyte"),
                             scale);
  NABLA_CHECK_KIND(tt.train.num_features() == tt.test.num_features(), ErrorKind::io, dir,
                   ": train images have ", tt.train.num_features(), " pixels but test images have ",
                   tt.test.num_features());
  const int64_t k = std::max(tt.train.num_classes, tt.test.num_classes);
  tt.train.num_classes = tt.test.num_classes = k;
  return tt;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

TrainTest load_fashion_mnist(const std::string& dir, PixelScale scale) {
  NABLA_CHECK_KIND(std::filesystem::is_directory(dir) || dir != kFashionMnistDir, ErrorKind::io,
                   "fashion-mnist: ", dir, " does not exist; install Debian's dataset-fashion-mnist package "
                   "(apt-get install dataset-fashion-mnist), or give --data a folder of IDX files or a CSV file");
  TrainTest tt = load_idx_folder(dir, scale);
  NABLA_CHECK_KIND(tt.train.num_features() == 784, ErrorKind::io, dir, ": Fashion-MNIST images are 28x28, found ",
                   tt.train.num_features(), " pixels per image");
  NABLA_CHECK_KIND(tt.train.num_classes <= 10, ErrorKind::io, dir, ": Fashion-MNIST has 10 classes, found label ",
                   tt.train.num_classes - 1);
  for (Dataset* ds : {&tt.train, &tt.test}) {
    ds->num_classes = 10;
    ds->class_names = fashion_mnist_class_names();
  }
  return tt;
}

}  // namespace nabla::data
