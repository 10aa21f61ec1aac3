// Fused optimizer updates over raw contiguous buffers: one pass per parameter
// instead of a chain of element-wise ops. The formulas are torch.optim's.
#pragma once

#include <cmath>
#include <cstdint>

namespace nabla::kernels {

// SGD: g ← g + wd·p; buf ← μ·buf + (1 − τ)·g (buf ← g on the first step);
// g ← g + μ·buf (Nesterov) or buf; p ← p − lr·g.
template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening, double wd,
              bool nesterov, bool first) {
  const T tlr = static_cast<T>(lr), mu = static_cast<T>(momentum), damp = static_cast<T>(1 - dampening),
          twd = static_cast<T>(wd);
  if (momentum == 0) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) p[i] -= tlr * (g[i] + twd * p[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i] + twd * p[i];
    T b = first ? d : mu * buf[i] + damp * d;
    buf[i] = b;
    p[i] -= tlr * (nesterov ? d + mu * b : b);
  }
}

// Adam: g ← g + wd·p (L2) or p ← p(1 − lr·wd) (decoupled); m ← β₁m + (1−β₁)g;
// v ← β₂v + (1−β₂)g²; p ← p − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε).
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps, double wd,
               bool decoupled, int64_t t) {
  const double bc1 = 1 - std::pow(beta1, static_cast<double>(t));
  const double bc2 = 1 - std::pow(beta2, static_cast<double>(t));
  const T step = static_cast<T>(lr / bc1), inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bc2));
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2), c1 = static_cast<T>(1 - beta1),
          c2 = static_cast<T>(1 - beta2), te = static_cast<T>(eps);
  const T l2 = decoupled ? T(0) : static_cast<T>(wd);
  const T shrink = decoupled ? static_cast<T>(1 - lr * wd) : T(1);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i] + l2 * p[i];
    T mi = b1 * m[i] + c1 * d;
    T vi = b2 * v[i] + c2 * d * d;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * shrink - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + te);
  }
}

}  // namespace nabla::kernels
