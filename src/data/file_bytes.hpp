// Whole-file reads for the data readers, with transparent gzip decompression.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nabla::data::detail {

struct FileBytes {
  std::vector<uint8_t> bytes;  // the file, decompressed when it was gzip
  bool gzip = false;           // the file started with the gzip magic 1f 8b
};

// Reads `path` entirely. A file that starts with 1f 8b is inflated (one or
// more gzip members; anything after the last member is an error). Throws
// nabla::Error (kind io) naming the file: missing, unreadable, a directory,
// corrupt or truncated gzip data.
FileBytes read_file_bytes(const std::string& path);

}  // namespace nabla::data::detail
