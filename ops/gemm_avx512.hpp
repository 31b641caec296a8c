#pragma once
// Internal to ops/blas.cpp: xgrad's own f32 GEMM kernels for CPUs with AVX-512, used instead of
// OpenBLAS where they apply (see blas.cpp). Why: OpenBLAS may run its AVX2 kernels on a CPU that
// has AVX-512 (this machine's environment forces them with OPENBLAS_CORETYPE=Haswell, because older
// OpenBLAS builds compute wrong results or crash with their AVX-512 kernels on newer CPUs), and
// 512-bit FMAs do twice the work of 256-bit ones where the core has full-width units (256 vs 126
// GFLOP/s measured here). The kernels need no packing of the operands: the GEMMs of xgrad's layers
// have at least one short dimension, and their operands sit in cache (docs/performance.md, "Our own
// AVX-512 GEMM kernels").
#include <cstddef>

#include "blas.hpp"

namespace xgrad::detail::avx512 {

// True when this CPU and OS run AVX-512 (F, BW, DQ, VL) and the kernels are not switched off.
bool enabled();
// Switches the kernels off (every f32 GEMM goes to OpenBLAS) or back on where the CPU runs them:
// for tests and benchmarks that compare the two.
void set_enabled(bool on);
// True for the shapes these kernels take: all but A and B both transposed.
bool handles(const GemmShape& s);
// C [m,n] = op(A) op(B) (+ C when accumulate), row-major as detail::gemm; only where enabled() and
// handles(s). Single-threaded: blas.cpp splits C across xgrad's threads.
void sgemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
           std::size_t ldc, bool accumulate);

}  // namespace xgrad::detail::avx512
