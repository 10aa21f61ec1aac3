// nabla/nn_functional.hpp — the differentiable functions neural networks are
// built from (losses, GELU, dropout), as free functions like torch::nn::functional.
#pragma once

#include "nabla/generator.hpp"
#include "nabla/tensor.hpp"

namespace nabla {

enum class Reduction { none, mean, sum };

// Mean squared error: mean((input − target)²), or the sum.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r = Reduction::mean);
// Cross-entropy of logits [B, C] against class indices [B] (any dtype holding
// integers); fused and stable: logsumexp(z) − z[t]; gradient softmax(z) − onehot(t).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::mean);
// Binary cross-entropy of logits against targets in [0, 1], same shape; stable for any |z|.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r = Reduction::mean);
// Negative log-likelihood of log-probabilities [B, C] at class indices [B].
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r = Reduction::mean);

// GELU(x) = x Φ(x) with Φ the standard normal CDF (the exact form, via erf).
Tensor gelu(const Tensor& x);
// Inverted dropout: zeroes each element with probability p and scales the rest
// by 1/(1 − p) when `training`; the identity otherwise.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

}  // namespace nabla
