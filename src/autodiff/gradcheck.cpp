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
  // Not under NoGradGuard: f may itself differentiate (gradients of gradients).
  auto objective = [&]() { return sum(f(xs) * u).item(); };
  GradcheckResult res;
  for (size_t k = 0; k < xs.size(); ++k) {
    GradcheckInputReport rep;
    Tensor x = xs[k];
    Tensor a = analytic.empty() ? zeros_like(x) : analytic[k].contiguous();
    int64_t n = x.numel();
    double* p = x.data_ptr<double>();
    const double* ap = a.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) {
      double orig = p[i];
      p[i] = orig + opts.eps;
      double fp = objective();
      p[i] = orig - opts.eps;
      double fm = objective();
      p[i] = orig;
      double num = (fp - fm) / (2 * opts.eps);
      double err = std::fabs(ap[i] - num);
      if (std::isnan(err)) err = INFINITY;
      rep.max_abs_error = std::max(rep.max_abs_error, err);
      rep.max_rel_error = std::max(rep.max_rel_error, err / std::max(1.0, std::fabs(num)));
      if (!(err <= opts.atol + opts.rtol * std::fabs(num))) res.ok = false;
    }
    res.inputs.push_back(rep);
  }
  return res;
}

}  // namespace nabla
