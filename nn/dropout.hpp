#pragma once
// Dropout(p): inverted dropout in train() mode, the identity in eval() mode (ops/dropout.hpp).
// p is the probability of dropping a unit (PyTorch's convention), not the CS231n notes' p, which is
// the probability of keeping one: the notes' p = 0.8 is Dropout(0.2).
#include "module.hpp"

namespace xgrad::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);  // p: drop probability, in [0, 1)
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  double p_;
};

}  // namespace xgrad::nn
