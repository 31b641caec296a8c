// gradcheck_tape (each node's local gradient against differences of that op alone, naming the wrong
// node and its line), gradcheck's fast mode (random projections u^T J v), and the doctest macros of
// <xgrad/testing.hpp> when they pass (tests/test_testing_macros/ has them failing).
#include <doctest/doctest.h>
#include <xgrad/testing.hpp>
#include <xgrad/testing/gradcheck_tape.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace {
using T = xg::Tensor;
using Inputs = std::vector<T>;

// swish(x) = x * sigmoid(x), a custom op written as ops/ writes one. With `planted_mistake` its
// backward forgets the x s (1 - s) term of  d/dx = s + x s (1 - s).
T swish(const T& x, bool planted_mistake, xg::Site site = xg::Site::current()) {
  T y;
  {
    xg::NoGradGuard no_grad;
    y = x * xg::sigmoid(x);
  }
  if (planted_mistake)
    return xg::record(
        "wrong_swish", y, {x}, [](xg::Backward& node) { node.dx[0] = node.dy * xg::sigmoid(node.x[0]); }, site);
  return xg::record(
      "swish", y, {x},
      [](xg::Backward& node) {
        const T s = xg::sigmoid(node.x[0]);
        node.dx[0] = node.dy * s * (1.0 + node.x[0] * (1.0 - s));
      },
      site);
}

T randn64(const xg::Shape& shape, bool grad = true) {
  T t = xg::randn(shape, xg::f64);
  if (grad) t.requires_grad_();
  return t;
}

// An op whose backward throws.
T broken(const T& x, xg::Site site = xg::Site::current()) {
  T y;
  {
    xg::NoGradGuard no_grad;
    y = x * 1.0;
  }
  return xg::record(
      "broken", y, {x}, [](xg::Backward&) { throw xg::Error("not written yet"); }, site);
}

std::string file_of(const xg::Site& site) { return std::filesystem::path(site.file_name()).filename().string(); }

// A 2-layer net on a fixed batch x: matmul, add bias, tanh, matmul, swish, mean.
struct TwoLayerNet {
  T x = randn64({4, 3}, false);
  Inputs params{randn64({3, 5}), randn64({5}), randn64({5, 2})};
  bool planted_mistake = false;
  unsigned swish_line = 0;  // the line that records the swish node

  xg::GradcheckFn fn() {
    return [this](const Inputs& p) {
      const T h = xg::tanh(xg::matmul(x, p[0]) + p[1]);
      const T z = xg::matmul(h, p[2]);
      swish_line = __LINE__ + 1;
      const T s = swish(z, planted_mistake);
      return xg::mean(s);
    };
  }
};
}  // namespace

TEST_CASE("gradcheck_tape: a correct 2-layer net passes with every node checked") {
  xg::manual_seed(1);
  TwoLayerNet net;
  const auto report = xg::gradcheck_tape(net.fn(), net.params);
  CHECK(report.ok);
  CHECK(report.first_failure() == nullptr);
  // matmul, add, tanh, matmul, swish, then mean's sum and its product by 1/n.
  std::vector<std::string> ops;
  for (const auto& n : report.nodes) ops.push_back(n.op);
  CHECK(ops == std::vector<std::string>{"matmul", "add", "tanh", "matmul", "swish", "sum", "mul"});
  // Each node is checked against every element of every input that requires grad: the first matmul
  // only against W1 (x needs no gradient), add against [4,5] and the bias [5] (broadcast: dx[1] is
  // summed to [5] as the engine does), the second matmul against h [4,5] and W2 [5,2].
  const std::vector<std::size_t> checked{15, 25, 20, 30, 8, 8, 1};
  for (std::size_t k = 0; k < report.nodes.size(); ++k) {
    CAPTURE(k);
    CHECK(report.nodes[k].index == k);
    CHECK(report.nodes[k].ok);
    CHECK(report.nodes[k].skipped.empty());
    CHECK(report.nodes[k].kinks.empty());
    CHECK(report.nodes[k].checked == checked[k]);
    CHECK(report.nodes[k].max_rel_error < 1e-6);
  }
  CHECK(report.nodes[4].site.line() == net.swish_line);
  CHECK(fmt::format("{}", report).starts_with("gradcheck_tape ok: 7 of 7 nodes checked, max relative error "));
}

TEST_CASE("gradcheck_tape: names the node with the planted wrong backward, its op and its line") {
  xg::manual_seed(1);
  TwoLayerNet net;
  net.planted_mistake = true;
  // gradcheck of the whole function sees that something is wrong, but not what.
  CHECK_FALSE(xg::gradcheck(net.fn(), net.params).ok);

  const auto report = xg::gradcheck_tape(net.fn(), net.params);
  CHECK_FALSE(report.ok);
  const xg::GradcheckTapeNode* bad = report.first_failure();
  REQUIRE(bad != nullptr);
  CHECK(bad->index == 4);
  CHECK(bad->op == "wrong_swish");
  CHECK(file_of(bad->site) == "test_gradcheck_tape.cpp");
  CHECK(bad->site.line() == net.swish_line);
  CHECK(bad->max_rel_error > 0.05);
  CHECK(bad->worst.input == 0);
  // Every other node, also the ones after it (mean), is checked on its own and passes.
  for (const auto& n : report.nodes)
    if (n.index != 4) CHECK(n.ok);

  const std::string text = fmt::format("{}", report);
  const std::string head = fmt::format("gradcheck_tape FAILED: node 4 'wrong_swish' (test_gradcheck_tape.cpp:{}): "
                                       "relative error ",
                                       net.swish_line);
  CHECK(text.starts_with(head));
  CHECK(text.find(fmt::format(" at input 0 {}: analytic ", xg::shape_str(bad->worst.index))) != std::string::npos);
  CHECK(text.find("\n  FAILED node 4 'wrong_swish'") != std::string::npos);
  CHECK(text.find("\n  ok     node 3 'matmul'") != std::string::npos);
}

TEST_CASE("gradcheck_tape: the worst element's values are the op's true and planted derivatives") {
  xg::manual_seed(2);
  // A single node: for y = swish(x) and dy = r, the analytic side is r s and the numeric side
  // r s (1 + x (1 - s)), element by element.
  const T x = randn64({6});
  const auto report = xg::gradcheck_tape([](const Inputs& in) { return swish(in[0], true); }, {x});
  REQUIRE(report.nodes.size() == 1);
  const auto& w = report.nodes[0].worst;
  const double v = x.value<double>()(w.index[0]);
  const double s = 1 / (1 + std::exp(-v));
  CHECK(w.numeric / w.analytic == doctest::Approx(1 + v * (1 - s)).epsilon(1e-6));
}

TEST_CASE("gradcheck_tape: an input used twice (x * x) and a diamond (t + tanh(t)) are checked per node") {
  xg::manual_seed(3);
  const T x = randn64({3, 2});
  // mul's operands are the same tensor: moving it moves both, and both of mul's dx are summed.
  // add's second operand depends on its first: it is held at its recorded value while the first moves.
  const auto report = xg::gradcheck_tape(
      [](const Inputs& in) {
        const T t = in[0] * in[0];
        return xg::sum(t + xg::tanh(t));
      },
      {x});
  CHECK(report.ok);
  REQUIRE(report.nodes.size() == 4);
  CHECK(report.nodes[0].op == "mul");
  CHECK(report.nodes[0].checked == 6);
  CHECK(report.nodes[2].op == "add");
  CHECK(report.nodes[2].checked == 12);
  for (const auto& n : report.nodes) CHECK(n.max_rel_error < 1e-6);
}

TEST_CASE("gradcheck_tape: a kink crossed by the difference is listed, not failed") {
  const T x = xg::tensor({-1.0, 0.0, 2.0}, xg::f64).requires_grad_();
  const auto report = xg::gradcheck_tape([](const Inputs& in) { return xg::sum(xg::relu(in[0]) * 3.0); }, {x});
  CHECK(report.ok);
  REQUIRE(report.nodes.size() >= 1);
  const auto& relu = report.nodes[0];
  CHECK(relu.op == "relu");
  CHECK(relu.checked == 2);
  REQUIRE(relu.kinks.size() == 1);
  CHECK(relu.kinks[0].index == xg::Shape{1});
  CHECK(fmt::format("{}", report).find("1 kink crossed (not counted): input 0 [1]") != std::string::npos);
}

TEST_CASE("gradcheck_tape: max_elements samples elements; a captured tensor that requires grad is checked too") {
  xg::manual_seed(4);
  const T W = randn64({8, 8});  // captured by f, not passed as an input
  const T x = randn64({8});
  const auto report = xg::gradcheck_tape(
      [&](const Inputs& in) {
        return xg::sum(xg::tanh(xg::matmul(W, in[0].reshape({8, 1}))));
      },
      {x}, {.max_elements = 5});
  CHECK(report.ok);
  REQUIRE(report.nodes.size() == 4);
  CHECK(report.nodes[1].op == "matmul");
  CHECK(report.nodes[1].checked == 10);  // 5 of W's 64 and 5 of the reshaped x's 8
  CHECK(report.nodes[2].checked == 5);
}

TEST_CASE("gradcheck_tape: f32 nodes are skipped; a throwing backward and a changing tape are reported") {
  xg::manual_seed(5);
  const T x = randn64({3});
  const auto mixed = xg::gradcheck_tape([](const Inputs& in) { return xg::sum(xg::tanh(in[0]).to(xg::f32)); }, {x});
  REQUIRE(mixed.nodes.size() == 3);
  CHECK(mixed.nodes[0].checked == 3);
  CHECK(mixed.nodes[1].op == "to");
  CHECK(mixed.nodes[1].skipped == "its output is f32");
  CHECK(mixed.nodes[2].skipped == "its output is f32");
  CHECK(mixed.ok);

  const auto throwing = xg::gradcheck_tape([](const Inputs& in) { return broken(xg::tanh(in[0])); }, {x});
  CHECK_FALSE(throwing.ok);
  CHECK(throwing.first_failure()->op == "broken");
  CHECK(throwing.first_failure()->error == "its backward threw: not written yet");

  int calls = 0;
  CHECK_THROWS_WITH_AS(xg::gradcheck_tape([&](const Inputs&
                                                  in) { return ++calls == 1 ? xg::tanh(in[0]) : xg::sigmoid(in[0]); },
                                          {x}),
                       doctest::Contains(
                           "f recorded a different tape on replay: node 0 was 'tanh' and is now 'sigmoid'"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::gradcheck_tape([](const Inputs& in) { return in[0] * 2.0; }, {x.to(xg::f32)}),
                       doctest::Contains("gradcheck_tape: input 0 [3] is f32"), xg::Error);
}

TEST_CASE("gradcheck_tape: dropout replays draw the same mask") {
  xg::manual_seed(6);
  const T x = randn64({4, 4});
  const auto report =
      xg::gradcheck_tape([](const Inputs& in) { return xg::sum(xg::tanh(xg::dropout(in[0], 0.5, true))); }, {x});
  CHECK(report.ok);
  for (const auto& n : report.nodes) CHECK(n.checked > 0);
}

// --- fast mode ---------------------------------------------------------------------------------
namespace {
// y = x * w with dy/dx = w; `scale` and `wrong_at` plant mistakes in the backward.
T scaled(const T& x, const T& w, double scale, long wrong_at = -1, xg::Site site = xg::Site::current()) {
  T y;
  {
    xg::NoGradGuard no_grad;
    y = x * w;
  }
  return xg::record(
      "scaled", y, {x, w},
      [scale, wrong_at](xg::Backward& node) {
        T dx = node.dy * node.x[1] * scale;
        if (wrong_at >= 0) dx.mutable_value<double>().data()[wrong_at] *= 2.0;
        node.dx[0] = dx;
      },
      site);
}
}  // namespace

TEST_CASE("gradcheck fast mode: a 10,000-element input, and planted wrong gradients caught") {
  xg::manual_seed(7);
  const T x = randn64({100, 100});
  const T w = randn64({100, 100}, false);
  const T W = randn64({100, 10}, false);
  auto net = [&](double scale, long wrong_at) {
    return [&w, &W, scale, wrong_at](const Inputs& in) {
      return xg::tanh(xg::matmul(scaled(in[0], w, scale, wrong_at), W));
    };
  };
  const auto good = xg::gradcheck(net(1.0, -1), {x}, {.fast = true});
  CHECK(good.ok);
  CHECK(good.fast);
  CHECK(good.checked == 3);
  CHECK(good.max_rel_error < 1e-6);
  CHECK(fmt::format("{}", good).starts_with("gradcheck ok: max relative error "));
  CHECK(fmt::format("{}", good).find("over 3 random directions (fast mode)") != std::string::npos);

  const auto scaled_wrong = xg::gradcheck(net(1.1, -1), {x}, {.fast = true});
  CHECK_FALSE(scaled_wrong.ok);
  CHECK(scaled_wrong.max_rel_error == doctest::Approx(0.1 / 1.1).epsilon(1e-4));  // |1.1 a - a| / (1.1 a)

  // One element of 10,000 wrong by a factor 2: u^T J v still moves far above the difference's noise.
  const auto one_wrong = xg::gradcheck(net(1.0, 4321), {x}, {.fast = true});
  CHECK_FALSE(one_wrong.ok);
  CHECK(one_wrong.max_rel_error > 1e-4);
  const std::string text = fmt::format("{}", one_wrong);
  CHECK(text.find("worst: input 0 along direction ") != std::string::npos);
  CHECK(text.find("fast mode names no element: rerun without fast on a smaller input") != std::string::npos);
}

TEST_CASE("gradcheck fast mode: the full check locates what fast mode reports") {
  xg::manual_seed(8);
  const T x = randn64({3, 4});
  const T w = randn64({3, 4}, false);
  auto f = [&w](const Inputs& in) { return scaled(in[0], w, 1.0, 6); };
  CHECK_FALSE(xg::gradcheck(f, {x}, {.fast = true, .directions = 2}).ok);
  const auto full = xg::gradcheck(f, {x});
  CHECK_FALSE(full.ok);
  CHECK(full.worst.index == xg::Shape{1, 2});  // flat element 6 of [3,4]
  CHECK_THROWS_WITH_AS(xg::gradcheck(f, {x}, {.fast = true, .directions = 0}),
                       "gradcheck: fast mode with 0 directions checks nothing; set options.directions to 1 or more",
                       xg::Error);
}

// --- the doctest macros, passing --------------------------------------------------------------
TEST_CASE("XG_CHECK_GRADCHECK, XG_REQUIRE_GRADCHECK and XG_CHECK_GRADCHECK_TAPE pass silently on correct gradients") {
  xg::manual_seed(9);
  TwoLayerNet net;
  XG_CHECK_GRADCHECK(net.fn(), net.params);
  XG_REQUIRE_GRADCHECK(net.fn(), net.params, {.h = 1e-5, .tolerance = 1e-6});
  XG_CHECK_GRADCHECK(net.fn(), net.params, {.fast = true});
  XG_CHECK_GRADCHECK_TAPE(net.fn(), net.params);
  XG_REQUIRE_GRADCHECK_TAPE(net.fn(), net.params, {.max_elements = 4});
  // Braces with commas go through unchanged.
  const T a = randn64({2, 3}), b = randn64({3});
  XG_CHECK_GRADCHECK([](const Inputs& in) { return xg::sum(in[0] * in[1]); }, {a, b});
}
