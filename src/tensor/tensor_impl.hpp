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
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  std::function<void(void*)> deleter;  // null: the bytes are not ours to free
  uint64_t version = 0;
  size_t pooled = 0;  // > 0: the block came from the block cache with this capacity
  size_t small = 0;   // > 0: the block came from detail::small_alloc with this size

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

// Allocates 64-byte aligned, uninitialized storage for `nbytes`.
std::shared_ptr<Storage> allocate_storage(size_t nbytes);
// A Storage record without bytes (from_blob fills it in).
std::shared_ptr<Storage> new_storage_record();
// A fresh TensorImpl (no storage yet), from the small-block free lists.
std::shared_ptr<TensorImpl> new_tensor_impl();

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Dims strides;  // in elements
  DType dtype = kFloat32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves and for tensors outside any graph
  Tensor grad;
  // Forward mode: the tangents of k directions at once, shape [k, ...shape]
  // (undefined outside forward mode; see src/autodiff/forward.hpp).
  Tensor tangent;
  // Batched reverse mode: set on an upstream gradient of shape [m, m] that is
  // diagonal (row i is non-zero only at column i), so VJPs may skip the zeros.
  bool diag_batch = false;

  char* bytes() const {
    return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype));
  }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(bytes());
  }
  bool contiguous() const;
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
