#pragma once
// Matrix products through BLAS (OpenBLAS sgemm/dgemm).
#include "../autograd/tensor.hpp"

namespace xgrad {

// [M,K] x [K,N] -> [M,N];  batched [B,M,K] x [B,K,N] -> [B,M,N];  [B,M,K] x [K,N] -> [B,M,N].
Tensor matmul(const Tensor& a, const Tensor& b, Site site = Site::current());

// y = x W^T + b, the fully connected layer, with W stored [out, in] as in PyTorch. x is [N, in]
// or [..., in]; b is [out] or undefined (no bias). One GEMM with W read transposed in place.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {}, Site site = Site::current());

namespace detail {
// op(a) x op(b), where op transposes the last two axes when the flag is set. BLAS reads the
// transpose through its flags, so no transposed copy is made. Not recorded on the tape.
Tensor gemm(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b);
// The same product recorded on the tape (as "matmul") when recording is on.
Tensor gemm_recorded(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, Site site);
}  // namespace detail

}  // namespace xgrad
