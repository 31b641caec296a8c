// Elementwise functions: y = f(x) and dx = f'(x) * dy, side by side.
// The forward values go through xsimd's vector math (exp, log, tanh: 6-35x faster than libm loops;
// ops/simd_map.hpp).
#include "elementwise.hpp"

#include <cmath>

#include <xtensor/xmath.hpp>

#include "../autograd/dispatch.hpp"
#include "../autograd/kinks.hpp"
#include "../autograd/threads.hpp"
#include "arithmetic.hpp"
#include "simd_map.hpp"

namespace xgrad {

namespace {
// y = f(x) in x's dtype, f written once for xsimd batches (ops/simd_map.hpp).
template <class F>
Tensor map(const char* op, const Tensor& x, F f) {
  return detail::visit(op, x, [&](const auto& a) {
    using Array = std::decay_t<decltype(a)>;
    Array y = Array::from_shape(a.shape());
    // Slices of 64k+ elements go to xgrad's threads (a ReLU after a conv layer is 800k values).
    detail::for_slices(a.size(), [&, in = a.data(), out = y.data()](std::size_t begin, std::size_t end) {
      detail::simd::transform(in + begin, out + begin, end - begin, f);
    });
    return Tensor(std::move(y));
  });
}
}  // namespace

// y = e^x;   dy/dx = e^x = y
Tensor exp(const Tensor& x, Site site) {
  return record(
      "exp", map("exp", x, [](auto b) { return xsimd::exp(b); }), {x},
      [](Backward& node) { node.dx[0] = node.dy * node.y; }, site);
}

// y = ln x;   dy/dx = 1/x
Tensor log(const Tensor& x, Site site) {
  return record(
      "log", map("log", x, [](auto b) { return xsimd::log(b); }), {x},
      [](Backward& node) { node.dx[0] = node.dy / node.x[0]; }, site);
}

// y = sqrt(x);   dy/dx = 1 / (2 sqrt(x)) = 0.5 / y
Tensor sqrt(const Tensor& x, Site site) {
  return record(
      "sqrt", map("sqrt", x, [](auto b) { return xsimd::sqrt(b); }), {x},
      [](Backward& node) { node.dx[0] = node.dy * 0.5 / node.y; }, site);
}

// y = |x|;   dy/dx = sign(x), and 0 at x = 0
Tensor abs(const Tensor& x, Site site) {
  if (kinks::recording()) kinks::note(sign(x));
  return record(
      "abs", map("abs", x, [](auto b) { return xsimd::abs(b); }), {x},
      [](Backward& node) { node.dx[0] = node.dy * sign(node.x[0]); }, site);
}

// y = x^p;   dy/dx = p x^(p-1)
Tensor pow(const Tensor& x, double p, Site site) {
  Tensor y = map("pow", x, [p](auto b) {
    using Batch = decltype(b);
    return p == 2 ? b * b : xsimd::pow(b, Batch(static_cast<typename Batch::value_type>(p)));
  });
  return record(
      "pow", y, {x}, [p](Backward& node) { node.dx[0] = node.dy * (p * pow(node.x[0], p - 1)); }, site);
}

// y = tanh x;   dy/dx = 1 - tanh^2 x = 1 - y^2
Tensor tanh(const Tensor& x, Site site) {
  return record(
      "tanh", map("tanh", x, [](auto b) { return xsimd::tanh(b); }), {x},
      [](Backward& node) { node.dx[0] = node.dy * (1.0 - node.y * node.y); }, site);
}

// y = 1 / (1 + e^-x);   dy/dx = y (1 - y)
Tensor sigmoid(const Tensor& x, Site site) {
  Tensor y = map("sigmoid", x, [](auto b) { return detail::simd::sigmoid(b); });
  return record(
      "sigmoid", y, {x}, [](Backward& node) { node.dx[0] = node.dy * node.y * (1.0 - node.y); }, site);
}

// y = max(x, 0);   dy/dx = 1 for x > 0, else 0 (also at x = 0, as in PyTorch)
Tensor relu(const Tensor& x, Site site) {
  if (kinks::recording()) kinks::note(sign(x));
  Tensor y = map("relu", x, [](auto b) { return xsimd::max(b, decltype(b)(0)); });
  // relu'(x) = 1 where x > 0, else 0 (also at the kink x = 0): dy passes where x was positive.
  // One select per element, not a mask tensor and a product: relu sits after every conv layer.
  return record(
      "relu", y, {x},
      [](Backward& node) {
        if (node.create_graph) {  // the same mask as a product, so that dx is differentiable in dy
          node.dx[0] = node.dy * (node.x[0] > 0.0);
          return;
        }
        node.dx[0] = detail::visit2("relu", node.dy, node.x[0], [](const auto& dy, const auto& a) {
          using Array = std::decay_t<decltype(a)>;
          using T = typename Array::value_type;
          Array dx = Array::from_shape(a.shape());
          detail::for_slices(a.size(), [&](std::size_t b, std::size_t e) {
            const T* __restrict d = dy.data() + b;
            const T* __restrict in = a.data() + b;
            T* __restrict out = dx.data() + b;
            for (std::size_t k = 0; k < e - b; ++k) out[k] = in[k] > T(0) ? d[k] : T(0);
          });
          return Tensor(std::move(dx));
        });
      },
      site);
}

Tensor sign(const Tensor& x) {
  return detail::visit("sign", x, [](const auto& a) { return Tensor(std::decay_t<decltype(a)>(xt::sign(a))); });
}

}  // namespace xgrad
