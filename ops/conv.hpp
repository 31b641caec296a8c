#pragma once
// conv2d: the 2-D convolution of a ConvNet (a cross-correlation, as in PyTorch and the CS231n notes)
// on NCHW tensors, computed as im2col + one matrix product; its backward is two GEMMs + col2im.
// 3x3 kernels at stride 1 with 8+ input channels take a faster route by default, Winograd's
// F(4x4, 3x3) or F(2x2, 3x3): the same products as 36 or 16 smaller GEMMs with 4x or 2.25x fewer
// multiplications (ops/conv_winograd.hpp); set_conv_algorithm picks one explicitly.
#include "../autograd/tensor.hpp"
#include "size2.hpp"

namespace xgrad {

// x [N,C,H,W], w [F,C,KH,KW], b [F] (an undefined Tensor, the default, means no bias) -> [N,F,OH,OW]:
//   y[n,f,i,j] = b[f] + sum_{c,p,q} w[f,c,p,q] * xpad[n, c, i*sh + p, j*sw + q]
//   OH = (H + 2 ph - KH) / sh + 1,   OW = (W + 2 pw - KW) / sw + 1   (rounded down)
// where xpad is x with `padding` zeros on each side. stride and padding are a Size2: one integer
// for both axes or {h, w}. f32 or f64; x, w and b must share the dtype.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, Size2 stride = 1, Size2 padding = 0,
              Site site = Site::current());

// automatic (the default): Winograd for 3x3 kernels at stride 1 with padding at most 2, at least 8
// input channels and an output of at least 12x12 (where it measured faster), with 4x4 output tiles
// from 16x16 up and 2x2 below; im2col + GEMM for everything else. im2col: always im2col + GEMM (the
// notes' method, e.g. for teaching or to compare). winograd_2x2 / winograd_4x4: Winograd with that
// output tile, and an error for a layer it does not apply to; winograd is winograd_2x2. Process-wide.
enum class ConvAlgorithm { automatic, im2col, winograd_2x2, winograd_4x4, winograd = winograd_2x2 };
void set_conv_algorithm(ConvAlgorithm algorithm);
ConvAlgorithm conv_algorithm();

}  // namespace xgrad
