// softmax:      y_i = e^(x_i - m) / sum_j e^(x_j - m)       dx = y * (dy - sum(dy * y))
// log_softmax:  y_i = x_i - m - log sum_j e^(x_j - m)       dx = dy - e^y * sum(dy)
// (m = max_j x_j changes nothing mathematically and keeps every exponent <= 0.)
#include "softmax.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "arithmetic.hpp"
#include "elementwise.hpp"
#include "loops.hpp"
#include "reduce.hpp"

namespace xgrad {

namespace {
// Applies the stable (log-)softmax to every line of x along axis, x seen as [outer, n, inner].
Tensor softmax_kernel(const char* op, const Tensor& x, long axis, bool take_log) {
  const Shape s = x.shape();
  const std::size_t a = detail::normalize_axis(op, axis, s.size(), s);
  const auto [outer, n, inner] = detail::split_around(s, a);
  return detail::visit(op, x, [&](const auto& in) {
    using Array = std::decay_t<decltype(in)>;
    using T = typename Array::value_type;
    Array out = Array::from_shape(in.shape());
    if (n == 0) return Tensor(std::move(out));  // an empty axis: no lines to normalize, and no src[0] to start from
    for (std::size_t o = 0; o < outer; ++o)
      for (std::size_t i = 0; i < inner; ++i) {
        const T* src = in.data() + o * n * inner + i;
        T* dst = out.data() + o * n * inner + i;
        T m = src[0];
        for (std::size_t k = 1; k < n; ++k) m = std::max(m, src[k * inner]);
        T total = 0;
        for (std::size_t k = 0; k < n; ++k) total += std::exp(src[k * inner] - m);
        if (take_log) {
          const T log_total = std::log(total);
          for (std::size_t k = 0; k < n; ++k) dst[k * inner] = src[k * inner] - m - log_total;
        } else {
          for (std::size_t k = 0; k < n; ++k) dst[k * inner] = std::exp(src[k * inner] - m) / total;
        }
      }
    return Tensor(std::move(out));
  });
}
}  // namespace

Tensor softmax(const Tensor& x, long axis, Site site) {
  return record(
      "softmax", softmax_kernel("softmax", x, axis, false), {x},
      [axis](Backward& node) { node.dx[0] = node.y * (node.dy - sum(node.dy * node.y, axis, true)); }, site);
}

Tensor log_softmax(const Tensor& x, long axis, Site site) {
  return record(
      "log_softmax", softmax_kernel("log_softmax", x, axis, true), {x},
      [axis](Backward& node) { node.dx[0] = node.dy - exp(node.y) * sum(node.dy, axis, true); }, site);
}

}  // namespace xgrad
