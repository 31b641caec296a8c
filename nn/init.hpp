#pragma once
// Weight initialization, in place (outside the tape), with PyTorch's definitions and defaults.
// Fans of a weight follow PyTorch: for [out, in, k...], fan_in = in * prod(k), fan_out = out * prod(k).
#include <cstddef>
#include <utility>

#include "../autograd/tensor.hpp"

namespace xgrad::nn::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, sigmoid, tanh, relu, leaky_relu, selu };

// The recommended gain: 1 for linear/sigmoid, 5/3 for tanh, sqrt(2) for relu,
// sqrt(2 / (1 + slope^2)) for leaky_relu, 3/4 for selu.
double calculate_gain(Nonlinearity nonlinearity, double negative_slope = 0.01);
std::pair<std::size_t, std::size_t> fans(const Shape& weight_shape);  // {fan_in, fan_out}

void zeros_(Tensor& t);
void constant_(Tensor& t, double value);
void normal_(Tensor& t, double mean = 0.0, double std = 1.0);
void uniform_(Tensor& t, double low = 0.0, double high = 1.0);
// The notes' "small random numbers": W = scale * N(0, 1).
void small_random_(Tensor& t, double scale = 0.01);
// Glorot: std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound = sqrt(3) * std.
void xavier_uniform_(Tensor& t, double gain = 1.0);
void xavier_normal_(Tensor& t, double gain = 1.0);
// He: std = gain / sqrt(fan), gain from the nonlinearity (a is the leaky_relu slope).
void kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                      Nonlinearity nonlinearity = Nonlinearity::leaky_relu);
void kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                     Nonlinearity nonlinearity = Nonlinearity::leaky_relu);
// Each unit (row of a [out, in...] weight) connected to k random inputs, weights N(0, std); others 0.
void sparse_(Tensor& t, std::size_t k, double std = 0.01);

}  // namespace xgrad::nn::init
