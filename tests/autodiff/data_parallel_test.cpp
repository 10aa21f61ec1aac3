// data_parallel_backward: the split step's loss and gradients against the
// unsplit backward(), accumulation, unused parameters, sum losses, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "kernels/gemm.hpp"
#include "autodiff/test_helpers.hpp"
#include "nabla/nabla.hpp"
#include "nabla/nn.hpp"
#include "nabla/nn_functional.hpp"

namespace nabla {
namespace {

using test::Threads;

// A 6-16-4 tanh MLP in float64 and a batch for it.
struct Problem {
  Generator gen{7};
  nn::Linear l1{6, 16, gen, {true, nn::Init::pytorch_default, kFloat64}};
  nn::Linear l2{16, 4, gen, {true, nn::Init::pytorch_default, kFloat64}};
  Tensor x, y;
  std::mutex mu;
  std::vector<int64_t> rows_seen;  // rows of each loss_fn call

  explicit Problem(int64_t rows) {
    x = randn({rows, 6}, gen, TensorOptions().dtype(kFloat64));
    std::vector<double> labels(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) labels[static_cast<size_t>(i)] = static_cast<double>((i * 7) % 4);
    y = tensor(labels, {rows}, kFloat64);
  }
  std::vector<Tensor> params() { return {l1.weight, l1.bias, l2.weight, l2.bias}; }
  Tensor loss(const Tensor& xs, const Tensor& ys, Reduction r = Reduction::mean) {
    {
      std::lock_guard<std::mutex> lock(mu);
      rows_seen.push_back(xs.shape()[0]);
    }
    return cross_entropy(l2.forward(tanh(l1.forward(xs))), ys, r);
  }
  void zero_grad() {
    for (Tensor& p : params()) p.zero_grad();
  }
  // The unsplit reference: loss and gradients of one backward().
  std::pair<double, std::vector<Tensor>> reference(Reduction r = Reduction::mean) {
    zero_grad();
    Tensor l = cross_entropy(l2.forward(tanh(l1.forward(x))), y, r);
    l.backward();
    std::vector<Tensor> g;
    for (Tensor& p : params()) g.push_back(p.grad().clone());
    zero_grad();
    return {l.item(), g};
  }
};

double max_abs(const Tensor& t) { return max(abs(t)).item(); }

TEST(DataParallelBackward, SplitMatchesTheUnsplitBackward) {
  Threads t(2);
  Problem p(256);
  auto [ref_loss, ref_grads] = p.reference();
  double loss = data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y,
                                       p.params());
  std::sort(p.rows_seen.begin(), p.rows_seen.end());
  EXPECT_EQ(p.rows_seen, (std::vector<int64_t>{128, 128}));  // two shards of half the rows
  EXPECT_NEAR(loss, ref_loss, 1e-13);
  auto ps = p.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    ASSERT_TRUE(ps[i].grad().defined()) << "parameter " << i;
    EXPECT_LT(max_abs(ps[i].grad() - ref_grads[i]), 1e-14) << "parameter " << i;
    EXPECT_GT(max_abs(ref_grads[i]), 1e-3) << "parameter " << i;  // the check is not vacuous
  }
}

TEST(DataParallelBackward, RepeatsBitForBit) {
  Threads t(2);
  Problem p(200);
  auto run = [&] {
    p.zero_grad();
    double l = data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y,
                                      p.params());
    std::vector<std::vector<double>> g;
    for (Tensor& q : p.params()) g.push_back(q.grad().to_vector<double>());
    return std::make_pair(l, g);
  };
  auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);
  EXPECT_EQ(a.second, b.second);
}

TEST(DataParallelBackward, OneThreadOrFewRowsIsPlainBackward) {
  for (auto [threads, rows] : {std::pair{1, 256}, std::pair{2, 127}}) {
    Threads t(threads);
    Problem p(rows);
    auto [ref_loss, ref_grads] = p.reference();
    double loss = data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y,
                                         p.params());
    EXPECT_EQ(p.rows_seen, std::vector<int64_t>{rows});
    EXPECT_EQ(loss, ref_loss);
    auto ps = p.params();
    for (size_t i = 0; i < ps.size(); ++i)
      EXPECT_EQ(ps[i].grad().to_vector<double>(), ref_grads[i].to_vector<double>()) << "parameter " << i;
  }
}

TEST(DataParallelBackward, MinShardRowsSetsTheSplit) {
  Threads t(2);
  Problem p(64);
  DataParallelOptions o;
  o.min_shard_rows = 16;
  data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y, p.params(), o);
  std::sort(p.rows_seen.begin(), p.rows_seen.end());
  EXPECT_EQ(p.rows_seen, (std::vector<int64_t>{32, 32}));
}

TEST(DataParallelBackward, AccumulatesIntoExistingGradients) {
  Threads t(2);
  Problem p(256);
  auto [ref_loss, ref_grads] = p.reference();
  auto ps = p.params();
  for (Tensor& q : ps) q.set_grad(ones_like(q));
  data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y, ps);
  for (size_t i = 0; i < ps.size(); ++i)
    EXPECT_LT(max_abs(ps[i].grad() - (ref_grads[i] + 1.0)), 1e-14) << "parameter " << i;
}

TEST(DataParallelBackward, UnusedParameterKeepsItsGradient) {
  Threads t(2);
  Problem p(256);
  Tensor unused = zeros({3}, kFloat64).requires_grad_(true);
  Tensor unset = zeros({2}, kFloat64).requires_grad_(true);
  unused.set_grad(full({3}, 5.0, kFloat64));
  auto ps = p.params();
  ps.push_back(unused);
  ps.push_back(unset);
  data_parallel_backward([&](const Tensor& a, const Tensor& b) { return p.loss(a, b); }, p.x, p.y, ps);
  EXPECT_EQ(unused.grad().to_vector<double>(), (std::vector<double>{5, 5, 5}));
  EXPECT_FALSE(unset.grad().defined());
  EXPECT_TRUE(p.l1.weight.grad().defined());
}

TEST(DataParallelBackward, SumLossesAreNotWeighted) {
  Threads t(2);
  Problem p(256);
  auto [ref_loss, ref_grads] = p.reference(Reduction::sum);
  DataParallelOptions o;
  o.mean_over_rows = false;
  double loss = data_parallel_backward(
      [&](const Tensor& a, const Tensor& b) { return p.loss(a, b, Reduction::sum); }, p.x, p.y, p.params(), o);
  EXPECT_NEAR(loss, ref_loss, 1e-11 * std::abs(ref_loss));
  auto ps = p.params();
  for (size_t i = 0; i < ps.size(); ++i)
    EXPECT_LT(max_abs(ps[i].grad() - ref_grads[i]), 1e-11) << "parameter " << i;
}

TEST(DataParallelBackward, TargetsMayBeUndefined) {
  Threads t(2);
  Generator gen(3);
  Tensor w = randn({4, 4}, gen, TensorOptions().dtype(kFloat64)).requires_grad_(true);
  Tensor x = randn({256, 4}, gen, TensorOptions().dtype(kFloat64));
  auto recon = [&](const Tensor& a, const Tensor& b) {
    EXPECT_FALSE(b.defined());
    return mse_loss(matmul(a, w), a);
  };
  double loss = data_parallel_backward(recon, x, Tensor(), {w});
  Tensor g = w.grad().clone();
  w.zero_grad();
  Tensor l = mse_loss(matmul(x, w), x);
  l.backward();
  EXPECT_NEAR(loss, l.item(), 1e-13);
  EXPECT_LT(max_abs(g - w.grad()), 1e-14);
}

TEST(DataParallelBackward, ShardErrorsReachTheCallerAndLeaveGradientsAlone) {
  Threads t(2);
  Problem p(256);
  auto ps = p.params();
  for (Tensor& q : ps) q.set_grad(ones_like(q));
  auto failing = [&](const Tensor& a, const Tensor& b) -> Tensor {
    Tensor l = p.loss(a, b);
    if (a.shape()[0] == 128) throw std::runtime_error("shard failed");
    return l;
  };
  EXPECT_THROW(data_parallel_backward(failing, p.x, p.y, ps), std::runtime_error);
  for (Tensor& q : ps) EXPECT_EQ(max_abs(q.grad() - 1.0), 0.0);
}

TEST(DataParallelBackward, BadArgumentsAreNamed) {
  Threads t(2);
  Problem p(256);
  auto fn = [&](const Tensor& a, const Tensor& b) { return p.loss(a, b); };
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message([&] { data_parallel_backward(fn, p.x, p.y.slice(0, 0, 255), p.params()); })
                .find("different row counts"),
            std::string::npos);
  auto per_row = [&](const Tensor& a, const Tensor& b) { return cross_entropy(p.l1.forward(a), b, Reduction::none); };
  EXPECT_NE(message([&] { data_parallel_backward(per_row, p.x, p.y, p.params()); }).find("must return one value"),
            std::string::npos);
  Tensor not_leaf = p.l1.weight * 2.0;
  EXPECT_NE(message([&] { data_parallel_backward(fn, p.x, p.y, {not_leaf}); }).find("not a leaf"), std::string::npos);
  DataParallelOptions o;
  o.min_shard_rows = 0;
  EXPECT_NE(message([&] { data_parallel_backward(fn, p.x, p.y, p.params(), o); }).find("min_shard_rows"),
            std::string::npos);
}

}  // namespace
}  // namespace nabla
