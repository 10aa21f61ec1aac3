// Private: graph nodes and the recording helper used by every op.
//
// A Node is created by an op whose inputs require grad. It keeps one edge per
// input (Note [Edges]), whatever its VJP captured, and the VJP itself: graph
// structure and saved values only. What a backward pass needs per node
// (dependency counts, gradient sums) lives in the pass (src/autodiff/engine.cpp, Note
// [Pass state]), so passes over one graph never see each other. The engine
// owns the traversal; the calculus is in the VJP lambdas, which live beside
// their forward in src/ops/.
#pragma once

#include <initializer_list>
#include <memory>
#include <atomic>
#include <thread>
#include <optional>
#include <vector>

#include "../tensor/small_alloc.hpp"
#include "autograd_meta.hpp"
#include "../tensor/tensor_impl.hpp"
#include "nabla/grad_mode.hpp"

namespace nabla {

// What a VJP receives: the gradient of the op's output and one slot per input.
struct VjpCtx {
  Tensor* out;        // out[i]: gradient for input i (left undefined when not needed)
  const bool* needs;  // needs[i]: does input i need its gradient?
  bool need(int i) const { return needs[i]; }
  void set(int i, Tensor g) const {
    if (needs[i]) out[i] = std::move(g);
  }
};

struct Node;

// Note [Edges]: an edge leads from a node to the node that takes the gradient
// of one of its inputs: the input's grad_fn, or, for a leaf that requires
// grad, the leaf's accumulator (AccumulateGrad below). Edges hold nodes, not
// tensors, so an input's values die with the forward pass unless a VJP
// captured them (add, sum, reshape and concat capture none). The exception is
// an input whose own node reads it by pointer (Note [Outputs in VJPs] in
// src/ops/ops_internal.hpp): the edge then keeps that tensor alive, which is what
// makes the pointer safe; its values are saved ones anyway.
struct Edge {
  std::shared_ptr<Node> node;       // null where the input needs no grad
  std::shared_ptr<TensorImpl> keep;  // the input, when `node` reads it by pointer
  explicit operator bool() const noexcept { return node != nullptr; }
};

struct Node {
  const char* name = "";
  template <class T>
  using List = std::vector<T, detail::SmallAllocator<T>>;  // Note [Small blocks]
  detail::InlineVec<Edge, 3> edges;  // one per input
  struct SavedVersion {
    Storage* storage;
    uint64_t version;
    int which;  // index into inputs for error messages, or -1 for the output
  };
  detail::InlineVec<SavedVersion, 3> saved;
  Shape out_shape;
  DType out_dtype = kFloat32;
  bool released = false;       // graph state: a pass without retain_graph ran it
  bool saves_output = false;   // the VJP reads the output by pointer (Note [Edges])
  bool is_accumulator = false;  // an AccumulateGrad
  bool takes_compact_diag = false;  // the VJP reads a compact diagonal batch (Note [Compact diagonal batches])
  // The state of the tensor this node made (Note [Outputs' state in their nodes]).
  AutogradMeta output_meta;

  // Frees the chain of nodes behind this one iteratively (graph.cpp): the
  // default, recursive destruction would overflow the stack on deep graphs.
  virtual ~Node();
  virtual void apply(const Tensor& grad, const VjpCtx& ctx) = 0;
  virtual void release() = 0;
};

template <class F>
struct LambdaNode final : Node {
  std::optional<F> fn;
  explicit LambdaNode(F&& f) : fn(std::move(f)) {}
  ~LambdaNode() override { fn.reset(); }  // drop captures before ~Node unlinks the edges
  void apply(const Tensor& grad, const VjpCtx& ctx) override { (*fn)(grad, ctx); }
  void release() override { fn.reset(); }
};

namespace detail {
// A lock for short critical sections that are almost never contended: one
// atomic exchange to take, a plain store to give back (std::mutex costs two
// atomic operations and two calls). A waiter yields.
class SpinLock {
 public:
  void lock() noexcept {
    while (held_.exchange(true, std::memory_order_acquire))
      while (held_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> held_{false};
};
}  // namespace detail

// The end of the edges into a leaf that requires grad (as PyTorch's
// AccumulateGrad): every graph that reads the leaf shares it, so a pass sums
// all of a leaf's gradients in one place and delivers them into .grad() once,
// under `mu` (concurrent backward() calls may reach one leaf). The leaf owns
// its accumulator (through `self`; AutogradMeta::grad_accumulator points at
// it), and the accumulator does not own the leaf: a graph does not keep a
// leaf alive. A dying leaf clears `leaf` under `mu` and drops `self`
// (forget_accumulator), and a leaf that is gone gets nothing. (A raw pointer
// rather than a weak_ptr: the pass then spends no atomic increment and
// decrement per leaf on top of the lock it needs anyway.)
struct AccumulateGrad final : Node {
  TensorImpl* leaf = nullptr;  // guarded by mu
  detail::SpinLock mu;           // guards `leaf` and the leaf's .grad() during delivery
  std::shared_ptr<Node> self;  // the leaf's reference; set before publication, dropped by the dying leaf
  AccumulateGrad() { is_accumulator = true; }
  void apply(const Tensor&, const VjpCtx&) override {}  // the engine delivers instead
  void release() override {}
};

// Makes `node` the grad_fn of the op's fresh output o, whose state then lives
// in the node (Note [Outputs' state in their nodes]).
template <class N>
void set_grad_fn(TensorImpl& o, std::shared_ptr<N> node) {
  AutogradMeta* m = autograd_meta(o);
  if (!m) {
    m = &node->output_meta;
    m->in_node = true;
    o.autograd.store(m, std::memory_order_release);
  }
  m->grad_fn = std::move(node);
}

// The leaf's accumulator, made on first use (graph.cpp).
const std::shared_ptr<Node>& grad_accumulator(const std::shared_ptr<TensorImpl>& leaf);

// The edge to t's gradient: empty when t needs none.
inline Edge make_edge(const Tensor& t) {
  if (!t.defined() || !t.impl()->requires_grad) return {};
  const std::shared_ptr<TensorImpl>& impl = t.impl_ptr();
  AutogradMeta* m = autograd_meta(*impl);
  if (!m || !m->grad_fn) return {grad_accumulator(impl), nullptr};
  return {m->grad_fn, m->grad_fn->saves_output ? impl : nullptr};
}

// A node holding `vjp`, from the small-block free lists.
template <class F>
std::shared_ptr<LambdaNode<std::decay_t<F>>> make_node(F&& vjp) {
  using N = LambdaNode<std::decay_t<F>>;
  return std::allocate_shared<N>(detail::SmallAllocator<N>(), std::forward<F>(vjp));
}

// True when an op with these inputs must record a node.
inline bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->impl()->requires_grad) return true;
  return false;
}

// Attaches a node to `out`. `saved` lists the tensors the VJP captured by
// value; modifying one of them in place before backward is then an error.
template <class F>
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, F&& vjp,
            std::initializer_list<const Tensor*> saved = {}) {
  auto node = make_node(std::forward<F>(vjp));
  node->name = name;
  node->edges.reserve(inputs.size());
  for (const Tensor* t : inputs) node->edges.push_back(make_edge(*t));
  TensorImpl* o = out.impl();
  int idx = 0;
  for (const Tensor* t : saved) {
    if (t->defined()) {
      node->saved.push_back({t->impl()->storage.get(), t->impl()->storage->version, idx});
      if (t->impl() == o) node->saves_output = true;
    }
    ++idx;
  }
  node->out_shape = o->shape;
  node->out_dtype = o->dtype;
  o->requires_grad = true;
  set_grad_fn(*o, std::move(node));
}

}  // namespace nabla
