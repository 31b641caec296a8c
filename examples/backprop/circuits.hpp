#pragma once
// The circuits of the CS231n backprop notes, built on xgrad's tape with every tensor named, for
// examples/backprop_gates, examples/backprop_stepper and the golden-file tests of the trace
// (tests/test_backprop_views.cpp). Each returns its output f and the leaves, in f64.
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace circuits {

namespace xg = xgrad;

struct Circuit {
  xg::Tensor f;
  std::vector<xg::Tensor> leaves;
};

inline xg::Tensor leaf(double v, const char* name) { return xg::scalar(v, xg::f64).requires_grad_().name(name); }

// f(x, y, z) = (x + y) z with x = -2, y = 5, z = -4: q = 3, f = -12; df/dx = df/dy = -4, df/dz = 3.
inline Circuit gates() {
  auto x = leaf(-2, "x"), y = leaf(5, "y"), z = leaf(-4, "z");
  auto q = (x + y).name("q");
  auto f = (q * z).name("f");
  return {f, {x, y, z}};
}

// The sigmoid neuron f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), w = [2, -3, -3], x = [-1, -2],
// staged gate by gate as the notes draw it: f = 0.73, dx = [0.39, -0.59], dw = [-0.2, -0.39, 0.2].
inline Circuit neuron_staged() {
  auto w0 = leaf(2, "w0"), x0 = leaf(-1, "x0"), w1 = leaf(-3, "w1"), x1 = leaf(-2, "x1"), w2 = leaf(-3, "w2");
  auto a = (w0 * x0).name("a");
  auto b = (w1 * x1).name("b");
  auto c = (a + b).name("c");
  auto dot = (c + w2).name("dot");
  auto e = (dot * -1.0).name("e");
  auto g = xg::exp(e).name("g");
  auto h = (g + 1.0).name("h");
  auto f = (1.0 / h).name("f");
  return {f, {w0, x0, w1, x1, w2}};
}

// The same neuron as the notes' code writes it, with one sigmoid gate whose local gradient is
// (1 - f) f:  dot = w[0]*x[0] + w[1]*x[1] + w[2];  f = sigmoid(dot).
inline Circuit neuron_fused() {
  auto w = xg::tensor({2.0, -3.0, -3.0}, xg::f64).requires_grad_().name("w");
  auto x = xg::tensor({-1.0, -2.0}, xg::f64).requires_grad_().name("x");
  auto w01 = xg::narrow(w, 0, 0, 2).name("w[0:2]");
  auto w2 = xg::narrow(w, 0, 2, 1).name("w[2]");
  auto wx = (w01 * x).name("wx");  // [w0 x0, w1 x1]
  auto dot = (xg::sum(wx).name("sum(wx)") + w2).name("dot");
  auto f = xg::sigmoid(dot).name("f");
  return {f, {w, x}};
}

// The notes' circuit with an add, a max and a multiply gate: f = 2 (x y + max(z, w)) with x = 3,
// y = -4, z = 2, w = -1. The max gate routes its whole gradient to z (the larger): dz = 2, dw = 0.
inline Circuit max_gate() {
  auto x = leaf(3, "x"), y = leaf(-4, "y"), z = leaf(2, "z"), w = leaf(-1, "w");
  auto p = (x * y).name("p");
  auto m = xg::maximum(z, w).name("m");
  auto s = (p + m).name("s");
  auto f = (s * 2.0).name("f");
  return {f, {x, y, z, w}};
}

// A variable used three times: f = x x + x at x = 3; df/dx = 2x + 1 = 7, summed over the uses.
inline Circuit reuse() {
  auto x = leaf(3, "x");
  auto sq = (x * x).name("sq");
  auto f = (sq + x).name("f");
  return {f, {x}};
}

// A diamond: x and y feed two branches that meet again, f = (x y)(x + y) at x = 3, y = 2;
// df/dx = y (x + y) + x y = 16, df/dy = x (x + y) + x y = 21.
inline Circuit diamond() {
  auto x = leaf(3, "x"), y = leaf(2, "y");
  auto a = (x * y).name("a");
  auto b = (x + y).name("b");
  auto f = (a * b).name("f");
  return {f, {x, y}};
}

// Note 002's network, exactly as written there: f(x) = || tanh(W2 tanh(W1 x + b1) + b2) ||^2 with
// y1 = W1 x + b1, y2 = tanh y1, y3 = W2 y2 + b2, y4 = tanh y3 (x a column of 3, 4 hidden, 2 out).
struct TwoLayer {
  xg::Tensor x, W1, b1, W2, b2, y1, y2, y3, y4, f;
};
inline TwoLayer twolayer() {
  xg::manual_seed(2);
  auto param = [](xg::Shape shape, const char* name) {
    return (xg::randn(shape, xg::f64) * 0.8).detach().requires_grad_().name(name);
  };
  TwoLayer n;
  n.x = param({3, 1}, "x");
  n.W1 = param({4, 3}, "W1");
  n.b1 = param({4, 1}, "b1");
  n.W2 = param({2, 4}, "W2");
  n.b2 = param({2, 1}, "b2");
  n.y1 = (xg::matmul(n.W1, n.x) + n.b1).name("y1").retain_grad();
  n.y2 = xg::tanh(n.y1).name("y2").retain_grad();
  n.y3 = (xg::matmul(n.W2, n.y2) + n.b2).name("y3").retain_grad();
  n.y4 = xg::tanh(n.y3).name("y4").retain_grad();
  n.f = xg::sum(xg::pow(n.y4, 2)).name("f");
  return n;
}

}  // namespace circuits
