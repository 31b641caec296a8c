#pragma once
// conv2d: the 2-D convolution of a ConvNet (a cross-correlation, as in PyTorch and the CS231n notes)
// on NCHW tensors, computed as im2col + one matrix product; its backward is two GEMMs + col2im.
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

}  // namespace xgrad
