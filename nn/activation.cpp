#include "activation.hpp"

#include "../ops/arithmetic.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/shape.hpp"
#include "../ops/softmax.hpp"

namespace xgrad::nn {

// slope x + (1 - slope) relu(x): x for x > 0, slope x below, and gradient `slope` at 0 (relu'(0) = 0).
Tensor leaky_relu(const Tensor& x, double slope, Site site) {
  return add(mul(x, scalar(slope, x.dtype()), site), mul(relu(x, site), scalar(1 - slope, x.dtype()), site), site);
}

// relu(x) + alpha (e^(x m) - 1) m, with m = 1 where x <= 0: the exponent is 0 where x > 0, so a large
// x cannot overflow, and the gradient at 0 is alpha, as in PyTorch.
Tensor elu(const Tensor& x, double alpha, Site site) {
  const Tensor m = 1.0 - (x > 0.0);
  const Tensor negative_part = mul(sub(exp(mul(x, m, site), site), scalar(1, x.dtype()), site), m, site);
  return add(relu(x, site), mul(negative_part, scalar(alpha, x.dtype()), site), site);
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
std::string LeakyReLU::describe() const { return fmt::format("LeakyReLU(slope={})", slope_); }

PReLU::PReLU(std::size_t num_parameters, double init) {
  if (num_parameters == 0) throw Error("PReLU: num_parameters must be positive");
  weight = register_parameter("weight", full({num_parameters}, init));
}
// a x + (1 - a) relu(x), with a broadcast along the channel axis (axis 1) when there is one per channel
Tensor PReLU::forward(const Tensor& x) {
  Tensor a = weight;
  const std::size_t n = weight.numel();
  if (n > 1) {
    const Shape s = x.shape();
    if (s.size() < 2 || s[1] != n) throw Error("PReLU: input {} does not have {} channels on axis 1", shape_str(s), n);
    Shape per_channel(s.size() - 1, 1);
    per_channel[0] = n;
    a = reshape(weight, per_channel);
  }
  return a * x + (1.0 - a) * relu(x);
}
std::string PReLU::describe() const { return fmt::format("PReLU(num_parameters={})", weight.numel()); }

Tensor ELU::forward(const Tensor& x) { return elu(x, alpha_); }
std::string ELU::describe() const { return fmt::format("ELU(alpha={})", alpha_); }

Tensor SELU::forward(const Tensor& x) { return elu(x, alpha) * scale; }

Tensor Softmax::forward(const Tensor& x) { return softmax(x, axis_); }
std::string Softmax::describe() const { return fmt::format("Softmax(axis={})", axis_); }

}  // namespace xgrad::nn
