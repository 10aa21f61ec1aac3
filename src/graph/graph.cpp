// The graph core's state: the grad mode, the leaves' accumulators, the
// destruction of deep graphs, and forward mode's per-thread state.
#include <memory>
#include <mutex>
#include <vector>

#include "forward.hpp"
#include "node.hpp"
#include "nabla/grad_mode.hpp"

namespace nabla {

namespace {
NABLA_TLS bool g_grad_enabled = true;

std::mutex g_accumulator_mu;  // guards making accumulators (rare: once per leaf)
}  // namespace

const std::shared_ptr<Node>& grad_accumulator(const std::shared_ptr<TensorImpl>& leaf) {
  TensorImpl& t = *leaf;
  Node* n = t.grad_accumulator.load(std::memory_order_acquire);
  if (!n) {
    std::lock_guard<std::mutex> lock(g_accumulator_mu);
    n = t.grad_accumulator.load(std::memory_order_relaxed);
    if (!n) {
      auto acc = std::allocate_shared<AccumulateGrad>(detail::SmallAllocator<AccumulateGrad>());
      acc->name = "AccumulateGrad";
      acc->leaf = &t;
      acc->out_shape = t.shape;
      acc->out_dtype = t.dtype;
      AccumulateGrad* raw = acc.get();
      raw->self = std::move(acc);
      n = raw;
      t.grad_accumulator.store(n, std::memory_order_release);
    }
  }
  return static_cast<AccumulateGrad*>(n)->self;
}

void forget_accumulator(TensorImpl& leaf) noexcept {
  auto* acc = static_cast<AccumulateGrad*>(leaf.grad_accumulator.load(std::memory_order_relaxed));
  std::shared_ptr<Node> self;
  {
    std::lock_guard<detail::SpinLock> lock(acc->mu);
    acc->leaf = nullptr;
    self = std::move(acc->self);
  }
  // self goes here: the accumulator with it, unless a graph still holds it
}

// Note [Deep graphs]: a node owns its edges' nodes, so destroying the output
// of a 100000-step chain would recurse 100000 frames deep. Instead each dying
// node hands the nodes it alone keeps alive to a per-thread list, and only the
// outermost destructor drains it, one at a time. LambdaNode drops its VJP's
// captures first: a captured input's node is then still held by the edge, so
// dropping the capture never destroys a node from inside another.
namespace {
std::vector<std::shared_ptr<Node>>& orphans() {
  thread_local std::vector<std::shared_ptr<Node>> list;
  return list;
}
NABLA_TLS bool t_draining = false;
}  // namespace

Node::~Node() {
  bool orphaned = false;
  for (Edge& e : edges) {
    e.keep.reset();  // the input itself may go now; e.node still holds its node
    if (e.node && e.node.use_count() == 1) {
      orphans().push_back(std::move(e.node));
      orphaned = true;
    }
    e.node.reset();
  }
  // Only the outermost destructor drains; when it orphaned nothing the list is
  // empty (every earlier outermost call drained it).
  if (t_draining || !orphaned) return;
  t_draining = true;
  auto& list = orphans();
  while (!list.empty()) {
    std::shared_ptr<Node> n = std::move(list.back());
    list.pop_back();
    n.reset();  // may push that node's own orphans
  }
  t_draining = false;
}

bool is_grad_enabled() noexcept { return g_grad_enabled; }
void set_grad_enabled(bool e) noexcept { g_grad_enabled = e; }

ForwardState& forward_state() noexcept {
  static NABLA_TLS ForwardState s;
  return s;
}

Shape tangent_shape(int64_t k, const Shape& shape) {
  Shape s;
  s.push_back(k);
  for (int64_t e : shape) s.push_back(e);
  return s;
}

bool tangent_wanted(std::initializer_list<const Tensor*> inputs, bool elementwise, const char* name) {
  ForwardState& st = forward_state();
  if (st.suspended > 0) return false;
  if (st.probe) {
    if (st.broken) return false;
    if (!elementwise) {
      st.broken = true;
      st.breaker = name;
      return false;
    }
  }
  (void)inputs;
  return true;
}

}  // namespace nabla
