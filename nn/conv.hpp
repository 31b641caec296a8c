#pragma once
// Conv2d: a bank of `out` filters of size in x kernel, slid over an NCHW input (ops/conv.hpp).
// Initialized like PyTorch: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * KH * KW.
#include "../ops/size2.hpp"
#include "module.hpp"

namespace xgrad::nn {

struct Conv2dOptions {
  Size2 stride = 1;
  Size2 padding = 0;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  // Conv2d(1, 16, 3, {.padding = 1})
  Conv2d(std::size_t in, std::size_t out, Size2 kernel, Conv2dOptions options = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  Tensor weight, bias;  // weight [out, in, KH, KW]; bias [out] or undefined

 private:
  std::size_t in_, out_;
  Size2 kernel_;
  Conv2dOptions options_;
};

}  // namespace xgrad::nn
