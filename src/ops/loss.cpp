// Losses as ops: the fused, numerically stable forms whose gradients have a
// closed form simpler than the composite graph.
#include <limits>

#include "ops_internal.hpp"
#include "nabla/nn_functional.hpp"

namespace nabla {

namespace {
Tensor reduce(const Tensor& per_sample, Reduction r) {
  switch (r) {
    case Reduction::none: return per_sample;
    case Reduction::sum: return sum(per_sample);
    case Reduction::mean: return mean(per_sample);
  }
  return per_sample;
}
}  // namespace

// MSE of seed 002 §6: C = (1/N) Σ (yᵢ − ŷᵢ)², ∂C/∂ŷ = (2/N)(ŷ − y).
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  check_same_dtype(input, target, "mse_loss");
  NABLA_CHECK_KIND(input.shape() == target.shape(), ErrorKind::shape, "mse_loss: input ", input.shape(),
                   " and target ", target.shape(), " differ");
  return reduce(square(input - target), r);
}

// Cross-entropy from logits [B, C] against class indices [B]:
//   ℓ_b = −log softmax(z_b)[t_b] = logsumexp(z_b) − z_b[t_b],
//   ∂ℓ_b/∂z_b = softmax(z_b) − onehot(t_b)   (Note [Stable softmax] in reduce.cpp).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction r) {
  check_defined(logits, "cross_entropy");
  check_defined(target, "cross_entropy");
  NABLA_CHECK_KIND(logits.dim() == 2, ErrorKind::shape, "cross_entropy: logits must be [batch, classes], got ",
                   logits.shape());
  const int64_t B = logits.shape()[0], C = logits.shape()[1];
  NABLA_CHECK_KIND(target.dim() == 1 && target.shape()[0] == B, ErrorKind::shape, "cross_entropy: target ",
                   target.shape(), " does not match logits ", logits.shape(), " (expects [", B, "])");
  std::vector<double> t = target.to_vector<double>();
  std::vector<int64_t> cls(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    NABLA_CHECK_KIND(t[i] == std::floor(t[i]) && t[i] >= 0 && t[i] < static_cast<double>(C), ErrorKind::index,
                     "cross_entropy: label ", t[i], " at position ", i, " is not a class index in [0, ", C, ")");
    cls[i] = static_cast<int64_t>(t[i]);
  }
  Tensor z = logits.contiguous().detach();
  Tensor probs = make_tensor({B, C}, logits.dtype());
  Tensor per = make_tensor({B}, logits.dtype());
  dispatch(logits.dtype(), [&]<class T>() {
    const T* pz = z.impl()->data<T>();
    T* pp = probs.impl()->data<T>();
    T* pl = per.impl()->data<T>();
    for (int64_t b = 0; b < B; ++b) {
      const T* row = pz + b * C;
      T* prow = pp + b * C;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t c = 0; c < C; ++c) m = std::max(m, row[c]);
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < C; ++c) {
        prow[c] = kernels::vm::exp(row[c] - m);
        s += prow[c];
      }
      T inv = T(1) / s;
      for (int64_t c = 0; c < C; ++c) prow[c] *= inv;
      pl[b] = std::log(s) + m - row[cls[static_cast<size_t>(b)]];
    }
  });
  Tensor out = reduce(per.detach(), r);
  out = out.detach();
  if (should_record({&logits})) {
    const double scale = r == Reduction::mean ? 1.0 / static_cast<double>(std::max<int64_t>(B, 1)) : 1.0;
    record(out, "cross_entropy", {&logits}, [logits, probs, cls, scale, r, C](const Tensor& g, const VjpCtx& ctx) {
      const int nb = batch_dims(g, r == Reduction::none ? 1 : 0);
      if (is_grad_enabled() || nb > 0 || live_tangent(g) || live_tangent(logits)) {
        // create_graph, a batched backward pass or forward-over-reverse: the composite, differentiable form
        Tensor oh = one_hot(tensor(std::vector<double>(cls.begin(), cls.end())), C, logits.dtype());
        Tensor d = (softmax(logits, 1) - oh) * scale;
        if (r == Reduction::none) ctx.set(0, d * unsqueeze(g, -1));
        else ctx.set(0, d * (nb == 0 ? g : reshape(g, batched_shape(g, nb, {1, 1}))));
        return;
      }
      const int64_t B = logits.shape()[0];
      Tensor d = make_tensor({B, C}, logits.dtype());
      Tensor gc = g.contiguous();
      dispatch(logits.dtype(), [&]<class T>() {
        const T* pp = probs.impl()->data<T>();
        const T* pg = gc.impl()->data<T>();
        T* pd = d.impl()->data<T>();
        for (int64_t b = 0; b < B; ++b) {
          T gb = static_cast<T>((r == Reduction::none ? pg[b] : pg[0]) * scale);
          for (int64_t c = 0; c < C; ++c) pd[b * C + c] = pp[b * C + c] * gb;
          pd[b * C + cls[static_cast<size_t>(b)]] -= gb;
        }
      });
      ctx.set(0, d);
    }, {&logits});
  }
  // ℓ̇_b = ⟨softmax(z_b) − onehot(t_b), ż_b⟩, then reduced over the batch
  jvp_rule(out, {&logits}, "cross_entropy", [&] {
    Tensor oh = one_hot(tensor(std::vector<double>(cls.begin(), cls.end())), C, logits.dtype());
    Tensor p = is_grad_enabled() && logits.requires_grad() ? softmax(logits, 1) : probs;
    Tensor per_t = sum(tangent_of(logits) * (p - oh), {-1});  // [k, B]
    if (r == Reduction::none) return per_t;
    Tensor s = sum(per_t, {-1});
    return r == Reduction::mean ? s * (1.0 / static_cast<double>(std::max<int64_t>(B, 1))) : s;
  });
  return out;
}

// Binary cross-entropy with logits, stable: ℓ = max(z, 0) − z y + log(1 + e^−|z|),
// ∂ℓ/∂z = σ(z) − y (the composite graph below differentiates to exactly that).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  check_same_dtype(logits, target, "binary_cross_entropy_with_logits");
  NABLA_CHECK_KIND(logits.shape() == target.shape(), ErrorKind::shape, "binary_cross_entropy_with_logits: logits ",
                   logits.shape(), " and target ", target.shape(), " differ");
  return reduce(softplus(logits) - logits * target, r);
}

// Negative log-likelihood of log-probabilities [B, C] at class indices [B].
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction r) {
  check_defined(log_probs, "nll_loss");
  NABLA_CHECK_KIND(log_probs.dim() == 2, ErrorKind::shape, "nll_loss: expects [batch, classes], got ",
                   log_probs.shape());
  check_defined(target, "nll_loss");
  // gather reads a negative index from the end; a label is a class index only
  const int64_t C = log_probs.shape()[1];
  for (double t : target.to_vector<double>())
    NABLA_CHECK_KIND(t == std::floor(t) && t >= 0 && t < static_cast<double>(C), ErrorKind::index, "nll_loss: label ",
                     t, " is not a class index in [0, ", C, ")");
  Tensor picked = gather(log_probs, 1, unsqueeze(target, 1));
  return reduce(-squeeze(picked, 1), r);
}

}  // namespace nabla
