// Whole-file reads for the data readers, with transparent gzip decompression.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace nabla::data::detail {

struct FileBytes {
  std::vector<uint8_t> bytes;  // the file, decompressed when it was gzip
  bool gzip = false;           // the file started with the gzip magic 1f 8b
};

// How far a gzip file may inflate (Note [Inflate limit] in file_bytes.cpp).
struct InflateLimit {
  uint64_t bytes = 0;
  std::string why;  // completes "more than the <bytes> bytes ...": "its IDX header declares"
};
// Given the first kLimitPrefix decompressed bytes (all of them when the data
// is shorter), returns the limit, or throws to reject the file.
using LimitFn = std::function<InflateLimit(std::span<const uint8_t> prefix)>;
inline constexpr size_t kLimitPrefix = 1024;  // an IDX header of rank 255

// Reads `path` entirely. A file that starts with 1f 8b is inflated (one or
// more gzip members; anything after the last member is an error), never
// beyond what `limit` allows (without one: max_tensor_bytes()). Throws
// nabla::Error (kind io) naming the file: missing, unreadable, a directory,
// corrupt or truncated gzip data, or data beyond the limit.
FileBytes read_file_bytes(const std::string& path, const LimitFn& limit = {});

}  // namespace nabla::data::detail
