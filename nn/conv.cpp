#include "conv.hpp"

#include <cmath>

#include "../ops/conv.hpp"
#include "init.hpp"

namespace xgrad::nn {

Conv2d::Conv2d(std::size_t in, std::size_t out, Size2 kernel, Conv2dOptions options)
    : in_(in), out_(out), kernel_(kernel), options_(options) {
  if (in == 0 || out == 0 || kernel.h <= 0 || kernel.w <= 0)
    throw Error("Conv2d: channels and kernel must be positive, got in={} out={} kernel=[{},{}]", in, out, kernel.h,
                kernel.w);
  const Shape shape{out, in, static_cast<std::size_t>(kernel.h), static_cast<std::size_t>(kernel.w)};
  const double bound = 1.0 / std::sqrt(static_cast<double>(init::fans(shape).first));
  weight = register_parameter("weight", zeros(shape));
  init::uniform_(weight, -bound, bound);
  if (options.bias) {
    bias = register_parameter("bias", zeros({out}));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options_.stride, options_.padding); }

std::string Conv2d::describe() const {
  return fmt::format("Conv2d(in={}, out={}, kernel=[{},{}], stride=[{},{}], padding=[{},{}]{})", in_, out_, kernel_.h,
                     kernel_.w, options_.stride.h, options_.stride.w, options_.padding.h, options_.padding.w,
                     options_.bias ? "" : ", no bias");
}

}  // namespace xgrad::nn
