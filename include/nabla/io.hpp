// nabla/io.hpp — tensors on disk: safetensors files and atomic writes.
//
// safetensors layout (https://github.com/huggingface/safetensors):
//
//   bytes [0, 8)        N, the header length, uint64 little-endian
//   bytes [8, 8+N)      a UTF-8 JSON object, padded with spaces; nabla pads so
//                       that 8+N is a multiple of 8
//                         {"__metadata__": {"key": "value", ...},
//                          "name": {"dtype": "F32", "shape": [2, 3],
//                                   "data_offsets": [begin, end]}, ...}
//   bytes [8+N, end)    the data section: each tensor's elements row-major,
//                       little-endian, at [begin, end) relative to 8+N
//
// nabla reads and writes dtypes F32 and F64. Loading checks everything and
// throws nabla::Error (kind io) with one line naming the file and the fault:
// header length beyond the file, malformed JSON, unknown or unsupported dtype,
// a bad shape, end − begin ≠ numel × itemsize, offsets out of range,
// overlapping or leaving holes, bytes after the last tensor, duplicate names.
//
// Every file nabla writes goes through write_atomic: the bytes go to a
// temporary file beside the target, which is fsync'ed and renamed over the
// target, and the directory is fsync'ed. A failure at any point removes the
// temporary file and leaves the previous target untouched; a crash can leave
// at most a stray "<target>.tmp.*" file, never a half-written target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::io {

using Metadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// ---- safetensors --------------------------------------------------------------------

// The contents of a safetensors file.
struct TensorFile {
  NamedTensors tensors;  // in data-section order (= save order for nabla files)
  Metadata metadata;     // "__metadata__", empty when absent

  bool contains(const std::string& name) const;
  // The tensor called `name`; throws (kind index) when there is none.
  const Tensor& at(const std::string& name) const;
  std::vector<std::string> names() const;
};

// Serializes `tensors` (float32/float64, any shape, non-contiguous views are
// copied) in the given order with `metadata`. Names must be unique, non-empty
// and not "__metadata__".
std::string to_safetensors(const NamedTensors& tensors, const Metadata& metadata = {});
// Parses bytes produced by to_safetensors or any conforming writer; `source`
// names them in error messages.
TensorFile from_safetensors(std::string_view bytes, const std::string& source = "<memory>");

// Writes a safetensors file atomically (see write_atomic).
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});
// Reads and validates a safetensors file; tensors are fresh contiguous copies.
// The header is checked in time linear in its size: nested deeper than 16
// levels is an error, and messages quote a long value by its size only.
TensorFile load_safetensors(const std::string& path);

// The header of a safetensors file alone, validated as load_safetensors
// validates it (against the file's size), without reading any tensor.
struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
};
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in data-section order
  Metadata metadata;
};
SafetensorsHeader read_safetensors_header(const std::string& path);

// ---- atomic files -------------------------------------------------------------------

// Sink handed to write_atomic's callback; each write() goes to the temporary
// file and throws nabla::Error (kind io) on failure.
class AtomicWriter {
 public:
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;
  void write(const void* data, size_t nbytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  uint64_t bytes_written() const noexcept { return written_; }

 private:
  friend void write_atomic(const std::string&, const std::function<void(AtomicWriter&)>&);
  AtomicWriter(int fd, const std::string& target, const std::string& temp) : fd_(fd), target_(target), temp_(temp) {}
  int fd_;
  const std::string& target_;
  const std::string& temp_;
  uint64_t written_ = 0;
};

// Creates `path` (or replaces it) with what `fill` writes: temporary file
// "<path>.tmp.<pid>.<n>" in the same directory → fill → fsync → rename over
// `path` → fsync of the directory. If fill throws, or any step fails, the
// temporary file is removed, `path` keeps its previous contents, and the
// exception propagates (system failures as nabla::Error of kind io).
//
// Before it writes, it removes the temporary files "<path>.tmp.<pid>.*" of
// processes that no longer exist (left by a kill during a save); those of
// live processes, and of processes it cannot see, stay.
void write_atomic(const std::string& path, const std::function<void(AtomicWriter&)>& fill);
void write_atomic(const std::string& path, std::string_view bytes);

// Throws (kind io) unless write_atomic(path, ...) could create `path` now:
// the folder exists and a file can be created in it, and `path` is not a
// folder. `what` names the path in the message ("--out"). Nothing is left
// behind.
void check_writable(const std::string& path, const std::string& what);

// True when a and b name the same file: the same inode when both exist, the
// same resolved path (symbolic links and "..") when neither does.
bool same_file(const std::string& a, const std::string& b);

}  // namespace nabla::io
