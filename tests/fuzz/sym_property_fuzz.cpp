// libFuzzer target: the property tests of tests/sym/sym_property_test.cpp on
// inputs the fuzzer chooses. The first 8 bytes seed the values; the rest are
// the generator's choices, one byte each. A property that does not hold
// prints the expression and aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "../sym/sym_property_gen.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nabla::sym;
  using namespace nabla::sym::property;
  if (size > 512) return 0;
  uint64_t seed = 0;
  size_t head = size < 8 ? size : 8;
  for (size_t i = 0; i < head; ++i) seed = seed << 8 | data[i];
  Choices c(data + head, size - head);
  Generator g(c, 4);
  Expr e;
  try {
    e = g.top();
  } catch (const nabla::Error& x) {
    std::fprintf(stderr, "the generator built an ill-typed expression: %s\n", x.what());
    std::abort();
  }
  Choices v(seed);
  Bindings b = g.values(v);
  Outcome o = check_properties(e, g.decls(), b);
  if (!o.failure.empty()) {
    std::fprintf(stderr, "value seed %llu: %s\n", static_cast<unsigned long long>(seed),
                 describe(e, b, o.failure).c_str());
    std::abort();
  }
  return 0;
}
