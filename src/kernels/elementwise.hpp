// Element-wise loops over raw strided buffers. Knows nothing of Tensor or
// autograd: callers pass shapes, strides (in elements) and pointers.
//
// The iteration coalesces adjacent dimensions that are laid out contiguously
// with respect to every operand, so that the common cases (all contiguous,
// a scalar operand, a broadcast row) reduce to one flat, vectorizable loop.
#pragma once

#include <array>
#include <cstdint>

#include "nabla/shape.hpp"
#include "parallel.hpp"
#include "vmath.hpp"  // NABLA_SIMDLEN

namespace nabla::kernels {

// Merges dimensions i and i+1 wherever every operand has stride[i] ==
// stride[i+1] * shape[i+1]; drops extent-1 dims. Returns the reduced rank.
template <size_t N>
int coalesce(Dims& shape, std::array<Dims, N>& strides) {
  Dims s;
  std::array<Dims, N> st;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (s.size() > 0) {
      bool merge = true;
      int last = s.size() - 1;
      for (size_t k = 0; k < N; ++k)
        if (st[k][last] != strides[k][i] * shape[i]) merge = false;
      if (merge) {
        s[last] *= shape[i];
        for (size_t k = 0; k < N; ++k) st[k][last] = strides[k][i];
        continue;
      }
    }
    s.push_back(shape[i]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][i]);
  }
  shape = s;
  strides = st;
  return shape.size();
}

// True when every operand is laid out densely in row-major order over `shape`
// (extent-1 dims may have any stride).
template <size_t N>
bool all_dense(const Dims& shape, const std::array<Dims, N>& strides) {
  int64_t expect = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    for (size_t k = 0; k < N; ++k)
      if (strides[k][i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

// Calls body(ptrs, inner_strides, inner_n) once per innermost run, with ptrs
// pointing at the run's first element of each operand. Operand 0 is usually
// the output. `ptrs` holds typed base pointers.
// Runs of `parallel_min` elements or more are split over the helper pool
// (parallel.hpp): compute-bound bodies (exp, tanh, …) nearly halve, and since
// the helpers poll for work (Note [Spinning helpers]) memory-bound ones (add,
// relu) gain 30–45% on L3-resident data too (bench/elementwise_bench,
// BENCHMARKS.md). Reductions (output stride 0) never split.
template <class T, size_t N, class Body>
void for_each_run(const Dims& shape_in, const std::array<Dims, N>& strides_in, std::array<T*, N> base, Body&& body,
                  int64_t parallel_min = kNoParallel) {
  // One run of n elements with strides st, split over the pool when long
  // enough, except where operand 0 (the output) is written through stride 0:
  // that is a reduction, which stays in one thread and in order.
  auto flat = [&](int64_t n, const std::array<int64_t, N>& st) {
    if (n >= parallel_min && st[0] != 0) {
      parallel_elements(n, [&](int64_t lo, int64_t hi) {
        std::array<T*, N> p = base;
        for (size_t k = 0; k < N; ++k) p[k] += lo * st[k];
        body(p, st, hi - lo);
      });
    } else {
      body(base, st, n);
    }
  };
  if (all_dense(shape_in, strides_in)) {  // the common case: nothing to coalesce
    std::array<int64_t, N> unit;
    unit.fill(1);
    flat(numel(shape_in), unit);
    return;
  }
  Dims shape = shape_in;
  std::array<Dims, N> strides = strides_in;
  int rank = coalesce(shape, strides);
  if (rank == 0) {
    std::array<int64_t, N> s{};
    body(base, s, int64_t{1});
    return;
  }
  const int inner = rank - 1;
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = strides[k][inner];
  const int64_t n = shape[inner];
  if (rank == 1) {
    flat(n, inner_st);
    return;
  }
  if (rank == 2 && shape[0] * n >= parallel_min && strides[0][0] != 0) {  // split the rows
    parallel_for(shape[0], std::max<int64_t>(1, kParallelElements / 2 / n), 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        std::array<T*, N> p = base;
        for (size_t k = 0; k < N; ++k) p[k] += r * strides[k][0];
        body(p, inner_st, n);
      }
    });
    return;
  }
  Dims idx = Dims::filled(inner, 0);
  int64_t outer = 1;
  for (int d = 0; d < inner; ++d) outer *= shape[d];
  std::array<T*, N> p = base;
  for (int64_t it = 0; it < outer; ++it) {
    body(p, inner_st, n);
    // advance the odometer over the outer dims
    for (int d = inner - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        for (size_t k = 0; k < N; ++k) p[k] += strides[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) p[k] -= strides[k][d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

// map1/2/3 and their loop bodies are flattened: f (and the vector math it
// calls) is inlined into the loop, so the loop vectorizes even where GCC would
// not inline f on its own. Runs of kParallelElements or more are split over
// the helper pool (parallel.hpp); element-wise results do not depend on the
// split.

// out = f(a); `so` are out's strides (contiguous_strides(shape) for a fresh tensor).
template <class T, class F>
[[gnu::flatten]] void map1(const Dims& shape, T* out, const Dims& so, const T* a, const Dims& sa, F f) {
  std::array<Dims, 2> st{so, sa};
  for_each_run<T, 2>(shape, st, {out, const_cast<T*>(a)},
                     [&](std::array<T*, 2> p, std::array<int64_t, 2> s, int64_t n) __attribute__((flatten)) {
                       T* o = p[0];
                       const T* x = p[1];
                       if (s[0] == 1 && s[1] == 1) {
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]]);
                       }
                     }, kParallelElements);
}

// out = f(a, b) over the shape of out; sa, sb are a's and b's strides already
// broadcast to out's shape (0 on broadcast dims).
template <class T, class F>
[[gnu::flatten]] void map2(const Dims& shape, T* out, const Dims& so, const T* a, const Dims& sa, const T* b, const Dims& sb,
          F f) {
  std::array<Dims, 3> st{so, sa, sb};
  for_each_run<T, 3>(shape, st, {out, const_cast<T*>(a), const_cast<T*>(b)},
                     [&](std::array<T*, 3> p, std::array<int64_t, 3> s, int64_t n) __attribute__((flatten)) {
                       T* o = p[0];
                       const T* x = p[1];
                       const T* y = p[2];
                       if (s[0] != 1) {
                         for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
                       } else if (s[1] == 1 && s[2] == 1) {
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                       } else if (s[1] == 1 && s[2] == 0) {
                         const T yv = *y;
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                       } else if (s[1] == 0 && s[2] == 1) {
                         const T xv = *x;
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
                         for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * s[1]], y[i * s[2]]);
                       }
                     }, kParallelElements);
}

// out = f(a, b, c) with all three broadcast to out's shape.
template <class T, class F>
[[gnu::flatten]] void map3(const Dims& shape, T* out, const T* a, const Dims& sa, const T* b, const Dims& sb,
          const T* c, const Dims& sc, F f) {
  std::array<Dims, 4> st{contiguous_strides(shape), sa, sb, sc};
  for_each_run<T, 4>(shape, st, {out, const_cast<T*>(a), const_cast<T*>(b), const_cast<T*>(c)},
                     [&](std::array<T*, 4> p, std::array<int64_t, 4> s, int64_t n) __attribute__((flatten)) {
                       T* o = p[0];
                       const T* x = p[1];
                       const T* y = p[2];
                       const T* z = p[3];
                       if (s[1] == 1 && s[2] == 1 && s[3] == 1) {
#pragma omp simd simdlen(NABLA_SIMDLEN(T))
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], z[i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * s[1]], y[i * s[2]], z[i * s[3]]);
                       }
                     }, kParallelElements);
}

// dst (strided) = src (strided), same shape.
template <class T>
void copy_strided(const Dims& shape, T* dst, const Dims& sd, const T* src, const Dims& ss) {
  std::array<Dims, 2> st{sd, ss};
  for_each_run<T, 2>(shape, st, {dst, const_cast<T*>(src)},
                     [](std::array<T*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                       if (s[0] == 1 && s[1] == 1) {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = p[1][i];
                       } else {
                         for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = p[1][i * s[1]];
                       }
                     }, kParallelElements);
}

}  // namespace nabla::kernels
