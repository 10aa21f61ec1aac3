// Private: the layout behind a Tensor handle.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "nabla/tensor.hpp"

namespace nabla {

// A block of bytes shared by every view of it. `version` counts in-place
// writes so that autograd can refuse to use a saved value that was modified.
// Reference-counted in place (StorageRef): the record and, for small tensors,
// the bytes themselves live in one small block (Note [Inline bytes]).
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  std::function<void(void*)> deleter;  // null: the bytes are not ours to free
  uint64_t version = 0;
  size_t pooled = 0;  // > 0: the block came from the block cache with this capacity
  size_t small = 0;   // > 0: the block came from detail::small_alloc with this size
  std::atomic<int64_t> refs{0};
  size_t record_bytes = 0;  // size of the small block holding this record (and inline bytes)

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

// Frees a Storage whose last reference went away (tensor.cpp).
void destroy_storage(Storage* s) noexcept;

// Shared ownership of a Storage, like std::shared_ptr<Storage> but with the
// count inside the record: one allocation instead of two, and copies touch
// one cache line.
class StorageRef {
 public:
  StorageRef() noexcept = default;
  explicit StorageRef(Storage* s) noexcept : p_(s) { retain(); }  // takes a new reference
  StorageRef(const StorageRef& o) noexcept : p_(o.p_) { retain(); }
  StorageRef(StorageRef&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  StorageRef& operator=(const StorageRef& o) noexcept {
    StorageRef(o).swap(*this);
    return *this;
  }
  StorageRef& operator=(StorageRef&& o) noexcept {
    StorageRef(std::move(o)).swap(*this);
    return *this;
  }
  ~StorageRef() { release(); }

  Storage* get() const noexcept { return p_; }
  Storage* operator->() const noexcept { return p_; }
  Storage& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  long use_count() const noexcept { return p_ ? static_cast<long>(p_->refs.load(std::memory_order_acquire)) : 0; }
  void reset() noexcept { StorageRef().swap(*this); }
  void swap(StorageRef& o) noexcept { std::swap(p_, o.p_); }

 private:
  void retain() noexcept {
    if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    if (p_ && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_storage(p_);
  }
  Storage* p_ = nullptr;
};

// Allocates 64-byte aligned, uninitialized storage for `nbytes`.
StorageRef allocate_storage(size_t nbytes);
// A Storage record without bytes (from_blob fills it in).
StorageRef new_storage_record();
// A fresh TensorImpl (no storage yet), from the small-block free lists.
std::shared_ptr<TensorImpl> new_tensor_impl();

// The autograd state of a tensor: its node in a graph, a leaf's accumulator,
// .grad(), forward-mode tangents. The tensor layer holds it and never looks
// inside; AutogradMeta (src/graph/autograd_meta.hpp) derives from this, and
// only the graph layer and those above it read it.
struct AutogradMetaInterface {
  virtual ~AutogradMetaInterface() = default;
  virtual void drop() noexcept = 0;  // the tensor that held it is gone
};

struct TensorImpl {
  StorageRef storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Dims strides;  // in elements
  DType dtype = kFloat32;
  bool requires_grad = false;
  // Null until a graph, a gradient or a tangent first touches the tensor; set
  // once (compare-and-swap, so two passes may reach a leaf at once), owned.
  std::atomic<AutogradMetaInterface*> autograd{nullptr};

  char* bytes() const {
    return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype));
  }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(bytes());
  }
  bool contiguous() const;

  TensorImpl() = default;
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;
  ~TensorImpl() {
    if (AutogradMetaInterface* m = autograd.load(std::memory_order_relaxed)) m->drop();
  }
};

// A fresh contiguous tensor with uninitialized values (no graph).
Tensor make_tensor(const Shape& shape, DType dtype);
// A view of `base`'s storage with its own shape/strides/offset (no graph).
Tensor make_view(const Tensor& base, const Shape& shape, const Dims& strides, int64_t offset);

inline bool is_contiguous(const Shape& shape, const Dims& strides) {
  int64_t expect = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

}  // namespace nabla
