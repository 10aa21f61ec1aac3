// Helpers for the data and io tests: a self-removing temporary directory,
// byte-exact file writing, and gzip encoding (stored deflate blocks, so that
// tests need no compressor) for the readers' gzip paths.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/error.hpp"

namespace nabla::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "nabla-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the entries in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

inline uint32_t crc32(std::string_view data) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// A valid gzip member holding `data` in stored (uncompressed) deflate blocks.
inline std::string gzip_stored(std::string_view data) {
  std::string out = bytes({0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(data.size() - pos, 65535);
    const bool last = pos + n == data.size();
    out += static_cast<char>(last ? 1 : 0);
    out += static_cast<char>(n & 0xFF);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(~n & 0xFF);
    out += static_cast<char>((~n >> 8) & 0xFF);
    out.append(data.substr(pos, n));
    pos += n;
  } while (pos < data.size());
  auto le32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  le32(crc32(data));
  le32(static_cast<uint32_t>(data.size()));
  return out;
}

// A gzip member of `prefix` followed by `zeros` zero bytes, compressed for
// real (one fixed-Huffman block of length-258 matches, about 160:1): the
// "gzip bomb" of the readers' decompression tests, written without zlib.
inline std::string gzip_zeros(std::string_view prefix, uint64_t zeros) {
  std::string out = bytes({0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
  uint32_t acc = 0;
  int used = 0;
  auto bit = [&](uint32_t b) {
    acc |= (b & 1) << used;
    if (++used == 8) out += static_cast<char>(acc), acc = 0, used = 0;
  };
  auto code = [&](uint32_t c, int len) {  // Huffman codes go most significant bit first
    for (int i = len - 1; i >= 0; --i) bit(c >> i);
  };
  auto literal = [&](unsigned char v) { v < 144 ? code(0x30 + v, 8) : code(0x190 + (v - 144), 9); };
  bit(1), bit(1), bit(0);  // BFINAL, BTYPE = 01 (fixed codes), least significant bit first
  for (unsigned char c : prefix) literal(c);
  uint64_t left = zeros;
  if (left > 0) literal(0), --left;
  for (; left >= 258; left -= 258) code(0xC5, 8), code(0, 5);  // length 258 (code 285), distance 1
  for (; left > 0; --left) literal(0);
  code(0, 7);  // end of block
  if (used) out += static_cast<char>(acc);
  uint32_t crc = 0xFFFFFFFFu, table[256];
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  for (unsigned char ch : prefix) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  for (uint64_t i = 0; i < zeros; ++i) crc = table[crc & 0xFF] ^ (crc >> 8);
  crc ^= 0xFFFFFFFFu;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xFF);
  const uint64_t total = prefix.size() + zeros;
  for (int i = 0; i < 4; ++i) out += static_cast<char>((total >> (8 * i)) & 0xFF);
  return out;
}

// Runs `fn`, expects a nabla::Error of `kind`, and returns its message.
template <class F>
std::string error_of(F&& fn, ErrorKind kind = ErrorKind::io) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message is not one line: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a nabla::Error";
  return {};
}

}  // namespace nabla::testing
