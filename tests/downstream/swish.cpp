#include "swish.hpp"

namespace xg = xgrad;

// y = x * s with s = sigmoid(x);   dy/dx = s + x s (1 - s) = s + y (1 - s)
xg::Tensor swish(const xg::Tensor& x, xg::Site site) {
  xg::Tensor y;
  {
    xg::NoGradGuard forward_only;  // swish is one node: sigmoid and * must not record their own
    y = x * xg::sigmoid(x);
  }
  // The local gradient: given dy = dL/dy, dx = dL/dx = dy * (s + y (1 - s)).
  auto local_gradient = [](xg::Backward& node) {
    if (!node.needs(0)) return;
    const xg::Tensor s = xg::sigmoid(node.x[0]);
    node.dx[0] = node.dy * (s + node.y * (1.0 - s));
  };
  return xg::record("swish", y, {x}, local_gradient, site);
}
