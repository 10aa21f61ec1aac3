// nabla diff: symbolic matrix calculus on the command line, a thin layer
// over nabla::sym (parse → differentiate → simplify → print / evaluate / check).
#include <algorithm>
#include <cctype>
#include <cstdlib>
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
  std::string emit;
  std::string emit_name = "derivatives";
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  NABLA_CHECK_KIND(in.good(), ErrorKind::io, "cannot read '", path, "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// A parse or shape error in the expression ("col K: …"): the message, then the
// expression with a caret under column K, on stderr; exit code 2.
[[noreturn]] void expression_error(const Error& e, const std::string& expr) {
  std::string msg = e.what();
  int col = msg.rfind("col ", 0) == 0 ? std::atoi(msg.c_str() + 4) : 0;
  std::string shown = expr;
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  std::cerr << "nabla: error: " << msg << "\n";
  if (col >= 1 && size_t(col) <= shown.size() + 1) {
    size_t cells = 0;  // columns count bytes; a UTF-8 continuation byte takes no cell
    for (size_t i = 0; i + 1 < size_t(col); ++i)
      if ((static_cast<unsigned char>(shown[i]) & 0xC0) != 0x80) ++cells;
    std::cerr << "  " << shown << "\n  " << std::string(cells, ' ') << "^\n";
  }
  throw Exit{2};
}

// Every variable f reads must have a value in the --at file: a missing one is
// an error naming it, never a random value in its place.
void require_values(const sym::Expr& f, const sym::Declarations& decls, const sym::Bindings& b,
                    const std::string& path) {
  for (const std::string& name : decls.order)
    NABLA_CHECK_KIND(!f->depends_on(name) || b.values.count(name), ErrorKind::value, "--at ", path,
                     ": no value for '", name, "' (declared ", name, ": ", decls.vars.at(name).str(),
                     "), which the expression reads");
}

// "d vec(f)/d vec(X)'": what a derivative in vec form is, in the layout asked.
std::string vec_form_lhs(const sym::Derivative& d, bool latex) {
  const bool denom = d.layout == sym::Layout::denominator;
  const std::string of = d.kind == sym::DerivKind::hessian ? (latex ? "\\nabla f" : "grad(f)") : "f";
  if (latex) {
    auto v = [](const std::string& s) { return "\\operatorname{vec}(" + s + ")"; };
    return denom ? "\\frac{\\partial " + v(of) + "^{\\top}}{\\partial " + v(d.by) + "}"
                 : "\\frac{\\partial " + v(of) + "}{\\partial " + v(d.by) + "^{\\top}}";
  }
  return denom ? "d vec(" + of + ")'/d vec(" + d.by + ")" : "d vec(" + of + ")/d vec(" + d.by + ")'";
}

void run_diff(const DiffArgs& a) {
  using namespace nabla::sym;
  Declarations decls = parse_declarations(a.let);
  Expr f;
  try {
    f = parse(a.expr, decls);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::parse && e.kind() != ErrorKind::shape) throw;
    expression_error(e, a.expr);
  }
  NABLA_CHECK(!a.wrt.empty(), "--wrt is required (the variable to differentiate by)");
  // A variable named twice is differentiated by once (order 2 would square the blocks).
  std::vector<std::string> wrt;
  for (const std::string& w : a.wrt)
    if (std::find(wrt.begin(), wrt.end(), w) == wrt.end()) wrt.push_back(w);
  DiffOptions opts;
  opts.layout = layout_named(a.layout);
  opts.order = a.order;
  opts.steps = a.steps;

  // One derivative per --wrt; with --order 2 and several, every block ∂²f/∂x∂y.
  const Derivation dv = derive_all(f, wrt, decls, opts);
  const std::vector<Derivative>& ds = dv.ds;
  const std::vector<std::string>& label = dv.label;
  const bool blocks = a.order == 2 && wrt.size() > 1;
  const bool many = ds.size() > 1, at = !a.at.empty();

  if (!a.emit.empty()) {  // the code instead of the answer
    std::cout << emit_derivation(target_named(a.emit), a.emit_name, f, dv, decls);
    return;
  }

  Bindings b;
  if (at) {
    b = read_values(read_file(a.at), decls);
    require_values(f, decls, b, a.at);
  }
  if (at || a.check) b = random_values(decls, a.seed, b);  // --check alone: random values (--seed)

  // Everything is computed before anything is printed, so an error leaves no
  // partial output. With --at or --format json, stdout is one JSON document
  // and the check's lines go to stderr.
  std::string out;
  if (a.format == "json") {
    out = derivatives_json(label, ds, a.steps, at ? &b : nullptr, &decls) + "\n";
  } else if (at) {
    out = derivative_values_json(label, ds, b) + "\n";
  } else {
    std::ostringstream os;
    for (size_t i = 0; i < ds.size(); ++i) {
      const Derivative& d = ds[i];
      if (a.steps) {
        os << "f = " << to_text(f) << "    (" << f->shape.str() << ")\n";
        os << (blocks ? dv.who[i].substr(0, dv.who[i].size() - 1) : "d/d" + label[i]) << ":\n" << format_steps(d, "f", &decls);
        if (a.format == "latex") os << "latex: " << name_repeated(d.result, decls).latex << "\n";
        continue;
      }
      // repeated subexpressions named once: "s1*(1 - s1)*x where s1 = …"
      const NamedForm nf = name_repeated(d.result, decls);
      if (many) os << label[i] << ": ";
      if (d.vec_form) os << vec_form_lhs(d, a.format == "latex") << " = ";
      os << (a.format == "latex" ? nf.latex : nf.text) << "\n";
      if (d.vec_form)
        if (auto ix = index_notation(d)) os << (many ? label[i] + ": " : "") << *ix << "\n";
    }
    out = os.str();
  }
  std::string notes;
  bool ok = true;
  if (a.check)
    for (size_t i = 0; i < ds.size(); ++i) {
      CheckReport r = check(f, dv.first[i], ds[i], b);
      notes += check_text(r, many ? dv.who[i] : "");
      ok = ok && r.ok;
    }
  std::cout << out;
  (at || a.format == "json" ? std::cerr : std::cout) << notes;
  if (!ok) {
    std::cout.flush();
    throw Exit{1};
  }
}

}  // namespace

void register_diff(CLI::App& app) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = app.add_subcommand(
      "diff", "Derive a matrix derivative in closed form (gradient, Jacobian, Hessian), simplify, print, check");
  // An expression may begin with '-' ("-y'*log(softmax(z))"), which CLI11
  // would take for an option: unknown arguments are kept and sorted out below.
  sub->add_option("expr", args->expr, "The expression, e.g. \"x'*A*x\"; one that begins with '-' works as written");
  sub->allow_extras();
  sub->add_option("--let", args->let, "Declarations, e.g. \"x:vector(n) A:matrix(n,n) b:scalar\"")->required();
  sub->add_option("--wrt", args->wrt, "Variable to differentiate by (repeatable: --wrt x --wrt y)")
      ->required()
      ->expected(1)
      ->allow_extra_args(false)  // one name each: an expression after it is the expression
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--layout", args->layout,
                  "auto (gradient shaped like the variable, Jacobian m×n), numerator, or denominator")
      ->check(CLI::IsMember({"auto", "numerator", "denominator"}));
  sub->add_option("--order", args->order, "1, or 2 for the Hessian of a scalar")->check(CLI::Range(1, 2));
  sub->add_option("--format", args->format, "text, latex or json")->check(CLI::IsMember({"text", "latex", "json"}));
  sub->add_flag("--steps", args->steps, "Print the derivation: intermediate variables, one rule per step");
  sub->add_option("--at", args->at,
                  "values.json: evaluate the derivative there (every variable the expression reads needs a "
                  "value); stdout is then one JSON document, {\"derivative\": …}");
  sub->add_flag("--check", args->check,
                "Compare with autodiff and central finite differences in f64; exit 1 on disagreement");
  sub->add_option("--emit", args->emit,
                  "cpp, numpy or torch: print a function that computes f and the derivatives (shared "
                  "subexpressions once) instead of the answer")
      ->check(CLI::IsMember({"cpp", "numpy", "torch"}));
  sub->add_option("--emit-name", args->emit_name, "The generated function's name (default: derivatives)")
      ->check([](const std::string& s) {
        bool ok = !s.empty() && !std::isdigit(static_cast<unsigned char>(s[0]));
        for (char c : s) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
        return ok ? std::string() : "an identifier (letters, digits, '_') is expected, got '" + s + "'";
      });
  sub->add_option("--seed", args->seed, "Seed for the values --check draws when --at does not give them");
  sub->callback([args, sub] {
    // What CLI11 did not take: an expression that begins with '-', or a mistake.
    // An unknown long option is an error, and so is a second expression.
    for (const std::string& r : sub->remaining()) {
      if (r == "--") continue;
      NABLA_CHECK(!(r.size() > 2 && r[0] == '-' && r[1] == '-' && std::isalpha(static_cast<unsigned char>(r[2]))),
                  "diff: unknown option '", r, "' (see nabla diff --help)");
      NABLA_CHECK(args->expr.empty(), "diff: one expression expected, got '", args->expr, "' and '", r, "'");
      args->expr = r;
    }
    NABLA_CHECK(!args->expr.empty(), "diff: the expression is required, as in nabla diff \"x'*A*x\" --let ... --wrt x");
    run_diff(*args);
  });
}

}  // namespace nabla::cli
