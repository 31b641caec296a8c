// The example at the top of README.md, compiled so that it stays correct.
#include <xgrad/xgrad.hpp>
namespace xg = xgrad;

int main() {
  auto x = xg::randn({4, 3}, xg::f64);                   // a batch of 4 inputs
  auto W = xg::randn({3, 2}, xg::f64).requires_grad_();  // parameters are leaves
  auto loss = xg::mean(xg::pow(xg::tanh(xg::matmul(x, W)), 2));
  loss.backward();  // chain rule over the tape
  fmt::print("loss {} dL/dW {}\n", loss.item(), W.grad());
  auto check = xg::gradcheck([&](auto& in) { return xg::mean(xg::tanh(xg::matmul(x, in[0]))); }, {W});
  fmt::print("{}\n", check);  // ok, max relative error ~1e-8
  return check.ok ? 0 : 1;
}
