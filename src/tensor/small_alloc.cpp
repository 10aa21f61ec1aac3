#include "small_alloc.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace nabla::detail {

// Note [Small blocks]: a forward and backward pass over a small graph
// allocates some thirty blocks — a TensorImpl per result and per view, a
// Storage record and its bytes, a node and its input list per op — and frees
// them all before the next pass. glibc's per-thread cache keeps only seven
// blocks per size, so most of them went through malloc's locked slow path;
// for small tensors that cost more than the arithmetic. Here each thread
// keeps its own free lists, one per 64-byte size class up to kSmallMax, up to
// kThreadBytes in all, and takes from and returns to them without locks. A
// block freed by another thread than the one that made it simply joins the
// freeing thread's list (all blocks of a class are alike). When a thread
// exits its lists are released; blocks freed after that (static tensors at
// program exit) go straight back to operator delete. Sanitizer builds bypass
// the lists so that use-after-free stays detectable.
namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUseLists = false;
#else
constexpr bool kUseLists = true;
#endif
constexpr size_t kClass = 64;
constexpr size_t kClasses = kSmallMax / kClass;
constexpr size_t kThreadBytes = size_t{8} << 20;
constexpr std::align_val_t kAlign{64};

struct FreeBlock {
  FreeBlock* next;
};

// Constant-initialized and trivially destructible, so reaching it needs no
// guard; the Reaper, made on a thread's first fresh block, empties it at exit.
struct Lists {
  FreeBlock* head[kClasses];
  size_t bytes;
  bool dead;        // the thread is exiting: bypass the lists
  bool reaper_set;  // a Reaper is registered for this thread
};
NABLA_TLS Lists t_lists = {};

struct Reaper {
  ~Reaper() {
    Lists& l = t_lists;
    l.dead = true;
    for (size_t c = 0; c < kClasses; ++c)
      while (FreeBlock* b = l.head[c]) {
        l.head[c] = b->next;
        ::operator delete(static_cast<void*>(b), kAlign);
      }
    l.bytes = 0;
  }
};

size_t class_of(size_t nbytes) { return nbytes == 0 ? 0 : (nbytes - 1) / kClass; }
}  // namespace

void* small_alloc(size_t nbytes) {
  Lists& l = t_lists;
  if (!kUseLists || nbytes > kSmallMax || l.dead) return ::operator new(nbytes == 0 ? 1 : nbytes, kAlign);
  const size_t c = class_of(nbytes);
  if (FreeBlock* b = l.head[c]) {
    l.head[c] = b->next;
    l.bytes -= (c + 1) * kClass;
    return b;
  }
  if (!l.reaper_set) {
    l.reaper_set = true;
    thread_local Reaper reaper;  // destroyed at thread exit
    (void)reaper;
  }
  return ::operator new((c + 1) * kClass, kAlign);
}

void small_free(void* p, size_t nbytes) noexcept {
  if (!p) return;
  Lists& l = t_lists;
  if (!kUseLists || nbytes > kSmallMax || l.dead || !l.reaper_set) {
    ::operator delete(p, kAlign);
    return;
  }
  const size_t c = class_of(nbytes);
  if (l.bytes + (c + 1) * kClass > kThreadBytes) {
    ::operator delete(p, kAlign);
    return;
  }
  FreeBlock* b = static_cast<FreeBlock*>(p);
  b->next = l.head[c];
  l.head[c] = b;
  l.bytes += (c + 1) * kClass;
}

void advise_huge_pages(void* p, size_t nbytes) noexcept {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kPage = 4096;
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kPage - 1) / kPage * kPage;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + nbytes) / kPage * kPage;
  if (p && hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
  (void)p, (void)nbytes;
#endif
}

}  // namespace nabla::detail
