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

// Flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...] (from start_axis on).
class Flatten : public Module {
 public:
  explicit Flatten(std::size_t start_axis = 1) : start_(start_axis) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Flatten"; }

 private:
  std::size_t start_;
};

}  // namespace xgrad::nn
