// CSV files: numeric features, labels of any kind (or regression targets). Each cell is parsed with
// std::from_chars; every error carries file:line:column (1-based, column in
// bytes from the start of the line, as compilers count).
#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_map>
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

// A cell as a number: from_chars with an optional leading '+'.
bool parse_number(std::string_view s, double& v, bool& out_of_range) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  out_of_range = ec == std::errc::result_out_of_range;
  return ec == std::errc() && end == s.data() + s.size();
}

// A number's class name: an integer as an integer ("1.0" is "1"), any other
// number in its shortest form.
std::string number_name(double v) {
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    return std::to_string(static_cast<long long>(v));
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

struct LabelCell {
  std::string text;
  size_t line, column;
};

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
  NABLA_CHECK_KIND(next_line(line), ErrorKind::io, path, options.header ? ": empty file, expected a header row"
                                                                         : ": empty file, no data rows");
  const size_t header_line = options.header ? line_no : 0;
  std::vector<std::string> names;
  std::unordered_set<std::string_view> seen;  // views into the file's text or `header_scratch`
  std::string header_scratch;
  const std::vector<Cell> first = split(path, line_no, line, options.delimiter, header_scratch);
  if (options.header) {
    for (const Cell& c : first) {
      NABLA_CHECK_KIND(!c.text.empty(), ErrorKind::io, path, ":", line_no, ":", c.column,
                       ": empty column name in the header");
      NABLA_CHECK_KIND(seen.insert(c.text).second, ErrorKind::io, path, ":", line_no, ":", c.column,
                       ": duplicate column ", quoted(c.text), " in the header");
      names.emplace_back(c.text);
    }
  } else {
    for (size_t j = 0; j < first.size(); ++j) names.push_back(std::to_string(j + 1));
  }
  const size_t ncol = names.size();
  // The label column: by name, else by a 1-based number.
  size_t label_col = ncol;
  for (size_t j = 0; j < ncol; ++j)
    if (names[j] == options.label_column) label_col = j;
  size_t number = 0;
  const std::string& lc = options.label_column;
  const bool by_number = label_col == ncol && !lc.empty() &&
                         std::from_chars(lc.data(), lc.data() + lc.size(), number).ptr == lc.data() + lc.size();
  if (by_number && number >= 1 && number <= ncol) label_col = number - 1;
  const bool has_label = label_col < ncol;
  if (!has_label && !options.label_optional) {
    if (!options.header)
      NABLA_CHECK_KIND(false, ErrorKind::io, path, ": no label column ", quoted(lc), " in a file without a header (",
                       ncol, " columns); name the label column by its number, 1 to ", ncol);
    std::string list;
    for (size_t j = 0; j < ncol && j < 20; ++j) list += (j ? ", " : "") + names[j];
    if (ncol > 20) list += ", ...";
    NABLA_CHECK_KIND(false, ErrorKind::io, path, ":", header_line, ": no label column ", quoted(lc),
                     " in the header (columns: ", list, ")");
  }
  NABLA_CHECK_KIND(ncol >= (has_label ? 2u : 1u), ErrorKind::io, path, ":", header_line,
                   ": the header has only the label column; no feature columns");
  const int64_t d = static_cast<int64_t>(ncol) - (has_label ? 1 : 0);

  std::vector<float> feats;
  std::vector<LabelCell> label_cells;
  int64_t rows = 0;
  bool first_row = !options.header;
  while (first_row || next_line(line)) {
    first_row = false;
    const std::vector<Cell> cells = split(path, line_no, line, options.delimiter, scratch);
    NABLA_CHECK_KIND(cells.size() == ncol, ErrorKind::io, path, ":", line_no, ": ragged row: ", cells.size(),
                     " cells where ", options.header ? "the header has " : "the first row has ", ncol);
    ++rows;
    for (size_t j = 0; j < ncol; ++j) {
      const Cell& c = cells[j];
      NABLA_CHECK_KIND(!c.text.empty(), ErrorKind::io, path, ":", line_no, ":", c.column, ": empty cell in column ",
                       quoted(names[j]));
      if (j == label_col) {
        label_cells.push_back({std::string(c.text), line_no, c.column});
        continue;
      }
      double v = 0;
      bool range = false;
      const bool ok = parse_number(c.text, v, range);
      NABLA_CHECK_KIND(!range, ErrorKind::io, path, ":", line_no, ":", c.column, ": number ", quoted(c.text),
                       " in column ", quoted(names[j]), " is out of range");
      NABLA_CHECK_KIND(ok, ErrorKind::io, path, ":", line_no, ":", c.column, ": non-numeric cell ", quoted(c.text),
                       " in column ", quoted(names[j]));
      NABLA_CHECK_KIND(std::isfinite(v), ErrorKind::io, path, ":", line_no, ":", c.column, ": non-finite value ",
                       quoted(c.text), " in column ", quoted(names[j]));
      // The values are stored as float32: 1e39 would become infinity.
      NABLA_CHECK_KIND(std::fabs(v) <= FLT_MAX, ErrorKind::io, path, ":", line_no, ":", c.column, ": value ",
                       quoted(c.text), " in column ", quoted(names[j]),
                       " is out of float32 range (magnitude at most 3.4e38)");
      feats.push_back(static_cast<float>(v));
    }
  }
  NABLA_CHECK_KIND(rows > 0, ErrorKind::io, path, ": no data rows after the header on line ", header_line);

  Dataset ds;
  ds.features = tensor(feats, {rows, d});
  for (size_t j = 0; j < ncol; ++j)
    if (j != label_col) ds.feature_names.push_back(names[j]);
  if (!has_label) return ds;

  // The labels as numbers, where they are.
  std::vector<double> values(label_cells.size());
  std::vector<char> numeric(label_cells.size());
  bool all_numeric = true, all_integer = true;
  for (size_t i = 0; i < label_cells.size(); ++i) {
    bool range = false;
    numeric[i] = parse_number(label_cells[i].text, values[i], range) && std::isfinite(values[i]) &&
                 std::fabs(values[i]) <= FLT_MAX;
    all_numeric = all_numeric && numeric[i];
    all_integer = all_integer && numeric[i] && values[i] == std::floor(values[i]);
  }
  const std::string& label_name = names[label_col];
  // Automatic: numbers that are not all integers are a quantity; so are
  // integers with more distinct values than half the rows (and over 20):
  // a count or a score, not classes.
  bool many_integers = false;
  if (options.automatic_task && all_numeric && all_integer) {
    std::vector<double> distinct = values;
    std::sort(distinct.begin(), distinct.end());
    const auto k = static_cast<size_t>(std::unique(distinct.begin(), distinct.end()) - distinct.begin());
    many_integers = k > 20 && 2 * k > values.size();
  }
  const bool classify = options.automatic_task ? !(all_numeric && (!all_integer || many_integers))
                                               : options.classification;
  std::vector<float> labels(label_cells.size());
  if (!classify) {
    for (size_t i = 0; i < label_cells.size(); ++i) {
      const LabelCell& c = label_cells[i];
      NABLA_CHECK_KIND(numeric[i], ErrorKind::io, path, ":", c.line, ":", c.column, ": target ", quoted(c.text),
                       " in column ", quoted(label_name), " is not a finite float32 number (a regression target)");
      labels[i] = static_cast<float>(values[i]);
    }
    ds.labels = tensor(labels, {rows});
    return ds;
  }
  if (options.num_classes > 0) {
    // Class indices, as given.
    for (size_t i = 0; i < label_cells.size(); ++i) {
      const LabelCell& c = label_cells[i];
      const double v = values[i];
      NABLA_CHECK_KIND(numeric[i] && v >= 0 && v == std::floor(v) && v < 16777216.0, ErrorKind::io, path, ":",
                       c.line, ":", c.column, ": label ", quoted(c.text), " in column ", quoted(label_name),
                       " is not a class index (an integer in [0, 2^24))");
      NABLA_CHECK_KIND(v < double(options.num_classes), ErrorKind::io, path, ":", c.line, ":", c.column, ": label ",
                       quoted(c.text), " is out of range for ", options.num_classes, " classes");
      labels[i] = static_cast<float>(v);
    }
    ds.labels = tensor(labels, {rows});
    ds.num_classes = options.num_classes;
    return ds;
  }
  // Each label's class name: a number's canonical text, or the text itself.
  std::vector<std::string> label_names(label_cells.size());
  for (size_t i = 0; i < label_cells.size(); ++i)
    label_names[i] = numeric[i] ? number_name(values[i]) : label_cells[i].text;
  std::vector<std::string> classes = options.class_names;
  if (classes.empty()) {
    // Distinct names: numbers first, by value; then text, in byte order.
    std::vector<size_t> order(label_cells.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      if (numeric[x] != numeric[y]) return numeric[x] > numeric[y];
      if (numeric[x]) return values[x] < values[y];
      return label_names[x] < label_names[y];
    });
    for (size_t i : order)
      if (classes.empty() || classes.back() != label_names[i]) classes.push_back(label_names[i]);
    NABLA_CHECK_KIND(classes.size() <= 16777216u, ErrorKind::io, path, ": column ", quoted(label_name), " has ",
                     classes.size(), " distinct labels, more classes than 2^24");
  }
  std::unordered_map<std::string_view, size_t> index;
  for (size_t k = 0; k < classes.size(); ++k) index.emplace(classes[k], k);
  for (size_t i = 0; i < label_cells.size(); ++i) {
    const auto it = index.find(label_names[i]);
    if (it == index.end()) {
      std::string list;
      for (size_t k = 0; k < classes.size() && k < 20; ++k) list += (k ? ", " : "") + classes[k];
      if (classes.size() > 20) list += ", ...";
      const LabelCell& c = label_cells[i];
      NABLA_CHECK_KIND(false, ErrorKind::io, path, ":", c.line, ":", c.column, ": label ", quoted(c.text),
                       " in column ", quoted(label_name), " is not one of the model's ", classes.size(),
                       " classes (", list, ")");
    }
    labels[i] = static_cast<float>(it->second);
  }
  ds.labels = tensor(labels, {rows});
  ds.num_classes = static_cast<int64_t>(classes.size());
  ds.class_names = std::move(classes);
  return ds;
}

}  // namespace nabla::data
