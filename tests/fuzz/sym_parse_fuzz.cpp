// libFuzzer target: the expression parser, printers, simplifier and
// differentiation must never crash, leak or hang on any input; malformed
// input is a nabla::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nabla/error.hpp"
#include "nabla/sym.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nabla::sym;
  if (size > 2048) return 0;
  static const Declarations decls =
      parse_declarations("x:vector(n) y:vector(n) A:matrix(n,n) B:matrix(m,n) b:vector(m) s:scalar r:rowvector(n)");
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Expr e = parse(text, decls);
    std::string t = to_text(e);
    (void)to_latex(e);
    (void)to_json(e);
    Expr back = parse(t, decls);  // printed text must parse again
    (void)simplify(back);
    if (e->shape.is_scalar() || e->shape.is_vector()) {
      for (const char* w : {"x", "A", "s"}) {
        try {
          Derivative d = differentiate(e, w, decls);
          (void)to_text(d.result);
        } catch (const nabla::Error&) {
        }
      }
    }
  } catch (const nabla::Error&) {
  }
  return 0;
}
