// operator<< for Tensor, in the manner of PyTorch's repr:
//   tensor([[ 1.0000, -2.5000],
//           [ 3.0000,  4.0000]], shape=[2,2], dtype=float32)
// Tensors of more than 1000 elements show the first and last 3 entries of
// each dimension with "..." between.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "nabla/tensor.hpp"
#include "tensor_impl.hpp"

namespace nabla {
namespace {

constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdge = 3;

struct Printer {
  const TensorImpl& t;
  bool summarize;
  bool integral = true;  // every shown value is an integer → print "1." style
  bool sci = false;
  int width = 0;

  double value(int64_t off) const {
    return t.dtype == kFloat32 ? static_cast<double>(t.data<float>()[off]) : t.data<double>()[off];
  }
  std::string fmt(double v) const {
    char buf[64];
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci) std::snprintf(buf, sizeof buf, "%.4e", v);
    else if (integral) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
  }
  template <class F>
  void visit(int d, int64_t off, F&& f) const {
    if (d == t.shape.size()) {
      f(off);
      return;
    }
    int64_t n = t.shape[d];
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) i = n - kEdge;
      visit(d + 1, off + i * t.strides[d], f);
    }
  }
  void scan() {
    double maxabs = 0, minabs = INFINITY;
    visit(0, 0, [&](int64_t off) {
      double v = value(off);
      if (!std::isfinite(v)) return;
      if (v != std::floor(v)) integral = false;
      maxabs = std::max(maxabs, std::fabs(v));
      if (v != 0) minabs = std::min(minabs, std::fabs(v));
    });
    sci = maxabs >= 1e8 || (!integral && minabs < 1e-4 && minabs > 0) || (!integral && maxabs >= 1e5);
    visit(0, 0, [&](int64_t off) { width = std::max<int>(width, static_cast<int>(fmt(value(off)).size())); });
  }
  void print(std::ostream& os, int d, int64_t off, int indent) const {
    if (d == t.shape.size()) {
      std::string s = fmt(value(off));
      os << std::string(static_cast<size_t>(width) - s.size(), ' ') << s;
      return;
    }
    int64_t n = t.shape[d];
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarize && n > 2 * kEdge && i == kEdge) {
        os << (d + 1 == t.shape.size() ? "..., " : "...,\n" + std::string(static_cast<size_t>(indent + 1), ' '));
        i = n - kEdge;
      }
      print(os, d + 1, off + i * t.strides[d], indent + 1);
      if (i + 1 < n) {
        if (d + 1 == t.shape.size()) os << ", ";
        else os << ',' << std::string(static_cast<size_t>(t.shape.size() - d - 1), '\n')
                << std::string(static_cast<size_t>(indent + 1), ' ');
      }
    }
    os << ']';
  }
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& x) {
  if (!x.defined()) return os << "tensor(undefined)";
  const TensorImpl& t = *x.impl();
  Printer p{t, nabla::numel(t.shape) > kThreshold};
  p.scan();
  os << "tensor(";
  if (nabla::numel(t.shape) == 0) os << "[]";
  else p.print(os, 0, 0, 7);
  os << ", shape=" << t.shape << ", dtype=" << t.dtype;
  if (std::string f = x.grad_fn_name(); !f.empty()) os << ", grad_fn=" << f;
  else if (t.requires_grad) os << ", requires_grad=true";
  return os << ')';
}

}  // namespace nabla
