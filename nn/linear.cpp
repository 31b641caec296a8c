#include "linear.hpp"

#include <cmath>

#include "../ops/matmul.hpp"
#include "init.hpp"

namespace xgrad::nn {

Linear::Linear(std::size_t in, std::size_t out, bool bias) : in_(in), out_(out) {
  if (in == 0 || out == 0) throw Error("Linear: in and out must be positive, got {} and {}", in, out);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", zeros({out, in}));
  init::uniform_(weight, -bound, bound);  // = kaiming_uniform_(a = sqrt(5)), PyTorch's default
  if (bias) {
    this->bias = register_parameter("bias", zeros({out}));
    init::uniform_(this->bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (!x.defined()) throw Error("{}: the input is undefined", describe());
  if (const Shape s = x.shape(); s.empty() || s.back() != in_)
    throw Error("{}: expects {} input features (an input [..., {}]), got {} with {}", describe(), in_, in_,
                shape_str(s), s.empty() ? 0 : s.back());
  return linear(x, weight, bias);
}

std::string Linear::describe() const {
  return fmt::format("Linear(in={}, out={}{})", in_, out_, bias.defined() ? "" : ", no bias");
}

}  // namespace xgrad::nn
