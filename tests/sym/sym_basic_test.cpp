#include <gtest/gtest.h>

#include "nabla/sym.hpp"

using namespace nabla::sym;

TEST(SymBasic, QuadraticForm) {
  auto d = parse_declarations("x:vector(n) A:matrix(n,n)");
  Expr f = parse("x'*A*x", d);
  EXPECT_EQ(to_text(differentiate(f, "x", d).result), "(A + A')*x");
}
