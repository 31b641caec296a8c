#pragma once
// MaxPool2d and AvgPool2d: parameter-free layers over ops/pool.hpp. The stride defaults to the kernel.
#include <optional>

#include "../ops/size2.hpp"
#include "module.hpp"

namespace xgrad::nn {

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt)
      : kernel_(kernel), stride_(stride.value_or(kernel)) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  Size2 kernel_, stride_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel, std::optional<Size2> stride = std::nullopt)
      : kernel_(kernel), stride_(stride.value_or(kernel)) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  Size2 kernel_, stride_;
};

}  // namespace xgrad::nn
