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
#include <unordered_map>

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

// Adds g into slot, reusing g's buffer when nobody else can see it. Adding in
// place is only done into a buffer nobody else sees: a slot may hold a
// broadcast view or share storage (a gradient left by create_graph, or set by
// the user), and writing through it would corrupt other values.
// Gradients that carry a tangent (forward-over-reverse) are never updated in
// place: in-place writes do not propagate tangents.
void accumulate(Tensor& slot, Tensor g, bool create_graph) {
  if (!slot.defined()) {
    // (a diagonal batched seed is only read, never updated in place while shared)
    if (create_graph || exclusively_owned(g) || has_tangent(g) || g.impl()->diag_batch) {
      slot = std::move(g);
    } else {
      slot = g.detach().clone();
      slot.impl()->diag_batch = g.impl()->diag_batch;
    }
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

struct Pass {
  bool retain_graph, create_graph, accumulate_leaves;
  int nb = 0;  // leading batch dims of every gradient (batched reverse mode)
  uint64_t epoch = 0;  // this pass's mark on the nodes it visits
  // For grad(): which tensors to report, keyed by their impl.
  std::unordered_map<const TensorImpl*, size_t> capture;
  std::vector<Tensor> captured;
  Node::List<Node*> order;  // post-order (inputs before consumers)
  Node::List<std::shared_ptr<Node>> keep;  // keeps nodes alive during the pass

  bool wants_leaf(const TensorImpl* t) const {
    return (accumulate_leaves && t->requires_grad) || capture.count(t);
  }

  void collect(const std::vector<Tensor>& roots) {
    epoch = ++g_epoch;
    struct Frame {
      Node* node;
      size_t next;
    };
    Node::List<Frame> stack;
    for (const Tensor& r : roots) {
      Node* n = r.impl()->grad_fn.get();
      if (!n || n->epoch == epoch) continue;
      n->epoch = epoch;
      n->pending = 0;
      n->needed = false;
      n->grad_accum = Tensor();
      keep.push_back(r.impl()->grad_fn);
      stack.push_back({n, 0});
      while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.next < f.node->inputs.size()) {
          const auto& in = f.node->inputs[f.next++];
          if (!in) continue;
          Node* c = in->grad_fn.get();
          if (!c) continue;
          if (c->epoch != epoch) {
            c->epoch = epoch;
            c->pending = 0;
            c->needed = false;
            c->grad_accum = Tensor();
            keep.push_back(in->grad_fn);
            stack.push_back({c, 0});
          }
        } else {
          Node* n2 = f.node;
          stack.pop_back();
          // Inputs are finished: decide whether this node leads anywhere useful.
          for (const auto& in : n2->inputs) {
            if (!in) continue;
            if (in->grad_fn ? (in->grad_fn->needed || capture.count(in.get())) : wants_leaf(in.get()))
              n2->needed = true;
          }
          order.push_back(n2);
        }
      }
    }
    // Count, for each needed node, the needed consumers that will feed it.
    for (Node* n : order) {
      if (!n->needed) continue;
      for (const auto& in : n->inputs)
        if (in && in->grad_fn && in->grad_fn->epoch == epoch) ++in->grad_fn->pending;
    }
  }

  void deliver_leaf(TensorImpl* leaf, const std::shared_ptr<TensorImpl>& owner, Tensor g) {
    auto it = capture.find(leaf);
    if (it != capture.end()) {
      accumulate(captured[it->second], std::move(g), create_graph);
      return;
    }
    if (accumulate_leaves && leaf->requires_grad) {
      Tensor holder(owner);
      accumulate(holder.mutable_grad(), std::move(g), create_graph);
    }
  }

  void run(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds) {
    AutoGradMode mode(create_graph);
    for (size_t i = 0; i < roots.size(); ++i) {
      TensorImpl* r = roots[i].impl();
      if (!r->grad_fn) {
        deliver_leaf(r, roots[i].impl_ptr(), seeds[i]);
        continue;
      }
      auto it = capture.find(r);  // grad(y, {y}): ∂y/∂y is the seed itself
      if (it != capture.end()) accumulate(captured[it->second], seeds[i], create_graph);
      if (r->grad_fn->needed) accumulate(r->grad_fn->grad_accum, seeds[i], create_graph);
    }
    // Ready set: needed nodes with no pending consumers, processed in reverse
    // post-order among equals, which keeps the sweep deterministic.
    Node::List<Node*> ready;
    for (auto it = order.rbegin(); it != order.rend(); ++it)
      if ((*it)->needed && (*it)->pending == 0) ready.push_back(*it);
    std::reverse(ready.begin(), ready.end());
    Node::List<Tensor> grads;
    Node::List<char> needs;
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
          if (!in) continue;
          needs[i] = in->grad_fn ? (in->grad_fn->needed || capture.count(in.get())) : wants_leaf(in.get());
        }
        n->apply(g, VjpCtx{grads.data(), reinterpret_cast<const bool*>(needs.data())});
        g = Tensor();
        for (size_t i = 0; i < k; ++i) {
          if (!needs[i] || !grads[i].defined()) continue;
          const auto& in = n->inputs[i];
          NABLA_ASSERT(nb == 0 ? grads[i].impl()->shape == in->shape : [&] {
            const Shape& gs = grads[i].impl()->shape;
            if (gs.size() != in->shape.size() + nb) return false;
            for (int j = 0; j < in->shape.size(); ++j)
              if (gs[j + nb] != in->shape[j]) return false;
            return true;
          }());
          if (in->grad_fn) {
            auto it = capture.find(in.get());
            if (it != capture.end()) accumulate(captured[it->second], grads[i], create_graph);
            if (in->grad_fn->needed) accumulate(in->grad_fn->grad_accum, std::move(grads[i]), create_graph);
          } else {
            deliver_leaf(in.get(), in, std::move(grads[i]));
          }
        }
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

std::vector<Tensor> make_seeds(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  NABLA_CHECK_KIND(grad_outputs.empty() || grad_outputs.size() == outputs.size(), ErrorKind::autograd,
                   "backward: ", outputs.size(), " outputs but ", grad_outputs.size(), " gradients");
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& o = outputs[i];
    NABLA_CHECK_KIND(o.defined(), ErrorKind::autograd, "backward: output ", i, " is undefined");
    NABLA_CHECK_KIND(o.requires_grad(), ErrorKind::autograd, "backward: output ", i,
                     " does not require grad and has no grad_fn");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      NABLA_CHECK_KIND(o.numel() == 1, ErrorKind::autograd, "backward: output of shape ", o.shape(),
                       " is not a scalar; pass a gradient of that shape");
      g = ones(o.shape(), o.dtype());
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
  Pass p{create_graph, create_graph, false, nb, {}, {}, {}, {}, {}};
  p.captured.resize(inputs.size());
  std::vector<Tensor> roots, seeds;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].requires_grad()) {
      roots.push_back(outputs[i]);
      seeds.push_back(grad_outputs[i]);
    }
  for (size_t i = 0; i < inputs.size(); ++i) {
    NABLA_CHECK_KIND(inputs[i].defined() && inputs[i].requires_grad(), ErrorKind::autograd, "grad_batched: input ",
                     i, " does not require grad");
    NABLA_CHECK_KIND(p.capture.emplace(inputs[i].impl(), i).second, ErrorKind::autograd, "grad_batched: input ", i,
                     " is listed twice");
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
  return p.captured;
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  std::vector<Tensor> seeds = make_seeds(outputs, grad_outputs);
  Pass p{retain_graph || create_graph, create_graph, true, 0, {}, {}, {}, {}, {}};
  p.collect(outputs);
  p.run(outputs, seeds);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  std::vector<Tensor> seeds = make_seeds(outputs, grad_outputs);
  Pass p{retain_graph || create_graph, create_graph, false, 0, {}, {}, {}, {}, {}};
  p.captured.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    NABLA_CHECK_KIND(inputs[i].defined() && inputs[i].requires_grad(), ErrorKind::autograd, "grad: input ", i,
                     " does not require grad");
    NABLA_CHECK_KIND(p.capture.emplace(inputs[i].impl(), i).second, ErrorKind::autograd, "grad: input ", i,
                     " is listed twice");
  }
  p.collect(outputs);
  p.run(outputs, seeds);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (p.captured[i].defined()) continue;
    NABLA_CHECK_KIND(allow_unused, ErrorKind::autograd, "grad: input ", i, " of shape ", inputs[i].shape(),
                     " was not used to compute the outputs (pass allow_unused=true to get zeros)");
    p.captured[i] = zeros_like(inputs[i]);
  }
  return p.captured;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  nabla::backward({*this}, {gradient}, retain_graph, create_graph);
}

}  // namespace nabla
