// Shared between the files of src/sym; not part of the public API.
#pragma once

#include <map>
#include <string>

#include "nabla/sym.hpp"

namespace nabla::sym {

std::string format_number(double v);  // shortest text that parses back to v
std::string to_latex(const Expr& e, const std::map<const Node*, std::string>& names);

// The functions (functions.cpp); the element-wise ones come from the op
// registry, nabla/elementwise.def.
bool lookup_fn(const std::string& name, Fn& f);          // "trace" → Fn::tr; false if unknown
double fold_elementwise(Fn f, double x);                 // f(x) on a number
Expr elementwise_derivative(Fn f, const Expr& a);        // f'(a), shaped like a: the registry's df
std::string elementwise_latex(Fn f, const std::string& arg, const std::string& parenthesized);
Tensor apply_elementwise(Fn f, const Tensor& a);         // the numeric op

}  // namespace nabla::sym
