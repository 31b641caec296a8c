#pragma once
// Dropout(p): inverted dropout in train() mode, the identity in eval() mode (ops/dropout.hpp).
#include "module.hpp"

namespace xgrad::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  double p_;
};

}  // namespace xgrad::nn
