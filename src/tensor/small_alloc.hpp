// Private: thread-local free lists for the small blocks a tensor program
// allocates by the thousand — tensor handles, storage records, graph nodes,
// small buffers. See Note [Small blocks] in small_alloc.cpp.
#pragma once

#include <cstddef>
#include <new>

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

}  // namespace nabla::detail
