// Private: thread-local free lists for the small blocks a tensor program
// allocates by the thousand — tensor handles, storage records, graph nodes,
// small buffers. See Note [Small blocks] in small_alloc.cpp. Also the advice
// for huge pages that large blocks and file buffers share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace nabla::detail {

// Blocks up to this many bytes come from the free lists; larger ones from
// operator new. Every block is 64-byte aligned.
inline constexpr size_t kSmallMax = 4096;

// For per-thread state read on every op: the initial-exec TLS model reaches it
// with one instruction instead of a call to __tls_get_addr (the library is
// linked, not dlopen'ed, and its per-thread state is a few hundred bytes).
#define NABLA_TLS thread_local __attribute__((tls_model("initial-exec")))

void* small_alloc(size_t nbytes);
void small_free(void* p, size_t nbytes) noexcept;

// Note [Huge pages] (tensor.cpp): asks for transparent huge pages over the
// whole 4 KiB pages inside [p, p + nbytes), before they are first touched.
// Advice only: where the kernel declines, nothing changes.
inline constexpr size_t kHugePage = size_t{2} << 20;
void advise_huge_pages(void* p, size_t nbytes) noexcept;

// A standard allocator over small_alloc, for std::allocate_shared and containers.
template <class T>
struct SmallAllocator {
  using value_type = T;
  SmallAllocator() noexcept = default;
  template <class U>
  SmallAllocator(const SmallAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(small_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { small_free(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const SmallAllocator<U>&) const noexcept {
    return true;
  }
};

// A vector whose first N elements live inside it (no allocation at all for
// the common case), growing into small blocks beyond that: a graph node's
// input list, which is one to three entries for nearly every op.
template <class T, size_t N>
class InlineVec {
 public:
  InlineVec() noexcept = default;
  InlineVec(const InlineVec&) = delete;
  InlineVec& operator=(const InlineVec&) = delete;
  ~InlineVec() {
    clear();
    if (data_ != local()) small_free(data_, cap_ * sizeof(T));
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

  void reserve(size_t n) {
    if (n > cap_) grow(n);
  }
  void push_back(T v) {
    if (size_ == cap_) grow(2 * cap_);
    ::new (static_cast<void*>(data_ + size_)) T(std::move(v));
    ++size_;
  }
  void clear() noexcept {
    std::destroy(data_, data_ + size_);
    size_ = 0;
  }

 private:
  T* local() noexcept { return reinterpret_cast<T*>(buf_); }
  void grow(size_t n) {
    T* p = static_cast<T*>(small_alloc(n * sizeof(T)));
    std::uninitialized_move(data_, data_ + size_, p);
    std::destroy(data_, data_ + size_);
    if (data_ != local()) small_free(data_, cap_ * sizeof(T));
    data_ = p;
    cap_ = n;
  }
  alignas(T) unsigned char buf_[N * sizeof(T)];
  T* data_ = local();
  size_t size_ = 0, cap_ = N;
};

}  // namespace nabla::detail
