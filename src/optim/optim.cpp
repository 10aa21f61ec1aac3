// Optimizers and schedules. The updates run as fused kernels on the raw
// buffers of each parameter (src/kernels/optim.hpp) outside any graph.
#include "nabla/optim.hpp"

#include <cmath>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "../kernels/optim.hpp"
#include "../kernels/parallel.hpp"
#include "nabla/autograd.hpp"
#include "nabla/ops.hpp"

namespace nabla::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
  NABLA_CHECK(lr >= 0 && std::isfinite(lr), "optimizer: invalid learning rate ", lr);
  for (size_t i = 0; i < params_.size(); ++i) {
    NABLA_CHECK(params_[i].defined() && params_[i].requires_grad() && params_[i].is_leaf(), "optimizer: parameter ",
                i, " must be a leaf tensor that requires grad");
    NABLA_CHECK(params_[i].is_contiguous(), "optimizer: parameter ", i, " of shape ", params_[i].shape(),
                " must be contiguous");
  }
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

Tensor& Optimizer::buffer(size_t k, size_t i) {
  if (buffers_.size() <= k) buffers_.resize(k + 1);
  if (buffers_[k].size() != params_.size()) buffers_[k].resize(params_.size());
  Tensor& b = buffers_[k][i];
  if (!b.defined()) b = zeros_like(params_[i]);
  return b;
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("step", scalar_tensor(static_cast<double>(steps_), kFloat64));
  out.emplace_back("lr", scalar_tensor(lr_, kFloat64));
  for (size_t k = 0; k < buffers_.size(); ++k)
    for (size_t i = 0; i < buffers_[k].size(); ++i)
      if (buffers_[k][i].defined()) out.emplace_back(buffer_names_[k] + "." + std::to_string(i), buffers_[k][i]);
  return out;
}

void Optimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  buffers_.assign(buffer_names_.size(), std::vector<Tensor>(params_.size()));
  bool have_step = false;
  for (const auto& [name, t] : state) {
    if (name == "step") {
      steps_ = static_cast<int64_t>(t.item());
      have_step = true;
      continue;
    }
    if (name == "lr") {
      lr_ = t.item();
      continue;
    }
    auto dot = name.rfind('.');
    NABLA_CHECK_KIND(dot != std::string::npos, ErrorKind::io, "optimizer state: unexpected entry '", name, "'");
    std::string kind = name.substr(0, dot);
    size_t idx = 0;
    try {
      idx = std::stoul(name.substr(dot + 1));
    } catch (...) {
      throw Error("optimizer state: unexpected entry '" + name + "'", ErrorKind::io);
    }
    size_t k = 0;
    while (k < buffer_names_.size() && buffer_names_[k] != kind) ++k;
    NABLA_CHECK_KIND(k < buffer_names_.size(), ErrorKind::io, "optimizer state: '", name, "' is not a buffer of ",
                     this->name());
    NABLA_CHECK_KIND(idx < params_.size(), ErrorKind::io, "optimizer state: '", name, "' refers to parameter ", idx,
                     " but there are ", params_.size());
    NABLA_CHECK_KIND(t.shape() == params_[idx].shape() && t.dtype() == params_[idx].dtype(), ErrorKind::io,
                     "optimizer state: '", name, "' has shape ", t.shape(), " ", t.dtype(), ", parameter ", idx,
                     " has ", params_[idx].shape(), " ", params_[idx].dtype());
    buffers_[k][idx] = t.contiguous().clone().detach();
  }
  NABLA_CHECK_KIND(have_step, ErrorKind::io, "optimizer state: missing 'step'");
}

// Note [One update job]: a step updates every parameter with a gradient as
// one element-parallel job over all their elements (kernels::parallel_spans)
// rather than one job per parameter: the small ones (a 256×128 weight, the
// biases) no longer run in the calling thread while the helper waits, and
// the pool is handed one job per step (no change in epoch time measured at
// batch 32–1024: Adam is some 7% of a step). Each element's update depends on
// that element alone, so the result does not depend on the split. Buffers must
// exist before (buffer() allocates lazily and is not thread-safe).
// fn(i, g, lo, hi): update elements [lo, hi) of parameter i from its
// contiguous gradient g; parameters without a gradient are skipped.
namespace {
// Note [Subnormal optimizer state]: where a gradient element stays zero (the
// weights of a pixel that is almost always 0), Adam's exp_avg decays by β₁
// per step, 10⁻³⁸ after some 800 steps, and then spends ~150 steps as a
// subnormal float before it reaches 0. x86 cores take a microcode assist of
// a hundred cycles or more for each instruction that reads or makes one:
// after an epoch of `nabla train` (Fashion-MNIST, batch 32) 14% of the first
// layer's exp_avg and 25% of the second's were subnormal, and the update,
// otherwise memory-bound, took 45% of a step. The updates therefore run with
// the SSE control word set to flush subnormals to zero (FTZ and DAZ) and
// restore the caller's word after. Only values below 2⁻¹²⁶ ≈ 1.2·10⁻³⁸
// change, to 0; the parameters they would have moved by ~10⁻³⁰ of themselves
// come out the same: after one epoch the model was bit for bit the one
// without the flush and only subnormal exp_avg entries differed, and the
// epoch took 1.8 s instead of 3.9 s (one thread, Intel Xeon, loaded host).
class FlushSubnormals {
 public:
#if defined(__SSE2__)
  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushSubnormals() { _mm_setcsr(saved_); }
#endif
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
#if defined(__SSE2__)
  unsigned saved_;
#endif
};

template <class F>
void update_each(const std::vector<Tensor>& params, F&& fn) {
  std::vector<size_t> which;
  std::vector<Tensor> grads;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].grad().defined()) continue;
    which.push_back(i);
    grads.push_back(params[i].grad().contiguous());
    sizes.push_back(params[i].numel());
  }
  kernels::parallel_spans(sizes, [&](size_t k, int64_t lo, int64_t hi) {
    FlushSubnormals flush;
    fn(which[k], grads[k], lo, hi);
  });
  for (size_t i : which) params[i].mark_written();
}
}  // namespace

// ---- SGD ----------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : Optimizer(std::move(params), o.lr), o_(o) {
  NABLA_CHECK(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum and weight decay must be non-negative");
  NABLA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD: Nesterov needs momentum > 0 and no dampening");
  buffer_names_ = {"momentum_buffer"};
}

void SGD::step() {
  NoGradGuard ng;
  ++steps_;
  std::vector<char> first(params_.size(), 0);
  if (o_.momentum != 0)
    for (size_t i = 0; i < params_.size(); ++i)
      if (params_[i].grad().defined()) {
        first[i] = buffers_.empty() || buffers_[0].size() != params_.size() || !buffers_[0][i].defined();
        buffer(0, i);
      }
  update_each(params_, [&](size_t i, const Tensor& g, int64_t lo, int64_t hi) {
    const Tensor& p = params_[i];
    dispatch(p.dtype(), [&]<class T>() {
      T* bp = o_.momentum != 0 ? buffers_[0][i].data_ptr<T>() + lo : nullptr;
      kernels::sgd_step<T>(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, bp, hi - lo, lr_, o_.momentum,
                           o_.dampening, o_.weight_decay, o_.nesterov, first[i] != 0);
    });
  });
}

// ---- Adam / AdamW ---------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, AdamOptions o, bool decoupled)
    : Optimizer(std::move(params), o.lr), o_(o), decoupled_(decoupled) {
  NABLA_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "Adam: betas must lie in [0, 1), got (",
              o.beta1, ", ", o.beta2, ")");
  NABLA_CHECK(o.eps >= 0 && o.weight_decay >= 0, "Adam: eps and weight decay must be non-negative");
  buffer_names_ = {"exp_avg", "exp_avg_sq"};
}

void Adam::step() {
  NoGradGuard ng;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].grad().defined()) buffer(0, i), buffer(1, i);
  update_each(params_, [&](size_t i, const Tensor& g, int64_t lo, int64_t hi) {
    const Tensor& p = params_[i];
    dispatch(p.dtype(), [&]<class T>() {
      kernels::adam_step<T>(p.data_ptr<T>() + lo, g.data_ptr<T>() + lo, buffers_[0][i].data_ptr<T>() + lo,
                            buffers_[1][i].data_ptr<T>() + lo, hi - lo, lr_, o_.beta1, o_.beta2, o_.eps,
                            o_.weight_decay, decoupled_, steps_);
    });
  });
}

// ---- clipping and schedules -------------------------------------------------------------

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  NABLA_CHECK(max_norm > 0, "clip_grad_norm_: max_norm must be positive, got ", max_norm);
  NoGradGuard ng;
  double total = 0;
  for (const Tensor& p : params)
    if (p.grad().defined())
      for (double v : p.grad().to_vector<double>()) total += v * v;
  total = std::sqrt(total);
  double coef = max_norm / (total + 1e-6);
  if (coef < 1)
    for (Tensor p : params)
      if (p.grad().defined()) p.mutable_grad().mul_(coef);
  return total;
}

StepLR::StepLR(Optimizer& o, int64_t step_size, double gamma) : LRScheduler(o), step_size_(step_size), gamma_(gamma) {
  NABLA_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
}
double StepLR::lr_at(int64_t e) const { return base_lr_ * std::pow(gamma_, static_cast<double>(e / step_size_)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min)
    : LRScheduler(o), t_max_(t_max), eta_min_(eta_min) {
  NABLA_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be positive, got ", t_max);
}
double CosineAnnealingLR::lr_at(int64_t e) const {
  double t = static_cast<double>(std::min(e, t_max_));
  return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(M_PI * t / static_cast<double>(t_max_))) / 2;
}

WarmupLR::WarmupLR(Optimizer& o, int64_t warmup, double start, std::shared_ptr<LRScheduler> after)
    : LRScheduler(o), warmup_(warmup), start_(start), after_(std::move(after)) {
  NABLA_CHECK(warmup >= 0 && start > 0 && start <= 1, "WarmupLR: invalid warm-up (", warmup, " epochs from ", start, ")");
  opt_.set_lr(lr_at(0));
}
double WarmupLR::lr_at(int64_t e) const {
  if (e < warmup_) return base_lr_ * (start_ + (1 - start_) * static_cast<double>(e) / static_cast<double>(warmup_));
  return after_ ? after_->lr_at(e - warmup_) : base_lr_;
}

}  // namespace nabla::optim
