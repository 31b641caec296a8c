// xg::gradgradcheck: second derivatives against centered differences of the first, on ops whose
// recorded backward is right, and on a custom op whose first derivative is right but whose second
// is not (which gradcheck cannot see).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <xgrad/testing.hpp>
#include <xgrad/xgrad.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
using error_text::contains;
using error_text::error_of;
using Inputs = std::vector<xg::Tensor>;

namespace {
xg::Tensor leaf(const xg::Shape& shape) { return xg::randn(shape, xg::f64).requires_grad_(); }

// y = x^3 with the local gradient dx = dy * 3 x x, one x of which is detached: the value is 3x^2,
// right, so gradcheck passes; but the recorded gradient is linear in x where it should be
// quadratic, so its derivative is 3x dy instead of 6x dy, and only gradgradcheck sees it.
xg::Tensor cube_half_detached(const xg::Tensor& x, xg::Site site = xg::Site::current()) {
  xg::Tensor y;
  {
    xg::NoGradGuard forward_only;
    y = x * x * x;
  }
  return xg::record(
      "cube_half_detached", y, {x},
      [](xg::Backward& node) {
        const xg::Tensor& x = node.x[0];
        node.dx[0] = node.dy * 3.0 * x * x.detach();
      },
      site);
}
}  // namespace

TEST_CASE("gradgradcheck: x^3, tanh and x*y pass") {
  xg::manual_seed(1);
  const auto x = leaf({3, 4});
  const auto y = leaf({3, 4});
  const auto cube = xg::gradgradcheck([](const Inputs& in) { return in[0] * in[0] * in[0]; }, {x});
  CHECK_MESSAGE(cube.ok, fmt::format("{}", cube));
  CHECK(cube.checked == 12);
  CHECK(cube.max_rel_error < 1e-7);
  const auto th = xg::gradgradcheck([](const Inputs& in) { return xg::tanh(in[0]); }, {x});
  CHECK_MESSAGE(th.ok, fmt::format("{}", th));
  CHECK(th.max_rel_error < 1e-7);
  const auto prod = xg::gradgradcheck([](const Inputs& in) { return in[0] * in[1]; }, {x, y});
  CHECK_MESSAGE(prod.ok, fmt::format("{}", prod));
  CHECK(prod.checked == 24);  // both inputs: d2(xy)/dxdy = 1 is the whole second derivative
  CHECK(prod.max_rel_error < 1e-7);
  // a scalar output and pow, through the doctest macro
  XG_CHECK_GRADGRADCHECK([](const Inputs& in) { return xg::sum(xg::pow(in[0], 3.0) * in[1]); }, {x, y});
}

TEST_CASE("gradgradcheck: a 2-layer tanh MLP in f64") {
  xg::manual_seed(2);
  const auto x = leaf({3, 4});
  const auto W1 = leaf({4, 5});
  const auto b1 = leaf({5});
  const auto W2 = leaf({5, 2});
  const auto b2 = leaf({2});
  const auto mlp = [](const Inputs& in) {
    return xg::tanh(xg::matmul(xg::tanh(xg::matmul(in[0], in[1]) + in[2]), in[3]) + in[4]);
  };
  const auto report = xg::gradgradcheck(mlp, {x, W1, b1, W2, b2});
  CHECK_MESSAGE(report.ok, fmt::format("{}", report));
  CHECK(report.checked == 12 + 20 + 5 + 10 + 2);
  CHECK(report.max_rel_error < 1e-6);
}

TEST_CASE("gradgradcheck: a first derivative constant in an input has second derivative zero") {
  xg::manual_seed(3);
  const auto x = leaf({4});
  const auto y = leaf({4});
  // linear in both: the first derivative is a constant, G does not depend on the inputs at all
  const auto linear = xg::gradgradcheck([](const Inputs& in) { return in[0] * 2.0 + in[1]; }, {x, y});
  CHECK_MESSAGE(linear.ok, fmt::format("{}", linear));
  CHECK(linear.checked == 8);
  CHECK(linear.max_rel_error == 0.0);
  // y unused, x linear: xg::grad gives no gradient for y (allow_unused) and a constant one for x
  const auto unused = xg::gradgradcheck([](const Inputs& in) { return in[0] * 3.0; }, {x, y});
  CHECK_MESSAGE(unused.ok, fmt::format("{}", unused));
  CHECK(unused.checked == 8);
  // f does not depend on the inputs at all
  const auto none = xg::gradgradcheck([](const Inputs&) { return xg::ones({2}, xg::f64); }, {x});
  CHECK_MESSAGE(none.ok, fmt::format("{}", none));
  // linear in y only: d2/dy2 = 0, but d2/dxdy = 2x is not
  const auto mixed = xg::gradgradcheck([](const Inputs& in) { return in[0] * in[0] * in[1]; }, {x, y});
  CHECK_MESSAGE(mixed.ok, fmt::format("{}", mixed));
  CHECK(mixed.max_rel_error < 1e-7);
}

TEST_CASE("gradgradcheck: a wrong second derivative fails where gradcheck passes") {
  xg::manual_seed(4);
  const auto x = leaf({2, 3});
  const auto f = [](const Inputs& in) { return cube_half_detached(in[0]); };
  const auto first = xg::gradcheck(f, {x});
  CHECK_MESSAGE(first.ok, fmt::format("{}", first));  // 3x^2: right
  CHECK(first.max_rel_error < 1e-7);

  const auto second = xg::gradgradcheck(f, {x});
  CHECK_FALSE(second.ok);
  CHECK(second.checked == 6);
  CHECK(second.max_rel_error > 0.1);
  // The analytic side is half the numeric one at every element: 3x r u instead of 6x r u.
  CHECK(second.worst.input == 0);
  REQUIRE(second.worst.index.size() == 2);
  CHECK(second.worst.analytic == doctest::Approx(second.worst.numeric / 2).epsilon(1e-6));
  CHECK(second.worst.rel_error == doctest::Approx(0.5).epsilon(1e-6));
  const std::string text = fmt::format("{}", second);
  CHECK(contains(text, "FAILED"));
  CHECK(contains(text, fmt::format("worst: input 0 at [{},{}]", second.worst.index[0], second.worst.index[1])));
}

TEST_CASE("gradgradcheck: dropout draws the same mask in every evaluation") {
  xg::manual_seed(5);
  const auto x = leaf({6, 5});
  // the mask is random: without the generator restored before each evaluation of f, the
  // differences would mix masks and fail
  const auto report =
      xg::gradgradcheck([](const Inputs& in) { return xg::pow(xg::dropout(in[0], 0.5, /*training=*/true), 3.0); }, {x});
  CHECK_MESSAGE(report.ok, fmt::format("{}", report));
  CHECK(report.max_rel_error < 1e-6);
}

TEST_CASE("gradgradcheck: works inside NoGradGuard, options, and errors name gradgradcheck") {
  xg::manual_seed(6);
  const auto x = leaf({3});
  {
    xg::NoGradGuard no_grad;  // the check records what it needs itself
    const auto report = xg::gradgradcheck([](const Inputs& in) { return xg::tanh(in[0]) * in[0]; }, {x});
    CHECK_MESSAGE(report.ok, fmt::format("{}", report));
    CHECK(report.checked == 3);
  }
  const auto fast =
      xg::gradgradcheck([](const Inputs& in) { return xg::tanh(in[0]) * in[0]; }, {x}, {.fast = true, .directions = 2});
  CHECK_MESSAGE(fast.ok, fmt::format("{}", fast));
  CHECK(fast.fast);
  CHECK(fast.checked == 2);

  const auto f = [](const Inputs& in) { return in[0] * in[0]; };
  CHECK(contains(error_of([&] {
                   xg::gradgradcheck(f, {xg::randn({2, 2}).requires_grad_()});
                 }),
                 "gradgradcheck: input 0 [2,2] is f32; finite differences need f64"));
  CHECK(contains(error_of([&] { xg::gradgradcheck(f, {xg::randn({2}, xg::f64)}); }),
                 "gradgradcheck: none of the 1 inputs requires grad"));
  CHECK(contains(error_of([&] { xg::gradgradcheck(f, {x * 2.0}); }),
                 "gradgradcheck: input 0 [3] is the output of 'mul', not a leaf"));
}
