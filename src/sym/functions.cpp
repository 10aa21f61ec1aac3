// The functions of expressions, and what the symbolic engine takes from the
// op registry for the element-wise ones: names, folding of constants, the
// derivative, the LaTeX form and the numeric evaluation.
//
// Note [One rule, two engines]: an element-wise function's derivative is the
// df(x, y) of its line in nabla/elementwise.def, the very text the numeric
// engine runs. Here it is instantiated for Ew, a thin view of an expression in
// which * and / are element-wise (the Hadamard product), so that
// `1.0 - y * y` (tanh) becomes 1 − tanh(a) ⊙ tanh(a) and `sigmoid(x)`
// (softplus) becomes the function sigmoid(a). Both engines therefore agree on
// every derivative by construction, and the tests still compare them.
#include <cmath>

#include "../ops/elementwise_rules.hpp"
#include "nabla/error.hpp"
#include "nabla/sym.hpp"
#include "sym/algebra.hpp"
#include "sym/internal.hpp"

namespace nabla::sym {


const char* fn_name(Fn f) {
  switch (f) {
    case Fn::sum: return "sum";
    case Fn::tr: return "tr";
    case Fn::det: return "det";
    case Fn::logdet: return "logdet";
    case Fn::inv: return "inv";
    case Fn::softmax: return "softmax";
    case Fn::norm2: return "norm2";
    case Fn::diag: return "diag";
    case Fn::vec: return "vec";
#define NABLA_ELEMENTWISE(NAME, ...) \
  case Fn::NAME: return #NAME;
#include "nabla/elementwise.def"
  }
  return "?";
}

bool fn_is_elementwise(Fn f) {
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) case Fn::NAME:
#include "nabla/elementwise.def"
      return true;
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::logdet: case Fn::inv: case Fn::softmax:
    case Fn::norm2: case Fn::diag: case Fn::vec:
      return false;
  }
  return false;
}

bool lookup_fn(const std::string& name, Fn& f) {
  static const std::pair<const char*, Fn> table[] = {
      {"sum", Fn::sum},         {"tr", Fn::tr},   {"trace", Fn::tr},      {"det", Fn::det},
      {"logdet", Fn::logdet},   {"inv", Fn::inv}, {"softmax", Fn::softmax}, {"norm2", Fn::norm2},
      {"norm", Fn::norm2},      {"diag", Fn::diag},
      {"vec", Fn::vec},
#define NABLA_ELEMENTWISE(NAME, ...) {#NAME, Fn::NAME},
#include "nabla/elementwise.def"
  };
  for (auto& [n, fn] : table)
    if (name == n) {
      f = fn;
      return true;
    }
  return false;
}

double fold_elementwise(Fn f, double x) {
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) \
  case Fn::NAME: return NAME##_rule{}.f<double>(x);
#include "nabla/elementwise.def"
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::logdet: case Fn::inv: case Fn::softmax:
    case Fn::norm2: case Fn::diag: case Fn::vec:
      break;
  }
  throw Error(std::string("internal: ") + fn_name(f) + " is not element-wise", ErrorKind::internal);
}

Expr elementwise_derivative(Fn f, const Expr& a) {
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) \
  case Fn::NAME: return NAME##_rule{}.df(ew::Ew{a}, ew::Ew{func(Fn::NAME, a)}).e;
#include "nabla/elementwise.def"
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::logdet: case Fn::inv: case Fn::softmax:
    case Fn::norm2: case Fn::diag: case Fn::vec:
      break;
  }
  throw Error(std::string("internal: ") + fn_name(f) + " is not element-wise", ErrorKind::internal);
}

std::string elementwise_latex(Fn f, const std::string& arg, const std::string& parenthesized) {
  const char* form = nullptr;
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) \
  case Fn::NAME: form = NAME##_rule::latex; break;
#include "nabla/elementwise.def"
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::logdet: case Fn::inv: case Fn::softmax:
    case Fn::norm2: case Fn::diag: case Fn::vec:
      throw Error(std::string("internal: ") + fn_name(f) + " is not element-wise", ErrorKind::internal);
  }
  std::string s(form);
  size_t hole = s.find('#');
  if (hole == std::string::npos) return s + parenthesized;
  return s.replace(hole, 1, arg);
}

Tensor apply_elementwise(Fn f, const Tensor& a) {
  switch (f) {
#define NABLA_ELEMENTWISE(NAME, ...) \
  case Fn::NAME: return nabla::NAME(a);
#include "nabla/elementwise.def"
    case Fn::sum: case Fn::tr: case Fn::det: case Fn::logdet: case Fn::inv: case Fn::softmax:
    case Fn::norm2: case Fn::diag: case Fn::vec:
      break;
  }
  throw Error(std::string("internal: ") + fn_name(f) + " is not element-wise", ErrorKind::internal);
}

}  // namespace nabla::sym
