// The two backprop examples of the CS231n notes, run on xgrad's tape.
//   1. f(x, y, z) = (x + y) z  with x = -2, y = 5, z = -4
//   2. a two-layer tanh network, as a chain of gates
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;

int main() {
  fmt::print("== f(x, y, z) = (x + y) * z ==\n");
  auto x = xg::scalar(-2.0, xg::f64).requires_grad_();
  auto y = xg::scalar(5.0, xg::f64).requires_grad_();
  auto z = xg::scalar(-4.0, xg::f64).requires_grad_();
  auto q = (x + y).retain_grad();  // q = 3
  auto f = q * z;                  // f = -12
  fmt::print("tape:\n{}", xg::tape_to_string(f));
  f.backward();
  fmt::print("q = {}, f = {}\n", q.item(), f.item());
  fmt::print("df/dq = z = {}\ndf/dz = q = {}\ndf/dx = df/dq * dq/dx = {}\ndf/dy = {}\n\n", q.grad().item(),
             z.grad().item(), x.grad().item(), y.grad().item());

  fmt::print("== two-layer tanh network: h = tanh(x W1 + b1), s = h W2 + b2, loss = sum(s^2) ==\n");
  xg::manual_seed(0);
  auto input = xg::randn({2, 3}, xg::f64);
  auto W1 = (xg::randn({3, 4}, xg::f64) * 0.5).detach().requires_grad_();
  auto b1 = xg::zeros({4}, xg::f64).requires_grad_();
  auto W2 = (xg::randn({4, 2}, xg::f64) * 0.5).detach().requires_grad_();
  auto b2 = xg::zeros({2}, xg::f64).requires_grad_();
  auto h = xg::tanh(xg::matmul(input, W1) + b1).retain_grad();
  auto s = (xg::matmul(h, W2) + b2).retain_grad();
  auto loss = xg::sum(xg::pow(s, 2));
  fmt::print("tape:\n{}", xg::tape_to_string(loss));
  loss.backward();
  fmt::print("h = {}\ns = {}\nloss = {}\n", h, s, loss.item());
  fmt::print("dloss/ds = 2s = {}\ndloss/dh = {}\n", s.grad(), h.grad());
  fmt::print("dloss/dW2 = h^T ds = {}\ndloss/db2 = sum over rows of ds = {}\n", W2.grad(), b2.grad());
  fmt::print("dloss/dW1 = {}\ndloss/db1 = {}\n", W1.grad(), b1.grad());
  return 0;
}
