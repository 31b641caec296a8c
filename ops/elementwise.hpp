#pragma once
// Elementwise functions of one tensor: exp, log, sqrt, abs, pow, and the activations tanh,
// sigmoid and relu. Each one's derivative is written next to it.
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor exp(const Tensor& x, Site site = Site::current());
Tensor log(const Tensor& x, Site site = Site::current());
Tensor sqrt(const Tensor& x, Site site = Site::current());
Tensor abs(const Tensor& x, Site site = Site::current());
Tensor pow(const Tensor& x, double p, Site site = Site::current());
Tensor tanh(const Tensor& x, Site site = Site::current());
Tensor sigmoid(const Tensor& x, Site site = Site::current());
Tensor relu(const Tensor& x, Site site = Site::current());

Tensor sign(const Tensor& x);  // -1, 0 or 1; not differentiable

}  // namespace xgrad
