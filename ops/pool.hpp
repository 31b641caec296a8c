#pragma once
// 2-D pooling on NCHW tensors: max_pool2d keeps the switches (where each maximum came from) for its
// backward, as the CS231n notes describe; avg_pool2d spreads the gradient evenly over each window.
// No padding; windows that would run past the edge are dropped (OH = (H - KH) / sh + 1, rounded down).
#include "../autograd/tensor.hpp"
#include "size2.hpp"

namespace xgrad {

// x [N,C,H,W] -> [N,C,OH,OW], y[n,c,i,j] = max over the window at (i*sh, j*sw) of size kernel.
// stride defaults to the kernel (non-overlapping windows); overlapping pooling (kernel 3, stride 2)
// works too, and then an input element can receive gradient from several windows.
// Ties: the FIRST maximum in row-major window order (top row first, left to right) is the switch
// and gets the whole gradient, as in PyTorch and as xg::max does.
Tensor max_pool2d(const Tensor& x, Size2 kernel, Site site = Site::current());
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Site site = Site::current());

// y[n,c,i,j] = mean over the same window;   dx = dy / (KH*KW) added to every element of the window
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Site site = Site::current());
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Site site = Site::current());

}  // namespace xgrad
