#pragma once
// The one place xgrad's ops call a GEMM (row-major, like the arrays):
//
//   C [m,n] = op(A) op(B)  (+ C when accumulate),  op(X) = X or X^T
//
// On more than one thread, a GEMM of medium size (between about 1 and 200 MFLOP, the size of an MLP
// layer on a batch of 64) is split here into one block of C per thread, each computed by
// single-threaded OpenBLAS; see the comment in blas.cpp for why OpenBLAS's own split is slower for
// these. Empty operands (which BLAS rejects) are handled here too.
#include <cstddef>

namespace xgrad::detail {

struct GemmShape {
  bool ta = false, tb = false;
  std::size_t m = 0, n = 0, k = 0;
};

void gemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
          std::size_t ldc, bool accumulate = false);
void gemm(const GemmShape& s, const double* a, std::size_t lda, const double* b, std::size_t ldb, double* c,
          std::size_t ldc, bool accumulate = false);

}  // namespace xgrad::detail
