// GEMM over raw row-major buffers: C = alpha · op(A) · op(B) + beta · C,
// op(X) = X or Xᵀ. A is M×K after op, B is K×N after op, C is M×N; lda, ldb,
// ldc are the row strides of the buffers as stored.
//
// The implementation picks the faster of the available backends per shape
// (see gemm.cpp and BENCHMARKS.md for the measurements behind the choice).
#pragma once

#include <cstdint>
#include <functional>

namespace nabla::kernels {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Sets the number of threads the GEMM backends may use (0: the backend's default).
void set_num_threads(int n);
int get_num_threads();

// Runs fn(0), …, fn(shards − 1) concurrently, one shard per thread of the
// helper pool (parallel.hpp), with every kernel inside a shard — GEMM
// included — single-threaded: data parallelism for independent work such as
// the parts of a batch (Note [Shards] in gemm.cpp). Returns when all shards
// are done; an exception from a shard is rethrown then (the lowest shard's).
// When the pool is busy, or there is one thread, the shards run in turn.
void run_shards(int shards, const std::function<void(int)>& fn);

}  // namespace nabla::kernels
