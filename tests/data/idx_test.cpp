// IDX reading: values, gzip, and every malformed-file error with its offset.
#include <gtest/gtest.h>

#include "data/test_files.hpp"
#include "nabla/data.hpp"

namespace nabla::data {
namespace {

using nabla::testing::bytes;
using nabla::testing::error_of;
using nabla::testing::gzip_stored;
using nabla::testing::gzip_zeros;
using nabla::testing::TempDir;
using nabla::testing::write_file;

// Big-endian IDX header: magic 0x000008RR, then the extents.
std::string idx_header(std::initializer_list<uint32_t> dims, int type = 0x08) {
  std::string s = bytes({0, 0, type, static_cast<int>(dims.size())});
  for (uint32_t d : dims)
    for (int i = 3; i >= 0; --i) s += static_cast<char>((d >> (8 * i)) & 0xFF);
  return s;
}

// Three 2×2 images with pixel values 0, 51, 102, …
std::string three_images() {
  std::string s = idx_header({3, 2, 2});
  for (int i = 0; i < 12; ++i) s += static_cast<char>((i * 51) % 256);
  return s;
}

std::string two_labels() { return idx_header({2}) + bytes({7, 2}); }
std::string three_labels() { return idx_header({3}) + bytes({4, 0, 9}); }

TEST(IdxReader, ImagesFlattenedAndScaled) {
  TempDir dir;
  write_file(dir.file("img"), three_images());
  Tensor unit = read_idx_images(dir.file("img"));
  ASSERT_EQ(unit.shape(), Shape({3, 4}));
  EXPECT_EQ(unit.dtype(), kFloat32);
  EXPECT_FLOAT_EQ(unit.at({0, 0}), 0.0f);
  EXPECT_FLOAT_EQ(unit.at({0, 1}), 0.2f);          // 51 / 255
  EXPECT_FLOAT_EQ(unit.at({1, 1}), 255.0f / 255);  // pixel 5 = 255
  EXPECT_FLOAT_EQ(unit.at({2, 3}), float((11 * 51) % 256) / 255.0f);
  Tensor raw = read_idx_images(dir.file("img"), PixelScale::raw);
  EXPECT_EQ(raw.to_vector<float>(), (std::vector<float>{0, 51, 102, 153, 204, 255, 50, 101, 152, 203, 254, 49}));
}

TEST(IdxReader, GzipAndPlainGiveTheSameTensor) {
  TempDir dir;
  write_file(dir.file("img"), three_images());
  write_file(dir.file("img.gz"), gzip_stored(three_images()));
  EXPECT_EQ(read_idx_images(dir.file("img.gz")).to_vector<float>(), read_idx_images(dir.file("img")).to_vector<float>());
}

TEST(IdxReader, GzipOfSeveralMembersAndBlocks) {
  // 70000 bytes of data span two stored blocks; the file is two gzip members.
  std::string data = idx_header({70000});
  for (int i = 0; i < 70000; ++i) data += static_cast<char>(i % 10);
  TempDir dir;
  write_file(dir.file("l.gz"), gzip_stored(data.substr(0, 30000)) + gzip_stored(data.substr(30000)));
  std::vector<uint8_t> labels = read_idx_labels_u8(dir.file("l.gz"));
  ASSERT_EQ(labels.size(), 70000u);
  EXPECT_EQ(labels[0], 0);
  EXPECT_EQ(labels[69999], 9);
  EXPECT_EQ(labels[12345], 5);
}

TEST(IdxReader, LabelsAsFloatsAndBytes) {
  TempDir dir;
  write_file(dir.file("lab"), three_labels());
  Tensor t = read_idx_labels(dir.file("lab"));
  EXPECT_EQ(t.shape(), Shape({3}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{4, 0, 9}));
  EXPECT_EQ(read_idx_labels_u8(dir.file("lab")), (std::vector<uint8_t>{4, 0, 9}));
}

TEST(IdxReader, GenericArrayKeepsDims) {
  TempDir dir;
  write_file(dir.file("a"), idx_header({2, 3}) + bytes({1, 2, 3, 4, 5, 6}));
  IdxArray a = read_idx(dir.file("a"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  std::string msg = error_of([&] { read_idx(dir.file("a"), 3); });
  EXPECT_NE(msg.find("wrong magic 0x00000802 at byte 0"), std::string::npos) << msg;
}

TEST(IdxReader, DatasetPairsImagesWithLabels) {
  TempDir dir;
  write_file(dir.file("img"), three_images());
  write_file(dir.file("lab"), three_labels());
  Dataset ds = read_idx_dataset(dir.file("img"), dir.file("lab"));
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_features(), 4);
  EXPECT_EQ(ds.num_classes, 10);  // max label 9 + 1
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{4, 0, 9}));
  EXPECT_EQ(read_idx_dataset(dir.file("img"), dir.file("lab"), PixelScale::unit, 12).num_classes, 12);
  std::string msg = error_of([&] { read_idx_dataset(dir.file("img"), dir.file("lab"), PixelScale::unit, 5); });
  EXPECT_NE(msg.find("label 9 is out of range for 5 classes"), std::string::npos) << msg;
}

// ---- errors -----------------------------------------------------------------------

TEST(IdxReader, MissingFile) {
  TempDir dir;
  std::string msg = error_of([&] { read_idx_images(dir.file("nope")); });
  EXPECT_NE(msg.find(dir.file("nope")), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open: No such file or directory"), std::string::npos) << msg;
}

TEST(IdxReader, DirectoryIsNotAFile) {
  TempDir dir;
  std::string msg = error_of([&] { read_idx_labels(dir.path().string()); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

TEST(IdxReader, EmptyFile) {
  TempDir dir;
  write_file(dir.file("e"), "");
  std::string msg = error_of([&] { read_idx_labels(dir.file("e")); });
  EXPECT_EQ(msg, dir.file("e") + ": empty file, expected an IDX header");
}

TEST(IdxReader, WrongMagicLabelFileAsImages) {
  TempDir dir;
  write_file(dir.file("lab"), three_labels());
  std::string msg = error_of([&] { read_idx_images(dir.file("lab")); });
  EXPECT_EQ(msg, dir.file("lab") +
                     ": wrong magic 0x00000801 at byte 0: 1 dimension(s), expected 3 for an image file (magic "
                     "0x00000803)");
}

TEST(IdxReader, WrongMagicImageFileAsLabels) {
  TempDir dir;
  write_file(dir.file("img"), three_images());
  std::string msg = error_of([&] { read_idx_labels(dir.file("img")); });
  EXPECT_NE(msg.find("wrong magic 0x00000803 at byte 0: 3 dimension(s), expected 1"), std::string::npos) << msg;
}

TEST(IdxReader, NotAnIdxFile) {
  TempDir dir;
  write_file(dir.file("x"), "P5\n28 28\n255\n");
  std::string msg = error_of([&] { read_idx_images(dir.file("x")); });
  EXPECT_NE(msg.find("wrong magic 0x50350a32 at byte 0: not an IDX file"), std::string::npos) << msg;
}

TEST(IdxReader, UnsupportedElementType) {
  TempDir dir;
  write_file(dir.file("f"), idx_header({1, 1, 1}, 0x0D) + std::string(4, '\0'));
  std::string msg = error_of([&] { read_idx_images(dir.file("f")); });
  EXPECT_NE(msg.find("unsupported element type 0x0d (float32) at byte 2"), std::string::npos) << msg;
}

TEST(IdxReader, TruncatedMagic) {
  TempDir dir;
  write_file(dir.file("t"), bytes({0, 0}));
  std::string msg = error_of([&] { read_idx_labels(dir.file("t")); });
  EXPECT_NE(msg.find("truncated header: the 4-byte magic at byte 0 has only 2 bytes"), std::string::npos) << msg;
}

TEST(IdxReader, TruncatedHeader) {
  TempDir dir;
  write_file(dir.file("t"), idx_header({3, 2, 2}).substr(0, 14));
  std::string msg = error_of([&] { read_idx_images(dir.file("t")); });
  EXPECT_EQ(msg, dir.file("t") +
                     ": truncated header: dimension 2 at byte 12 is missing (file has 14 bytes, the header needs 16)");
}

TEST(IdxReader, ZeroDimensions) {
  TempDir dir;
  write_file(dir.file("z"), bytes({0, 0, 8, 0}));
  std::string msg = error_of([&] { read_idx(dir.file("z")); });
  EXPECT_NE(msg.find("dimension count 0 at byte 3"), std::string::npos) << msg;
}

TEST(IdxReader, TruncatedData) {
  TempDir dir;
  write_file(dir.file("t"), three_images().substr(0, 16 + 10));
  std::string msg = error_of([&] { read_idx_images(dir.file("t")); });
  EXPECT_EQ(msg, dir.file("t") +
                     ": truncated data: the dimensions call for 12 bytes from byte 16 but only 10 are present (file "
                     "ends at byte 26)");
}

TEST(IdxReader, TrailingGarbage) {
  TempDir dir;
  write_file(dir.file("t"), three_labels() + "xyz");
  std::string msg = error_of([&] { read_idx_labels(dir.file("t")); });
  EXPECT_EQ(msg, dir.file("t") + ": trailing garbage: 3 unexpected bytes after the data, from byte 11");
}

TEST(IdxReader, EmptyImageSize) {
  TempDir dir;
  write_file(dir.file("t"), idx_header({5, 0, 28}));
  std::string msg = error_of([&] { read_idx_images(dir.file("t")); });
  EXPECT_NE(msg.find("image size 0x28"), std::string::npos) << msg;
}

TEST(IdxReader, OffsetsInGzipFilesCountDecompressedBytes) {
  TempDir dir;
  write_file(dir.file("t.gz"), gzip_stored(three_labels() + "!"));
  std::string msg = error_of([&] { read_idx_labels(dir.file("t.gz")); });
  EXPECT_EQ(msg, dir.file("t.gz") +
                     " (gzip, decompressed offsets): trailing garbage: 1 unexpected bytes after the data, from byte 11");
}

// Note [Inflate limit]: nothing beyond what the header declares is inflated.
TEST(IdxReader, GzipBombStopsAtTheDeclaredSize) {
  TempDir dir;
  // 100 images of 2x2 declared (416 bytes with the header), 64 MB of zeros after them.
  const std::string gz = gzip_zeros(idx_header({100, 2, 2}), uint64_t{64} << 20);
  ASSERT_LT(gz.size(), size_t{512} << 10);
  write_file(dir.file("b.gz"), gz);
  const std::string msg = error_of([&] { read_idx_images(dir.file("b.gz")); });
  const std::string head = dir.file("b.gz") + ": the gzip data inflates to more than the 416 bytes its IDX header "
                                              "declares (stopped at compressed byte ";
  ASSERT_EQ(msg.rfind(head, 0), 0u) << msg;
  // It stopped within the first kilobyte of the 420 KB of compressed data.
  EXPECT_LT(std::stoull(msg.substr(head.size())), 1024u) << msg;
}

TEST(IdxReader, GzipOfExactlyTheDeclaredSizeIsRead) {
  TempDir dir;
  write_file(dir.file("z.gz"), gzip_zeros(idx_header({1000, 10, 10}), 100000));
  Tensor x = read_idx_images(dir.file("z.gz"));
  EXPECT_EQ(x.shape(), (Shape{1000, 100}));
  EXPECT_EQ(x.at({999, 99}), 0.0);
}

TEST(IdxReader, CorruptSizeTrailerCostsNothing) {
  TempDir dir;
  std::string gz = gzip_stored(three_images());
  for (size_t i = gz.size() - 4; i < gz.size(); ++i) gz[i] = '\xff';  // "4 GB"
  write_file(dir.file("t.gz"), gz);
  std::string msg = error_of([&] { read_idx_images(dir.file("t.gz")); });
  EXPECT_NE(msg.find("incorrect length check"), std::string::npos) << msg;
}

TEST(IdxReader, DimensionsBeyondAnyAllocation) {
  TempDir dir;
  // No images, but images of 2^32-1 x 2^32-1 pixels: the row length alone overflows.
  write_file(dir.file("t"), idx_header({0, 0xFFFFFFFFu, 0xFFFFFFFFu}));
  EXPECT_EQ(error_of([&] { read_idx_images(dir.file("t")); }),
            dir.file("t") + ": dimensions at bytes 4..16 describe more than 2^40 elements; not a plausible IDX file");
  // 2^39 bytes would be 2 TB of floats: refused from the header, before reading on.
  write_file(dir.file("u"), idx_header({1u << 19, 1u << 10, 1u << 10}));
  const std::string msg = error_of([&] { read_idx_images(dir.file("u")); });
  EXPECT_EQ(msg.rfind(dir.file("u") + ": dimensions at bytes 4..16: the data: needs 2048.0 GB, more than the ", 0),
            0u)
      << msg;
}

TEST(IdxReader, TruncatedGzip) {
  TempDir dir;
  std::string gz = gzip_stored(three_images());
  write_file(dir.file("t.gz"), gz.substr(0, gz.size() - 12));
  std::string msg = error_of([&] { read_idx_images(dir.file("t.gz")); });
  EXPECT_NE(msg.find("truncated gzip stream"), std::string::npos) << msg;
}

TEST(IdxReader, CorruptGzip) {
  TempDir dir;
  std::string gz = gzip_stored(three_images());
  gz[13] = static_cast<char>(gz[13] ^ 0x55);  // the stored block's NLEN no longer complements LEN
  write_file(dir.file("t.gz"), gz);
  std::string msg = error_of([&] { read_idx_images(dir.file("t.gz")); });
  EXPECT_NE(msg.find("corrupt gzip data near compressed byte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid stored block lengths"), std::string::npos) << msg;
}

TEST(IdxReader, GzipCrcMismatch) {
  TempDir dir;
  std::string gz = gzip_stored(three_images());
  gz[gz.size() - 8] = static_cast<char>(gz[gz.size() - 8] ^ 1);
  write_file(dir.file("t.gz"), gz);
  std::string msg = error_of([&] { read_idx_images(dir.file("t.gz")); });
  EXPECT_NE(msg.find("incorrect data check"), std::string::npos) << msg;
}

TEST(IdxReader, GarbageAfterGzipStream) {
  TempDir dir;
  write_file(dir.file("t.gz"), gzip_stored(three_images()) + "junk");
  std::string msg = error_of([&] { read_idx_images(dir.file("t.gz")); });
  EXPECT_NE(msg.find("4 bytes of trailing garbage after the gzip stream at compressed byte"), std::string::npos)
      << msg;
}

TEST(IdxReader, ImageAndLabelCountsMustMatch) {
  TempDir dir;
  write_file(dir.file("img"), three_images());
  write_file(dir.file("lab"), two_labels());
  std::string msg = error_of([&] { read_idx_dataset(dir.file("img"), dir.file("lab")); });
  EXPECT_EQ(msg, "IDX size mismatch: " + dir.file("img") + " has 3 images (field at byte 4) but " + dir.file("lab") +
                     " has 2 labels (field at byte 4)");
}

// ---- folders ----------------------------------------------------------------------

TEST(IdxFolder, LoadsPlainAndGzipNames) {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte.gz"), gzip_stored(three_images()));
  write_file(dir.file("train-labels-idx1-ubyte"), three_labels());
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_header({2, 2, 2}) + bytes({0, 255, 0, 255, 255, 0, 255, 0}));
  write_file(dir.file("t10k-labels-idx1-ubyte.gz"), gzip_stored(idx_header({2}) + bytes({1, 11})));
  TrainTest tt = load_idx_folder(dir.path().string(), PixelScale::raw);
  EXPECT_EQ(tt.train.size(), 3);
  EXPECT_EQ(tt.test.size(), 2);
  EXPECT_EQ(tt.train.num_features(), 4);
  EXPECT_EQ(tt.train.num_classes, 12);  // shared: max label 11 (test) + 1
  EXPECT_EQ(tt.test.num_classes, 12);
  EXPECT_EQ(tt.test.features.to_vector<float>(), (std::vector<float>{0, 255, 0, 255, 255, 0, 255, 0}));
  EXPECT_EQ(tt.test.labels.to_vector<float>(), (std::vector<float>{1, 11}));
}

TEST(IdxFolder, MissingFileIsNamed) {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte"), three_images());
  write_file(dir.file("train-labels-idx1-ubyte"), three_labels());
  write_file(dir.file("t10k-images-idx3-ubyte"), three_images());
  std::string msg = error_of([&] { load_idx_folder(dir.path().string()); });
  EXPECT_EQ(msg, dir.path().string() +
                     ": missing t10k-labels-idx1-ubyte (nor t10k-labels-idx1-ubyte.gz) in the data folder");
}

TEST(IdxFolder, TrainAndTestImageSizesMustAgree) {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte"), three_images());
  write_file(dir.file("train-labels-idx1-ubyte"), three_labels());
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_header({2, 1, 1}) + bytes({3, 4}));
  write_file(dir.file("t10k-labels-idx1-ubyte"), two_labels());
  std::string msg = error_of([&] { load_idx_folder(dir.path().string()); });
  EXPECT_NE(msg.find("train images have 4 pixels but test images have 1"), std::string::npos) << msg;
}

}  // namespace
}  // namespace nabla::data
