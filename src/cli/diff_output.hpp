// How `nabla diff` writes a derivation as JSON and its check as text, shared
// by the command (diff.cpp) and the web page's API (serve.cpp), so that the
// page shows exactly what the command prints.
#pragma once

#include <string>
#include <vector>

#include "nabla/sym.hpp"

namespace nabla::cli {

// A JSON string literal: quotes, backslashes and control characters escaped.
std::string json_string(const std::string& s);

// The document `nabla diff --format json` prints (without the newline):
// {"<wrt>": {"text", "latex", "shape", "tree"}, …}, one member per variable;
// with `steps`, each member also has "intermediates" [{name, text}], "steps"
// [{rule, text}] and "simplification" [{rule, before, after}]; with `at`, the
// derivative's value there under "value".
std::string derivatives_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                             bool steps = false, const sym::Bindings* at = nullptr);

// The value of each derivative at b, as `--at` prints it (without the newline):
// {"derivative": V} for one variable, {"derivative": {"<wrt>": V, …}} for several.
std::string derivative_values_json(const std::vector<std::string>& wrt, const std::vector<sym::Derivative>& ds,
                                   const sym::Bindings& b);

// The lines `--check` prints for one report; `who` prefixes each ("d/dx " when
// several variables are checked, else "").
std::string check_text(const sym::CheckReport& r, const std::string& who);

}  // namespace nabla::cli
