// nabla/tensor.hpp — the dense n-d tensor.
//
// A Tensor is a handle (shared ownership) to a view of a Storage: a shape, row-
// major strides in elements, an offset and a dtype (float32 or float64). Views
// (reshape of a contiguous tensor, transpose/permute, slice, expand) share the
// storage of their base. Copying a Tensor copies the handle, as in PyTorch.
//
// Tensors that require grad record the operations applied to them; see
// nabla/autograd.hpp for backward(), grad() and friends.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/dtype.hpp"
#include "nabla/shape.hpp"

namespace nabla {

struct TensorImpl;
struct Node;
class Generator;

// Options for factories: nabla::zeros({2, 3}, nabla::TensorOptions().dtype(kFloat64).requires_grad(true)).
struct TensorOptions {
  DType dtype_ = kFloat32;
  bool requires_grad_ = false;
  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t) {}  // NOLINT: implicit, as in PyTorch
  TensorOptions dtype(DType t) const { TensorOptions o = *this; o.dtype_ = t; return o; }
  TensorOptions requires_grad(bool r = true) const { TensorOptions o = *this; o.requires_grad_ = r; return o; }
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata -----------------------------------------------------------
  bool defined() const noexcept { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }
  int64_t size(int64_t dim) const;
  const Dims& strides() const;
  int64_t dim() const;
  int64_t numel() const;
  DType dtype() const;
  int64_t storage_offset() const;
  bool is_contiguous() const;
  std::string shape_str() const;  // "[3,4]"

  // ---- data ---------------------------------------------------------------
  // Pointer to element 0 of this view (respecting the offset); T must match dtype.
  template <class T>
  T* data_ptr() const { return static_cast<T*>(raw_data(dtype_v<T>)); }
  void* raw_data() const;
  // Records that the values were written through data_ptr(), as every in-place
  // op does, so that a graph holding them refuses to use the stale ones.
  void mark_written() const;
  double item() const;  // rank-0 or one-element tensor
  template <class T>
  T item() const { return static_cast<T>(item()); }
  double at(std::initializer_list<int64_t> index) const;  // bounds-checked read
  void set(std::initializer_list<int64_t> index, double value);  // bounds-checked write
  template <class T = double>
  std::vector<T> to_vector() const;

  // ---- views and copies ---------------------------------------------------
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy; -1 infers
  Tensor view(const Shape& shape) const;     // always a view; throws when impossible
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // transpose of a matrix (rank ≤ 2)
  Tensor permute(const Dims& order) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`
  // t[i] = t.select(0, i), as in libtorch: a view of row i (negative i counts
  // from the end), differentiable; t[i][j] is the element (i, j) as a rank-0 view.
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(const Shape& shape) const;  // broadcast view (stride 0)
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor contiguous() const;  // self if already contiguous
  Tensor clone() const;       // fresh contiguous copy (differentiable)
  Tensor to(DType t) const;   // dtype conversion (differentiable)
  Tensor detach() const;      // shares storage, no graph
  Tensor sum() const;         // = nabla::sum(*this)
  Tensor mean() const;        // = nabla::mean(*this)

  // ---- autograd -----------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool r = true);
  bool is_leaf() const;
  const Tensor& grad() const;  // undefined until a backward pass reaches it
  Tensor& mutable_grad();
  void set_grad(const Tensor& g);
  void zero_grad();  // resets grad() to undefined, as optimizer.zero_grad() does
  std::string grad_fn_name() const;  // "" for leaves
  // Backward from this tensor: a scalar needs no gradient; any other shape needs one.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;

  // ---- in-place (refused on leaves that require grad while grad mode is on) --
  Tensor& zero_();
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& add_(double value);
  Tensor& sub_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double value);
  Tensor& div_(const Tensor& other);
  Tensor& div_(double value);

  // ---- internals ----------------------------------------------------------
  TensorImpl* impl() const noexcept { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const noexcept { return impl_; }
  bool is_same(const Tensor& o) const noexcept { return impl_ == o.impl_; }

 private:
  void* raw_data(DType expected) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- factories ------------------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor scalar_tensor(double value, TensorOptions opts = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
Tensor arange(double end, TensorOptions opts = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
Tensor eye(int64_t n, TensorOptions opts = {});
Tensor eye(int64_t n, int64_t m, TensorOptions opts = {});
// Copies `values` into a tensor of `shape` (default: 1-d of the vector's length).
Tensor tensor(const std::vector<double>& values, const Shape& shape = {}, TensorOptions opts = {});
Tensor tensor(const std::vector<float>& values, const Shape& shape = {}, TensorOptions opts = {});
// From nested lists, as torch.tensor: tensor({1.0, 2.0}) is 1-d; tensor({{1.0,
// 2.0}, {3.0, 4.0}}) is 2×2, tensor({{5.0}}) is 1×1 and tensor({{1.0}, {2.0}})
// a 2×1 column. The 1-d form is a template (of a type that is never deduced,
// so it always takes doubles) so that a list of one-element lists is not
// ambiguous between the two: with equally good conversions, the non-template
// (matrix) form wins.
template <class T = double>
Tensor tensor(std::initializer_list<std::type_identity_t<T>> values, TensorOptions opts = {}) {
  return tensor(std::vector<double>(values.begin(), values.end()), Shape{}, opts);
}
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions opts = {});
// Wraps caller-owned memory without copying; `deleter`, if given, runs when the
// last view dies. Strides (in elements, non-negative) default to row-major.
Tensor from_blob(void* data, const Shape& shape, TensorOptions opts = {},
                 std::function<void(void*)> deleter = nullptr);
Tensor from_blob(void* data, const Shape& shape, const Dims& strides, TensorOptions opts = {},
                 std::function<void(void*)> deleter = nullptr);

// ---- random (explicit seeded generator; same seed, same numbers) -----------
Tensor rand(const Shape& shape, Generator& gen, TensorOptions opts = {});   // U[0, 1)
Tensor randn(const Shape& shape, Generator& gen, TensorOptions opts = {});  // N(0, 1)
Tensor uniform(const Shape& shape, double low, double high, Generator& gen, TensorOptions opts = {});
Tensor normal(const Shape& shape, double mean, double stddev, Generator& gen, TensorOptions opts = {});

}  // namespace nabla
