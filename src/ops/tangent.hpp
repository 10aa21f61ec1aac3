// Private: the forward-mode helpers the JVP rules compute with (the state they
// read is in src/graph/forward.hpp): lifting a tangent to a primal's rank,
// setting an output's tangent, and jvp_rule(), which every op calls after its
// forward.
#pragma once

#include <initializer_list>

#include "../graph/forward.hpp"
#include "nabla/grad_mode.hpp"

namespace nabla {

// Tangent t of shape [k, s...] seen as [k, 1, …, 1, s...] of rank 1 + r, so
// that it broadcasts against a primal of rank r (right-aligned) past dim 0.
Tensor lift_tangent(const Tensor& t, int r);

// Sets y's tangent to t, given y's full shape past the direction axis and y's dtype.
void set_tangent(Tensor& y, Tensor t);

// Sets y's tangent from rule() when some input carries a tangent. `elementwise`:
// the op maps element i of every tangent-carrying input to element i of y only.
template <class F>
void jvp_rule(Tensor& y, std::initializer_list<const Tensor*> inputs, const char* name, F&& rule,
              bool elementwise = false) {
  bool any = false;
  for (const Tensor* t : inputs)
    if (has_tangent(*t)) any = true;
  if (!any || !tangent_wanted(inputs, elementwise, name)) return;
  for (const Tensor* t : inputs)
    if (t->is_same(y)) return;  // the op handed back its input: the tangent is already there
  SuspendForward off;
  NoGradGuard ng;  // tangents carry no reverse graph (forward-over-reverse is the supported nesting)
  set_tangent(y, rule());
}

}  // namespace nabla
