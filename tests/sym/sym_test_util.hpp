// Helpers for the symbolic tests: derive, compare the printed form, and
// check the derivative numerically against autodiff and finite differences.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "nabla/sym.hpp"

namespace nabla::sym::testing {

struct Case {
  std::string expr, let, wrt;
  std::string expected;
  Layout layout = Layout::automatic;
  int order = 1;
};

// Derives c, expects the exact text, and checks the value at seeded random
// values (against autodiff where possible and central differences).
inline void expect_derivative(const Case& c, uint64_t seed = 1) {
  SCOPED_TRACE("d/d" + c.wrt + " " + c.expr + "  [" + c.let + "]");
  Declarations d = parse_declarations(c.let);
  Expr f = parse(c.expr, d);
  DiffOptions o;
  o.layout = c.layout;
  o.order = c.order;
  Derivative r = differentiate(f, c.wrt, d, o);
  EXPECT_EQ(to_text(r.result), c.expected);
  // The printed answer parses back to the same expression.
  EXPECT_EQ(parse(to_text(r.result), d), r.result) << to_text(r.result);
  for (uint64_t s = seed; s < seed + 2; ++s) {
    Bindings b = random_values(d, s);
    CheckReport rep = check(f, c.wrt, r, b);
    EXPECT_TRUE(rep.ok) << "autodiff error " << rep.autodiff_error << ", fd error " << rep.fd_error << " "
                        << rep.note;
    EXPECT_LE(rep.fd_error, rep.tolerance);
  }
}

}  // namespace nabla::sym::testing
