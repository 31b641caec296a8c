#include "flatten.hpp"

#include "../ops/shape.hpp"

namespace xgrad::nn {

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_); }

}  // namespace xgrad::nn
