// nabla/nn.hpp — modules in the style of PyTorch's C++ frontend.
//
// A Module owns named parameters (leaf tensors with requires_grad) and named
// child modules; parameters() walks them in registration order, so the order
// is stable and checkpoints name every tensor ("0.weight", "2.bias", ...).
// Layers take inputs with samples as rows, [batch, features].
#pragma once

#include <concepts>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/generator.hpp"
#include "nabla/nn_functional.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

class Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  int64_t num_parameters() const;
  void zero_grad();

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }

  // One line: "Linear(in_features=784, out_features=256, bias=true)".
  virtual std::string describe() const = 0;
  // A table: each layer, its output shape for a given input width, its parameter count.
  std::string summary(int64_t input_features) const;

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  Tensor& register_parameter(std::string name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> m) {
    children_.emplace_back(std::move(name), m);
    return m;
  }
  virtual void on_train(bool) {}

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// ---- initializers (in place, seeded; fan_in/fan_out of a [out, in] weight) -----
namespace init {
void uniform_(Tensor& t, double low, double high, Generator& gen);
void normal_(Tensor& t, double mean, double stddev, Generator& gen);
void zeros_(Tensor& t);
void xavier_uniform_(Tensor& t, Generator& gen, double gain = 1.0);  // U(±gain·√(6/(fan_in+fan_out)))
void xavier_normal_(Tensor& t, Generator& gen, double gain = 1.0);   // N(0, gain²·2/(fan_in+fan_out))
void kaiming_uniform_(Tensor& t, Generator& gen, double a = 0.0);     // U(±√(6/((1+a²) fan_in)))
void kaiming_normal_(Tensor& t, Generator& gen, double a = 0.0);      // N(0, 2/((1+a²) fan_in))
}  // namespace init

enum class Init { pytorch_default, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal };

// Affine layer y = x Wᵀ + b, W [out, in], b [out] (the textbook A_i Y_{i−1} + B_i, with samples as rows).
class Linear : public Module {
 public:
  struct Options {
    bool bias = true;
    Init init = Init::pytorch_default;  // U(±1/√in) for W and b, as torch.nn.Linear
    DType dtype = kFloat32;
  };
  Linear(int64_t in_features, int64_t out_features, Generator& gen);
  Linear(int64_t in_features, int64_t out_features, Generator& gen, Options opts);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Tensor weight, bias;

 private:
  int64_t in_, out_;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "ReLU()"; }
};
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  double slope_;
};
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Tanh()"; }
};
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sigmoid()"; }
};
class GELU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "GELU()"; }
};
class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t dim_;
};
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  int64_t dim_;
};
// Zeroes activations with probability p in training mode (scaling the rest by
// 1/(1−p)); the identity in eval mode. Draws from its own seeded generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Generator& generator() { return gen_; }

 private:
  double p_;
  Generator gen_;
};

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential& push_back(std::shared_ptr<Module> m);
  template <class M>
    requires std::derived_from<M, Module>
  Sequential& push_back(M m) {
    return push_back(std::static_pointer_cast<Module>(std::make_shared<M>(std::move(m))));
  }
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sequential"; }
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

// Activation by name: "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "softmax",
// "log_softmax", "identity"/"none" (nullptr). Throws naming the valid choices.
std::shared_ptr<Module> make_activation(const std::string& name);

// An MLP: Linear(sizes[0]→sizes[1]), activation, ..., Linear(→sizes.back()),
// then `output` ("none", "softmax", "log_softmax", "sigmoid", ...).
// Checks the sizes before it allocates: see mlp_parameter_count.
std::shared_ptr<Sequential> mlp(const std::vector<int64_t>& sizes, const std::string& activation,
                                const std::string& output, Generator& gen, Linear::Options opts = {});
// The parameters of mlp(sizes): Σ sizes[i]·sizes[i+1] (+ sizes[i+1] with
// bias). Throws (kind shape) on a size ≤ 0, on overflow, and when their
// bytes exceed max_tensor_bytes() (Note [Checked sizes] in nabla/shape.hpp).
int64_t mlp_parameter_count(const std::vector<int64_t>& sizes, bool bias = true, size_t itemsize = 4);

}  // namespace nabla::nn
