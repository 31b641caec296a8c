#pragma once
// Internal to ops/blas.cpp: xgrad's own f32 GEMM kernels for CPUs with AVX-512 (see avx512.hpp for
// why), used instead of OpenBLAS where they apply. They need no packing of the operands: the GEMMs
// of xgrad's layers have at least one short dimension, and their operands sit in cache
// (docs/performance.md, "xgrad's AVX-512 kernels").
#include <cstddef>

#include "avx512.hpp"
#include "blas.hpp"

namespace xgrad::detail::avx512 {

// True for the shapes these kernels take: all but A and B both transposed.
bool handles(const GemmShape& s);
// C [m,n] = op(A) op(B) (+ C when accumulate), row-major as detail::gemm; only where enabled() and
// handles(s). Single-threaded: blas.cpp splits C across xgrad's threads.
void sgemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
           std::size_t ldc, bool accumulate);

}  // namespace xgrad::detail::avx512
