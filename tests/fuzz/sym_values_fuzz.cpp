// libFuzzer target: the JSON values reader of `nabla diff --at` must turn
// any input into bindings or a nabla::Error, never a crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nabla::sym;
  if (size > 4096) return 0;
  static const Declarations decls = parse_declarations("x:vector(n) A:matrix(m,n) b:scalar r:rowvector(3)");
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Bindings b = read_values(text, decls);
    for (auto& [name, t] : b.values) (void)tensor_to_json(t, true);
  } catch (const nabla::Error&) {
  }
  return 0;
}
