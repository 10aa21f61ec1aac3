// Optimizer updates against values worked out by hand (torch.optim's documented rules).
#include <gtest/gtest.h>

#include <cmath>

#include "nabla/nabla.hpp"
#include "nabla/optim.hpp"

using namespace nabla;

namespace {

// Runs `steps` steps on L(p) = ½ Σ p², whose gradient is p itself; returns p after each step.
template <class Opt, class O>
std::vector<double> run(O opts, int steps, double p0 = 1.0) {
  Tensor p = full({1}, p0, kFloat64).requires_grad_();
  Opt opt({p}, opts);
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    (0.5 * sum(p * p)).backward();
    opt.step();
    out.push_back(p.item());
  }
  return out;
}

}  // namespace

TEST(OptimSGD, PlainStepsByHand) {
  // p ← p − lr·p: 0.9, 0.81, 0.729
  auto v = run<optim::SGD>(optim::SGDOptions{.lr = 0.1}, 3);
  EXPECT_NEAR(v[0], 0.9, 1e-15);
  EXPECT_NEAR(v[1], 0.81, 1e-15);
  EXPECT_NEAR(v[2], 0.729, 1e-15);
}

TEST(OptimSGD, MomentumStepsByHand) {
  // buf₁ = 1, p = 0.9; buf₂ = 0.9·1 + 0.9 = 1.8, p = 0.72; buf₃ = 0.9·1.8 + 0.72 = 2.34, p = 0.486
  auto v = run<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9}, 3);
  EXPECT_NEAR(v[0], 0.9, 1e-15);
  EXPECT_NEAR(v[1], 0.72, 1e-15);
  EXPECT_NEAR(v[2], 0.486, 1e-15);
}

TEST(OptimSGD, NesterovStepsByHand) {
  // buf₁ = 1, d = 1 + 0.9·1 = 1.9, p = 0.81; g = 0.81, buf₂ = 0.9 + 0.81 = 1.71, d = 0.81 + 0.9·1.71 = 2.349, p = 0.5751
  auto v = run<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}, 2);
  EXPECT_NEAR(v[0], 0.81, 1e-15);
  EXPECT_NEAR(v[1], 0.5751, 1e-14);
}

TEST(OptimSGD, DampeningAndWeightDecay) {
  // wd: g = p + 0.1p = 1.1p → p₁ = 1 − 0.11 = 0.89
  auto v = run<optim::SGD>(optim::SGDOptions{.lr = 0.1, .weight_decay = 0.1}, 1);
  EXPECT_NEAR(v[0], 0.89, 1e-15);
  // dampening 0.5: buf₁ = g = 1 (first step undampened), p = 0.9; buf₂ = 0.9 + 0.5·0.9 = 1.35, p = 0.765
  v = run<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5}, 2);
  EXPECT_NEAR(v[0], 0.9, 1e-15);
  EXPECT_NEAR(v[1], 0.765, 1e-15);
}

TEST(OptimAdam, StepsByHand) {
  // step 1: m = 0.1, v = 0.001, m̂ = 1, v̂ = 1 → p = 1 − 0.1/(1 + 1e-8)
  // step 2: g = p₁; m = 0.09 + 0.1g, v = 0.000999 + 0.001g²; p₂ = p₁ − 0.1·(m/0.19)/(√(v/0.001999) + 1e-8)
  auto v = run<optim::Adam>(optim::AdamOptions{.lr = 0.1}, 3);
  double p1 = 1 - 0.1 / (1 + 1e-8);
  EXPECT_NEAR(v[0], p1, 1e-15);
  double m = 0.9 * 0.1 + 0.1 * p1, s = 0.999 * 0.001 + 0.001 * p1 * p1;
  double p2 = p1 - 0.1 * (m / (1 - 0.81)) / (std::sqrt(s / (1 - 0.998001)) + 1e-8);
  EXPECT_NEAR(v[1], p2, 1e-13);
  EXPECT_NEAR(v[1], 0.800412, 1e-6);
  m = 0.9 * m + 0.1 * p2, s = 0.999 * s + 0.001 * p2 * p2;
  double p3 = p2 - 0.1 * (m / (1 - 0.729)) / (std::sqrt(s / (1 - std::pow(0.999, 3))) + 1e-8);
  EXPECT_NEAR(v[2], p3, 1e-13);
}

TEST(OptimAdam, L2WeightDecayEntersTheGradient) {
  // g = p + 0.5p = 1.5; m̂ = 1.5, v̂ = 2.25 → p = 1 − 0.1·1.5/(1.5 + 1e-8)
  auto v = run<optim::Adam>(optim::AdamOptions{.lr = 0.1, .weight_decay = 0.5}, 1);
  EXPECT_NEAR(v[0], 1 - 0.1 * 1.5 / (1.5 + 1e-8), 1e-15);
}

TEST(OptimAdamW, DecoupledWeightDecay) {
  // p ← p(1 − lr·wd) − lr·m̂/(√v̂ + ε) = 0.99 − 0.1/(1 + 1e-8)
  auto v = run<optim::AdamW>(optim::AdamOptions{.lr = 0.1, .weight_decay = 0.1}, 1);
  EXPECT_NEAR(v[0], 0.99 - 0.1 / (1 + 1e-8), 1e-15);
}

TEST(OptimAdam, SubnormalStateIsFlushedAndTheCallersModeKept) {
  // Note [Subnormal optimizer state]: once the gradient stops, exp_avg decays by
  // β₁ per step; where it would turn subnormal (below 2⁻¹²⁶) it becomes 0, and
  // the parameters move exactly as without the flush (the term is ~1e-30 of them).
  const int64_t n = 40;  // whole vectors and a tail
  Tensor p = full({n}, 0.5, kFloat32).requires_grad_();
  optim::Adam opt({p}, {.lr = 1e-3});
  p.set_grad(full({n}, 1e-3, kFloat32));
  opt.step();
  float m = 0.1f * 1e-3f;  // exp_avg after the first step, float arithmetic
  int steps = 0;
  while (m >= 0x1p-126f) m = 0.9f * m, ++steps;  // the steps until it would be subnormal
  ASSERT_GT(m, 0.0f);
  const std::vector<float> p1 = p.to_vector<float>();
  for (int i = 0; i < steps; ++i) {
    p.set_grad(zeros({n}, kFloat32));
    opt.step();
  }
  std::vector<float> avg;
  for (const auto& [name, t] : opt.state())
    if (name == "exp_avg.0") avg = t.to_vector<float>();
  ASSERT_EQ(avg.size(), static_cast<size_t>(n));
  for (float a : avg) EXPECT_EQ(a, 0.0f);
  // the parameters kept moving by m̂/(√v̂ + ε) while exp_avg was normal, and are finite
  const std::vector<float> pn = p.to_vector<float>();
  EXPECT_LT(pn[0], p1[0]);
  for (float x : pn) EXPECT_EQ(x, pn[0]);
  // the caller's floating-point mode is back: subnormal products are not flushed
  volatile float a = 1e-30f, b = 1e-10f;
  EXPECT_GT(a * b, 0.0f);
}

TEST(OptimCommon, SkipsParametersWithoutGradientAndZeroGrad) {
  Tensor a = ones({2}, kFloat64).requires_grad_(), b = ones({2}, kFloat64).requires_grad_();
  optim::SGD opt({a, b}, {.lr = 0.5});
  sum(a * a).backward();
  opt.step();
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{1.0, 1.0}));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(OptimCommon, StateRoundTripContinuesIdentically) {
  auto make = [] { return full({3}, 2.0, kFloat64).requires_grad_(); };
  Tensor p = make(), q = make();
  optim::Adam a({p}, {.lr = 0.05}), b({q}, {.lr = 0.05});
  for (int i = 0; i < 3; ++i) {
    a.zero_grad();
    sum(p * p * p).backward();
    a.step();
  }
  {
    NoGradGuard ng;
    q.copy_(p);
  }
  b.load_state(a.state());
  for (int i = 0; i < 3; ++i) {
    a.zero_grad();
    sum(p * p * p).backward();
    a.step();
    b.zero_grad();
    sum(q * q * q).backward();
    b.step();
  }
  EXPECT_EQ(p.to_vector<double>(), q.to_vector<double>());
  EXPECT_EQ(a.steps(), b.steps());
}

TEST(OptimCommon, LoadStateRejectsMismatch) {
  Tensor p = ones({3}, kFloat64).requires_grad_();
  optim::Adam a({p}, {});
  std::vector<std::pair<std::string, Tensor>> st = {{"step", scalar_tensor(1, kFloat64)},
                                                    {"exp_avg.0", zeros({4}, kFloat64)}};
  EXPECT_THROW(a.load_state(st), Error);
  st = {{"step", scalar_tensor(1, kFloat64)}, {"momentum_buffer.0", zeros({3}, kFloat64)}};
  EXPECT_THROW(a.load_state(st), Error);
}

TEST(OptimClip, GlobalNormClipping) {
  Tensor a = tensor({3.0, 0.0}, kFloat64).requires_grad_(), b = tensor({4.0}, kFloat64).requires_grad_();
  (0.5 * (sum(a * a) + sum(b * b))).backward();  // grads (3, 0) and (4): norm 5
  double n = optim::clip_grad_norm_({a, b}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-12);
  EXPECT_NEAR(a.grad().at({0}), 0.6, 1e-6);
  EXPECT_NEAR(b.grad().at({0}), 0.8, 1e-6);
}

TEST(OptimSchedule, StepCosineWarmup) {
  Tensor p = ones({1}, kFloat64).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  optim::StepLR s(opt, 2, 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 0.25);
  optim::CosineAnnealingLR c(opt, 10, 0.0);
  EXPECT_NEAR(c.lr_at(5), 0.5, 1e-15);
  EXPECT_NEAR(c.lr_at(10), 0.0, 1e-15);
  optim::WarmupLR w(opt, 4, 0.25);
  EXPECT_DOUBLE_EQ(w.lr_at(0), 0.25);
  EXPECT_DOUBLE_EQ(w.lr_at(2), 0.625);
  EXPECT_DOUBLE_EQ(w.lr_at(6), 1.0);
  c.step();
  EXPECT_NEAR(opt.lr(), c.lr_at(1), 1e-15);
}

TEST(OptimErrors, InvalidOptions) {
  Tensor p = ones({1}).requires_grad_();
  EXPECT_THROW(optim::SGD({p}, {.lr = -1}), Error);
  EXPECT_THROW(optim::SGD({p}, {.lr = 0.1, .nesterov = true}), Error);
  EXPECT_THROW(optim::Adam({p}, {.beta1 = 1.0}), Error);
  Tensor nonleaf = p * 2.0;
  EXPECT_THROW(optim::SGD({nonleaf}, {.lr = 0.1}), Error);
}
