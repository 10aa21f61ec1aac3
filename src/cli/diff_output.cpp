#include "diff_output.hpp"

#include <cstdio>

namespace nabla::cli {

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
      continue;
    }
    o += c;
  }
  return o + "\"";
}

std::string derivatives_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds) {
  std::string o = "{";
  for (size_t i = 0; i < ds.size(); ++i) {
    const sym::Derivative& d = ds[i];
    o += (i ? "," : "") + json_string(wrt[i]) + ":{\"text\":" + json_string(sym::to_text(d.result)) +
         ",\"latex\":" + json_string(sym::to_latex(d.result)) + ",\"shape\":[" + json_string(d.shape.rows.str()) +
         "," + json_string(d.shape.cols.str()) + "],\"tree\":" + sym::to_json(d.result) + "}";
  }
  return o + "}";
}

std::string derivative_values_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                                   const sym::Bindings& b) {
  bool many = ds.size() > 1;
  std::string o = "{\"derivative\": ";
  if (many) o += "{";
  for (size_t i = 0; i < ds.size(); ++i) {
    Tensor v = sym::evaluate_derivative(ds[i], b);
    if (many) o += (i ? ", " : "") + json_string(wrt[i]) + ": ";
    o += sym::tensor_to_json(v, true);
  }
  if (many) o += "}";
  return o + "}";
}

std::string check_text(const sym::CheckReport& r, const std::string& who) {
  std::string o;
  char line[256];
  if (r.autodiff_used) {
    std::snprintf(line, sizeof line, "%scheck: symbolic vs autodiff: worst relative error %.3g\n", who.c_str(),
                  r.autodiff_error);
    o += line;
  } else {
    o += who + "check: " + r.note + "\n";
  }
  std::snprintf(line, sizeof line,
                "%scheck: symbolic vs central finite differences (f64): worst relative error %.3g (tolerance %.0e)\n",
                who.c_str(), r.fd_error, r.tolerance);
  o += line;
  o += who + "check: " + (r.ok ? "ok" : "MISMATCH") + "\n";
  return o;
}

}  // namespace nabla::cli
