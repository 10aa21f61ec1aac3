// Shared between the files of src/sym; not part of the public API.
#pragma once

#include <cstdint>
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

// Note [Work budget]: a derivation may grow without bound in the size of its
// answer (sum(A*A*…*A*x) wrt A has k terms of k factors each, and simplifying
// them costs more again), so differentiate() counts its work on this thread,
// in operands looked at: by each node built (hashing and comparing it), each
// simplification rule tried on a node, and each factor a rewrite copies. Past
// a budget it stops with a one-line error, well before seconds and memory run
// out. Budgets nest: the innermost one counts.
class WorkBudget {
 public:
  explicit WorkBudget(uint64_t nodes, const char* what);
  ~WorkBudget();
  WorkBudget(const WorkBudget&) = delete;
  WorkBudget& operator=(const WorkBudget&) = delete;
  static void charge(uint64_t units);  // throws past the budget

 private:
  uint64_t total_, left_;
  const char* what_;
  WorkBudget* outer_;
};

}  // namespace nabla::sym
