// The forward-mode helpers of src/ops/tangent.hpp: they compute with ops
// (reshape, expand, to), so they live with the ops.
#include "tangent.hpp"

#include "ops_internal.hpp"

namespace nabla {

Tensor lift_tangent(const Tensor& t, int r) {
  const int have = static_cast<int>(t.dim()) - 1;
  if (have >= r) return t;
  Shape s;
  s.push_back(t.shape()[0]);
  for (int i = have; i < r; ++i) s.push_back(1);
  for (int i = 1; i <= have; ++i) s.push_back(t.shape()[i]);
  return reshape(t, s);
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
  output_autograd_meta(*y.impl()).tangent = std::move(t);
}

}  // namespace nabla
