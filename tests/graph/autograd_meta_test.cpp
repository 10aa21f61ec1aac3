// The autograd state behind TensorImpl's opaque pointer (src/graph/autograd_meta.hpp):
// who gets one, where an op's output keeps it, and that it dies with its tensor.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "graph/node.hpp"
#include "nabla/nabla.hpp"

namespace nabla {
namespace {

TEST(AutogradMeta, TensorsOutsideAnyGraphHaveNone) {
  Tensor a = ones({3}, kFloat64);
  EXPECT_EQ(autograd_meta(*a.impl()), nullptr);
  Tensor b = a * 2.0 + 1.0;
  EXPECT_EQ(autograd_meta(*b.impl()), nullptr);
  Tensor x = ones({3}, TensorOptions().dtype(kFloat64).requires_grad(true));
  NoGradGuard ng;
  EXPECT_EQ(autograd_meta(*(x * 2.0).impl()), nullptr);
  EXPECT_FALSE(a.grad().defined());
}

TEST(AutogradMeta, AnOpsOutputKeepsItsStateInItsNode) {
  Tensor x = ones({3}, TensorOptions().dtype(kFloat64).requires_grad(true));
  Tensor y = tanh(x);
  AutogradMeta* m = autograd_meta(*y.impl());
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->in_node);
  ASSERT_NE(m->grad_fn, nullptr);
  EXPECT_EQ(m, &m->grad_fn->output_meta);
  EXPECT_EQ(y.grad_fn_name(), "tanhBackward");
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(autograd_meta(*x.impl())->in_node);  // a leaf's state is its own
}

TEST(AutogradMeta, AnOutputsNodeLivesWhileTheGraphNeedsIt) {
  Tensor x = full({2}, 0.5, TensorOptions().dtype(kFloat64).requires_grad(true));
  std::weak_ptr<Node> node;
  Tensor z;
  {
    Tensor y = x * 2.0;
    y.set_grad(ones({2}, kFloat64));  // state kept in the node, cleared when y dies
    node = autograd_meta(*y.impl())->grad_fn;
    z = sum(y * 3.0);
  }
  EXPECT_FALSE(node.expired());  // z's graph still reaches it
  z.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  z = Tensor();
  EXPECT_TRUE(node.expired());
}

TEST(AutogradMeta, ALeafMayDieBeforeItsGraph) {
  Tensor y;
  std::weak_ptr<Node> acc;
  {
    Tensor x = full({2}, 0.5, TensorOptions().dtype(kFloat64).requires_grad(true));
    y = sum(x + 1.0);  // add and sum capture no values: x dies here
    acc = grad_accumulator(x.impl_ptr());
  }
  EXPECT_FALSE(acc.expired());  // the graph holds the accumulator, not the leaf
  EXPECT_EQ(static_cast<AccumulateGrad*>(acc.lock().get())->leaf, nullptr);
  y.backward();  // the gradient has nowhere to go, and nothing breaks
  y = Tensor();
  EXPECT_TRUE(acc.expired());
}

TEST(AutogradMeta, ConcurrentFirstUsesOfALeafShareOneState) {
  for (int trial = 0; trial < 50; ++trial) {
    Tensor x = ones({2}, kFloat64);  // no state yet
    std::vector<AutogradMeta*> seen(4);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) ts.emplace_back([&, i] { seen[i] = &ensure_autograd_meta(*x.impl()); });
    for (auto& t : ts) t.join();
    for (AutogradMeta* m : seen) EXPECT_EQ(m, autograd_meta(*x.impl()));
  }
}

TEST(AutogradMeta, GradSetAndCleared) {
  Tensor a = ones({2}, kFloat64);
  a.set_grad(full({2}, 3.0, kFloat64));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3, 3}));
  a.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_THROW(a.set_grad(ones({3}, kFloat64)), Error);
}

}  // namespace
}  // namespace nabla
