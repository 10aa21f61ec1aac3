// safetensors: the exact bytes nabla writes, round trips, and every check the
// loader makes on a malformed file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "data/test_files.hpp"
#include "nabla/io.hpp"

namespace nabla::io {
namespace {

using nabla::testing::error_of;
using nabla::testing::TempDir;
using nabla::testing::write_file;

std::string le64(uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// A file from a header text (unpadded) and raw data bytes.
std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// ---- format -------------------------------------------------------------------------

TEST(SafetensorsFormat, ExactBytesOfASmallFile) {
  std::string b = to_safetensors({{"w", tensor({1.0, -2.0}).to(kFloat32)}});
  const std::string json = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";  // 54 bytes
  const std::string padded = json + std::string(2, ' ');                                 // → 56
  EXPECT_EQ(b, le64(56) + padded + f32_bytes({1.0f, -2.0f}));
}

TEST(SafetensorsFormat, HeaderIsPaddedToAMultipleOfEight) {
  for (const char* name : {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"}) {
    std::string b = to_safetensors({{name, zeros({1})}}, {{"k", "v"}});
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(b[size_t(i)]);
    EXPECT_EQ(n % 8, 0u) << name;
    EXPECT_EQ(b[8], '{');
    EXPECT_EQ(b.size(), 8 + n + 4);
    EXPECT_EQ(b.substr(8, 27), R"({"__metadata__":{"k":"v"},")");  // metadata first, as the reference writer does
  }
}

TEST(SafetensorsFormat, RoundTripKeepsOrderDtypesShapesValuesAndMetadata) {
  Tensor base = tensor({{1, 2, 3}, {4, 5, 6}}).to(kFloat32);
  NamedTensors ts = {
      {"layer.1.weight", base},
      {"bias64", tensor({0.1, -1e-300, 1e300, -0.0}, kFloat64)},
      {"scalar", scalar_tensor(3.5)},
      {"empty", zeros({0, 3})},
      {"transposed", base.t()},  // a non-contiguous view is written row-major
      {"cube", arange(24).reshape({2, 3, 4})},
  };
  Metadata meta = {{"format", "pt"}, {"epoch", "12"}, {"note", "ünïcødé \"quoted\"\n"}};
  TensorFile f = from_safetensors(to_safetensors(ts, meta));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"layer.1.weight", "bias64", "scalar", "empty", "transposed", "cube"}));
  EXPECT_EQ(f.metadata, meta);
  EXPECT_EQ(f.at("layer.1.weight").shape(), Shape({2, 3}));
  EXPECT_EQ(f.at("layer.1.weight").to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f.at("bias64").dtype(), kFloat64);
  EXPECT_EQ(f.at("bias64").to_vector<double>(), (std::vector<double>{0.1, -1e-300, 1e300, -0.0}));
  EXPECT_TRUE(std::signbit(f.at("bias64").at({3})));
  EXPECT_EQ(f.at("scalar").dim(), 0);
  EXPECT_EQ(f.at("scalar").item(), 3.5);
  EXPECT_EQ(f.at("empty").shape(), Shape({0, 3}));
  EXPECT_EQ(f.at("transposed").shape(), Shape({3, 2}));
  EXPECT_EQ(f.at("transposed").to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(f.at("cube").at({1, 2, 3}), 23.0);
  EXPECT_TRUE(f.contains("cube"));
  EXPECT_FALSE(f.contains("nope"));
  EXPECT_EQ(error_of([&] { f.at("nope"); }, ErrorKind::index), "safetensors: no tensor named 'nope'");
}

TEST(SafetensorsFormat, SaveAndLoadAFile) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"a", tensor({1.5, 2.5})}, {"b", ones({2, 2}, kFloat64)}}, {{"step", "7"}});
  TensorFile f = load_safetensors(path);
  EXPECT_EQ(f.at("a").to_vector<float>(), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(f.at("b").to_vector<double>(), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(f.metadata.at("step"), "7");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"model.safetensors"}));  // no temporary left behind
}

TEST(SafetensorsFormat, ReadsUnpaddedHeadersInAnyKeyOrder) {
  // Keys out of data order, no padding, zero-size tensors sharing an offset.
  std::string header =
      R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"F64","shape":[0],"data_offsets":[4,4]},)"
      R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{}})";
  TensorFile f = from_safetensors(st_bytes(header, f32_bytes({7, 8})));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "z", "b"}));
  EXPECT_EQ(f.at("a").item(), 7.0);
  EXPECT_EQ(f.at("b").to_vector<float>(), (std::vector<float>{8}));
  EXPECT_TRUE(f.metadata.empty());
}

TEST(SafetensorsFormat, SaveRejectsBadNames) {
  EXPECT_EQ(error_of([&] { to_safetensors({{"x", zeros({1})}, {"x", zeros({1})}}); }, ErrorKind::value),
            "save_safetensors: duplicate tensor name 'x'");
  EXPECT_EQ(error_of([&] { to_safetensors({{"", zeros({1})}}); }, ErrorKind::value),
            "save_safetensors: empty tensor name");
  EXPECT_EQ(error_of([&] { to_safetensors({{"__metadata__", zeros({1})}}); }, ErrorKind::value),
            "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
  EXPECT_EQ(error_of([&] { to_safetensors({{"u", Tensor()}}); }, ErrorKind::value),
            "save_safetensors: tensor 'u' is undefined");
  EXPECT_NE(error_of([&] { to_safetensors({{"bad\xff", zeros({1})}}); }, ErrorKind::value).find("not valid UTF-8"),
            std::string::npos);
}

TEST(SafetensorsFormat, FailedSaveDoesNotTouchTheFile) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  save_safetensors(path, {{"a", ones({2})}});
  error_of([&] { save_safetensors(path, {{"a", ones({2})}, {"a", ones({3})}}); }, ErrorKind::value);
  EXPECT_EQ(load_safetensors(path).at("a").to_vector<float>(), (std::vector<float>{1, 1}));
}

// ---- malformed files ----------------------------------------------------------------

// Writes `bytes` to a file, loads it, and returns the error message, checking
// that it names the file. The in-memory parser must report the same fault.
std::string load_error(const std::string& bytes) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_file(path, bytes);
  std::string msg = error_of([&] { load_safetensors(path); });
  EXPECT_EQ(msg.rfind(path + ": safetensors: ", 0), 0u) << msg;
  std::string mem = error_of([&] { from_safetensors(bytes, "mem"); });
  EXPECT_EQ(mem.substr(mem.find(':')), msg.substr(path.size())) << "file and memory parsers disagree";
  return msg.substr(path.size() + 15);  // after "<path>: safetensors: "
}

const std::string kOne = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

TEST(SafetensorsErrors, MissingFile) {
  TempDir dir;
  EXPECT_EQ(error_of([&] { load_safetensors(dir.file("none")); }),
            dir.file("none") + ": cannot open: No such file or directory");
}

TEST(SafetensorsErrors, ShorterThanTheLengthField) {
  EXPECT_EQ(load_error("abc"), "truncated: 3 bytes, the header length alone needs 8");
}

TEST(SafetensorsErrors, HeaderLengthBeyondFileSize) {
  EXPECT_EQ(load_error(le64(1000) + "{}"),
            "header length 1000 (bytes 0-7) exceeds the 2 bytes that follow it (truncated file, or not a "
            "safetensors file)");
}

TEST(SafetensorsErrors, HeaderLengthBeyondTheFormatLimit) {
  EXPECT_EQ(load_error(le64(uint64_t{1} << 40) + "{}"),
            "header length 1099511627776 (bytes 0-7) exceeds the format's 100 MB limit");
}

TEST(SafetensorsErrors, NotAJsonObject) {
  EXPECT_EQ(load_error(st_bytes("[1, 2]  ", "")),
            "the header at byte 8 does not start with '{' (not a safetensors file?)");
}

TEST(SafetensorsErrors, MalformedJson) {
  std::string msg = load_error(st_bytes(R"({"t": {"dtype": "F32",)", ""));
  EXPECT_EQ(msg.rfind("malformed JSON header: [json.exception.parse_error.101] parse error", 0), 0u) << msg;
}

TEST(SafetensorsErrors, DuplicateEntry) {
  std::string h = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  EXPECT_EQ(load_error(st_bytes(h, f32_bytes({1, 2}))), "duplicate entry 't' in the header");
}

TEST(SafetensorsErrors, UnknownDtype) {
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1, 2}))),
            "tensor 't': unknown dtype 'F33'");
}

TEST(SafetensorsErrors, UnsupportedDtype) {
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", f32_bytes({1, 2}))),
            "tensor 't': unsupported dtype I64 (nabla reads F32 and F64)");
}

TEST(SafetensorsErrors, ShapeDisagreesWithByteLength) {
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", f32_bytes({1, 2}))),
            "tensor 't': shape [2] of F64 needs 16 bytes but data_offsets [0, 8] span 8");
}

TEST(SafetensorsErrors, OffsetsOutOfRange) {
  EXPECT_EQ(load_error(st_bytes(kOne, f32_bytes({1}))),
            "tensor 't': data_offsets [0, 8] are out of range: the data section has 4 bytes (truncated file?)");
}

TEST(SafetensorsErrors, TruncatedFile) {
  std::string good = to_safetensors({{"a", ones({3})}, {"b", ones({5})}});
  EXPECT_EQ(load_error(good.substr(0, good.size() - 1)),
            "tensor 'b': data_offsets [12, 32] are out of range: the data section has 31 bytes (truncated file?)");
}

TEST(SafetensorsErrors, OverlappingOffsets) {
  std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_EQ(load_error(st_bytes(h, f32_bytes({1, 2, 3}))),
            "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
}

TEST(SafetensorsErrors, HoleInTheData) {
  std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  EXPECT_EQ(load_error(st_bytes(h, f32_bytes({1, 2, 3}))),
            "hole in the data section: bytes [4, 8) belong to no tensor");
}

TEST(SafetensorsErrors, TrailingBytes) {
  EXPECT_EQ(load_error(st_bytes(kOne, f32_bytes({1, 2}) + "xy")),
            "2 bytes after the last tensor (data section bytes [8, 10) belong to no tensor)");
}

TEST(SafetensorsErrors, BadEntries) {
  auto entry = [](const std::string& body) { return st_bytes(R"({"t":)" + body + "}", f32_bytes({1, 2})); };
  EXPECT_EQ(load_error(entry("[1]")), "tensor 't': entry is not an object");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[2]})")), "tensor 't': missing \"data_offsets\"");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1})")),
            "tensor 't': unknown field 'extra'");
  EXPECT_EQ(load_error(entry(R"({"dtype":32,"shape":[2],"data_offsets":[0,8]})")),
            "tensor 't': \"dtype\" is not a string");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})")),
            "tensor 't': \"shape\" is not an array");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})")),
            "tensor 't': a \"shape\" extent is not a non-negative integer: -2");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})")),
            "tensor 't': a \"shape\" extent is not a non-negative integer: 2.0");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})")),
            "tensor 't': rank 9 exceeds nabla's maximum of 8");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})")),
            "tensor 't': \"data_offsets\" must be [begin, end], got [0]");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})")),
            "tensor 't': data_offsets [8, 0] has begin > end");
  EXPECT_EQ(load_error(entry(R"({"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]})")),
            "tensor 't': shape [4294967296,4294967296,4294967296] is too large");
}

TEST(SafetensorsErrors, BadMetadata) {
  EXPECT_EQ(load_error(st_bytes(R"({"__metadata__":{"k":1}})", "")),
            "\"__metadata__\" value for 'k' is not a string");
  EXPECT_EQ(load_error(st_bytes(R"({"__metadata__":[]})", "")), "\"__metadata__\" is not an object");
}

TEST(SafetensorsErrors, EmptyFileIsRejected) {
  EXPECT_EQ(load_error(""), "truncated: 0 bytes, the header length alone needs 8");
}

// Note [Header parsing]: crafted headers are refused in one pass, with a
// short message, however deep or long they are.
TEST(SafetensorsErrors, DeepNestingIsRefusedWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})", "")),
            "tensor 't': a \"shape\" extent is not a non-negative integer: an array");
  EXPECT_EQ(load_error(st_bytes(R"({"__metadata__":{"k":)" + std::string(100000, '{') + "}}", "")),
            "\"__metadata__\" value for 'k' is not a string");
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F32","extra":)" + deep + "}}", "")),
            "tensor 't': unknown field 'extra'");
}

TEST(SafetensorsErrors, LongArraysAreQuotedBySizeOnly) {
  std::string offsets;
  for (int i = 0; i < 1000000; ++i) offsets += "0,";
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[)" + offsets + "0]}}", "")),
            "tensor 't': \"data_offsets\" must be [begin, end], got an array of 1000001 values");
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F32","shape":[)" + offsets + R"(0],"data_offsets":[0,0]}})", "")),
            "tensor 't': rank 1000001 exceeds nabla's maximum of 8");
  const std::string long_string(1 << 20, 'x');
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":")" + long_string + R"(","shape":[0],"data_offsets":[0,0]}})", "")),
            "tensor 't': unknown dtype '" + std::string(80, 'x') + "...'");
}

TEST(SafetensorsErrors, DuplicateFieldInAnEntry) {
  EXPECT_EQ(load_error(st_bytes(R"({"t":{"dtype":"F32","dtype":"F64","shape":[0],"data_offsets":[0,0]}})", "")),
            "tensor 't': duplicate field 'dtype'");
}

TEST(SafetensorsFormat, ManyEntriesInOrder) {
  // 100 000 entries (half a minute before the header was read in one pass)
  std::string h = "{";
  for (int i = 0; i < 100000; ++i)
    h += (i ? ",\"" : "\"") + std::to_string(99999 - i) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  h += "}";
  TensorFile f = from_safetensors(st_bytes(h, ""));
  ASSERT_EQ(f.tensors.size(), 100000u);
  EXPECT_EQ(f.tensors.front().first, "99999");  // header order among empty tensors
  EXPECT_EQ(f.tensors.back().first, "0");
}

TEST(SafetensorsFormat, HeaderAloneWithoutTheData) {
  TempDir dir;
  const std::string path = dir.file("h.safetensors");
  save_safetensors(path, {{"b", zeros({2, 3})}, {"a", ones({4}, kFloat64)}}, {{"k", "v"}});
  const SafetensorsHeader h = read_safetensors_header(path);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "b");
  EXPECT_EQ(h.tensors[0].shape, (Shape{2, 3}));
  EXPECT_EQ(h.tensors[1].dtype, DType::f64);
  EXPECT_EQ(h.metadata.at("k"), "v");
  // The header is checked against the file's size as load_safetensors checks it.
  const std::string bytes = nabla::testing::read_file(path);
  write_file(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_NE(error_of([&] { read_safetensors_header(path); }).find("are out of range"), std::string::npos);
}

}  // namespace
}  // namespace nabla::io
