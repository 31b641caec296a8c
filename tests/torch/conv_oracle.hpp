#pragma once
// The interface between the libtorch half of the conv2d oracle test (conv_oracle.cpp) and the xgrad
// half (test_conv_torch.cpp): plain C++ types only, so torch's headers never meet xtensor's.
#include <cstdint>
#include <vector>

namespace oracle {

enum class Precision { f32, f64 };

// torch::conv2d(x, w, b, stride, padding) on row-major values given as doubles (rounded to f32 when
// precision is f32, as xg::tensor rounds them).
struct ConvProblem {
  Precision precision = Precision::f64;
  std::vector<std::int64_t> x_shape, w_shape;  // [N,C,H,W], [F,C,KH,KW]
  std::vector<double> x, w, b;                 // b empty: no bias
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool x_requires_grad = true;
  std::vector<double> g;  // loss = sum(y * g), g row-major in y's shape
};

struct ConvResult {
  std::vector<std::int64_t> y_shape;
  std::vector<double> y, dx, dw, db;  // dx empty unless x requires grad, db empty without a bias
};

// Forward, the loss, backward.
ConvResult torch_conv2d(const ConvProblem& problem);

}  // namespace oracle
