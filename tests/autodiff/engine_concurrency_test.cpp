// Backward passes keep their own state (Note [Pass state] in engine.cpp):
// concurrent passes over one retained graph, concurrent backward() into one
// leaf, data_parallel_backward over a loss that reads a shared non-leaf, and
// the lifetime of inputs whose values no VJP captured (Note [Edges]).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "kernels/gemm.hpp"
#include "autodiff/test_helpers.hpp"
#include "nabla/nabla.hpp"

namespace nabla {
namespace {

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

TensorOptions f64(bool rg = false) { return TensorOptions().dtype(kFloat64).requires_grad(rg); }

using test::Threads;

// Runs body(thread) on n threads at once, released together.
template <class F>
void in_threads(int n, F body) {
  std::atomic<int> arrived{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t)
    pool.emplace_back([&, t] {
      arrived.fetch_add(1);
      while (arrived.load() < n) std::this_thread::yield();
      body(t);
    });
  for (auto& th : pool) th.join();
}

// ---- concurrent passes over one graph ----------------------------------------------------

// Every thread runs grad(retain_graph=true) over the same graph — a shared
// subgraph h and, per thread, a tail of its own — for leaf and non-leaf
// inputs at once; every result must equal the one a lone pass gives, bit for bit.
TEST(EngineConcurrency, GradOverASharedRetainedGraphMatchesSequential) {
  constexpr int kThreads = 4, kRounds = 300;
  Tensor w = tensor(std::vector<double>{0.3, -1.1, 0.7, 2.0, -0.4, 1.5}, Shape{2, 3}, f64(true));
  Tensor h = tanh(w) * 0.5;                            // shared non-leaf
  Tensor y = sum(sin(h) * h) + sum(reshape(h, {3, 2}));  // shared output
  std::vector<Tensor> tails;
  for (int t = 0; t < kThreads; ++t) tails.push_back(sum(exp(h) * (1.0 + t)));
  const std::vector<Tensor> want_y = grad({y}, {w, h}, {}, true);
  std::vector<std::vector<Tensor>> want_tail;
  for (int t = 0; t < kThreads; ++t) want_tail.push_back(grad({tails[t]}, {h, w}, {}, true));

  std::vector<int> wrong(kThreads, 0), errors(kThreads, 0);
  in_threads(kThreads, [&](int t) {
    for (int r = 0; r < kRounds; ++r) {
      try {
        std::vector<Tensor> g = grad({y}, {w, h}, {}, true);
        if (vals(g[0]) != vals(want_y[0]) || vals(g[1]) != vals(want_y[1])) ++wrong[t];
        std::vector<Tensor> gt = grad({tails[t]}, {h, w}, {}, true);
        if (vals(gt[0]) != vals(want_tail[t][0]) || vals(gt[1]) != vals(want_tail[t][1])) ++wrong[t];
      } catch (const Error&) {
        ++errors[t];
      }
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
    EXPECT_EQ(errors[t], 0) << "thread " << t;
  }
  EXPECT_EQ(w.grad().defined(), false);  // grad() leaves .grad() alone
  // ∂y/∂h = sin h + h cos h + 1 element-wise; the analytic value guards the reference itself
  std::vector<double> hv = vals(h), gh = vals(want_y[1]);
  for (size_t i = 0; i < hv.size(); ++i) EXPECT_NEAR(gh[i], std::sin(hv[i]) + hv[i] * std::cos(hv[i]) + 1, 1e-12);
}

// Concurrent backward(retain_graph=true) calls all accumulate into the same
// leaves: nothing is lost, and since every call adds the same gradient the
// sum is the one sequential calls give, bit for bit.
TEST(EngineConcurrency, ConcurrentBackwardIntoOneLeafLosesNothing) {
  constexpr int kThreads = 4, kRounds = 300;
  Tensor w = tensor({0.25, -0.5, 1.25, 0.75}, f64(true));
  Tensor b = tensor({0.1, 0.2, 0.3, 0.4}, f64(true));
  Tensor h = tanh(w * b);
  Tensor y = sum(h * w + b);
  // the sequential reference
  for (int i = 0; i < kThreads * kRounds; ++i) y.backward({}, true);
  const std::vector<double> want_w = vals(w.grad()), want_b = vals(b.grad());
  w.zero_grad();
  b.zero_grad();
  w.set_grad(Tensor());
  b.set_grad(Tensor());

  std::vector<int> errors(kThreads, 0);
  in_threads(kThreads, [&](int t) {
    for (int r = 0; r < kRounds; ++r) {
      try {
        y.backward({}, true);
      } catch (const Error&) {
        ++errors[t];
      }
    }
  });
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], 0) << "thread " << t;
  EXPECT_EQ(vals(w.grad()), want_w);
  EXPECT_EQ(vals(b.grad()), want_b);
  // the reference itself: ∂y/∂w = h + w b (1 − h²), ∂y/∂b = w² (1 − h²) + 1, kThreads·kRounds times
  std::vector<double> wv = vals(w), bv = vals(b), hv = vals(h);
  for (size_t i = 0; i < wv.size(); ++i) {
    const double s = 1 - hv[i] * hv[i], n = kThreads * kRounds;
    EXPECT_NEAR(want_w[i], n * (hv[i] + wv[i] * bv[i] * s), 1e-9);
    EXPECT_NEAR(want_b[i], n * (wv[i] * wv[i] * s + 1), 1e-9);
  }
}

// Graphs of every size on one thread, one after another: the pass table of
// a small graph is a scan, a larger one a hash table, and the same
// thread-local table serves them all.
TEST(EngineConcurrency, PassTablesOfManySizesOneAfterAnother) {
  Tensor x = scalar_tensor(0.5, f64(true));
  for (int r = 0; r < 200; ++r) {
    const int depth = (r * 37) % 300;  // 0 to 299 ops, in a scrambled order
    Tensor y = x;
    for (int i = 0; i < depth; ++i) y = y * 1.01 + x * 0.001;  // x feeds every step
    // y_d = 1.01 y_{d-1} + 0.001 x: ∂y_d/∂x = 1.01^d + 0.001 Σ_{i<d} 1.01^i = 1.01^d + 0.1 (1.01^d − 1)
    const double want = std::pow(1.01, depth) + 0.1 * (std::pow(1.01, depth) - 1);
    EXPECT_NEAR(grad({y}, {x})[0].item(), want, 1e-9 * want) << "depth " << depth;
  }
}

// ---- data_parallel_backward over a shared non-leaf -----------------------------------------

// The loss reads h = tanh(w) * 0.5, computed once outside and read by every
// shard: the shards' passes meet in h's nodes. The gradients must be the
// unsplit backward()'s, every trial.
TEST(EngineConcurrency, DataParallelWithASharedNonLeafGivesTheUnsplitGradients) {
  constexpr int kTrials = 300, kRows = 64;
  Threads threads(4);
  Generator gen(11);
  Tensor w = randn({5, 3}, gen, f64()).requires_grad_();
  Tensor v = randn({3}, gen, f64()).requires_grad_();
  Tensor x = randn({kRows, 5}, gen, f64());
  Tensor t = randn({kRows, 3}, gen, f64());
  auto loss_of = [&](const Tensor& h, const Tensor& xs, const Tensor& ts) {
    Tensor d = matmul(xs, h) + v * sum(h) - ts;  // reads h twice and w only through it
    return mean(d * d);
  };
  // the reference: one unsplit pass over a fresh h
  std::vector<double> want_w, want_v;
  {
    Tensor h = tanh(w) * 0.5;
    loss_of(h, x, t).backward();
    want_w = vals(w.grad());
    want_v = vals(v.grad());
    w.set_grad(Tensor());
    v.set_grad(Tensor());
  }
  DataParallelOptions opts;
  opts.min_shard_rows = 8;  // 4 shards of 16 rows
  int wrong = 0, errors = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    Tensor h = tanh(w) * 0.5;  // shared by every shard
    try {
      data_parallel_backward([&](const Tensor& xs, const Tensor& ts) { return loss_of(h, xs, ts); }, x, t, {w, v},
                             opts);
      std::vector<double> gw = vals(w.grad()), gv = vals(v.grad());
      for (size_t i = 0; i < gw.size(); ++i)
        if (std::fabs(gw[i] - want_w[i]) > 1e-12) ++wrong;
      for (size_t i = 0; i < gv.size(); ++i)
        if (std::fabs(gv[i] - want_v[i]) > 1e-12) ++wrong;
    } catch (const Error&) {
      ++errors;
    }
    w.set_grad(Tensor());
    v.set_grad(Tensor());
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(errors, 0);
}

// ---- what a graph keeps alive ------------------------------------------------------------------

// Wraps a buffer whose deleter records that the storage was freed.
struct Blob {
  std::vector<double> data{1.0, 2.0, 3.0, 4.0};
  bool freed = false;
  Tensor tensor(bool rg) {
    return from_blob(data.data(), {4}, f64(rg), [this](void*) { freed = true; });
  }
};

// add, sum, reshape and concat capture no values: once the forward pass is
// over, a graph through them keeps neither their inputs' storage nor the
// inputs themselves, and backward still reaches the other leaves.
TEST(EngineConcurrency, InputsNoVjpCapturedDieWithTheForwardPass) {
  Tensor w = tensor({0.5, -1.0, 2.0, 3.0}, f64(true));
  {
    Blob blob;
    Tensor x = blob.tensor(true);
    Tensor y = sum(x + w);
    x = Tensor();
    EXPECT_TRUE(blob.freed) << "add";
    y.backward();
    EXPECT_EQ(vals(w.grad()), (std::vector<double>{1, 1, 1, 1}));
  }
  {
    Blob blob;
    Tensor x = blob.tensor(true);
    Tensor y = sum(x) * sum(w);
    x = Tensor();
    EXPECT_TRUE(blob.freed) << "sum";
    EXPECT_EQ(vals(grad({y}, {w})[0]), (std::vector<double>{10, 10, 10, 10}));  // Σx = 10
  }
  {
    Blob blob;
    Tensor x = blob.tensor(true);
    Tensor y = sum(reshape(x, {2, 2}) + reshape(w, {2, 2}));
    x = Tensor();
    EXPECT_TRUE(blob.freed) << "reshape";
    EXPECT_EQ(vals(grad({y}, {w})[0]), (std::vector<double>{1, 1, 1, 1}));
  }
  {
    Blob blob;
    Tensor x = blob.tensor(true);
    Tensor y = sum(concat({x, w}) * 3.0);
    x = Tensor();
    EXPECT_TRUE(blob.freed) << "concat";
    EXPECT_EQ(vals(grad({y}, {w})[0]), (std::vector<double>{3, 3, 3, 3}));
  }
  {
    // a non-leaf input whose values no VJP needs: the view reshape(x) shares x's storage
    Blob blob;
    Tensor x = blob.tensor(true);
    Tensor r = reshape(x, {2, 2});
    Tensor y = sum(r + reshape(w, {2, 2}));
    x = Tensor();
    r = Tensor();
    EXPECT_TRUE(blob.freed) << "non-leaf input of add";
    EXPECT_EQ(vals(grad({y}, {w})[0]), (std::vector<double>{1, 1, 1, 1}));
  }
  {
    // a VJP that captures its input keeps it: mul
    Blob blob;
    Tensor x = blob.tensor(false);
    Tensor y = sum(x * w);
    x = Tensor();
    EXPECT_FALSE(blob.freed) << "mul";
    EXPECT_EQ(vals(grad({y}, {w})[0]), (std::vector<double>{1, 2, 3, 4}));
    y = Tensor();
    EXPECT_TRUE(blob.freed) << "the graph's end frees it";
  }
}

// An op that reads its own output by pointer (tanh) keeps that output alive
// through its consumers' edges even when nobody else holds it.
TEST(EngineConcurrency, OutputsReadByTheirVjpStayAlive) {
  Tensor w = tensor({0.3, -0.8, 1.7}, f64(true));
  Tensor y = sum(tanh(w) + w);  // add captures nothing; tanh's output lives on through add's edge
  y.backward();
  std::vector<double> wv = vals(w), g = vals(w.grad());
  for (size_t i = 0; i < wv.size(); ++i) EXPECT_NEAR(g[i], 2 - std::tanh(wv[i]) * std::tanh(wv[i]), 1e-15);
}

// A leaf that died before backward simply gets nothing; the others still do.
TEST(EngineConcurrency, ALeafGoneBeforeBackwardIsSkipped) {
  Tensor w = tensor({1.0, 2.0}, f64(true));
  Tensor y;
  {
    Tensor gone = tensor({3.0, 4.0}, f64(true));
    y = sum(gone + w * w);
  }
  y.backward();
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{2, 4}));
}

}  // namespace
}  // namespace nabla
