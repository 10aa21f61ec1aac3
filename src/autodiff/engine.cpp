// The backward engine.
//
// One pass: (1) walk the graph from the outputs with an explicit stack,
// counting for every node how many consumers inside this graph will send it
// a gradient, and marking which nodes lie on a path to something that wants
// a gradient; (2) seed the outputs; (3) run nodes whose consumers have all
// reported (Kahn's order = reverse topological order), each exactly once,
// accumulating what they return into their inputs' nodes or into leaves.
#include <algorithm>
#include <atomic>
#include <memory>
#include <span>
#include <utility>

#include "../ops/ops_internal.hpp"
#include "node.hpp"

namespace nabla {

namespace {
NABLA_TLS bool g_grad_enabled = true;
// Distinguishes passes so Node scratch needs no reset. Atomic, and each pass
// compares against its own copy: passes may run in several threads at once.
std::atomic<uint64_t> g_epoch{0};

// True when nobody else can see t's values: one handle, one view of its
// storage, laid out densely (no stride-0 aliasing), outside any graph.
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1 && t.impl()->contiguous() &&
         !t.impl()->requires_grad;
}

// Adds g into slot. The first gradient into a slot is stored as it is, even
// when it is shared (add's VJP hands the same tensor to both inputs; a VJP may
// return a view): the engine only ever adds in place into a slot nobody else
// sees, and falls back to slot + g otherwise, so sharing is safe while the
// pass runs. Slots that outlive the pass (leaf .grad, grad()'s results) are
// listed in `shared` and copied at the end of the pass if something outside
// still shares them (Note [Shared gradients]).
// Gradients that carry a tangent (forward-over-reverse) are never updated in
// place: in-place writes do not propagate tangents.
void accumulate(Tensor& slot, Tensor g, bool create_graph, Node::List<Tensor*>* shared = nullptr) {
  if (!slot.defined()) {
    if (shared && !create_graph && !exclusively_owned(g) && !has_tangent(g) && !g.impl()->diag_batch)
      shared->push_back(&slot);
    slot = std::move(g);
    return;
  }
  if (create_graph) {
    slot = slot + g;
  } else {
    NoGradGuard ng;
    if (exclusively_owned(slot) && !has_tangent(slot) && !has_tangent(g)) {
      const bool diag = slot.impl()->diag_batch && g.impl()->diag_batch;
      slot.add_(g);
      slot.impl()->diag_batch = diag;  // diag + diag stays diagonal
    } else {
      slot = slot + g;
    }
  }
}
}  // namespace

// Note [Deep graphs]: a node owns its inputs, which own their nodes, so
// destroying the output of a 100000-step chain would recurse 100000 frames
// deep. Instead each dying node hands the nodes it alone keeps alive to a
// per-thread list, and only the outermost destructor drains it, one at a time.
namespace {
std::vector<std::shared_ptr<Node>>& orphans() {
  thread_local std::vector<std::shared_ptr<Node>> list;
  return list;
}
NABLA_TLS bool t_draining = false;
}  // namespace

Node::~Node() {
  bool orphaned = false;
  for (auto& in : inputs) {
    if (in && in.use_count() == 1 && in->grad_fn && in->grad_fn.use_count() == 1) {
      orphans().push_back(std::move(in->grad_fn));
      orphaned = true;
    }
    in.reset();
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

std::string Tensor::grad_fn_name() const {
  return impl_ && impl_->grad_fn ? std::string(impl_->grad_fn->name) + "Backward" : std::string();
}

namespace {

// The working lists of one pass. Each thread keeps one set and reuses it, so
// that a pass over a small graph allocates nothing of its own; a pass that
// starts inside another on the same thread (a VJP that differentiates
// something) gets a fresh set.
struct Frame {
  Node* node;
  size_t next;
};
struct Scratch {
  Node::List<Node*> order;  // post-order (inputs before consumers)
  Node::List<Frame> stack;
  Node::List<Node*> ready;
  Node::List<Tensor> grads;
  Node::List<char> needs;
  Node::List<Tensor*> shared;  // result slots that may share their first gradient
  bool busy = false;
  void clear() {
    order.clear();
    stack.clear();
    ready.clear();
    grads.clear();
    needs.clear();
    shared.clear();
  }
};

class ScratchLease {
 public:
  ScratchLease() {
    thread_local Scratch mine;
    if (mine.busy) {
      own_ = std::make_unique<Scratch>();
      s_ = own_.get();
    } else {
      s_ = &mine;
    }
    s_->busy = true;
  }
  ~ScratchLease() {
    s_->clear();
    s_->busy = false;
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Scratch& operator*() const { return *s_; }

 private:
  std::unique_ptr<Scratch> own_;
  Scratch* s_;
};

// Note [Node lifetime in a pass]: the pass holds raw Node pointers. Every node
// it visits is owned along a chain root → grad_fn → inputs → grad_fn …, and
// the pass never cuts such a chain (release() drops a VJP's captures, never a
// node's inputs), while the caller keeps the roots alive for the whole pass.
struct Pass {
  bool retain_graph, create_graph, accumulate_leaves;
  int nb = 0;  // leading batch dims of every gradient (batched reverse mode)
  uint64_t epoch = 0;  // this pass's mark on the nodes it visits
  // For grad(): which tensors to report (their impl and index into captured),
  // sorted by impl.
  std::vector<std::pair<const TensorImpl*, size_t>> capture;
  std::vector<Tensor> captured;
  ScratchLease lease;
  Scratch& w = *lease;

  Pass(bool retain, bool create, bool leaves, int batch_dims)
      : retain_graph(retain), create_graph(create), accumulate_leaves(leaves), nb(batch_dims) {}

  // Registers grad()'s inputs; `op` names the caller in errors.
  void set_inputs(const std::vector<Tensor>& inputs, const char* op) {
    captured.resize(inputs.size());
    capture.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      NABLA_CHECK_KIND(inputs[i].defined() && inputs[i].requires_grad(), ErrorKind::autograd, op, ": input ", i,
                       " does not require grad");
      capture.emplace_back(inputs[i].impl(), i);
    }
    std::sort(capture.begin(), capture.end());
    for (size_t j = 1; j < capture.size(); ++j)
      NABLA_CHECK_KIND(capture[j].first != capture[j - 1].first, ErrorKind::autograd, op, ": input ",
                       std::max(capture[j].second, capture[j - 1].second), " is listed twice");
  }

  // The captured slot for t, or null.
  Tensor* capture_slot(const TensorImpl* t) {
    if (capture.empty()) return nullptr;
    auto it = std::lower_bound(capture.begin(), capture.end(), t,
                               [](const auto& e, const TensorImpl* k) { return e.first < k; });
    return it != capture.end() && it->first == t ? &captured[it->second] : nullptr;
  }
  bool captures(const TensorImpl* t) { return capture_slot(t) != nullptr; }

  // Note [Shared gradients]: a gradient that reaches a leaf (or a grad()
  // result) may be a tensor the engine also handed elsewhere, or one the user
  // passed in. Copying every such gradient on arrival costs an allocation and
  // a copy per leaf and step; instead the copy happens here, once the engine's
  // own references are gone, and only where something still shares the
  // buffer (a seed the user holds, a view kept by a retained graph) or the
  // gradient is a broadcast view. A leaf's .grad is then always its own
  // dense buffer, safe to update in place (optimizers do).
  void unshare() {
    for (Tensor* slot : w.shared) {
      if (!slot->defined() || exclusively_owned(*slot)) continue;
      const bool diag = slot->impl()->diag_batch;
      *slot = slot->detach().clone();
      slot->impl()->diag_batch = diag;
    }
    w.shared.clear();
  }

  bool wants_leaf(const TensorImpl* t) { return (accumulate_leaves && t->requires_grad) || captures(t); }
  bool wants(const TensorImpl* in) { return in->grad_fn ? (in->grad_fn->needed || captures(in)) : wants_leaf(in); }

  static void visit(Node* n, uint64_t epoch) {
    n->epoch = epoch;
    n->pending = 0;
    n->needed = false;
    n->grad_accum = Tensor();
  }

  void collect(std::span<const Tensor> roots) {
    epoch = ++g_epoch;
    auto& stack = w.stack;
    for (const Tensor& r : roots) {
      Node* n = r.impl()->grad_fn.get();
      if (!n || n->epoch == epoch) continue;
      visit(n, epoch);
      stack.push_back({n, 0});
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.next < f.node->inputs.size()) {
          const auto& in = f.node->inputs[f.next++];
          if (!in) continue;
          Node* c = in->grad_fn.get();
          if (c && c->epoch != epoch) {
            visit(c, epoch);
            stack.push_back({c, 0});
          }
        } else {
          Node* n2 = f.node;
          stack.pop_back();
          // Inputs are finished: decide whether this node leads anywhere useful.
          for (const auto& in : n2->inputs)
            if (in && wants(in.get())) {
              n2->needed = true;
              break;
            }
          w.order.push_back(n2);
        }
      }
    }
    // Count, for each needed node, the needed consumers that will feed it.
    for (Node* n : w.order) {
      if (!n->needed) continue;
      for (const auto& in : n->inputs)
        if (in && in->grad_fn && in->grad_fn->epoch == epoch) ++in->grad_fn->pending;
    }
  }

  void deliver_leaf(TensorImpl* leaf, Tensor g) {
    if (Tensor* slot = capture_slot(leaf)) {
      accumulate(*slot, std::move(g), create_graph, &w.shared);
      return;
    }
    if (accumulate_leaves && leaf->requires_grad) accumulate(leaf->grad, std::move(g), create_graph, &w.shared);
  }

  void run(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    try {
      run_nodes(roots, seeds);
    } catch (...) {
      try {
        unshare();
      } catch (...) {  // out of memory while copying: the error already under way matters more
      }
      throw;
    }
    unshare();
  }

  void run_nodes(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    AutoGradMode mode(create_graph);
    for (size_t i = 0; i < roots.size(); ++i) {
      TensorImpl* r = roots[i].impl();
      if (!r->grad_fn) {
        deliver_leaf(r, seeds[i]);
        continue;
      }
      // grad(y, {y}): ∂y/∂y is the seed itself
      if (Tensor* slot = capture_slot(r)) accumulate(*slot, seeds[i], create_graph, &w.shared);
      if (r->grad_fn->needed) accumulate(r->grad_fn->grad_accum, seeds[i], create_graph);
    }
    // Ready set: needed nodes with no pending consumers, processed in reverse
    // post-order among equals, which keeps the sweep deterministic.
    auto& ready = w.ready;
    for (auto it = w.order.rbegin(); it != w.order.rend(); ++it)
      if ((*it)->needed && (*it)->pending == 0) ready.push_back(*it);
    std::reverse(ready.begin(), ready.end());
    auto& grads = w.grads;
    auto& needs = w.needs;
    while (!ready.empty()) {
      Node* n = ready.back();
      ready.pop_back();
      Tensor g = std::move(n->grad_accum);
      n->grad_accum = Tensor();
      const size_t k = n->inputs.size();
      if (g.defined()) {
        NABLA_CHECK_KIND(!n->released, ErrorKind::autograd, "backward: trying to backward through the graph a second time (through ",
                         n->name, "); pass retain_graph=true to the first backward");
        for (const auto& s : n->saved)
          NABLA_CHECK_KIND(s.storage->version == s.version, ErrorKind::autograd, "backward: a value saved by ", n->name,
                           " for its gradient was modified in place after it was used");
        grads.assign(k, Tensor());
        needs.assign(k, 0);
        for (size_t i = 0; i < k; ++i) {
          const auto& in = n->inputs[i];
          if (in) needs[i] = wants(in.get());
        }
        n->apply(g, VjpCtx{grads.data(), reinterpret_cast<const bool*>(needs.data())});
        g = Tensor();
        for (size_t i = 0; i < k; ++i) {
          if (!needs[i] || !grads[i].defined()) continue;
          TensorImpl* in = n->inputs[i].get();
          NABLA_ASSERT(nb == 0 ? grads[i].impl()->shape == in->shape : [&] {
            const Shape& gs = grads[i].impl()->shape;
            if (gs.size() != in->shape.size() + nb) return false;
            for (int j = 0; j < in->shape.size(); ++j)
              if (gs[j + nb] != in->shape[j]) return false;
            return true;
          }());
          if (in->grad_fn) {
            if (Tensor* slot = capture_slot(in)) accumulate(*slot, grads[i], create_graph, &w.shared);
            if (in->grad_fn->needed) accumulate(in->grad_fn->grad_accum, std::move(grads[i]), create_graph);
          } else {
            deliver_leaf(in, std::move(grads[i]));
          }
        }
        grads.clear();  // drop what the VJP returned before the next node runs
      }
      if (!retain_graph) {
        n->release();
        n->released = true;
      }
      for (const auto& in : n->inputs) {
        if (!in || !in->grad_fn || !in->grad_fn->needed || in->grad_fn->epoch != epoch) continue;
        if (--in->grad_fn->pending == 0) ready.push_back(in->grad_fn.get());
      }
    }
  }
};

// The seed of backward() on a rank-0 output: one per dtype and thread, made
// once. Sharing it is safe without create_graph: the engine never writes into
// a gradient something else holds, and unshare() copies every slot that would
// let it (or a view of it) outlive the pass. With create_graph gradients are
// kept as they are, so those passes get a fresh seed.
const Tensor& scalar_one(DType t) {
  thread_local Tensor one[2];
  Tensor& o = one[t == kFloat64 ? 1 : 0];
  if (!o.defined()) o = ones({}, t);
  return o;
}

Node::List<Tensor> make_seeds(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs,
                              bool create_graph) {
  NABLA_CHECK_KIND(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ErrorKind::autograd,
                   "backward: ", outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  Node::List<Tensor> seeds;
  seeds.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    NABLA_CHECK_KIND(o.defined(), ErrorKind::autograd, "backward: output ", i, " is undefined");
    NABLA_CHECK_KIND(o.requires_grad(), ErrorKind::autograd, "backward: output ", i,
                     " does not require grad and has no grad_fn");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      NABLA_CHECK_KIND(o.numel() == 1, ErrorKind::autograd, "backward: output of shape ", o.shape(),
                       " is not a scalar; pass a gradient of that shape");
      g = o.dim() == 0 && !create_graph ? scalar_one(o.dtype()) : ones(o.shape(), o.dtype());
    } else {
      NABLA_CHECK_KIND(g.shape() == o.shape(), ErrorKind::shape, "backward: gradient of shape ", g.shape(),
                       " does not match output of shape ", o.shape());
      NABLA_CHECK_KIND(g.dtype() == o.dtype(), ErrorKind::dtype, "backward: gradient is ", g.dtype(),
                       ", output is ", o.dtype());
    }
    seeds.push_back(std::move(g));
  }
  return seeds;
}

void backward_impl(std::span<const Tensor> outputs, std::span<const Tensor> grad_outputs, bool retain_graph,
                   bool create_graph) {
  Node::List<Tensor> seeds = make_seeds(outputs, grad_outputs, create_graph);
  Pass p(retain_graph || create_graph, create_graph, true, 0);
  p.collect(outputs);
  p.run(outputs, seeds);
}

}  // namespace

std::vector<Tensor> grad_batched(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                 const std::vector<Tensor>& grad_outputs, int nb, bool create_graph) {
  NABLA_CHECK_KIND(grad_outputs.size() == outputs.size() && nb >= 0, ErrorKind::autograd, "grad_batched: ",
                   outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  Shape batch;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    const Tensor& g = grad_outputs[i];
    NABLA_CHECK_KIND(o.defined() && g.defined() && g.dim() == o.dim() + nb, ErrorKind::shape,
                     "grad_batched: gradient ", g.defined() ? g.shape() : Shape{}, " does not match output ",
                     o.defined() ? o.shape() : Shape{}, " with ", nb, " batch dims");
    Shape b;
    for (int j = 0; j < nb; ++j) b.push_back(g.shape()[j]);
    for (int j = 0; j < o.dim(); ++j)
      NABLA_CHECK_KIND(g.shape()[j + nb] == o.shape()[j], ErrorKind::shape, "grad_batched: gradient ", g.shape(),
                       " does not match output ", o.shape());
    if (i == 0) batch = b;
    NABLA_CHECK_KIND(b == batch, ErrorKind::shape, "grad_batched: batch shapes differ");
  }
  Pass p(create_graph, create_graph, false, nb);
  p.set_inputs(inputs, "grad_batched");
  std::vector<Tensor> roots, seeds;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].requires_grad()) {
      roots.push_back(outputs[i]);
      seeds.push_back(grad_outputs[i]);
    }
  if (!roots.empty()) {
    p.collect(roots);
    p.run(roots, seeds);
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (p.captured[i].defined()) continue;
    Shape s = batch;
    for (int64_t e : inputs[i].shape()) s.push_back(e);
    p.captured[i] = zeros(s, inputs[i].dtype());
  }
  return std::move(p.captured);
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  backward_impl(outputs, grad_outputs, retain_graph, create_graph);
}

namespace {
// ∂(Σ grad_outputs·outputs)/∂inputs, leaving .grad() alone; an input the
// outputs do not depend on gets an undefined tensor.
std::vector<Tensor> grad_impl(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                              const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph) {
  Node::List<Tensor> seeds = make_seeds(outputs, grad_outputs, create_graph);
  Pass p(retain_graph || create_graph, create_graph, false, 0);
  p.set_inputs(inputs, "grad");
  p.collect(outputs);
  p.run(outputs, seeds);
  return std::move(p.captured);
}
}  // namespace

namespace detail {
std::vector<Tensor> grad_or_none(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs) {
  return grad_impl(outputs, inputs, {}, false, false);
}
}  // namespace detail

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  std::vector<Tensor> g = grad_impl(outputs, inputs, grad_outputs, retain_graph, create_graph);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (g[i].defined()) continue;
    NABLA_CHECK_KIND(allow_unused, ErrorKind::autograd, "grad: input ", i, " of shape ", inputs[i].shape(),
                     " was not used to compute the outputs (pass allow_unused=true to get zeros)");
    g[i] = zeros_like(inputs[i]);
  }
  return g;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  // one output, and no gradient unless one was given: no vectors to build
  backward_impl({this, 1}, {&gradient, gradient.defined() ? 1u : 0u}, retain_graph, create_graph);
}

}  // namespace nabla
