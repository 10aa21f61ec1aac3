// nabla's own float32 and float64 GEMM for AVX-512 machines (Note [AVX-512
// GEMM] in gemm_avx512.cpp). Internal to the kernels: gemm.cpp decides when
// it runs.
#pragma once

#include <cstdint>

namespace nabla::kernels::detail {

// Whether this build has the kernel (compiled with AVX-512F).
bool gemm_avx512_available() noexcept;

// C[M×N] = alpha · op(A) · op(B) + beta · C on row-major buffers, one thread;
// op(A) is M×K (A stored K×M when ta), op(B) is K×N (B stored N×K when tb).
// beta = 0 does not read C. Only call when gemm_avx512_available().
void gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

}  // namespace nabla::kernels::detail
