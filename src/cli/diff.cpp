// nabla diff: symbolic matrix calculus on the command line, a thin layer
// over nabla::sym (parse → differentiate → simplify → print / evaluate / check).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "nabla/error.hpp"
#include "nabla/sym.hpp"

namespace nabla::cli {

namespace {

struct DiffArgs {
  std::string expr;
  std::string let;
  std::vector<std::string> wrt;
  std::string layout = "auto";
  int order = 1;
  std::string format = "text";
  bool steps = false;
  std::string at;
  bool check = false;
  uint64_t seed = 0;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NABLA_CHECK_KIND(in.good(), ErrorKind::io, "cannot read '", path, "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
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

void run_diff(const DiffArgs& a) {
  using namespace nabla::sym;
  Declarations decls = parse_declarations(a.let);
  Expr f = parse(a.expr, decls);
  NABLA_CHECK(!a.wrt.empty(), "--wrt is required (the variable to differentiate by)");
  DiffOptions opts;
  opts.layout = a.layout == "numerator" ? Layout::numerator
                : a.layout == "denominator" ? Layout::denominator
                                            : Layout::automatic;
  opts.order = a.order;
  opts.steps = a.steps;

  std::vector<Derivative> ds;
  for (auto& w : a.wrt) ds.push_back(differentiate(f, w, decls, opts));
  bool many = ds.size() > 1;

  // The symbolic answer.
  if (a.format == "json") {
    std::cout << "{";
    for (size_t i = 0; i < ds.size(); ++i) {
      const Derivative& d = ds[i];
      std::cout << (i ? "," : "") << json_string(a.wrt[i]) << ":{\"text\":" << json_string(to_text(d.result))
                << ",\"latex\":" << json_string(to_latex(d.result)) << ",\"shape\":[" << json_string(d.shape.rows.str())
                << "," << json_string(d.shape.cols.str()) << "],\"tree\":" << to_json(d.result) << "}";
    }
    std::cout << "}\n";
  } else {
    for (size_t i = 0; i < ds.size(); ++i) {
      const Derivative& d = ds[i];
      if (a.steps) {
        std::cout << "f = " << to_text(f) << "    (" << f->shape.str() << ")\n";
        std::cout << "d/d" << a.wrt[i] << ":\n" << format_steps(d);
        if (a.format == "latex") std::cout << "latex: " << to_latex(d.result) << "\n";
        continue;
      }
      std::string s = a.format == "latex" ? to_latex(d.result) : to_text(d.result);
      if (many) std::cout << a.wrt[i] << ": ";
      std::cout << s << "\n";
    }
  }

  if (a.at.empty() && !a.check) return;
  Bindings b;
  if (!a.at.empty()) b = read_values(read_file(a.at), decls);
  b = random_values(decls, a.seed, b);
  if (!a.at.empty()) {
    std::cout << "{\"derivative\": ";
    if (many) std::cout << "{";
    for (size_t i = 0; i < ds.size(); ++i) {
      Tensor v = evaluate_derivative(ds[i], b);
      if (many) std::cout << (i ? ", " : "") << json_string(a.wrt[i]) << ": ";
      std::cout << tensor_to_json(v, true);
    }
    if (many) std::cout << "}";
    std::cout << "}\n";
  }
  if (a.check) {
    bool ok = true;
    for (size_t i = 0; i < ds.size(); ++i) {
      CheckReport r = check(f, a.wrt[i], ds[i], b);
      char line[256];
      std::string who = many ? "d/d" + a.wrt[i] + " " : "";
      if (r.autodiff_used) {
        std::snprintf(line, sizeof line, "%scheck: symbolic vs autodiff: worst relative error %.3g\n", who.c_str(),
                      r.autodiff_error);
        std::cout << line;
      } else {
        std::cout << who << "check: " << r.note << "\n";
      }
      std::snprintf(line, sizeof line,
                    "%scheck: symbolic vs central finite differences (f64): worst relative error %.3g (tolerance %.0e)\n",
                    who.c_str(), r.fd_error, r.tolerance);
      std::cout << line;
      std::cout << who << "check: " << (r.ok ? "ok" : "MISMATCH") << "\n";
      ok = ok && r.ok;
    }
    if (!ok) {
      std::cout.flush();
      throw Exit{1};
    }
  }
}

}  // namespace

void register_diff(CLI::App& app) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand(
      "diff", "Derive a matrix derivative in closed form (gradient, Jacobian, Hessian), simplify, print, check");
  sub->add_option("expr", args->expr, "The expression, e.g. \"x'*A*x\"")->required();
  sub->add_option("--let", args->let, "Declarations, e.g. \"x:vector(n) A:matrix(n,n) b:scalar\"")->required();
  sub->add_option("--wrt", args->wrt, "Variable to differentiate by (repeatable)")->required();
  sub->add_option("--layout", args->layout,
                  "auto (gradient shaped like the variable, Jacobian m×n), numerator, or denominator")
      ->check(CLI::IsMember({"auto", "numerator", "denominator"}));
  sub->add_option("--order", args->order, "1, or 2 for the Hessian of a scalar")->check(CLI::Range(1, 2));
  sub->add_option("--format", args->format, "text, latex or json")->check(CLI::IsMember({"text", "latex", "json"}));
  sub->add_flag("--steps", args->steps, "Print the derivation: intermediate variables, one rule per step");
  sub->add_option("--at", args->at, "values.json: evaluate the derivative there, print {\"derivative\": …}");
  sub->add_flag("--check", args->check,
                "Compare with autodiff and central finite differences in f64; exit 1 on disagreement");
  sub->add_option("--seed", args->seed, "Seed for the values --check draws when --at does not give them");
  sub->callback([args] { run_diff(*args); });
}

}  // namespace nabla::cli
