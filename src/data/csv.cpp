// Numeric CSV files with a header row. Each cell is parsed with
// std::from_chars; every error carries file:line:column (1-based, column in
// bytes from the start of the line, as compilers count).
#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "file_bytes.hpp"
#include "nabla/data.hpp"
#include "nabla/error.hpp"
#include "nabla/shape.hpp"

namespace nabla::data {
namespace {

struct Cell {
  std::string_view text;  // without quotes and surrounding blanks
  size_t column;          // 1-based byte column of the cell's first character
};

bool blank(char c) { return c == ' ' || c == '\t'; }

// Splits one line (no newline) into cells. Quoted cells may hold the
// delimiter; "" inside quotes is a literal quote, which only matters for the
// header (a numeric cell never contains one).
std::vector<Cell> split_line(const std::string& path, size_t line_no, std::string_view line, char delim,
                             std::string& scratch) {
  std::vector<Cell> cells;
  size_t i = 0;
  for (;;) {
    size_t start = i;
    while (i < line.size() && blank(line[i])) ++i;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      size_t begin = scratch.size();
      for (;;) {
        NABLA_CHECK_KIND(i < line.size(), ErrorKind::io, path, ":", line_no, ":", open + 1,
                         ": unterminated quoted cell");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            scratch += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        scratch += line[i++];
      }
      while (i < line.size() && blank(line[i])) ++i;
      NABLA_CHECK_KIND(i == line.size() || line[i] == delim, ErrorKind::io, path, ":", line_no, ":", i + 1,
                       ": unexpected character after a quoted cell");
      cells.push_back({std::string_view(scratch).substr(begin), open + 1});
    } else {
      size_t end = i;
      while (end < line.size() && line[end] != delim) ++end;
      size_t first = i, last = end;
      while (last > first && blank(line[last - 1])) --last;
      cells.push_back({line.substr(first, last - first), (first < last ? first : start) + 1});
      i = end;
    }
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  return cells;
}

// The quoted cells' text lives in `scratch`; reserve so views stay valid.
std::vector<Cell> split(const std::string& path, size_t line_no, std::string_view line, char delim,
                        std::string& scratch) {
  scratch.clear();
  scratch.reserve(line.size());
  return split_line(path, line_no, line, delim, scratch);
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 40)) out += (static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (s.size() > 40) out += "...";
  return out + "\"";
}

}  // namespace

Dataset read_csv(const std::string& path, const CsvOptions& options) {
  NABLA_CHECK(options.delimiter != '"' && options.delimiter != '\n' && options.delimiter != '\r',
              "read_csv: invalid delimiter");
  // Note [Inflate limit]: a CSV file declares no size, but it is text: a
  // NUL byte in its first kilobyte ends the inflation (a gzip bomb is
  // usually zeros); beyond that it may inflate to what this machine allows.
  auto limit = [&](std::span<const uint8_t> prefix) {
    const void* nul = std::memchr(prefix.data(), 0, prefix.size());
    NABLA_CHECK_KIND(nul == nullptr, ErrorKind::io, path, " (gzip): NUL byte at decompressed byte ",
                     static_cast<const uint8_t*>(nul) - prefix.data(), ": binary data, not a CSV file");
    return detail::InflateLimit{max_tensor_bytes(), "this machine allows"};
  };
  const detail::FileBytes fb = detail::read_file_bytes(path, limit);
  std::string_view text(reinterpret_cast<const char*>(fb.bytes.data()), fb.bytes.size());
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark

  // Iterates over lines, skipping blank ones; sets line_no to the 1-based number.
  size_t pos = 0, line_no = 0;
  auto next_line = [&](std::string_view& line) {
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      bool all_blank = true;
      for (char c : line) all_blank = all_blank && blank(c);
      if (!all_blank) return true;
    }
    return false;
  };

  std::string scratch;
  std::string_view line;
  NABLA_CHECK_KIND(next_line(line), ErrorKind::io, path, ": empty file, expected a header row");
  const size_t header_line = line_no;
  std::vector<std::string> names;
  std::unordered_set<std::string_view> seen;  // views into the file's text or `header_scratch`
  std::string header_scratch;
  for (const Cell& c : split(path, line_no, line, options.delimiter, header_scratch)) {
    NABLA_CHECK_KIND(!c.text.empty(), ErrorKind::io, path, ":", line_no, ":", c.column,
                     ": empty column name in the header");
    NABLA_CHECK_KIND(seen.insert(c.text).second, ErrorKind::io, path, ":", line_no, ":", c.column,
                     ": duplicate column ", quoted(c.text), " in the header");
    names.emplace_back(c.text);
  }
  const size_t ncol = names.size();
  size_t label_col = ncol;
  for (size_t j = 0; j < ncol; ++j)
    if (names[j] == options.label_column) label_col = j;
  if (label_col == ncol) {
    std::string list;
    for (size_t j = 0; j < ncol && j < 20; ++j) list += (j ? ", " : "") + names[j];
    if (ncol > 20) list += ", ...";
    NABLA_CHECK_KIND(false, ErrorKind::io, path, ":", header_line, ": no label column ",
                     quoted(options.label_column), " in the header (columns: ", list, ")");
  }
  NABLA_CHECK_KIND(ncol >= 2, ErrorKind::io, path, ":", header_line,
                   ": the header has only the label column; no feature columns");
  const int64_t d = static_cast<int64_t>(ncol) - 1;

  std::vector<float> feats, labels;
  int64_t max_label = -1;
  while (next_line(line)) {
    const std::vector<Cell> cells = split(path, line_no, line, options.delimiter, scratch);
    NABLA_CHECK_KIND(cells.size() == ncol, ErrorKind::io, path, ":", line_no, ": ragged row: ", cells.size(),
                     " cells where the header has ", ncol);
    for (size_t j = 0; j < ncol; ++j) {
      const Cell& c = cells[j];
      NABLA_CHECK_KIND(!c.text.empty(), ErrorKind::io, path, ":", line_no, ":", c.column, ": empty cell in column ",
                       quoted(names[j]));
      std::string_view s = c.text;
      if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
      double v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      NABLA_CHECK_KIND(ec != std::errc::result_out_of_range, ErrorKind::io, path, ":", line_no, ":", c.column,
                       ": number ", quoted(c.text), " in column ", quoted(names[j]), " is out of range");
      NABLA_CHECK_KIND(ec == std::errc() && end == s.data() + s.size(), ErrorKind::io, path, ":", line_no, ":",
                       c.column, ": non-numeric cell ", quoted(c.text), " in column ", quoted(names[j]));
      NABLA_CHECK_KIND(std::isfinite(v), ErrorKind::io, path, ":", line_no, ":", c.column, ": non-finite value ",
                       quoted(c.text), " in column ", quoted(names[j]));
      // The values are stored as float32: 1e39 would become infinity.
      NABLA_CHECK_KIND(std::fabs(v) <= FLT_MAX, ErrorKind::io, path, ":", line_no, ":", c.column, ": value ",
                       quoted(c.text), " in column ", quoted(names[j]),
                       " is out of float32 range (magnitude at most 3.4e38)");
      if (j != label_col) {
        feats.push_back(static_cast<float>(v));
        continue;
      }
      if (options.classification) {
        NABLA_CHECK_KIND(v >= 0 && v == std::floor(v) && v < 16777216.0, ErrorKind::io, path, ":", line_no, ":",
                         c.column, ": label ", quoted(c.text), " in column ", quoted(names[j]),
                         " is not a class index (an integer in [0, 2^24))");
        NABLA_CHECK_KIND(options.num_classes <= 0 || v < double(options.num_classes), ErrorKind::io, path, ":",
                         line_no, ":", c.column, ": label ", quoted(c.text), " is out of range for ",
                         options.num_classes, " classes");
        max_label = std::max(max_label, static_cast<int64_t>(v));
      }
      labels.push_back(static_cast<float>(v));
    }
  }
  NABLA_CHECK_KIND(!labels.empty(), ErrorKind::io, path, ": no data rows after the header on line ", header_line);

  Dataset ds;
  const auto n = static_cast<int64_t>(labels.size());
  ds.features = tensor(feats, {n, d});
  ds.labels = tensor(labels, {n});
  if (options.classification) ds.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  for (size_t j = 0; j < ncol; ++j)
    if (j != label_col) ds.feature_names.push_back(names[j]);
  return ds;
}

}  // namespace nabla::data
