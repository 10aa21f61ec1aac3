// How `nabla diff` writes a derivation as JSON and its check as text, shared
// by the command (diff.cpp) and the web page's API (serve.cpp), so that the
// page shows exactly what the command prints.
#pragma once

#include <string>
#include <vector>

#include "nabla/sym.hpp"

namespace nabla::cli {

// The derivatives `nabla diff` derives: one per variable; with order 2 and
// several variables, every block ∂²f/∂x∂y (labelled "x,y"), the mixed ones
// included. (Used by serve.cpp; diff.cpp derives the same way.)
struct Derivation {
  std::vector<std::string> label;  // "x", or "x,y" for a block
  std::vector<std::string> first;  // the variable a check differentiates by (x of "x,y")
  std::vector<std::string> who;    // "d/dx ", "d²/dxdy ": what the check's lines start with
  std::vector<sym::Derivative> ds;
};
Derivation derive_all(const sym::Expr& f, const std::vector<std::string>& wrt, const sym::Declarations& decls,
                      const sym::DiffOptions& opts);

// --layout's names (auto, numerator, denominator) and --emit's (cpp, numpy, torch).
sym::Layout layout_named(const std::string& name);
sym::Target target_named(const std::string& name);

// What --emit writes: f and each derivative, named d_<label> ("x,y" as x_y).
std::string emit_derivation(sym::Target t, const std::string& name, const sym::Expr& f, const Derivation& d,
                            const sym::Declarations& decls);

// A JSON string literal: quotes, backslashes and control characters escaped.
std::string json_string(const std::string& s);

// The document `nabla diff --format json` prints (without the newline):
// {"<wrt>": {"text", "latex", "shape", "tree"}, …}, one member per variable;
// with `steps`, each member also has "intermediates" [{name, text}], "steps"
// [{rule, text}] and "simplification" [{rule, before, after}]; with `at`, the
// derivative's value there under "value". With `decls`, "text" and "latex"
// name repeated subexpressions once (sym::name_repeated: "… where s1 = …",
// which parses back) and "where" lists them [{name, text, latex}].
std::string derivatives_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                             bool steps = false, const sym::Bindings* at = nullptr,
                             const sym::Declarations* decls = nullptr);

// The value of each derivative at b, as `--at` prints it (without the newline):
// {"derivative": V} for one variable, {"derivative": {"<wrt>": V, …}} for several.
std::string derivative_values_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                                   const sym::Bindings& b);

// The lines `--check` prints for one report; `who` prefixes each ("d/dx " when
// several variables are checked, else "").
std::string check_text(const sym::CheckReport& r, const std::string& who);

}  // namespace nabla::cli
