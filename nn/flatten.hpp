#pragma once
// Flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...] (from start_axis on), the step between a ConvNet's
// feature maps and its fully connected layers.
#include "module.hpp"

namespace xgrad::nn {

class Flatten : public Module {
 public:
  explicit Flatten(std::size_t start_axis = 1) : start_(start_axis) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Flatten"; }

 private:
  std::size_t start_;
};

}  // namespace xgrad::nn
