// Private: a tensor's autograd state, which TensorImpl holds behind an opaque
// pointer (AutogradMetaInterface, src/tensor/tensor_impl.hpp) and only this
// layer and those above it read. A tensor gets one when it is first recorded
// as an op's output, first asked for its accumulator, or first given a
// gradient, a tangent or the diagonal-batch mark; most tensors (the values
// inside kernels, a pass's gradients, anything made under no_grad) never do.
#pragma once

#include <atomic>
#include <memory>

#include "../tensor/small_alloc.hpp"
#include "../tensor/tensor_impl.hpp"

namespace nabla {

struct Node;

struct AutogradMeta final : AutogradMetaInterface {
  std::shared_ptr<Node> grad_fn;  // null for leaves
  // A leaf that requires grad: the node its consumers' edges point at
  // (AccumulateGrad, src/graph/node.hpp), made on first use and never
  // replaced. The leaf's share of it is AccumulateGrad::self.
  std::atomic<Node*> grad_accumulator{nullptr};
  Tensor grad;
  // Forward mode: the tangents of k directions at once, shape [k, ...shape]
  // (undefined outside forward mode; see src/graph/forward.hpp).
  Tensor tangent;
  // Batched reverse mode: set on an upstream gradient of shape [m, m] that is
  // diagonal (row i is non-zero only at column i), so VJPs may skip the zeros.
  bool diag_batch = false;
  // Note [Compact diagonal batches]: set on a gradient of shape [m] that
  // stands for the diagonal batch diag(d) of shape [m, m] (jacobian()'s
  // identity seed and what element-wise VJPs make of it), so that no m×m
  // zeros are filled. Only nodes that declare Node::takes_compact_diag ever
  // see one; the engine expands it for any other (expand_diag, src/ops/ops_internal.hpp).
  bool diag_compact = false;
  // Note [Outputs' state in their nodes]: an op's output keeps its state in
  // its node (Node::output_meta), made with it, so recording an op allocates
  // nothing more. The tensor's reference to its node is then grad_fn itself,
  // and drop() clears the state and lets go of the node (which may take this
  // state with it). Any other state is allocated alone and deleted by drop().
  bool in_node = false;

  ~AutogradMeta() override;  // a leaf's accumulator learns that its leaf is gone (graph.cpp)
  void drop() noexcept override;

  static void* operator new(size_t n) { return detail::small_alloc(n); }
  static void operator delete(void* p, size_t n) noexcept { detail::small_free(p, n); }
};

// t's autograd state, or null when it has none.
inline AutogradMeta* autograd_meta(const TensorImpl& t) noexcept {
  return static_cast<AutogradMeta*>(t.autograd.load(std::memory_order_acquire));
}
// t's autograd state, made when it has none (safe against a concurrent maker).
AutogradMeta& ensure_autograd_meta(TensorImpl& t);
// The same for an op's fresh output, which no other thread can see yet: a
// plain store instead of a compare-and-swap.
inline AutogradMeta& output_autograd_meta(TensorImpl& t) {
  if (AutogradMeta* m = autograd_meta(t)) return *m;
  auto* made = new AutogradMeta;
  t.autograd.store(made, std::memory_order_release);
  return *made;
}

inline Node* grad_fn_of(const TensorImpl& t) noexcept {
  AutogradMeta* m = autograd_meta(t);
  return m ? m->grad_fn.get() : nullptr;
}
inline bool is_diag_batch(const TensorImpl& t) noexcept {
  AutogradMeta* m = autograd_meta(t);
  return m && m->diag_batch;
}
inline bool is_diag_batch(const Tensor& t) noexcept { return is_diag_batch(*t.impl()); }
inline void set_diag_batch(TensorImpl& t, bool on) {
  if (on) ensure_autograd_meta(t).diag_batch = true;
  else if (AutogradMeta* m = autograd_meta(t)) m->diag_batch = false;
}
inline void set_diag_batch(const Tensor& t, bool on) { set_diag_batch(*t.impl(), on); }
inline bool is_diag_compact(const Tensor& t) noexcept {
  AutogradMeta* m = t.defined() ? autograd_meta(*t.impl()) : nullptr;
  return m && m->diag_compact;
}
inline void set_diag_compact(const Tensor& t) { ensure_autograd_meta(*t.impl()).diag_compact = true; }

}  // namespace nabla
