// nabla diff: symbolic matrix calculus on the command line, a thin layer
// over nabla::sym (parse → differentiate → simplify → print / evaluate / check).
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "commands.hpp"
#include "diff_output.hpp"
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
    std::cout << derivatives_json(a.wrt, ds) << "\n";
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
  if (!a.at.empty()) std::cout << derivative_values_json(a.wrt, ds, b) << "\n";
  if (a.check) {
    bool ok = true;
    for (size_t i = 0; i < ds.size(); ++i) {
      CheckReport r = check(f, a.wrt[i], ds[i], b);
      std::cout << check_text(r, many ? "d/d" + a.wrt[i] + " " : "");
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
