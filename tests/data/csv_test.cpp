// CSV reading: parsing rules, label column, classes, and every error with
// its file:line:column.
#include <gtest/gtest.h>

#include "data/test_files.hpp"
#include "nabla/data.hpp"

namespace nabla::data {
namespace {

using nabla::testing::error_of;
using nabla::testing::gzip_stored;
using nabla::testing::gzip_zeros;
using nabla::testing::TempDir;
using nabla::testing::write_file;

struct CsvFile {
  TempDir dir;
  std::string path;
  explicit CsvFile(std::string_view text, const std::string& name = "data.csv") : path(dir.file(name)) {
    write_file(path, text);
  }
};

TEST(CsvReader, FeaturesAndLabelByName) {
  CsvFile f("x1,label,x2\n1.5,0,-2\n3e2,2,0.25\n-0.5,1,+4\n");
  Dataset ds = read_csv(f.path);
  EXPECT_EQ(ds.features.shape(), Shape({3, 2}));
  EXPECT_EQ(ds.features.to_vector<float>(), (std::vector<float>{1.5f, -2, 300, 0.25f, -0.5f, 4}));
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{0, 2, 1}));
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_EQ(ds.feature_names, (std::vector<std::string>{"x1", "x2"}));
}

TEST(CsvReader, WhitespaceQuotesCrlfBlankLinesAndBom) {
  CsvFile f("\xEF\xBB\xBF\"sepal length\", \"class\" ,w\r\n\r\n 5.1 ,\"1\",2\r\n   \n4.9,0, 3 \r\n\n");
  CsvOptions o;
  o.label_column = "class";
  Dataset ds = read_csv(f.path, o);
  EXPECT_EQ(ds.feature_names, (std::vector<std::string>{"sepal length", "w"}));
  EXPECT_EQ(ds.features.to_vector<float>(), (std::vector<float>{5.1f, 2, 4.9f, 3}));
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{1, 0}));
  EXPECT_EQ(ds.num_classes, 2);
}

TEST(CsvReader, OtherDelimiterAndGzip) {
  TempDir dir;
  write_file(dir.file("d.csv.gz"), gzip_stored("a;b;y\n1;2;0\n3;4;1\n"));
  CsvOptions o;
  o.delimiter = ';';
  o.label_column = "y";
  Dataset ds = read_csv(dir.file("d.csv.gz"), o);
  EXPECT_EQ(ds.features.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{0, 1}));
}

TEST(CsvReader, DeclaredNumberOfClasses) {
  CsvFile f("a,label\n1,0\n2,1\n");
  CsvOptions o;
  o.num_classes = 5;
  EXPECT_EQ(read_csv(f.path, o).num_classes, 5);
  o.num_classes = 1;
  std::string msg = error_of([&] { read_csv(f.path, o); });
  EXPECT_EQ(msg, f.path + ":3:3: label \"1\" is out of range for 1 classes");
}

TEST(CsvReader, RegressionTargets) {
  CsvFile f("a,target\n1,0.5\n2,-3.25\n");
  CsvOptions o;
  o.label_column = "target";
  o.classification = false;
  Dataset ds = read_csv(f.path, o);
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{0.5f, -3.25f}));
  EXPECT_EQ(ds.num_classes, 0);
}

// ---- errors -----------------------------------------------------------------------

TEST(CsvReader, NonNumericCell) {
  CsvFile f("a,b,label\n1,2,0\n3,abc,1\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":3:3: non-numeric cell \"abc\" in column \"b\"");
}

TEST(CsvReader, PartlyNumericCell) {
  CsvFile f("a,label\n  12kg ,0\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":2:3: non-numeric cell \"12kg\" in column \"a\"");
}

TEST(CsvReader, NonFiniteCell) {
  CsvFile f("a,label\nnan,0\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":2:1: non-finite value \"nan\" in column \"a\"");
  CsvFile g("a,label\n1,0\n1e999,0\n");
  EXPECT_EQ(error_of([&] { read_csv(g.path); }), g.path + ":3:1: number \"1e999\" in column \"a\" is out of range");
}

TEST(CsvReader, EmptyCell) {
  CsvFile f("a,b,label\n1,,0\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":2:3: empty cell in column \"b\"");
}

TEST(CsvReader, RaggedRows) {
  CsvFile f("a,b,label\n1,2,0\n3,4\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":3: ragged row: 2 cells where the header has 3");
  CsvFile g("a,b,label\n1,2,0,9\n");
  EXPECT_EQ(error_of([&] { read_csv(g.path); }), g.path + ":2: ragged row: 4 cells where the header has 3");
}

TEST(CsvReader, MissingLabelColumn) {
  CsvFile f("a,b,class\n1,2,0\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }),
            f.path + ":1: no label column \"label\" in the header (columns: a, b, class)");
}

TEST(CsvReader, OnlyTheLabelColumn) {
  CsvFile f("label\n1\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":1: the header has only the label column; no feature columns");
}

TEST(CsvReader, EmptyFile) {
  CsvFile f("");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ": empty file, expected a header row");
  CsvFile g("\n  \r\n\n");
  EXPECT_EQ(error_of([&] { read_csv(g.path); }), g.path + ": empty file, expected a header row");
}

TEST(CsvReader, HeaderWithoutRows) {
  CsvFile f("\na,label\n\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ": no data rows after the header on line 2");
}

TEST(CsvReader, DeclaredClassesTakeLabelsAsIndices) {
  CsvOptions o;
  o.num_classes = 3;
  CsvFile f("a,label\n1,1.5\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path, o); }),
            f.path + ":2:3: label \"1.5\" in column \"label\" is not a class index (an integer in [0, 2^24))");
  CsvFile g("a,label\n1,-1\n");
  EXPECT_NE(error_of([&] { read_csv(g.path, o); }).find(":2:3: label \"-1\""), std::string::npos);
  CsvFile h("a,label\n1,x\n");
  EXPECT_NE(error_of([&] { read_csv(h.path, o); }).find(":2:3: label \"x\" in column \"label\" is not a class index"),
            std::string::npos);
}

TEST(CsvReader, LabelsOneToKAreKClasses) {
  CsvFile f("a,label\n1,3\n2,1\n3,2.0\n4,1\n");
  Dataset ds = read_csv(f.path);
  EXPECT_EQ(ds.num_classes, 3);
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{2, 0, 1, 0}));
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(CsvReader, StringLabelsSortedNumbersFirst) {
  CsvFile f("x,species\n1,virginica\n2,setosa\n3,\"versicolor\"\n4,setosa\n5,10\n6,9\n");
  CsvOptions o;
  o.label_column = "species";
  Dataset ds = read_csv(f.path, o);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"9", "10", "setosa", "versicolor", "virginica"}));
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{4, 2, 3, 2, 1, 0}));
  // Read again against the classes of a model: the same indices; a new label is an error.
  o.class_names = ds.class_names;
  EXPECT_EQ(read_csv(f.path, o).labels.to_vector<float>(), ds.labels.to_vector<float>());
  o.class_names = {"setosa", "versicolor", "virginica"};
  EXPECT_EQ(error_of([&] { read_csv(f.path, o); }),
            f.path + ":6:3: label \"10\" in column \"species\" is not one of the model's 3 classes "
                     "(setosa, versicolor, virginica)");
}

TEST(CsvReader, AutomaticTask) {
  CsvOptions o;
  o.automatic_task = true;
  CsvFile reg("a,label\n1,0.5\n2,3\n");
  Dataset r = read_csv(reg.path, o);
  EXPECT_EQ(r.num_classes, 0);
  EXPECT_EQ(r.labels.to_vector<float>(), (std::vector<float>{0.5f, 3}));
  CsvFile cls("a,label\n1,7\n2,3\n");
  EXPECT_EQ(read_csv(cls.path, o).num_classes, 2);
  // Integers, most of them distinct (diabetes's progression scores): a quantity.
  std::string scores = "a,label\n";
  for (int i = 0; i < 30; ++i) scores += std::to_string(i) + "," + std::to_string(25 + (i * 7) % 29) + "\n";
  CsvFile many(scores);
  EXPECT_EQ(read_csv(many.path, o).num_classes, 0);
  CsvFile text("a,label\n1,0.5\n2,x\n");
  EXPECT_EQ(read_csv(text.path, o).num_classes, 2);
  o.automatic_task = false;
  o.classification = false;
  EXPECT_EQ(error_of([&] { read_csv(text.path, o); }),
            text.path + ":3:3: target \"x\" in column \"label\" is not a finite float32 number (a regression target)");
}

TEST(CsvReader, NoHeaderLabelByNumber) {
  CsvFile f("1;2;0\n3;4;1\n");
  CsvOptions o;
  o.header = false;
  o.delimiter = ';';
  EXPECT_EQ(error_of([&] { read_csv(f.path, o); }),
            f.path + ": no label column \"label\" in a file without a header (3 columns); name the label column by "
                     "its number, 1 to 3");
  o.label_column = "3";
  Dataset ds = read_csv(f.path, o);
  EXPECT_EQ(ds.features.to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ds.labels.to_vector<float>(), (std::vector<float>{0, 1}));
  EXPECT_EQ(ds.feature_names, (std::vector<std::string>{"1", "2"}));
  o.label_column = "1";  // by number with a header too
  EXPECT_EQ(read_csv(f.path, o).features.to_vector<float>(), (std::vector<float>{2, 0, 4, 1}));
}

TEST(CsvReader, FeaturesAloneWhenTheLabelIsOptional) {
  CsvFile f("a,b\n1,2\n3,4\n");
  CsvOptions o;
  o.label_optional = true;
  Dataset ds = read_csv(f.path, o);
  EXPECT_EQ(ds.features.shape(), Shape({2, 2}));
  EXPECT_FALSE(ds.labels.defined());
  EXPECT_NE(error_of([&] { read_csv(f.path); }).find("no label column \"label\""), std::string::npos);
}

TEST(CsvReader, HeaderProblems) {
  CsvFile f("a,,label\n1,2,0\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }), f.path + ":1:3: empty column name in the header");
  CsvFile g("a,b,a,label\n1,2,3,0\n");
  EXPECT_EQ(error_of([&] { read_csv(g.path); }), g.path + ":1:5: duplicate column \"a\" in the header");
  CsvFile h("\"a,label\n1,0\n");
  EXPECT_EQ(error_of([&] { read_csv(h.path); }), h.path + ":1:1: unterminated quoted cell");
}

TEST(CsvReader, MissingFile) {
  TempDir dir;
  std::string msg = error_of([&] { read_csv(dir.file("none.csv")); });
  EXPECT_EQ(msg, dir.file("none.csv") + ": cannot open: No such file or directory");
}

// A float32 feature cannot hold 1e39: it would become infinity, then NaN.
TEST(CsvReader, ValuesBeyondFloat32) {
  CsvFile f("a,label\n1,0\n1e39,1\n");
  EXPECT_EQ(error_of([&] { read_csv(f.path); }),
            f.path + ":3:1: value \"1e39\" in column \"a\" is out of float32 range (magnitude at most 3.4e38)");
  CsvFile g("a,label\n-3.4e38,0\n");
  EXPECT_FLOAT_EQ(read_csv(g.path).features.at({0, 0}), -3.4e38f);
}

// Note [Inflate limit]: a CSV file is text; zeros are no CSV and stop the inflation.
TEST(CsvReader, GzipOfBinaryDataStopsEarly) {
  TempDir dir;
  write_file(dir.file("b.csv.gz"), gzip_zeros("a,label\n", uint64_t{64} << 20));
  EXPECT_EQ(error_of([&] { read_csv(dir.file("b.csv.gz")); }),
            dir.file("b.csv.gz") + " (gzip): NUL byte at decompressed byte 8: binary data, not a CSV file");
}

TEST(CsvReader, WideHeaderWithADuplicateAtTheEnd) {
  // 200 000 columns: the duplicate check is a hash set, not a scan per column
  std::string header, row;
  for (int j = 0; j < 200000; ++j) header += "c" + std::to_string(j) + ",", row += "1,";
  CsvFile ok(header + "label\n" + row + "0\n");
  EXPECT_EQ(read_csv(ok.path).num_features(), 200000);
  CsvFile dup(header + "c7\n" + row + "0\n");
  const std::string msg = error_of([&] { read_csv(dup.path, {.label_column = "c0"}); });
  EXPECT_NE(msg.find(":1:" + std::to_string(header.size() + 1) + ": duplicate column \"c7\" in the header"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace nabla::data
