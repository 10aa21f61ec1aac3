// Shared between the files of src/sym; not part of the public API.
#pragma once

#include <map>
#include <string>

#include "nabla/sym.hpp"

namespace nabla::sym {

std::string format_number(double v);  // shortest text that parses back to v
std::string to_latex(const Expr& e, const std::map<const Node*, std::string>& names);

}  // namespace nabla::sym
