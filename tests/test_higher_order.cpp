// Gradients of gradients: create_graph, xg::grad, and the tape holding no cycle between a leaf and
// the graph of its own gradient.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <xgrad/autograd/tensor_impl.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
using error_text::contains;
using error_text::error_of;

namespace {
xg::Tensor leaf(std::vector<double> v) { return xg::tensor(v, xg::f64).requires_grad_(); }
std::vector<double> values(const xg::Tensor& t) {
  const auto& a = t.value<double>();
  return {a.begin(), a.end()};
}
}  // namespace

TEST_CASE("higher order: x^3 differentiated three times by xg::grad") {
  auto x = leaf({2.0, -1.5});
  auto y = xg::sum(x * x * x);
  auto g = xg::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  REQUIRE(g.size() == 1);
  CHECK(g[0].requires_grad());
  CHECK(values(g[0]) == std::vector<double>{12.0, 6.75});  // 3x^2
  auto gg = xg::grad({xg::sum(g[0])}, {x}, {}, std::nullopt, true);
  CHECK(values(gg[0]) == std::vector<double>{12.0, -9.0});  // 6x
  auto ggg = xg::grad({xg::sum(gg[0])}, {x});
  CHECK(values(ggg[0]) == std::vector<double>{6.0, 6.0});
  CHECK_FALSE(ggg[0].requires_grad());  // without create_graph the gradient has no graph
  CHECK_FALSE(x.grad().defined());      // xg::grad leaves grad() alone
}

TEST_CASE("higher order: the third derivative of tanh") {
  // d/dx tanh = 1 - t^2, d2 = -2t(1 - t^2), d3 = -2(1 - t^2)(1 - 3t^2)
  const double x0 = 0.7, t = std::tanh(x0);
  auto x = leaf({x0});
  auto d1 = xg::grad({xg::sum(xg::tanh(x))}, {x}, {}, std::nullopt, true)[0];
  auto d2 = xg::grad({xg::sum(d1)}, {x}, {}, std::nullopt, true)[0];
  auto d3 = xg::grad({xg::sum(d2)}, {x})[0];
  CHECK(d1.item() == doctest::Approx(1 - t * t).epsilon(1e-14));
  CHECK(d2.item() == doctest::Approx(-2 * t * (1 - t * t)).epsilon(1e-14));
  CHECK(d3.item() == doctest::Approx(-2 * (1 - t * t) * (1 - 3 * t * t)).epsilon(1e-13));
}

TEST_CASE("higher order: backward(create_graph) leaves a differentiable grad(), retain_graph defaults on") {
  auto w = leaf({0.5, -2.0});
  auto z = xg::sum(w * w * w);
  z.backward({}, std::nullopt, /*create_graph=*/true);
  REQUIRE(w.grad().requires_grad());
  CHECK(values(w.grad()) == std::vector<double>{0.75, 12.0});
  // a gradient penalty on top: d/dw sum(g^2) = 2 g * 6w = 2 * 3w^2 * 6w = 36 w^3
  auto penalty = xg::sum(w.grad() * w.grad());
  w.zero_grad();
  // retained: the penalty's graph contains z's nodes (w * w is read by the gradient's graph)
  penalty.backward({}, true);
  CHECK(values(w.grad()) == std::vector<double>{36 * 0.125, 36 * -8.0});
  // the graph of z was retained by its backward (retain_graph defaults to create_graph)
  w.zero_grad();
  z.backward();
  CHECK(values(w.grad()) == std::vector<double>{0.75, 12.0});
}

TEST_CASE("higher order: a leaf whose grad() holds its own graph is still freed when dropped") {
  std::weak_ptr<xg::TensorImpl> weak_leaf, weak_grad;
  {
    auto w = leaf({3.0});
    auto z = xg::sum(xg::tanh(w) * w);
    z.backward({}, std::nullopt, true);
    weak_leaf = w.impl_ptr();
    weak_grad = w.grad().impl_ptr();
    // the stand-in passes gradients on to w: d/dw (dz/dw) through w.grad()'s graph, which is retained
    // (a backward that frees the graph would also break a cycle, and hide one)
    const double t = std::tanh(3.0), s = 1 - t * t;  // dz/dw = s w + t;  d2z/dw2 = 2 s - 2 t s w
    CHECK(w.grad().item() == doctest::Approx(s * 3.0 + t).epsilon(1e-14));
    auto second = xg::grad({w.grad()}, {w}, {}, /*retain_graph=*/true)[0];
    CHECK(second.item() == doctest::Approx(2 * s - 2 * t * s * 3.0).epsilon(1e-13));
    CHECK(w.grad().requires_grad());
  }
  CHECK(weak_leaf.expired());
  CHECK(weak_grad.expired());
}

TEST_CASE("higher order: xg::grad with intermediates, several outputs and grad_outputs") {
  auto x = leaf({1.0, 2.0});
  auto h = x * 3.0;
  auto y1 = xg::sum(h * h);  // dy1/dh = 2h
  auto y2 = h * x;           // non-scalar
  auto g = xg::grad({y1, y2}, {h, x}, {xg::tensor({1.0}, xg::f64).reshape({}), xg::tensor({1.0, 10.0}, xg::f64)});
  // dh = 2h + x * [1, 10] = [6 + 1, 12 + 20];  dx = 3 * dh + h * [1, 10]
  CHECK(values(g[0]) == std::vector<double>{7.0, 32.0});
  CHECK(values(g[1]) == std::vector<double>{21.0 + 3.0, 96.0 + 60.0});
}

TEST_CASE("higher order: errors of xg::grad name the input") {
  auto a = leaf({1.0});
  auto b = leaf({2.0, 3.0});
  const std::string unused = error_of([&] { xg::grad({xg::sum(a * a)}, {a, b}); });
  CHECK(contains(unused, "grad: input 1 ([2] f64, a leaf) is not used to compute the outputs"));
  CHECK(contains(unused, "allow_unused = true"));
  auto g = xg::grad({xg::sum(a * a)}, {a, b}, {}, std::nullopt, false, /*allow_unused=*/true);
  CHECK(g[0].item() == 2.0);
  CHECK_FALSE(g[1].defined());
  auto c = xg::tensor({1.0}, xg::f64);
  CHECK(contains(error_of([&] { xg::grad({xg::sum(a * c)}, {c}); }),
                 "grad: input 0 [1] does not require grad, so no gradient flows to it"));
  CHECK(contains(error_of([&] { xg::grad({a * 2.0 + b}, {a}); }),
                 "grad: output of shape [2] is not a scalar; pass dL/doutput"));
}

TEST_CASE("higher order: through a dtype conversion (to), the gradient comes back in the input's dtype") {
  // f32 rounding makes finite differences useless here, so the derivatives are checked by hand:
  // y = sum(x.to(f64)^3):  dy/dx = 3x^2 (in f32),  d2y/dx2 = 6x
  auto x = xg::tensor({0.5, -2.0}, xg::f32).requires_grad_();
  const xg::Tensor y = xg::sum(xg::pow(x.to(xg::f64), 3.0));
  auto g = xg::grad({y}, {x}, {}, std::nullopt, true)[0];
  CHECK(g.dtype() == xg::f32);
  CHECK(g.value<float>()(0) == doctest::Approx(0.75));
  CHECK(g.value<float>()(1) == doctest::Approx(12.0));
  auto gg = xg::grad({xg::sum(g)}, {x})[0];
  CHECK(gg.dtype() == xg::f32);
  CHECK(gg.value<float>()(0) == doctest::Approx(3.0));
  CHECK(gg.value<float>()(1) == doctest::Approx(-12.0));
}

TEST_CASE("higher order: create_graph through an op declared once-differentiable is refused by name and line") {
  auto x = leaf({1.0, 2.0});
  const xg::Site site = xg::Site::current();
  auto y = xg::record(
      "raw_square", xg::Tensor(xt::xarray<double>(x.value<double>() * x.value<double>())), {x},
      [](xg::Backward& node) {
        node.dx[0] = xg::Tensor(xt::xarray<double>(2.0 * node.x[0].value<double>() * node.dy.value<double>()));
      },
      site, xg::Differentiability::once);
  const std::string message = error_of([&] { xg::grad({xg::sum(y)}, {x}, {}, std::nullopt, true); });
  CHECK(contains(message, "backward with create_graph through 'raw_square' recorded at"));
  CHECK(contains(message, fmt::format("test_higher_order.cpp:{}", site.line())));
  CHECK(contains(message, "declared Differentiability::once), so it cannot be differentiated again"));
  // first order is fine
  CHECK(values(xg::grad({xg::sum(y)}, {x})[0]) == std::vector<double>{2.0, 4.0});
}

namespace {
// Resident memory of this process in bytes (Linux).
[[maybe_unused]] std::size_t resident_bytes() {  // unused under sanitizers (the test is skipped)
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}
// One iteration of the loop the issue describes: a gradient with create_graph, differentiated again,
// everything dropped; both ways (backward into grad() of a fresh leaf, and xg::grad).
[[maybe_unused]] void second_order_iteration() {
  auto w = xg::randn({6, 6}, xg::f64).requires_grad_();
  const auto x = xg::randn({4, 6}, xg::f64);
  auto loss = xg::sum(xg::tanh(xg::matmul(x, w)));
  loss.backward({}, std::nullopt, /*create_graph=*/true);
  auto penalty = xg::sum(w.grad() * w.grad());
  auto g2 = xg::grad({penalty}, {w}, {}, /*retain_graph=*/true);  // the graphs stay whole until dropped
  auto g = xg::grad({xg::sum(xg::relu(xg::matmul(x, w)) * xg::matmul(x, w))}, {w}, {}, std::nullopt, true);
  auto gg = xg::grad({xg::sum(g[0] * g[0])}, {w});
  REQUIRE(gg[0].defined());
}
}  // namespace

TEST_CASE("higher order: a loop of create_graph gradients holds resident memory flat") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  MESSAGE("skipped: sanitizers keep freed memory in quarantine, so resident memory says nothing here");
#else
  for (int i = 0; i < 500; ++i) second_order_iteration();  // warm-up: malloc's arenas reach their size
  const std::size_t before = resident_bytes();
  constexpr int iterations = 5000;
  for (int i = 0; i < iterations; ++i) second_order_iteration();
  const std::size_t after = resident_bytes();
  const double growth_mb = (static_cast<double>(after) - static_cast<double>(before)) / 1e6;
  MESSAGE(fmt::format("{} iterations: resident {:.1f} MB -> {:.1f} MB ({:+.2f} MB)", iterations, before / 1e6,
                      after / 1e6, growth_mb));
  CHECK(growth_mb <= 2.0);
#endif
}

TEST_CASE("higher order: the nodes of a gradient's graph name the forward node whose backward made them") {
  auto x = leaf({2.0});
  const xg::Site site = xg::Site::current();
  auto y = xg::mul(xg::mul(x, x, site), x, site);
  auto g = xg::grad({xg::sum(y)}, {x}, {}, std::nullopt, true)[0];
  CHECK(g.item() == 12.0);
  const std::string tape = xg::tape_to_string(g);
  CHECK(contains(tape, fmt::format("in the backward of 'mul' at test_higher_order.cpp:{}", site.line())));
  // x, a = x * x (y itself is not read), 2 products in the backward of y = a * x, 2 in that of a, and 2
  // accumulations into x (docs/autograd.md, section 10 draws this graph)
  CHECK(std::count(tape.begin(), tape.end(), '\n') == 1 + 1 + 2 + 2 + 2);
}

TEST_CASE("higher order: a gradient penalty ||d score / d x||^2 reaches the weights (MLP and ConvNet)") {
  xg::manual_seed(21);
  // the penalty as a function of the weights, its gradient checked by centered differences
  const xg::Tensor x = xg::randn({3, 4}, xg::f64);
  auto mlp_penalty = [&](const std::vector<xg::Tensor>& w) {
    xg::EnableGradGuard recording;  // gradcheck evaluates f without recording; the penalty needs a graph
    xg::Tensor xi = x.detach().requires_grad_();
    const xg::Tensor score = xg::sum(xg::linear(xg::tanh(xg::linear(xi, w[0], w[1])), w[2], w[3]));
    const xg::Tensor gx = xg::grad({score}, {xi}, {}, std::nullopt, /*create_graph=*/true)[0];
    return xg::sum(gx * gx);
  };
  const auto mlp =
      xg::gradcheck(mlp_penalty,
                    {xg::randn({5, 4}, xg::f64).requires_grad_(), xg::randn({5}, xg::f64).requires_grad_(),
                     xg::randn({2, 5}, xg::f64).requires_grad_(), xg::randn({2}, xg::f64).requires_grad_()});
  INFO(fmt::format("{}", mlp));
  CHECK(mlp.ok);
  CHECK(mlp.max_rel_error < 1e-6);

  const xg::Tensor images = xg::randn({2, 1, 6, 6}, xg::f64);
  auto conv_penalty = [&](const std::vector<xg::Tensor>& w) {
    xg::EnableGradGuard recording;
    xg::Tensor xi = images.detach().requires_grad_();
    xg::Tensor h = xg::tanh(xg::conv2d(xi, w[0], w[1], 1, 1));
    h = xg::avg_pool2d(h, 2);
    const xg::Tensor score = xg::sum(xg::linear(xg::flatten(h, 1), w[2]));
    const xg::Tensor gx = xg::grad({score}, {xi}, {}, std::nullopt, true)[0];
    return xg::sum(gx * gx);
  };
  const auto conv = xg::gradcheck(conv_penalty, {xg::randn({2, 1, 3, 3}, xg::f64).requires_grad_(),
                                                 xg::randn({2}, xg::f64).requires_grad_(),
                                                 xg::randn({3, 18}, xg::f64).requires_grad_()});
  INFO(fmt::format("{}", conv));
  CHECK(conv.ok);
  CHECK(conv.max_rel_error < 1e-6);
}

TEST_CASE("higher order: a raw local gradient not declared once is caught when a gradient with a graph reaches it") {
  auto x = leaf({0.5, -1.0});
  const xg::Site site = xg::Site::current();
  auto square = [&](const xg::Tensor& t) {  // a user op whose backward is raw arrays, not declared once
    return xg::record(
        "raw_square", xg::Tensor(xt::xarray<double>(t.value<double>() * t.value<double>())), {t},
        [](xg::Backward& node) {
          node.dx[0] = xg::Tensor(xt::xarray<double>(2.0 * node.x[0].value<double>() * node.dy.value<double>()));
        },
        site);
  };
  // tanh's local gradient reads tanh's output, so the dy reaching raw_square has a graph
  auto y = xg::sum(xg::tanh(square(x)));
  const std::string message = error_of([&] { xg::grad({y}, {x}, {}, std::nullopt, true); });
  CHECK(contains(message, "backward with create_graph through 'raw_square' recorded at"));
  CHECK(contains(message, fmt::format("test_higher_order.cpp:{}", site.line())));
  CHECK(contains(message, "its local gradient for input 0 was computed outside the tape"));
  CHECK(contains(message, "Differentiability::once"));
}
