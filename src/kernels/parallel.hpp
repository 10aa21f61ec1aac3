// Block-parallel loops on nabla's own helper pool (parallel.cpp), used by the
// GEMM's Eigen path, the element-wise drivers and the optimizers' updates.
// The thread count is the GEMM's (kernels::get_num_threads(), set by
// set_num_threads or `nabla train --threads N`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "gemm.hpp"

namespace nabla::kernels {

// Runs fn(0), …, fn(blocks − 1) on up to `threads` threads, the caller
// included, and returns when all are done. When the pool is busy (a call from
// inside a block, or from another thread meanwhile) the caller runs every
// block itself.
void run_blocks(int threads, int blocks, const std::function<void(int)>& fn);

// Helpers that are polling for their next block go to sleep now (Note
// [Spinning helpers] in parallel.cpp): called before work on another
// library's threads.
void park_helpers();

// fn(lo, hi) over [0, n) in contiguous ranges of at least `grain` indices
// (edges on multiples of `align`), on the configured threads; inline when
// there is only one thread or too little work. fn may run concurrently on
// different ranges, and must not throw. Ranges depend only on n, grain,
// align and the thread count, so results repeat bit for bit.
template <class F>
void parallel_for(int64_t n, int64_t grain, int64_t align, F&& fn) {
  const int threads = get_num_threads();
  // Several blocks per thread, claimed first come first served: a helper that
  // wakes late (a futex wake-up can take tens of µs on a busy or virtual
  // machine) then takes a share of what is left instead of none.
  // A whole number of blocks per thread: three equal blocks on two threads
  // would leave one thread idle for a third of the job.
  int64_t blocks = threads <= 1 ? 1 : std::min<int64_t>(8 * threads, n / std::max<int64_t>(grain, 1));
  if (blocks > threads) blocks -= blocks % threads;
  if (blocks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  auto edge = [&](int64_t i) -> int64_t {
    if (i >= blocks) return n;
    return std::min(n, n * i / blocks / align * align);
  };
  run_blocks(threads, static_cast<int>(blocks), [&](int i) {
    const int64_t lo = edge(i), hi = edge(i + 1);
    if (lo < hi) fn(lo, hi);
  });
}

// Element-wise work below this many elements stays in the calling thread:
// handing out blocks (and, when the helper sleeps, a futex wake of µs to tens
// of µs) costs more than it saves. kNoParallel: never split.
inline constexpr int64_t kParallelElements = int64_t{1} << 17;
inline constexpr int64_t kNoParallel = INT64_MAX;

// parallel_for over n elements of an element-wise run: ranges of at least half
// of kParallelElements, edges on whole 16-element vectors.
template <class F>
void parallel_elements(int64_t n, F&& fn) {
  parallel_for(n, kParallelElements / 2, 16, std::forward<F>(fn));
}

// parallel_elements over the concatenation of several arrays of sizes[0],
// sizes[1], …: fn(k, lo, hi) for the part [lo, hi) of array k, so that many
// arrays — a model's parameters — make one job, small ones included, instead
// of one job per array.
template <class F>
void parallel_spans(const std::vector<int64_t>& sizes, F&& fn) {
  std::vector<int64_t> start(sizes.size() + 1, 0);
  for (size_t k = 0; k < sizes.size(); ++k) start[k + 1] = start[k] + sizes[k];
  parallel_elements(start.back(), [&](int64_t lo, int64_t hi) {
    for (size_t k = 0; k < sizes.size(); ++k) {
      const int64_t a = std::max(lo, start[k]) - start[k], b = std::min(hi, start[k + 1]) - start[k];
      if (a < b) fn(k, a, b);
    }
  });
}

}  // namespace nabla::kernels
