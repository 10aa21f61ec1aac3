#include "diff_output.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace nabla::cli {

Derivation derive_all(const sym::Expr& f, const std::vector<std::string>& wrt, const sym::Declarations& decls,
                      const sym::DiffOptions& opts) {
  Derivation d;
  const bool blocks = opts.order == 2 && wrt.size() > 1;
  for (const std::string& x : wrt) {
    if (!blocks) {
      d.ds.push_back(sym::differentiate(f, x, decls, opts));
      d.label.push_back(x), d.first.push_back(x), d.who.push_back("d/d" + x + " ");
      continue;
    }
    for (const std::string& y : wrt) {
      sym::DiffOptions o = opts;
      o.then_wrt = y;
      d.ds.push_back(sym::differentiate(f, x, decls, o));
      d.label.push_back(x + "," + y), d.first.push_back(x), d.who.push_back("d²/d" + x + "d" + y + " ");
    }
  }
  return d;
}

sym::Layout layout_named(const std::string& name) {
  return name == "numerator" ? sym::Layout::numerator
         : name == "denominator" ? sym::Layout::denominator
                                 : sym::Layout::automatic;
}

sym::Target target_named(const std::string& name) {
  return name == "cpp" ? sym::Target::cpp : name == "numpy" ? sym::Target::numpy : sym::Target::torch;
}

std::string emit_derivation(sym::Target t, const std::string& name, const sym::Expr& f, const Derivation& d,
                            const sym::Declarations& decls) {
  std::vector<std::pair<std::string, sym::Expr>> outs;
  for (size_t i = 0; i < d.ds.size(); ++i) {
    std::string n = d.label[i];
    std::replace(n.begin(), n.end(), ',', '_');  // d_x_y
    outs.push_back({n, d.ds[i].result});
  }
  return sym::emit_code(t, name, f, outs, decls);
}

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

namespace {
// [{"k1": v1, "k2": v2, ...}, ...] from a list and a function giving each element's members.
template <class List, class F>
std::string json_array(const List& list, F members) {
  std::string o = "[";
  for (size_t i = 0; i < list.size(); ++i) o += (i ? ",{" : "{") + members(list[i]) + "}";
  return o + "]";
}
}  // namespace

std::string derivatives_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds, bool steps,
                             const sym::Bindings* at, const sym::Declarations* decls) {
  using sym::to_text;
  std::string o = "{";
  for (size_t i = 0; i < ds.size(); ++i) {
    const sym::Derivative& d = ds[i];
    sym::NamedForm nf;
    if (decls) nf = sym::name_repeated(d.result, *decls);
    else nf.text = to_text(d.result), nf.latex = sym::to_latex(d.result);
    o += (i ? "," : "") + json_string(wrt[i]) + ":{\"text\":" + json_string(nf.text) +
         ",\"latex\":" + json_string(nf.latex) + ",\"shape\":[" + json_string(d.shape.rows.str()) +
         "," + json_string(d.shape.cols.str()) + "],\"tree\":" + sym::to_json(d.result);
    if (!nf.names.empty()) {
      std::map<const sym::Node*, std::string> inner;  // each definition with the names before it
      o += ",\"where\":" + json_array(nf.names, [&](const std::pair<std::string, sym::Expr>& n) {
        std::string m = "\"name\":" + json_string(n.first) + ",\"text\":" + json_string(to_text(n.second, inner)) +
                        ",\"latex\":" + json_string(sym::to_latex(n.second));
        inner[n.second.get()] = n.first;
        return m;
      });
    }
    if (steps) {
      o += ",\"intermediates\":" + json_array(d.intermediates, [](const auto& u) {
        return "\"name\":" + json_string(u.first) + ",\"text\":" + json_string(to_text(u.second));
      });
      o += ",\"steps\":" + json_array(d.steps, [](const sym::Step& s) {
        return "\"rule\":" + json_string(s.rule) + ",\"text\":" + json_string(s.text);
      });
      o += ",\"simplification\":" + json_array(d.rules, [](const sym::RuleApplication& r) {
        return "\"rule\":" + json_string(r.rule) + ",\"before\":" + json_string(to_text(r.before)) +
               ",\"after\":" + json_string(to_text(r.after));
      });
    }
    if (d.vec_form) {
      o += ",\"vec_form\":true";
      if (auto ix = sym::index_notation(d)) o += ",\"index\":" + json_string(*ix);
    }
    if (at) o += ",\"value\":" + sym::tensor_to_json(sym::derivative_tensor(d, sym::evaluate_derivative(d, *at), *at), true);
    o += "}";
  }
  return o + "}";
}

std::string derivative_values_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                                   const sym::Bindings& b) {
  bool many = ds.size() > 1;
  std::string o = "{\"derivative\": ";
  if (many) o += "{";
  for (size_t i = 0; i < ds.size(); ++i) {
    Tensor v = sym::derivative_tensor(ds[i], sym::evaluate_derivative(ds[i], b), b);
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
