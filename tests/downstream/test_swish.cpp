// The tests of docs/custom_ops.md, built and run against the installed package.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <xgrad/testing.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include <cmath>
#include <vector>

#include "swish.hpp"

namespace xg = xgrad;
using Inputs = std::vector<xg::Tensor>;

TEST_CASE("swish: values and gradient") {
  const auto x = xg::tensor({-2.0, 0.0, 3.0}, xg::f64).requires_grad_();
  const auto y = swish(x);
  CHECK(y.value<double>()(1) == 0.0);
  CHECK(y.value<double>()(2) == doctest::Approx(3.0 / (1.0 + std::exp(-3.0))));
  xg::sum(y).backward();
  CHECK(x.grad().value<double>()(1) == doctest::Approx(0.5));  // s + y (1 - s) at 0

  xg::manual_seed(0);
  const auto a = xg::randn({4, 5}, xg::f64).requires_grad_();
  XG_CHECK_GRADCHECK([](const Inputs& in) { return swish(in[0]); }, {a});
  XG_CHECK_GRADCHECK_TAPE([](const Inputs& in) { return xg::mean(swish(in[0] * 2.0)); }, {a});
}

// The same op with the slip of treating sigmoid(x) as a constant: dy/dx = s.
xg::Tensor swish_slip(const xg::Tensor& x, xg::Site site = xg::Site::current()) {
  xg::Tensor y;
  {
    xg::NoGradGuard forward_only;
    y = x * xg::sigmoid(x);
  }
  auto local_gradient = [](xg::Backward& node) { node.dx[0] = node.dy * xg::sigmoid(node.x[0]); };
  return xg::record("swish_slip", y, {x}, local_gradient, site);
}

TEST_CASE("gradcheck_tape names the node whose backward is wrong") {
  xg::manual_seed(0);
  const auto x = xg::randn({8, 3}, xg::f64);
  const auto W1 = xg::randn({3, 4}, xg::f64).requires_grad_();
  const auto W2 = xg::randn({4, 1}, xg::f64).requires_grad_();
  unsigned line = 0;
  auto model = [&](const Inputs& p) {
    line = __LINE__ + 1;
    const auto h = swish_slip(xg::matmul(x, p[0]));
    return xg::mean(xg::matmul(h, p[1]));
  };
  CHECK_FALSE(xg::gradcheck(model, {W1, W2}).ok);  // wrong somewhere

  const auto report = xg::gradcheck_tape(model, {W1, W2});
  const xg::GradcheckTapeNode* bad = report.first_failure();
  REQUIRE(bad != nullptr);
  CHECK(bad->index == 1);
  CHECK(bad->op == "swish_slip");
  CHECK(bad->site.line() == line);
  MESSAGE(fmt::format("{}", report));
}
