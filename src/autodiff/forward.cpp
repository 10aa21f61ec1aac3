// Forward mode: the per-thread state and the helpers every JVP rule uses. The
// rules themselves live beside their VJPs in src/ops/.
#include "forward.hpp"

#include "../ops/ops_internal.hpp"

namespace nabla {

ForwardState& forward_state() noexcept {
  static NABLA_TLS ForwardState s;
  return s;
}

Shape tangent_shape(int64_t k, const Shape& shape) {
  Shape s;
  s.push_back(k);
  for (int64_t e : shape) s.push_back(e);
  return s;
}

Tensor lift_tangent(const Tensor& t, int r) {
  const int have = static_cast<int>(t.dim()) - 1;
  if (have >= r) return t;
  Shape s;
  s.push_back(t.shape()[0]);
  for (int i = have; i < r; ++i) s.push_back(1);
  for (int i = 1; i <= have; ++i) s.push_back(t.shape()[i]);
  return reshape(t, s);
}

bool tangent_wanted(std::initializer_list<const Tensor*> inputs, bool elementwise, const char* name) {
  ForwardState& st = forward_state();
  if (st.suspended > 0) return false;
  if (st.probe) {
    if (st.broken) return false;
    if (!elementwise) {
      st.broken = true;
      st.breaker = name;
      return false;
    }
  }
  (void)inputs;
  return true;
}

void set_tangent(Tensor& y, Tensor t) {
  if (!t.defined()) return;
  const Shape& ys = y.shape();
  // A tangent may come back broadcast (a scalar operand's direction, say): give
  // it y's full shape past the direction axis.
  if (t.dim() != ys.size() + 1 || [&] {
        for (int i = 0; i < ys.size(); ++i)
          if (t.shape()[i + 1] != ys[i]) return true;
        return false;
      }()) {
    t = expand(lift_tangent(t, ys.size()), tangent_shape(t.shape()[0], ys));
  }
  if (t.dtype() != y.dtype()) t = t.to(y.dtype());
  y.impl()->tangent = std::move(t);
}

}  // namespace nabla
