#include "init.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "../autograd/dispatch.hpp"
#include "../autograd/random.hpp"

namespace xgrad::nn::init {

namespace {
// Sets every element of t to draw(), drawn in double so f32 and f64 get the same numbers.
template <class Draw>
void fill(Tensor& t, Draw draw) {
  detail::visit("init", t, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    auto& values = t.mutable_value<T>();
    for (auto& v : values) v = static_cast<T>(draw());
  });
}
double fan(const Tensor& t, FanMode mode) {
  auto [in, out] = fans(t.shape());
  return static_cast<double>(mode == FanMode::fan_in ? in : out);
}
}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::sigmoid:
      return 1.0;
    case Nonlinearity::tanh:
      return 5.0 / 3.0;
    case Nonlinearity::relu:
      return std::sqrt(2.0);
    case Nonlinearity::leaky_relu:
      return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
    case Nonlinearity::selu:
      return 0.75;
  }
  return 1.0;
}

std::pair<std::size_t, std::size_t> fans(const Shape& s) {
  if (s.size() < 2) throw Error("init: fan_in and fan_out need a weight with at least 2 axes, got {}", shape_str(s));
  const std::size_t receptive = std::accumulate(s.begin() + 2, s.end(), std::size_t{1}, std::multiplies<>());
  return {s[1] * receptive, s[0] * receptive};
}

void zeros_(Tensor& t) { constant_(t, 0.0); }
void constant_(Tensor& t, double value) {
  fill(t, [value] { return value; });
}
void normal_(Tensor& t, double mean, double std) {
  std::normal_distribution<double> d(mean, std);
  fill(t, [&] { return d(generator()); });
}
void uniform_(Tensor& t, double low, double high) {
  std::uniform_real_distribution<double> d(low, high);
  fill(t, [&] { return d(generator()); });
}
void small_random_(Tensor& t, double scale) { normal_(t, 0.0, scale); }

void xavier_uniform_(Tensor& t, double gain) {
  auto [in, out] = fans(t.shape());
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  uniform_(t, -bound, bound);
}
void xavier_normal_(Tensor& t, double gain) {
  auto [in, out] = fans(t.shape());
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)));
}
void kaiming_uniform_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  const double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
  uniform_(t, -bound, bound);
}
void kaiming_normal_(Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity) {
  normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode)));
}

void sparse_(Tensor& t, std::size_t k, double std) {
  const Shape s = t.shape();
  if (s.size() < 2) throw Error("sparse_: weight {} needs at least 2 axes", shape_str(s));
  const std::size_t units = s[0], inputs = t.numel() / s[0];
  if (k > inputs) throw Error("sparse_: k = {} exceeds the {} inputs of each unit of {}", k, inputs, shape_str(s));
  std::normal_distribution<double> normal(0.0, std);
  std::vector<double> values(t.numel(), 0.0);
  std::vector<std::size_t> order(inputs);
  for (std::size_t u = 0; u < units; ++u) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), generator());
    for (std::size_t j = 0; j < k; ++j) values[u * inputs + order[j]] = normal(generator());
  }
  std::size_t i = 0;
  fill(t, [&] { return values[i++]; });
}

}  // namespace xgrad::nn::init
