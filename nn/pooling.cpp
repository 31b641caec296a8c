#include "pooling.hpp"

#include "../ops/pool.hpp"

namespace xgrad::nn {

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_, stride_); }
std::string MaxPool2d::describe() const {
  return fmt::format("MaxPool2d(kernel=[{},{}], stride=[{},{}])", kernel_.h, kernel_.w, stride_.h, stride_.w);
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel_, stride_); }
std::string AvgPool2d::describe() const {
  return fmt::format("AvgPool2d(kernel=[{},{}], stride=[{},{}])", kernel_.h, kernel_.w, stride_.h, stride_.w);
}

}  // namespace xgrad::nn
