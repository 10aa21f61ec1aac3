// Private: graph nodes and the recording helper used by every op.
//
// A Node is created by an op whose inputs require grad. It keeps the inputs
// (for the edges of the graph), whatever its VJP captured, and the VJP
// itself. The engine (engine.cpp) owns the traversal; the calculus is in the
// VJP lambdas, which live beside their forward in src/ops/.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "../tensor/small_alloc.hpp"
#include "../tensor/tensor_impl.hpp"
#include "nabla/autograd.hpp"

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

struct Node {
  const char* name = "";
  template <class T>
  using List = std::vector<T, detail::SmallAllocator<T>>;  // Note [Small blocks]
  detail::InlineVec<std::shared_ptr<TensorImpl>, 3> inputs;  // null where the input needs no grad
  struct SavedVersion {
    Storage* storage;
    uint64_t version;
    int which;  // index into inputs for error messages, or -1 for the output
  };
  detail::InlineVec<SavedVersion, 3> saved;
  Shape out_shape;
  DType out_dtype = kFloat32;
  bool released = false;

  // Engine scratch, valid during one backward pass.
  Tensor grad_accum;
  uint64_t epoch = 0;
  int pending = 0;
  bool needed = false;

  // Frees the chain of nodes behind this one iteratively (engine.cpp): the
  // default, recursive destruction would overflow the stack on deep graphs.
  virtual ~Node();
  virtual void apply(const Tensor& grad, const VjpCtx& ctx) = 0;
  virtual void release() = 0;
};

template <class F>
struct LambdaNode final : Node {
  std::optional<F> fn;
  explicit LambdaNode(F&& f) : fn(std::move(f)) {}
  ~LambdaNode() override { fn.reset(); }  // drop captures before ~Node unlinks the inputs
  void apply(const Tensor& grad, const VjpCtx& ctx) override { (*fn)(grad, ctx); }
  void release() override { fn.reset(); }
};

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
  node->inputs.reserve(inputs.size());
  for (const Tensor* t : inputs)
    node->inputs.push_back(t->defined() && t->impl()->requires_grad ? t->impl_ptr() : nullptr);
  int idx = 0;
  for (const Tensor* t : saved) {
    if (t->defined()) node->saved.push_back({t->impl()->storage.get(), t->impl()->storage->version, idx});
    ++idx;
  }
  TensorImpl* o = out.impl();
  node->out_shape = o->shape;
  node->out_dtype = o->dtype;
  o->requires_grad = true;
  o->grad_fn = std::move(node);
}

namespace detail {
// grad(outputs, inputs) of one-element outputs, leaving an input the outputs
// do not depend on undefined (grad() would give zeros or an error).
std::vector<Tensor> grad_or_none(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs);
}  // namespace detail

}  // namespace nabla
