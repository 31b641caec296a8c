#pragma once
// Linear: y = x W^T + b, the fully connected layer. W is [out, in] as in PyTorch (so checkpoints
// interoperate); initialized like PyTorch: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).
#include "module.hpp"

namespace xgrad::nn {

class Linear : public Module {
 public:
  Linear(std::size_t in, std::size_t out, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  Tensor weight, bias;  // bias is undefined without a bias

 private:
  std::size_t in_, out_;
};

}  // namespace xgrad::nn
