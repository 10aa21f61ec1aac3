// Module bookkeeping, initializers and the layers.
#include <array>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "nabla/autograd.hpp"
#include "nabla/nn.hpp"
#include "nabla/ops.hpp"

namespace nabla::nn {

// ---- Module -----------------------------------------------------------------------

Tensor& Module::register_parameter(std::string name, Tensor t) {
  NABLA_CHECK(t.defined(), "register_parameter: parameter '", name, "' is undefined");
  t.requires_grad_(true);
  params_.emplace_back(std::move(name), std::move(t));
  return params_.back().second;
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

void Module::zero_grad() {
  for (Tensor t : parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  on_train(on);
  for (auto& [n, m] : children_) m->train(on);
}

// Columns as wide as their widest cell, counts right-aligned.
std::string Module::summary(int64_t input_features) const {
  std::vector<std::array<std::string, 4>> rows = {{"layer", "module", "output", "parameters"}};
  int64_t width = input_features;
  int64_t total = 0;
  auto row = [&](const std::string& name, const Module& m) {
    int64_t count = 0;
    for (const Tensor& t : m.parameters()) count += t.numel();
    if (auto* lin = dynamic_cast<const Linear*>(&m)) {
      NABLA_CHECK_KIND(lin->in_features() == width, ErrorKind::shape, "summary: layer ", name, " expects ",
                       lin->in_features(), " inputs but receives ", width);
      width = lin->out_features();
    }
    rows.push_back({name, m.describe(), "[N, " + std::to_string(width) + "]", std::to_string(count)});
    total += count;
  };
  if (children_.empty()) row("0", *this);
  for (const auto& [n, m] : children_) row(n, *m);
  std::array<size_t, 4> w{};
  for (const auto& r : rows)
    for (size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], r[c].size());
  std::ostringstream os;
  for (const auto& r : rows) {
    os << std::left << std::setw(static_cast<int>(w[0] + 2)) << r[0] << std::setw(static_cast<int>(w[1] + 2)) << r[1]
       << std::setw(static_cast<int>(w[2] + 2)) << r[2] << std::right << std::setw(static_cast<int>(w[3])) << r[3]
       << "\n";
  }
  os << "total parameters: " << total << "\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) {
  os << m.describe();
  if (!m.children().empty()) {
    os << "(\n";
    for (const auto& [n, c] : m.children()) os << "  (" << n << "): " << *c << "\n";
    os << ")";
  }
  return os;
}

// ---- initializers -------------------------------------------------------------------

namespace init {
namespace {
std::pair<double, double> fans(const Tensor& t) {
  NABLA_CHECK_KIND(t.dim() >= 1, ErrorKind::shape, "init: cannot compute fans of a scalar");
  if (t.dim() == 1) return {static_cast<double>(t.shape()[0]), static_cast<double>(t.shape()[0])};
  double receptive = 1;
  for (int i = 2; i < t.dim(); ++i) receptive *= static_cast<double>(t.shape()[i]);
  return {static_cast<double>(t.shape()[1]) * receptive, static_cast<double>(t.shape()[0]) * receptive};
}
void assign(Tensor& t, const Tensor& values) {
  NoGradGuard ng;
  t.copy_(values);
}
}  // namespace

void uniform_(Tensor& t, double lo, double hi, Generator& g) { assign(t, uniform(t.shape(), lo, hi, g, t.dtype())); }
void normal_(Tensor& t, double mean, double sd, Generator& g) { assign(t, normal(t.shape(), mean, sd, g, t.dtype())); }
void zeros_(Tensor& t) {
  NoGradGuard ng;
  t.zero_();
}
void xavier_uniform_(Tensor& t, Generator& g, double gain) {
  auto [fi, fo] = fans(t);
  double a = gain * std::sqrt(6.0 / (fi + fo));
  uniform_(t, -a, a, g);
}
void xavier_normal_(Tensor& t, Generator& g, double gain) {
  auto [fi, fo] = fans(t);
  normal_(t, 0, gain * std::sqrt(2.0 / (fi + fo)), g);
}
void kaiming_uniform_(Tensor& t, Generator& g, double a) {
  auto [fi, fo] = fans(t);
  double bound = std::sqrt(6.0 / ((1 + a * a) * fi));
  uniform_(t, -bound, bound, g);
}
void kaiming_normal_(Tensor& t, Generator& g, double a) {
  auto [fi, fo] = fans(t);
  normal_(t, 0, std::sqrt(2.0 / ((1 + a * a) * fi)), g);
}
}  // namespace init

// ---- layers -------------------------------------------------------------------------

Linear::Linear(int64_t in, int64_t out, Generator& gen) : Linear(in, out, gen, Options{}) {}

Linear::Linear(int64_t in, int64_t out, Generator& gen, Options o) : in_(in), out_(out) {
  NABLA_CHECK_KIND(in > 0 && out > 0, ErrorKind::shape, "Linear: sizes must be positive, got ", in, " → ", out);
  Tensor w = empty({out, in}, o.dtype);
  double bound = 1.0 / std::sqrt(static_cast<double>(in));
  switch (o.init) {
    case Init::pytorch_default: init::uniform_(w, -bound, bound, gen); break;
    case Init::xavier_uniform: init::xavier_uniform_(w, gen); break;
    case Init::xavier_normal: init::xavier_normal_(w, gen); break;
    case Init::kaiming_uniform: init::kaiming_uniform_(w, gen); break;
    case Init::kaiming_normal: init::kaiming_normal_(w, gen); break;
  }
  weight = register_parameter("weight", w);
  if (o.bias) {
    Tensor b = empty({out}, o.dtype);
    if (o.init == Init::pytorch_default) init::uniform_(b, -bound, bound, gen);
    else init::zeros_(b);
    bias = register_parameter("bias", b);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }
std::string Linear::describe() const {
  return "Linear(in_features=" + std::to_string(in_) + ", out_features=" + std::to_string(out_) +
         ", bias=" + (bias.defined() ? "true" : "false") + ")";
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
std::string LeakyReLU::describe() const {
  std::ostringstream os;
  os << "LeakyReLU(negative_slope=" << slope_ << ")";
  return os.str();
}
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }
std::string Softmax::describe() const { return "Softmax(dim=" + std::to_string(dim_) + ")"; }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim_); }
std::string LogSoftmax::describe() const { return "LogSoftmax(dim=" + std::to_string(dim_) + ")"; }

Dropout::Dropout(double p, uint64_t seed) : p_(p), gen_(seed) {
  NABLA_CHECK(p >= 0 && p < 1, "Dropout: probability must be in [0, 1), got ", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), gen_); }
std::string Dropout::describe() const {
  std::ostringstream os;
  os << "Dropout(p=" << p_ << ")";
  return os.str();
}

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
  NABLA_CHECK(m != nullptr, "Sequential: cannot add a null module");
  register_module(std::to_string(children().size()), std::move(m));
  return *this;
}
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [n, m] : children()) h = m->forward(h);
  return h;
}

std::shared_ptr<Module> make_activation(const std::string& name) {
  if (name == "relu") return std::make_shared<ReLU>();
  if (name == "leaky_relu") return std::make_shared<LeakyReLU>();
  if (name == "tanh") return std::make_shared<Tanh>();
  if (name == "sigmoid" || name == "logistic") return std::make_shared<Sigmoid>();
  if (name == "gelu") return std::make_shared<GELU>();
  if (name == "softmax") return std::make_shared<Softmax>(-1);
  if (name == "log_softmax") return std::make_shared<LogSoftmax>(-1);
  if (name == "none" || name == "identity") return nullptr;
  throw Error("unknown activation '" + name +
              "' (choose relu, leaky_relu, tanh, sigmoid, gelu, softmax, log_softmax or none)");
}

int64_t mlp_parameter_count(const std::vector<int64_t>& sizes, bool bias, size_t item) {
  int64_t n = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    NABLA_CHECK_KIND(sizes[i] > 0 && sizes[i + 1] > 0, ErrorKind::shape, "mlp: sizes must be positive, got ",
                     sizes[i], " and ", sizes[i + 1]);
    n = checked_add(n, checked_mul(sizes[i], sizes[i + 1], "mlp"), "mlp");
    if (bias) n = checked_add(n, sizes[i + 1], "mlp");
  }
  check_allocation(static_cast<uint64_t>(checked_mul(n, static_cast<int64_t>(item), "mlp")), "mlp");
  return n;
}

std::shared_ptr<Sequential> mlp(const std::vector<int64_t>& sizes, const std::string& activation,
                                const std::string& output, Generator& gen, Linear::Options opts) {
  NABLA_CHECK_KIND(sizes.size() >= 2, ErrorKind::shape, "mlp: need at least an input and an output size, got ",
                   sizes.size(), " sizes");
  mlp_parameter_count(sizes, opts.bias, itemsize(opts.dtype));  // Note [Checked sizes]
  auto net = std::make_shared<Sequential>();
  make_activation(activation);  // validate the name even for a single layer
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    net->push_back(std::make_shared<Linear>(sizes[i], sizes[i + 1], gen, opts));
    if (i + 2 < sizes.size())
      if (auto a = make_activation(activation)) net->push_back(a);
  }
  if (auto o = make_activation(output)) net->push_back(o);
  return net;
}

}  // namespace nabla::nn
