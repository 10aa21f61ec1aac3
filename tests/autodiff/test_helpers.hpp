// Helpers shared by the autodiff and ops tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/gemm.hpp"
#include "nabla/tensor.hpp"

namespace nabla::test {

// Sets the kernels' thread count for one test and restores it after.
class Threads {
 public:
  explicit Threads(int n) : saved_(kernels::get_num_threads()) { kernels::set_num_threads(n); }
  ~Threads() { kernels::set_num_threads(saved_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int saved_;
};

// a ≈ b element by element, relative to max(1, |b|).
inline void expect_close(const Tensor& a, const Tensor& b, double tol = 1e-12) {
  ASSERT_EQ(a.shape(), b.shape()) << a.shape() << " vs " << b.shape();
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], tol * std::max(1.0, std::fabs(y[i]))) << "element " << i;
}

}  // namespace nabla::test
