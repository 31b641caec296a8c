// nn::FlowMonitor: per-layer activations, gradients, gain, dead ReLUs and saturated units, on nets
// small enough to check every number by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;
using doctest::Approx;
using doctest::Contains;

namespace {
void set(xg::Tensor& t, const xg::Tensor& value) { t.mutable_value<double>() = value.value<double>(); }

// Linear(2, 3) - ReLU - Linear(3, 1) in f64 with fixed weights:
//   h = x W1^T + b1: unit 1 is x0, unit 2 is x0 - x1, unit 3 is -x0 - x1 - 10 (negative for every x below)
//   r = relu(h),  y = r W2^T with W2 = [2, -1, 0.5],  loss = sum(y)
std::shared_ptr<nn::Sequential> linear_relu_linear() {
  auto net = std::make_shared<nn::Sequential>(nn::Linear(2, 3), nn::ReLU(), nn::Linear(3, 1));
  net->to(xg::f64);
  auto& fc1 = net->at<nn::Linear>(0);
  auto& fc2 = net->at<nn::Linear>(2);
  set(fc1.weight, xg::tensor({{1, 0}, {1, -1}, {-1, -1}}, xg::f64));
  set(fc1.bias, xg::tensor(std::vector<double>{0, 0, -10}, xg::f64));
  set(fc2.weight, xg::tensor({{2, -1, 0.5}}, xg::f64));
  set(fc2.bias, xg::tensor(std::vector<double>{0}, xg::f64));
  return net;
}
xg::Tensor fixed_inputs() { return xg::tensor({{1, 2}, {3, -1}, {0, 1}, {-2, -1}}, xg::f64); }
}  // namespace

TEST_CASE("flow report: Linear-ReLU-Linear, every number by hand") {
  auto net = linear_relu_linear();
  nn::FlowMonitor monitor(*net);
  xg::Tensor x = fixed_inputs().requires_grad_();
  xg::sum((*net)(x)).backward();
  const nn::FlowReport r = monitor.report();
  REQUIRE(r.layers.size() == 3);
  const auto &fc1 = r.layers[0], &relu = r.layers[1], &fc2 = r.layers[2];
  CHECK(fc1.name == "0");
  CHECK(relu.describe == "ReLU");

  // h = [[1,-1,-13], [3,4,-12], [0,-1,-11], [-2,-1,-7]]: sum |h| = 6 + 7 + 43 = 56 over 12 elements.
  CHECK(fc1.act_mean_abs == Approx(56.0 / 12));
  // r = [[1,0,0], [3,4,0], 0, 0]: 8 / 12;  y = [2, 6 - 4, 0, 0]: 4 / 4.
  CHECK(relu.act_mean_abs == Approx(8.0 / 12));
  CHECK(fc2.act_mean_abs == Approx(1.0));
  // std of y = [2, 2, 0, 0]: mean 1, every deviation 1.
  CHECK(fc2.act_std == Approx(1.0));

  // Backward: dL/dy = 1; dL/dr = W2 in every row: (2 + 1 + 0.5) / 3; gain of fc2 the same.
  CHECK(*fc2.grad_output_mean_abs == Approx(1.0));
  CHECK(*fc2.grad_input_mean_abs == Approx(3.5 / 3));
  CHECK(*fc2.gain == Approx(3.5 / 3));
  // dL/dh = dL/dr where h > 0: row 0 unit 1 (2), row 1 units 1, 2 (2, -1): 5 / 12.
  CHECK(*relu.grad_output_mean_abs == Approx(3.5 / 3));
  CHECK(*relu.grad_input_mean_abs == Approx(5.0 / 12));
  CHECK(*relu.gain == Approx((5.0 / 12) / (3.5 / 3)));
  // dL/dx = dL/dh W1: row 0 2 [1, 0]; row 1 2 [1, 0] - [1, -1] = [1, 1]; rows 2, 3 zero: 4 / 8.
  CHECK(*fc1.grad_output_mean_abs == Approx(5.0 / 12));
  CHECK(*fc1.grad_input_mean_abs == Approx(0.5));

  // Zero local gradients: h <= 0 in 2 (unit 1: 0 and -2) + 3 (unit 2) + 4 (unit 3) of 12 elements;
  // one unit of three (unit 3) is 0 for every example.
  CHECK(*relu.zero_local_grad == Approx(9.0 / 12));
  CHECK(*relu.dead_units == Approx(1.0 / 3));
  CHECK_FALSE(fc1.zero_local_grad.has_value());
  CHECK_FALSE(relu.saturated.has_value());

  // The same numbers independently, from the raw tensors of the captures.
  const auto& captured = monitor.captures();
  const auto& dh = captured[1].grad_input.value<double>();
  double sum = 0;
  for (double v : dh) sum += std::abs(v);
  CHECK(sum / 12 == Approx(*relu.grad_input_mean_abs));
  CHECK(captured[0].grad_output.value<double>() == dh);  // the same tensor: fc1's output is relu's input
}

TEST_CASE("flow report: the printed table names layers, and '-' where no gradient reached") {
  auto net = linear_relu_linear();
  nn::FlowMonitor monitor(*net);
  xg::sum((*net)(fixed_inputs())).backward();  // the data does not require grad
  const nn::FlowReport r = monitor.report();
  CHECK_FALSE(r.layers[0].grad_input_mean_abs.has_value());
  CHECK_FALSE(r.layers[0].gain.has_value());
  const std::string text = fmt::format("{}", r);
  CHECK(text.starts_with("layer"));
  CHECK(error_text::contains(text, "0: Linear(in=2, out=3)"));
  CHECK(error_text::contains(text, "1: ReLU"));
  CHECK(error_text::contains(text, "75.0%"));  // zero local gradients
  CHECK(error_text::contains(text, "33.3%"));  // dead units
  CHECK(error_text::contains(text, "|tanh| > 0.99 or sigmoid outside [0.01, 0.99]"));
}

TEST_CASE("flow report: a tanh and a sigmoid layer driven into saturation") {
  // h = x W^T with W = diag-like [[10, 0], [0, 10], [0.1, 0], [0, 0.1]] and x = [[1, 1], [-1, 0.5]]:
  // h = [[10, 10, 0.1, 0.1], [-10, 5, -0.1, 0.05]]: 4 of 8 elements have |h| >= 5, where
  // |tanh| >= 0.9999 and sigmoid is > 0.993 or < 7e-3; the other 4 are near 0, far from saturation.
  for (const bool use_tanh : {true, false}) {
    CAPTURE(use_tanh);
    auto net = std::make_shared<nn::Sequential>(nn::Linear(2, 4, false));
    if (use_tanh)
      net->push_back(nn::Tanh());
    else
      net->push_back(nn::Sigmoid());
    net->to(xg::f64);
    set(net->at<nn::Linear>(0).weight, xg::tensor({{10, 0}, {0, 10}, {0.1, 0}, {0, 0.1}}, xg::f64));
    nn::FlowMonitor monitor(*net);
    xg::sum((*net)(xg::tensor({{1, 1}, {-1, 0.5}}, xg::f64))).backward();
    const nn::LayerFlow act = monitor.report().layers.at(1);
    CHECK(*act.saturated == Approx(0.5));
    // dL/dy = 1, so the gain is the mean local gradient: 1 - y^2 (tanh) or y (1 - y) (sigmoid).
    const std::vector<double> h{10, 10, 0.1, 0.1, -10, 5, -0.1, 0.05};
    double local = 0;
    for (double v : h) {
      const double y = use_tanh ? std::tanh(v) : 1 / (1 + std::exp(-v));
      local += use_tanh ? 1 - y * y : y * (1 - y);
    }
    CHECK(*act.grad_output_mean_abs == Approx(1.0));
    CHECK(*act.gain == Approx(local / 8));
    CHECK_FALSE(act.zero_local_grad.has_value());
  }
}

TEST_CASE("flow report: thresholds are options; each forward starts a new record; hooks go with the monitor") {
  auto net = std::make_shared<nn::Sequential>(nn::Tanh());
  net->to(xg::f64);
  const xg::Tensor x = xg::tensor(std::vector<double>{0.5, 1.0, 2.0, 3.0}, xg::f64);  // tanh .46 .76 .964 .995
  {
    nn::FlowMonitor strict(*net, {.tanh_limit = 0.9});
    (*net)(x);
    (*net)(x);  // the second forward replaces the first record
    REQUIRE(strict.captures().size() == 1);
    CHECK(*strict.report().layers[0].saturated == Approx(0.5));
    CHECK_FALSE(strict.report().layers[0].grad_output_mean_abs.has_value());  // no backward yet
  }
  nn::FlowMonitor standard(*net);
  (*net)(x);
  CHECK(*standard.report().layers[0].saturated == Approx(0.25));
  CHECK_THROWS_WITH_AS(nn::FlowMonitor(*net, {.tanh_limit = 1.5}), Contains("tanh_limit 1.5 must be in (0, 1)"),
                       xg::Error);
}

TEST_CASE("flow report: a layer called twice in one forward gives two rows") {
  struct Twice : nn::Module {
    std::shared_ptr<nn::Tanh> act = register_module("act", nn::Tanh());
    xg::Tensor forward(const xg::Tensor& x) override { return (*act)((*act)(x)); }
  } model;
  nn::FlowMonitor monitor(model);
  xg::sum(model(xg::tensor(std::vector<double>{1.0}, xg::f64).requires_grad_())).backward();
  const auto r = monitor.report();
  REQUIRE(r.layers.size() == 2);
  CHECK(r.layers[0].name == "act");
  CHECK(r.layers[1].name == "act#2");
  CHECK(r.layers[0].act_mean_abs == Approx(std::tanh(1.0)));
  CHECK(r.layers[1].act_mean_abs == Approx(std::tanh(std::tanh(1.0))));
  // The inner call's output gradient is the outer call's input gradient.
  CHECK(*r.layers[0].grad_output_mean_abs == Approx(*r.layers[1].grad_input_mean_abs));
}
