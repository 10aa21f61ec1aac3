// gradcheck: reverse-mode gradients against central finite differences, in f64.
#include <cmath>
#include <sstream>

#include "nabla/autograd.hpp"
#include "nabla/generator.hpp"
#include "nabla/ops.hpp"

namespace nabla {

std::string GradcheckResult::summary() const {
  std::ostringstream os;
  os << (ok ? "gradcheck passed" : "gradcheck FAILED");
  for (size_t i = 0; i < inputs.size(); ++i)
    os << "; input " << i << ": max abs error " << inputs[i].max_abs_error << ", max rel error "
       << inputs[i].max_rel_error;
  return os.str();
}
std::ostream& operator<<(std::ostream& os, const GradcheckResult& r) { return os << r.summary(); }

Tensor numeric_jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x_in, double eps) {
  NABLA_CHECK(x_in.defined(), "numeric_jacobian: x is undefined");
  NABLA_CHECK(eps > 0 && std::isfinite(eps), "numeric_jacobian: the step must be positive and finite, got ", eps);
  const bool rg = x_in.requires_grad();
  const Tensor x = x_in.detach().to(kFloat64).contiguous();
  const int64_t n = x.numel();
  const std::vector<double> x0 = x.to_vector<double>();
  auto at = [&](int64_t i, double step) {
    std::vector<double> v = x0;
    v[static_cast<size_t>(i)] += step;
    Tensor xi = tensor(v, Shape{n}, kFloat64).reshape(x.shape());
    if (rg) xi.requires_grad_(true);
    Tensor y = f(xi);
    NABLA_CHECK(y.defined() && y.dtype() == kFloat64, "numeric_jacobian: f must return a float64 tensor");
    return y.detach().contiguous().to_vector<double>();
  };
  std::vector<double> jac;
  int64_t m = -1;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> fp = at(i, eps), fm = at(i, -eps);
    if (m < 0) {
      m = static_cast<int64_t>(fp.size());
      jac.assign(static_cast<size_t>(m * n), 0.0);
    }
    NABLA_CHECK(static_cast<int64_t>(fp.size()) == m && static_cast<int64_t>(fm.size()) == m,
                "numeric_jacobian: f changed its number of outputs between evaluations");
    for (int64_t r = 0; r < m; ++r)
      jac[static_cast<size_t>(r * n + i)] = (fp[static_cast<size_t>(r)] - fm[static_cast<size_t>(r)]) / (2 * eps);
  }
  if (m < 0) m = f(x).numel();  // x has no elements: the Jacobian is [m, 0]
  return tensor(jac, {m, n}, kFloat64);
}

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs_in, GradcheckOptions opts) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs_in) {
    NABLA_CHECK(x.defined(), "gradcheck: an input is undefined");
    xs.push_back(x.detach().to(kFloat64).clone().detach().requires_grad_(true));
  }
  Tensor y = f(xs);
  NABLA_CHECK(y.defined() && y.dtype() == kFloat64, "gradcheck: f must return a float64 tensor for float64 inputs");
  // A fixed random upstream gradient turns any output into the scalar ⟨u, f(x)⟩.
  Generator gen(0x9e3779b9);
  Tensor u = y.numel() == 1 ? ones(y.shape(), kFloat64) : randn(y.shape(), gen, kFloat64);
  std::vector<Tensor> analytic = y.requires_grad() ? grad({y}, xs, {u}, false, false, true) : std::vector<Tensor>{};
  GradcheckResult res;
  for (size_t k = 0; k < xs.size(); ++k) {
    GradcheckInputReport rep;
    Tensor a = analytic.empty() ? zeros_like(xs[k]) : analytic[k].contiguous();
    // ⟨u, f⟩ as a function of input k alone. Not under NoGradGuard: f may
    // itself differentiate (gradients of gradients).
    Tensor num = numeric_jacobian(
        [&](const Tensor& xk) {
          std::vector<Tensor> in = xs;
          in[k] = xk;
          return sum(f(in) * u);
        },
        xs[k], opts.eps);
    const int64_t n = xs[k].numel();
    const double* ap = a.data_ptr<double>();
    const double* np = num.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) {
      double err = std::fabs(ap[i] - np[i]);
      if (std::isnan(err)) err = INFINITY;
      rep.max_abs_error = std::max(rep.max_abs_error, err);
      rep.max_rel_error = std::max(rep.max_rel_error, err / std::max(1.0, std::fabs(np[i])));
      if (!(err <= opts.atol + opts.rtol * std::fabs(np[i]))) res.ok = false;
    }
    res.inputs.push_back(rep);
  }
  return res;
}

}  // namespace nabla
