// nabla/optim.hpp — optimizers, learning-rate schedules, gradient clipping.
//
// Update rules are PyTorch's, as documented for torch.optim (SGD with
// momentum/dampening/Nesterov and L2 weight decay; Adam with bias correction;
// AdamW with decoupled weight decay). step() reads each parameter's .grad()
// (parameters without a gradient are skipped) and updates the parameter in
// place without recording a graph.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // resets every parameter's gradient to undefined
  double lr() const noexcept { return lr_; }
  void set_lr(double lr) noexcept { lr_ = lr; }
  int64_t steps() const noexcept { return steps_; }
  const std::vector<Tensor>& params() const noexcept { return params_; }

  // The optimizer's buffers and counters as named tensors (for checkpoints),
  // and their restoration; load_state checks names, shapes and dtypes.
  virtual std::vector<std::pair<std::string, Tensor>> state() const;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state);
  virtual std::string name() const = 0;

 protected:
  std::vector<Tensor> params_;
  double lr_;
  int64_t steps_ = 0;
  // Buffers per parameter, created lazily: buffers_[k][i] is buffer k of param i.
  std::vector<std::vector<Tensor>> buffers_;
  std::vector<std::string> buffer_names_;
  Tensor& buffer(size_t k, size_t i);
};

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions o);
  void step() override;
  std::string name() const override { return "sgd"; }
  const SGDOptions& options() const { return o_; }

 private:
  SGDOptions o_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // L2 penalty added to the gradient (Adam) or decoupled (AdamW)
};
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions o, bool decoupled_weight_decay = false);
  void step() override;
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  const AdamOptions& options() const { return o_; }

 private:
  AdamOptions o_;
  bool decoupled_;
};
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions o) : Adam(std::move(params), o, true) {}
};

// Scales all gradients so that their global L2 norm is at most max_norm;
// returns the norm before clipping (as torch.nn.utils.clip_grad_norm_).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

// ---- learning-rate schedules: lr as a function of the epoch (or step) count ----
class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt) : opt_(opt), base_lr_(opt.lr()) {}
  virtual ~LRScheduler() = default;
  // Advances one epoch and sets the optimizer's lr for the next one.
  void step() { opt_.set_lr(lr_at(++epoch_)); }
  void set_epoch(int64_t e) { epoch_ = e; opt_.set_lr(lr_at(e)); }
  int64_t epoch() const { return epoch_; }
  virtual double lr_at(int64_t epoch) const = 0;

 protected:
  Optimizer& opt_;
  double base_lr_;
  int64_t epoch_ = 0;
};
// lr = base · gamma^⌊epoch / step_size⌋
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& o, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t e) const override;

 private:
  int64_t step_size_;
  double gamma_;
};
// lr = eta_min + (base − eta_min)(1 + cos(π epoch / T_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& o, int64_t t_max, double eta_min = 0);
  double lr_at(int64_t e) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};
// Linear warm-up from base·start_factor to base over `warmup` epochs, then
// `after` (if given) takes over, counting from the end of the warm-up.
class WarmupLR : public LRScheduler {
 public:
  WarmupLR(Optimizer& o, int64_t warmup, double start_factor = 0.1, std::shared_ptr<LRScheduler> after = nullptr);
  double lr_at(int64_t e) const override;

 private:
  int64_t warmup_;
  double start_;
  std::shared_ptr<LRScheduler> after_;
};

}  // namespace nabla::optim
