// Private to src/autodiff: the engine's entry points for the other passes
// (defined in engine.cpp).
#pragma once

#include <vector>

#include "nabla/tensor.hpp"

namespace nabla {

// Batched reverse mode: the engine entry point that accepts upstream gradients
// with `nb` leading batch dims ([b..., ...output shape]) and returns gradients
// of shape [b..., ...input shape] (zeros for unused inputs).
std::vector<Tensor> grad_batched(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                 const std::vector<Tensor>& grad_outputs, int nb, bool create_graph);

namespace detail {
// grad(outputs, inputs) of one-element outputs, leaving an input the outputs
// do not depend on undefined (grad() would give zeros or an error).
std::vector<Tensor> grad_or_none(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                 bool retain_graph = false);
}  // namespace detail

}  // namespace nabla
