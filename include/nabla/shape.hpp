// nabla/shape.hpp — Dims: a small inline vector of extents or strides.
//
// Rank is at most kMaxRank; shapes never touch the heap, which keeps the
// per-op overhead of small tensors low.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <vector>

#include "nabla/error.hpp"

namespace nabla {

inline constexpr int kMaxRank = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.end()); }
  Dims(const std::vector<int64_t>& v) { assign(v.begin(), v.end()); }  // NOLINT: implicit by design
  template <class It>
  Dims(It first, It last) { assign(first, last); }
  static Dims filled(int n, int64_t value) {
    Dims d;
    d.resize(n, value);
    return d;
  }

  int size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  int64_t& operator[](int i) noexcept { return v_[i]; }
  int64_t operator[](int i) const noexcept { return v_[i]; }
  int64_t* begin() noexcept { return v_; }
  int64_t* end() noexcept { return v_ + n_; }
  const int64_t* begin() const noexcept { return v_; }
  const int64_t* end() const noexcept { return v_ + n_; }
  const int64_t* data() const noexcept { return v_; }
  int64_t back() const noexcept { return v_[n_ - 1]; }

  void push_back(int64_t x) {
    NABLA_CHECK(n_ < kMaxRank, "tensor rank exceeds the maximum of ", kMaxRank);
    v_[n_++] = x;
  }
  void insert(int pos, int64_t x) {
    NABLA_CHECK(n_ < kMaxRank, "tensor rank exceeds the maximum of ", kMaxRank);
    for (int i = n_; i > pos; --i) v_[i] = v_[i - 1];
    v_[pos] = x;
    ++n_;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) v_[i] = v_[i + 1];
    --n_;
  }
  void resize(int n, int64_t fill = 0) {
    NABLA_CHECK(n >= 0 && n <= kMaxRank, "tensor rank ", n, " exceeds the maximum of ", kMaxRank);
    for (int i = n_; i < n; ++i) v_[i] = fill;
    n_ = n;
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Dims& a, const Dims& b) noexcept {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  template <class It>
  void assign(It first, It last) {
    n_ = 0;
    for (; first != last; ++first) push_back(static_cast<int64_t>(*first));
  }
  int64_t v_[kMaxRank] = {};
  int n_ = 0;
};

using Shape = Dims;

// Product of the extents (1 for a rank-0 shape). Unchecked: for shapes of
// tensors that exist; a shape that comes from outside goes through
// checked_numel or checked_nbytes first.
inline int64_t numel(const Dims& s) noexcept {
  int64_t n = 1;
  for (int64_t e : s) n *= e;
  return n;
}

// Note [Checked sizes]: every size that comes from outside (a factory's
// shape, a file's header, a checkpoint's metadata, --layers) is multiplied
// out here, with overflow checked, and compared with max_tensor_bytes()
// before anything is allocated. Each throws nabla::Error (kind shape) whose
// message starts with `what`.

// The product of the extents; throws on a negative extent or when the
// product does not fit in int64.
int64_t checked_numel(const Dims& s, const char* what);
// numel × itemsize, in bytes; throws as checked_numel does, and when the
// bytes exceed max_tensor_bytes().
size_t checked_nbytes(const Dims& s, size_t itemsize, const char* what);
// a × b and a + b for non-negative sizes; throw naming `what` on overflow.
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);
// The largest single allocation nabla attempts: the machine's physical
// memory, or the process's address-space or data limit (setrlimit) when
// lower. Bigger requests fail before allocating, naming both sizes.
uint64_t max_tensor_bytes();
// Throws (kind shape) when `bytes` exceed max_tensor_bytes(): "<what>: needs
// 6.0 GB, more than the 4.0 GB this machine allows".
void check_allocation(uint64_t bytes, const char* what);

// Row-major (C-order) strides, in elements.
inline Dims contiguous_strides(const Dims& shape) {
  Dims st = Dims::filled(shape.size(), 1);
  int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

// "[3,4]" — the notation every error message uses.
std::string to_string(const Dims& d);
std::ostream& operator<<(std::ostream& os, const Dims& d);

// NumPy broadcasting of two shapes; throws naming `op` when they do not agree.
Dims broadcast_shapes(const Dims& a, const Dims& b, const char* op);

// Normalizes a possibly negative dimension index against `rank`.
int normalize_dim(int64_t dim, int rank, const char* op);

}  // namespace nabla
