// Property tests of the symbolic engine on seeded random expressions (the
// generator and the properties: sym_property_gen.hpp): simplify() keeps the
// value, the symbolic derivative equals autodiff's (or central differences),
// the printed text parses back. A failure prints the seed and the expression;
// PropertyCase(seed) below reruns one seed.
#include <gtest/gtest.h>

#include <cstdio>

#include "sym/sym_property_gen.hpp"

using namespace nabla::sym;
using namespace nabla::sym::property;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kCases = 400;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr uint64_t kCases = 400;
#else
constexpr uint64_t kCases = 2000;
#endif
#else
constexpr uint64_t kCases = 2000;
#endif

struct Tally {
  int checked = 0, skipped = 0, derivatives = 0;
};

// One case: the expression and the values both follow from the seed.
void run_seed(uint64_t seed, int depth, bool linalg, Tally& t) {
  Choices c(seed);
  Generator g(c, depth);
  g.linalg = linalg;
  Expr e;
  try {
    e = g.top();
  } catch (const nabla::Error& x) {
    ADD_FAILURE() << "seed " << seed << ": the generator built an ill-typed expression: " << x.what();
    return;
  }
  Bindings b = g.values(c);
  Outcome o = check_properties(e, g.decls(), b);
  if (o.skipped) {
    ++t.skipped;
    return;
  }
  ++t.checked;
  t.derivatives += o.derivatives;
  EXPECT_TRUE(o.failure.empty()) << "seed " << seed << " (depth " << depth << "): " << describe(e, b, o.failure);
}

}  // namespace

TEST(SymProperty, RandomExpressionsKeepTheirValueDerivativeAndText) {
  Tally t;
  for (uint64_t seed = 0; seed < kCases; ++seed) run_seed(seed, 3 + int(seed % 4), true, t);
  // The properties were checked on most cases, not skipped away.
  EXPECT_GE(t.checked, int(kCases * 9 / 10)) << t.skipped << " skipped";
  EXPECT_GE(t.derivatives, int(kCases)) << "derivatives compared";
  std::printf("%d cases checked, %d skipped, %d derivatives compared\n", t.checked, t.skipped, t.derivatives);
}

TEST(SymProperty, RandomExpressionsWithoutInverses) {
  // Without inv/det/logdet every derivative is compared with autodiff.
  Tally t;
  for (uint64_t seed = 0; seed < kCases / 3; ++seed) run_seed(1000003 + seed, 4, false, t);
  EXPECT_GE(t.checked, int(kCases / 3 * 9 / 10)) << t.skipped << " skipped";
}

// The generator's draws are a function of the seed alone.
TEST(SymProperty, GeneratorIsDeterministic) {
  for (uint64_t seed : {1u, 7u, 42u}) {
    Choices a(seed), b(seed);
    Generator ga(a, 3), gb(b, 3);
    EXPECT_EQ(ga.top(), gb.top());
  }
  const uint8_t bytes[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  Choices a(bytes, sizeof bytes), b(bytes, sizeof bytes);
  EXPECT_EQ(Generator(a, 4).top(), Generator(b, 4).top());
}

