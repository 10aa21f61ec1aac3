// The backward engine.
//
// One pass: (1) walk the graph from the outputs with an explicit stack,
// giving every node it reaches a row of this pass's table (Note [Pass
// state]), counting for every node how many consumers inside this graph will
// send it a gradient, and marking which nodes lie on a path to something that
// wants a gradient; (2) seed the outputs; (3) run nodes whose consumers have
// all reported (Kahn's order = reverse topological order), each exactly once,
// summing what they return into the rows of their edges' nodes; (4) deliver
// the leaves' sums into their .grad().
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <utility>

#include "../graph/node.hpp"
#include "../ops/ops_internal.hpp"
#include "engine.hpp"
#include "nabla/autograd.hpp"

namespace nabla {

namespace {
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
// pass runs. Slots that outlive the pass (grad()'s results) are listed in
// `shared` and copied at the end of the pass if something outside still
// shares them (Note [Shared gradients]).
// Gradients that carry a tangent (forward-over-reverse) are never updated in
// place: in-place writes do not propagate tangents.
void accumulate(Tensor& slot, Tensor g, bool create_graph, Node::List<Tensor*>* shared = nullptr) {
  if (is_diag_compact(g) || is_diag_compact(slot)) [[unlikely]] {  // Note [Compact diagonal batches]
    if (!slot.defined()) {
      slot = std::move(g);
    } else if (is_diag_compact(g) && is_diag_compact(slot)) {
      NoGradGuard ng;
      slot = slot + g;  // diag(a) + diag(b) = diag(a + b)
      set_diag_compact(slot);
    } else {
      if (is_diag_compact(slot)) slot = expand_diag(slot);
      accumulate(slot, is_diag_compact(g) ? expand_diag(g) : std::move(g), create_graph, shared);
    }
    return;
  }
  if (!slot.defined()) {
    if (shared && !create_graph && !exclusively_owned(g) && !has_tangent(g) && !is_diag_batch(g))
      shared->push_back(&slot);
    slot = std::move(g);
    return;
  }
  if (create_graph) {
    slot = slot + g;
  } else {
    NoGradGuard ng;
    if (exclusively_owned(slot) && !has_tangent(slot) && !has_tangent(g)) {
      const bool diag = is_diag_batch(slot) && is_diag_batch(g);
      slot.add_(g);
      set_diag_batch(slot, diag);  // diag + diag stays diagonal
    } else {
      slot = slot + g;
    }
  }
}

// Makes a slot that outlives the pass its own dense buffer when something
// else still shares it (Note [Shared gradients]).
void unshare_slot(Tensor& slot) {
  if (!slot.defined() || exclusively_owned(slot)) return;
  const bool diag = is_diag_batch(slot);
  slot = slot.detach().clone();
  set_diag_batch(slot, diag);
}

}  // namespace

std::string Tensor::grad_fn_name() const {
  Node* n = impl_ ? grad_fn_of(*impl_) : nullptr;
  return n ? std::string(n->name) + "Backward" : std::string();
}

namespace {

// Note [Pass state]: everything a pass knows about a node lives in the pass,
// not in the node: its row of `rows`, found through a small open-addressing
// map from Node* to the row's index, assigned in the order the collect walk
// first reaches the node. Nodes hold only structure and saved values, so any
// number of passes may run over one retained graph at once, in any threads
// (as PyTorch's GraphTask). The only graph state a pass writes is `released`
// (without retain_graph), and the only shared state a pass writes is a leaf's
// .grad(), under its accumulator's lock.
struct Row {
  Node* node;
  Tensor grad;         // the sum of what reached the node so far
  uint32_t slot;       // where the map holds this node
  int32_t first_edge;  // into Scratch::targets: the row of each edge's node (-1: no edge)
  int32_t capture;     // index into grad()'s results, or -1
  int32_t pending;     // consumers that will still send a gradient
  bool needed;         // runs its VJP: one of its edges leads to an active node
  bool active;         // takes gradients: needed, captured, or a leaf to deliver to
};
struct Frame {
  int32_t row;
  uint32_t next;
};
struct MapSlot {
  Node* key;
  int32_t row;
};
// Note [Leaf sums]: a leaf's accumulator runs no VJP and has no consumers to
// wait for, so it gets no row: when backward() delivers to its leaf or grad()
// reports its gradient, its sum lives in a short list of the pass (a scan, at
// most Scratch::kLeafSums entries; further accumulators get rows), an edge
// into it is coded in `targets` as -2 - its index, and finish() hands the sums
// on. An accumulator grad() does not report takes nothing: its edges are -1.
struct LeafSum {
  Node* acc;
  Tensor grad;
  int32_t capture;  // index into grad()'s results, or -1: deliver to the leaf
};
constexpr int32_t leaf_code(size_t i) { return -2 - static_cast<int32_t>(i); }
constexpr size_t leaf_index(int32_t code) { return static_cast<size_t>(-2 - code); }

// The working lists of one pass. Each thread keeps one set and reuses it, so
// that a pass over a small graph allocates nothing of its own; a pass that
// starts inside another on the same thread (a VJP that differentiates
// something) gets a fresh set.
struct Scratch {
  Node::List<Row> rows;
  Node::List<Node*> keys;   // rows[i].node, packed: the small graphs' map (a scan)
  Node::List<MapSlot> map;  // beyond kScan rows: capacity a power of two, at most half full
  bool hashed = false;
  Node::List<int32_t> targets;
  Node::List<int32_t> order;  // post-order (inputs before consumers)
  Node::List<int32_t> root_rows;
  Node::List<Frame> stack;
  Node::List<int32_t> ready;
  Node::List<Tensor> grads;
  Node::List<char> needs;
  Node::List<int32_t> leaves;  // rows of the accumulators this pass delivers to
  Node::List<LeafSum> leaf_sums;  // the accumulators without a row (Note [Leaf sums])
  Node::List<Tensor*> shared;  // result slots that may share their first gradient
  bool busy = false;

  // Up to this many rows the map is a scan of `keys` (no hashing, nothing to
  // clear); a larger graph moves to the hash table.
  static constexpr size_t kScan = 32;
  // At most this many accumulators are kept in leaf_sums (a scan); further
  // ones get rows, so that a graph with many leaves does not scan a long list.
  static constexpr size_t kLeafSums = 16;

  // The target code of n: its row, leaf_code() of its leaf sum, or -1.
  int32_t find_target(const Node* n) const {
    if (n->is_accumulator)
      for (size_t i = 0; i < leaf_sums.size(); ++i)
        if (leaf_sums[i].acc == n) return leaf_code(i);
    return find(n);
  }
  // Does a gradient along an edge coded `t` reach something that takes it?
  bool active(int32_t t) const { return t < -1 || (t >= 0 && rows[t].active); }
  Tensor& grad_of(int32_t t) { return t >= 0 ? rows[t].grad : leaf_sums[leaf_index(t)].grad; }
  const Node* node_at(int32_t t) const { return t >= 0 ? rows[t].node : leaf_sums[leaf_index(t)].acc; }

  static uint32_t hash(const Node* n, size_t mask) {
    return static_cast<uint32_t>(((reinterpret_cast<uintptr_t>(n) >> 4) * 0x9E3779B97F4A7C15ull) >> 32) &
           static_cast<uint32_t>(mask);
  }
  // The row of n, or -1.
  int32_t find(const Node* n) const {
    if (!hashed) {
      for (size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == n) return static_cast<int32_t>(i);
      return -1;
    }
    const size_t mask = map.size() - 1;
    for (uint32_t i = hash(n, mask);; i = (i + 1) & mask) {
      if (map[i].key == n) return map[i].row;
      if (!map[i].key) return -1;
    }
  }
  uint32_t place(Node* n, int32_t row) {
    const size_t mask = map.size() - 1;
    uint32_t i = hash(n, mask);
    while (map[i].key) i = (i + 1) & mask;
    map[i] = {n, row};
    return i;
  }
  // A new row for n (not yet in the map).
  int32_t add(Node* n, int32_t capture, bool active) {
    const auto row = static_cast<int32_t>(rows.size());
    uint32_t slot = 0;
    if (hashed || rows.size() + 1 > kScan) [[unlikely]] {
      if (!hashed || 2 * (rows.size() + 1) > map.size()) {
        // (the table is empty between passes: clear() empties the slots it used)
        size_t cap = std::max<size_t>(4 * kScan, map.size());
        while (2 * (rows.size() + 1) > cap) cap *= 2;
        if (hashed || cap != map.size()) map.assign(cap, MapSlot{nullptr, -1});
        for (size_t r = 0; r < rows.size(); ++r) rows[r].slot = place(rows[r].node, static_cast<int32_t>(r));
        hashed = true;
      }
      slot = place(n, row);
    }
    keys.push_back(n);
    rows.push_back(Row{n, Tensor(), slot, static_cast<int32_t>(targets.size()), capture, 0, false, active});
    // (a loop, not resize(): a node has few edges, and resize calls memset)
    for (size_t k = n->edges.size(); k > 0; --k) targets.push_back(-1);
    return row;
  }
  void clear() {
    if (hashed)
      for (const Row& r : rows) map[r.slot].key = nullptr;
    hashed = false;
    rows.clear();
    keys.clear();
    targets.clear();
    order.clear();
    root_rows.clear();
    stack.clear();
    ready.clear();
    grads.clear();
    needs.clear();
    leaves.clear();
    leaf_sums.clear();
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

// The node that takes t's gradient: its grad_fn, or a leaf's accumulator.
Node* node_of(const Tensor& t) {
  Node* n = grad_fn_of(*t.impl());
  return n ? n : grad_accumulator(t.impl_ptr()).get();
}

// Note [Node lifetime in a pass]: the pass holds raw Node pointers. Every node
// it visits is owned along a chain root → grad_fn → edges → node …, or is the
// accumulator of a leaf (owned by the leaf, and by the edges into it), and the
// pass never cuts such a chain (release() drops a VJP's captures, never a
// node's edges), while the caller keeps the roots and grad()'s inputs alive
// for the whole pass.
struct Pass {
  bool retain_graph, create_graph, accumulate_leaves;
  int nb = 0;  // leading batch dims of every gradient (batched reverse mode)
  // For grad(): which nodes to report (their node and index into captured),
  // sorted by node.
  std::vector<std::pair<const Node*, size_t>> capture;
  std::vector<Tensor> captured;
  ScratchLease lease;
  Scratch& w = *lease;

  Pass(bool retain, bool create, bool leaves, int batch_dims)
      : retain_graph(retain), create_graph(create), accumulate_leaves(leaves), nb(batch_dims) {}

  // Registers grad()'s inputs, by the node that takes each one's gradient;
  // `op` names the caller in errors.
  void set_inputs(const std::vector<Tensor>& inputs, const char* op) {
    captured.resize(inputs.size());
    capture.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      NABLA_CHECK_KIND(inputs[i].defined() && inputs[i].requires_grad(), ErrorKind::autograd, op, ": input ", i,
                       " does not require grad");
      capture.emplace_back(node_of(inputs[i]), i);
    }
    std::sort(capture.begin(), capture.end());
    for (size_t j = 1; j < capture.size(); ++j)
      NABLA_CHECK_KIND(capture[j].first != capture[j - 1].first, ErrorKind::autograd, op, ": input ",
                       std::max(capture[j].second, capture[j - 1].second), " is listed twice");
  }

  int32_t capture_index(const Node* n) const {
    if (capture.empty()) return -1;
    auto it = std::lower_bound(capture.begin(), capture.end(), n,
                               [](const auto& e, const Node* k) { return e.first < k; });
    return it != capture.end() && it->first == n ? static_cast<int32_t>(it->second) : -1;
  }

  // Note [Shared gradients]: a gradient that reaches a leaf (or a grad()
  // result) may be a tensor the engine also handed elsewhere, or one the user
  // passed in. Copying every such gradient on arrival costs an allocation and
  // a copy per leaf and step; instead the copy happens at the end of the
  // pass, once the engine's own references are gone, and only where something
  // still shares the buffer (a seed the user holds, a view kept by a retained
  // graph) or the gradient is a broadcast view. A leaf's .grad is then always
  // its own dense buffer, safe to update in place (optimizers do).
  void unshare() {
    for (Tensor* slot : w.shared) unshare_slot(*slot);
    w.shared.clear();
  }

  // A row for n; a leaf's accumulator is active when this pass delivers to
  // the leaf (backward) or reports its gradient (grad). Whether the leaf is
  // still there and still requires grad is asked at delivery, under the
  // accumulator's lock.
  int32_t add_row(Node* n) {
    const int32_t cap = capture_index(n);
    bool active = cap >= 0;
    if (n->is_accumulator && cap < 0 && accumulate_leaves) {
      active = true;
      w.leaves.push_back(static_cast<int32_t>(w.rows.size()));
    }
    return w.add(n, cap, active);
  }

  void collect(std::span<const Tensor> roots) {
    auto& stack = w.stack;
    auto& rows = w.rows;
    for (const Tensor& r : roots) {
      Node* n = node_of(r);
      int32_t ri = w.find_target(n);
      if (ri != -1) {
        w.root_rows.push_back(ri);
        continue;
      }
      ri = add_row(n);
      w.root_rows.push_back(ri);
      stack.push_back({ri, 0});
      while (!stack.empty()) {
        // (fields read one by one: the frame was just written in halves, and
        // one wide load of it would wait for both stores)
        Frame& f = stack.back();
        const int32_t fr = f.row;
        Node* node = rows[fr].node;
        if (f.next < node->edges.size()) {
          const uint32_t e = f.next++;
          Node* c = node->edges[e].node.get();
          if (!c) continue;
          int32_t ci = w.find_target(c);
          if (ci == -1) {
            const int32_t cap = c->is_accumulator ? capture_index(c) : -1;
            if (c->is_accumulator && !accumulate_leaves && cap < 0) {
              continue;  // a leaf grad() does not report: nothing goes there
            } else if (c->is_accumulator && w.leaf_sums.size() < Scratch::kLeafSums) {
              ci = leaf_code(w.leaf_sums.size());
              w.leaf_sums.push_back({c, Tensor(), cap});
            } else {
              ci = add_row(c);
              stack.push_back({ci, 0});  // f is invalid from here on
            }
          }
          w.targets[rows[fr].first_edge + e] = ci;
        } else {
          stack.pop_back();
          // Edges are finished: decide whether this node leads anywhere useful.
          // Its edges' nodes are finished, so their marks are final; a needed
          // node counts as a pending consumer of each of them.
          Row& row = rows[fr];
          if (!node->is_accumulator) {
            const int32_t* t = &w.targets[row.first_edge];
            const size_t k = node->edges.size();
            for (size_t i = 0; i < k; ++i)
              if (w.active(t[i])) {
                row.needed = true;
                row.active = true;
                break;
              }
            if (row.needed)
              for (size_t i = 0; i < k; ++i)
                if (t[i] >= 0) ++rows[t[i]].pending;
          }
          w.order.push_back(fr);
        }
      }
    }
  }

  // Adds a leaf's sum into its .grad(), under its accumulator's lock: other
  // passes, in other threads, may deliver to the same leaf. The engine's own
  // references to g are gone by now, so the first gradient is copied only if
  // something outside still shares it (Note [Shared gradients]).
  void deliver(Node* node, Tensor& sum) {
    Tensor g = std::move(sum);
    if (!g.defined()) return;
    if (is_diag_compact(g)) g = expand_diag(g);
    auto* acc = static_cast<AccumulateGrad*>(node);
    std::lock_guard<detail::SpinLock> lock(acc->mu);
    if (!acc->leaf || !acc->leaf->requires_grad) return;
    Tensor& slot = ensure_autograd_meta(*acc->leaf).grad;
    if (slot.defined()) {
      accumulate(slot, std::move(g), create_graph);
      return;
    }
    slot = std::move(g);
    if (!create_graph && !has_tangent(slot) && !is_diag_batch(slot)) unshare_slot(slot);
  }

  void finish() {
    for (LeafSum& l : w.leaf_sums) {
      if (l.capture < 0)
        deliver(l.acc, l.grad);
      else if (l.grad.defined())
        accumulate(captured[static_cast<size_t>(l.capture)], std::move(l.grad), create_graph, &w.shared);
    }
    w.leaf_sums.clear();
    for (int32_t row : w.leaves) deliver(w.rows[row].node, w.rows[row].grad);
    w.leaves.clear();
    unshare();
  }

  void run(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    try {
      run_nodes(roots, seeds);
    } catch (...) {
      try {
        finish();  // what reached the leaves before the error stays, as it did arrive
      } catch (...) {  // out of memory while copying: the error already under way matters more
      }
      throw;
    }
    finish();
  }

  void run_nodes(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    AutoGradMode mode(create_graph);
    auto& rows = w.rows;
    for (size_t i = 0; i < roots.size(); ++i) {
      const int32_t ri = w.root_rows[i];
      if (w.active(ri)) accumulate(w.grad_of(ri), seeds[i], create_graph);
    }
    // Ready set: active nodes with no pending consumers, processed in reverse
    // post-order among equals, which keeps the sweep deterministic.
    auto& ready = w.ready;
    for (auto it = w.order.rbegin(); it != w.order.rend(); ++it)
      if (rows[*it].active && rows[*it].pending == 0) ready.push_back(*it);
    std::reverse(ready.begin(), ready.end());
    auto& grads = w.grads;
    auto& needs = w.needs;
    while (!ready.empty()) {
      Row& row = rows[ready.back()];
      ready.pop_back();
      Node* n = row.node;
      if (row.capture >= 0 && row.grad.defined())
        accumulate(captured[static_cast<size_t>(row.capture)], row.grad, create_graph, &w.shared);
      if (!row.needed) {
        if (row.capture >= 0) row.grad = Tensor();  // a leaf's sum stays for delivery
        continue;
      }
      Tensor g = std::move(row.grad);
      row.grad = Tensor();
      const size_t k = n->edges.size();
      const int32_t* t = &w.targets[row.first_edge];
      if (g.defined()) {
        NABLA_CHECK_KIND(!n->released, ErrorKind::autograd, "backward: trying to backward through the graph a second time (through ",
                         n->name, "); pass retain_graph=true to the first backward");
        for (const auto& s : n->saved)
          NABLA_CHECK_KIND(s.storage->version == s.version, ErrorKind::autograd, "backward: a value saved by ", n->name,
                           " for its gradient was modified in place after it was used");
        grads.assign(k, Tensor());
        needs.assign(k, 0);
        for (size_t i = 0; i < k; ++i) needs[i] = w.active(t[i]);
        if (is_diag_compact(g) && !n->takes_compact_diag) g = expand_diag(g);  // Note [Compact diagonal batches]
        n->apply(g, VjpCtx{grads.data(), reinterpret_cast<const bool*>(needs.data())});
        g = Tensor();
        for (size_t i = 0; i < k; ++i) {
          if (!needs[i] || !grads[i].defined()) continue;
          NABLA_ASSERT([&] {  // [batch..., ...the input's shape]
            const Shape& gs = grads[i].impl()->shape;
            const Shape& is = w.node_at(t[i])->out_shape;
            if (is_diag_compact(grads[i])) return nb == 1 && is.size() == 1 && gs == is;  // stands for [m, m]
            if (gs.size() != is.size() + nb) return false;
            for (int j = 0; j < is.size(); ++j)
              if (gs[j + nb] != is[j]) return false;
            return true;
          }());
          accumulate(w.grad_of(t[i]), std::move(grads[i]), create_graph);
        }
        grads.clear();  // drop what the VJP returned before the next node runs
      }
      if (!retain_graph) {
        n->release();
        n->released = true;
      }
      for (size_t i = 0; i < k; ++i) {
        if (t[i] < 0) continue;
        Row& to = rows[t[i]];
        if (--to.pending == 0 && to.active) ready.push_back(t[i]);
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
    NABLA_CHECK_KIND(o.defined() && g.defined(), ErrorKind::shape, "grad_batched: output or gradient ", i,
                     " is undefined");
    // a compact diagonal batch d [m] stands for diag(d) [m, m] (Note [Compact diagonal batches])
    const bool compact = is_diag_compact(g);
    NABLA_CHECK_KIND(!compact || (!create_graph && nb == 1 && o.dim() == 1 && g.dim() == 1 && g.numel() == o.numel()),
                     ErrorKind::shape, "grad_batched: a compact diagonal gradient ", g.shape(),
                     " needs a vector output of its length, one batch dim and no create_graph");
    const Shape gs = compact ? Shape{g.numel(), g.numel()} : g.shape();
    NABLA_CHECK_KIND(gs.size() == o.dim() + nb, ErrorKind::shape, "grad_batched: gradient ", gs,
                     " does not match output ", o.shape(), " with ", nb, " batch dims");
    Shape b;
    for (int j = 0; j < nb; ++j) b.push_back(gs[j]);
    for (int j = 0; j < o.dim(); ++j)
      NABLA_CHECK_KIND(gs[j + nb] == o.shape()[j], ErrorKind::shape, "grad_batched: gradient ", gs,
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
    if (is_diag_compact(p.captured[i])) p.captured[i] = expand_diag(p.captured[i]);
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
std::vector<Tensor> grad_or_none(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                                 bool retain_graph) {
  return grad_impl(outputs, inputs, {}, retain_graph, false);
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
