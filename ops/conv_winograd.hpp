#pragma once
// Internal: conv2d's fast path for 3x3 kernels at stride 1, Winograd's minimal filtering F(2x2, 3x3)
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015). Each 2x2 block of
// output is computed from the 4x4 block of input under it as
//
//   Y = A^T [ (G g G^T) . (B^T d B) ] A          (. : elementwise; g the 3x3 filter)
//
// so the 36 multiply-adds per output block and channel pair become 16: the 16 elementwise products,
// summed over input channels, are 16 GEMMs  M[k] = U[k] V[k]  (U[k] [F,C] from the filters,
// V[k] [C,tiles] from the input) - the notes' "convolution as matrix multiplication" with 2.25x fewer
// multiplications than im2col + GEMM. The backward passes are the same algebra transposed:
//   dM = A dY A^T,   dU[k] = dM[k] V[k]^T,   dg = G^T dU G       (the filter gradient)
//   dx = the same forward applied to dy with the filters flipped and transposed, padding 2 - p.
// conv.cpp chooses this path (see ConvAlgorithm); the im2col path stays for everything else.
#include <cstddef>

namespace xgrad::detail::winograd {

struct Shape {
  std::size_t n, c, h, w;  // input [N,C,H,W]
  std::size_t f;           // output channels
  std::size_t ph, pw;      // zero padding, each at most 2
  std::size_t oh() const { return h + 2 * ph - 2; }
  std::size_t ow() const { return w + 2 * pw - 2; }
};

// True for a 3x3 kernel at stride 1 with padding at most 2 on each axis.
bool applies(std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw);

// y [N,F,OH,OW] = conv(x [N,C,H,W], w [F,C,3,3]) (+ bias [F] when not null).
template <class T>
void forward(const Shape& s, const T* x, const T* w, const T* bias, T* y);
// dx [N,C,H,W] = the gradient of the forward with respect to x, given dy [N,F,OH,OW].
template <class T>
void backward_data(const Shape& s, const T* dy, const T* w, T* dx);
// dw [F,C,3,3] = the gradient with respect to w.
template <class T>
void backward_filter(const Shape& s, const T* x, const T* dy, T* dw);

}  // namespace xgrad::detail::winograd
