// The graph core's state: the grad mode, the leaves' accumulators, the
// destruction of deep graphs, and forward mode's per-thread state.
#include <memory>
#include <mutex>
#include <vector>

#include "autograd_meta.hpp"
#include "forward.hpp"
#include "node.hpp"
#include "nabla/error.hpp"
#include "nabla/grad_mode.hpp"

namespace nabla {

namespace {
NABLA_TLS bool g_grad_enabled = true;

std::mutex g_accumulator_mu;  // guards making accumulators (rare: once per leaf)
}  // namespace

AutogradMeta& ensure_autograd_meta(TensorImpl& t) {
  if (AutogradMeta* m = autograd_meta(t)) return *m;
  auto* made = new AutogradMeta;
  AutogradMetaInterface* expected = nullptr;
  if (t.autograd.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return *made;
  delete made;  // another thread made it first
  return *static_cast<AutogradMeta*>(expected);
}

const std::shared_ptr<Node>& grad_accumulator(const std::shared_ptr<TensorImpl>& leaf) {
  AutogradMeta& m = ensure_autograd_meta(*leaf);
  Node* n = m.grad_accumulator.load(std::memory_order_acquire);
  if (!n) {
    std::lock_guard<std::mutex> lock(g_accumulator_mu);
    n = m.grad_accumulator.load(std::memory_order_relaxed);
    if (!n) {
      auto acc = std::allocate_shared<AccumulateGrad>(detail::SmallAllocator<AccumulateGrad>());
      acc->name = "AccumulateGrad";
      acc->leaf = leaf.get();
      acc->out_shape = leaf->shape;
      acc->out_dtype = leaf->dtype;
      AccumulateGrad* raw = acc.get();
      raw->self = std::move(acc);
      n = raw;
      m.grad_accumulator.store(n, std::memory_order_release);
    }
  }
  return static_cast<AccumulateGrad*>(n)->self;
}

// A dying leaf's accumulator: `leaf` cleared under its lock (a pass may be
// delivering into .grad() right now), and the leaf's reference dropped.
AutogradMeta::~AutogradMeta() {
  auto* acc = static_cast<AccumulateGrad*>(grad_accumulator.load(std::memory_order_relaxed));
  if (!acc) return;
  std::shared_ptr<Node> self;
  {
    std::lock_guard<detail::SpinLock> lock(acc->mu);
    acc->leaf = nullptr;
    self = std::move(acc->self);
  }
  // self goes here: the accumulator with it, unless a graph still holds it
}

const Tensor& tangent_of(const Tensor& t) noexcept {
  static const Tensor none;
  AutogradMeta* m = autograd_meta(*t.impl());
  return m ? m->tangent : none;
}

void AutogradMeta::drop() noexcept {
  if (!in_node) {
    delete this;
    return;
  }
  grad = Tensor();
  tangent = Tensor();
  diag_batch = false;
  diag_compact = false;
  std::shared_ptr<Node> node = std::move(grad_fn);  // the tensor's reference: may destroy this
}

// ---- the Tensor methods that read the autograd state -----------------------------

#define NABLA_DEFINED(op) NABLA_CHECK(impl_ != nullptr, op, ": the tensor is undefined")

Tensor& Tensor::requires_grad_(bool r) {
  NABLA_DEFINED("requires_grad_");
  NABLA_CHECK_KIND(grad_fn_of(*impl_) == nullptr || r, ErrorKind::autograd,
                   "requires_grad_: cannot turn off requires_grad on a non-leaf tensor; use detach()");
  impl_->requires_grad = r;
  return *this;
}
bool Tensor::is_leaf() const { NABLA_DEFINED("is_leaf"); return grad_fn_of(*impl_) == nullptr; }
const Tensor& Tensor::grad() const {
  NABLA_DEFINED("grad");
  static const Tensor none;
  AutogradMeta* m = autograd_meta(*impl_);
  return m ? m->grad : none;
}
Tensor& Tensor::mutable_grad() { NABLA_DEFINED("mutable_grad"); return ensure_autograd_meta(*impl_).grad; }
void Tensor::set_grad(const Tensor& g) {
  NABLA_DEFINED("set_grad");
  if (g.defined())
    NABLA_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient ", g.shape_str(), " ",
                g.dtype(), " does not match tensor ", shape_str(), " ", dtype());
  ensure_autograd_meta(*impl_).grad = g;
}
void Tensor::zero_grad() {
  NABLA_DEFINED("zero_grad");
  if (AutogradMeta* m = autograd_meta(*impl_)) m->grad = Tensor();
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
