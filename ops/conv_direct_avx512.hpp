#pragma once
// Internal to ops/conv.cpp: conv2d's 3x3 "same" layers with one or two input channels (the first
// layer of a model of grayscale images, Fashion-MNIST's) computed directly with AVX-512 (see
// avx512.hpp), f32. Such a layer has too few FLOPs per value for im2col + GEMM to pay: with C*9 = 9
// rows, the columns im2col writes are 9x the input, and the GEMM's output tiles are stored after 9
// steps. From 3 channels on, im2col + xgrad's GEMM is as fast or faster (docs/performance.md,
// "Choosing the conv2d algorithm"). Directly, each output row is 9 * C FMAs per filter over shifted rows of the input,
// the bias added on the way; the weight gradient is the same shifted rows times dy, accumulated in registers over the
// whole batch (with the bias gradient in the same pass over dy).
//
// Shifted rows: input row r at column offset dj - 1 is one masked load; the lanes whose column
// falls outside the row are masked off (read as zero: the padding), and AVX-512 masked loads do not
// touch memory in masked-off lanes.
#include <cstddef>

#include "avx512.hpp"

namespace xgrad::detail::avx512 {

struct DirectConv {
  std::size_t n, c, h, w;  // input [N,C,H,W]; output [N,F,H,W]
  std::size_t f;
};

// True for the layers these kernels take: 3x3 kernel, stride 1, padding 1, 1 or 2 input channels.
bool direct_conv_applies(std::size_t c, std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph,
                         std::size_t pw);

// y of images [first, last) = conv(x, w [F,C,3,3]) + bias (bias may be null).
void direct_conv_forward(const DirectConv& s, std::size_t first, std::size_t last, const float* x, const float* w,
                         const float* bias, float* y);

// dw [F,C,3,3] = the sum over images [first, last) and positions of dy times x under each tap, and
// db [F] = the sum of dy (skipped when db is null); both overwritten.
void direct_conv_weight_grad(const DirectConv& s, std::size_t first, std::size_t last, const float* x, const float* dy,
                             float* dw, float* db);

}  // namespace xgrad::detail::avx512
