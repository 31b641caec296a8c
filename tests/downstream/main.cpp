// A program outside the project, built against the installed package.
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

int main() {
  namespace xg = xgrad;
  auto x = xg::tensor({1.0, 2.0, 3.0}, xg::f64).requires_grad_();
  auto loss = xg::sum(x * x);
  loss.backward();
  const auto& g = x.grad().value<double>();  // d(sum x^2)/dx = 2x
  const bool ok = loss.item() == 14.0 && g(0) == 2.0 && g(1) == 4.0 && g(2) == 6.0;
  fmt::print("downstream: loss {} grad {} -> {}\n", loss.item(), x.grad(), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
