#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;

TEST_CASE("smoke: (x + y) z") {
  auto x = xg::scalar(-2.0, xg::f64).requires_grad_();
  auto y = xg::scalar(5.0, xg::f64).requires_grad_();
  auto z = xg::scalar(-4.0, xg::f64).requires_grad_();
  auto f = (x + y) * z;
  f.backward();
  CHECK(f.item() == -12.0);
  CHECK(x.grad().item() == -4.0);
  CHECK(y.grad().item() == -4.0);
  CHECK(z.grad().item() == 3.0);
}
