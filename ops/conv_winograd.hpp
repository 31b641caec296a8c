#pragma once
// Internal: conv2d's fast path for 3x3 kernels at stride 1, Winograd's minimal filtering F(m x m, 3x3)
// with m = 2 or 4 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015). Each
// m x m block of output is computed from the (m+2) x (m+2) block of input under it as
//
//   Y = A^T [ (G g G^T) . (B^T d B) ] A          (. : elementwise; g the 3x3 filter)
//
// so the 9 m^2 multiply-adds per output block and channel pair become (m+2)^2: the elementwise
// products, summed over input channels, are (m+2)^2 GEMMs  M[k] = U[k] V[k]  (U[k] [F,C] from the
// filters, V[k] [C,tiles] from the input) - the notes' "convolution as matrix multiplication" with
// 2.25x (m = 2: 16 for 36) or 4x (m = 4: 36 for 144) fewer multiplications than im2col + GEMM. The
// larger tile's transforms have larger coefficients (up to 8 and 1/24), so its f32 rounding error is
// larger: 2-4e-6 of the largest value of y, dx and dw, against 2-5e-7 for 2x2 tiles and im2col
// (measured on a 16 -> 32 channel 28x28 layer with normal data; f64 agrees to 1e-12 either way).
// The backward passes are the same algebra transposed:
//   dM = A dY A^T,   dU[k] = dM[k] V[k]^T,   dg = G^T dU G       (the filter gradient)
//   dV[k] = U[k]^T dM[k],   dx = B dV B^T summed over the overlapping tiles (the input transform's
//   adjoint; the same as a forward over dy with flipped filters, without transforming dy again).
// conv.cpp chooses this path (see ConvAlgorithm); the im2col path stays for everything else.
#include <cstddef>

namespace xgrad::detail::winograd {

struct Shape {
  std::size_t n, c, h, w;  // input [N,C,H,W]
  std::size_t f;           // output channels
  std::size_t ph, pw;      // zero padding, each at most 2
  std::size_t tile = 2;    // m: 2 or 4
  std::size_t oh() const { return h + 2 * ph - 2; }
  std::size_t ow() const { return w + 2 * pw - 2; }
};

// True for a 3x3 kernel at stride 1 with padding at most 2 on each axis.
bool applies(std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw);

// y [N,F,OH,OW] = conv(x [N,C,H,W], w [F,C,3,3]) (+ bias [F] when not null).
template <class T>
void forward(const Shape& s, const T* x, const T* w, const T* bias, T* y);
// Given dy [N,F,OH,OW]: dx [N,C,H,W] and dw [F,C,3,3], the gradients of the forward (each skipped
// when its pointer is null).
template <class T>
void backward(const Shape& s, const T* x, const T* w, const T* dy, T* dx, T* dw);

}  // namespace xgrad::detail::winograd
