// The open engine: tensor and module hooks, anomaly mode, in-place change detection, and the layer a
// node was recorded in.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <xgrad/autograd/tensor_impl.hpp>
#include <xgrad/autograd/threads.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;
using doctest::Contains;

namespace {
xg::Tensor leaf(std::vector<double> v) { return xg::tensor(v, xg::f64).requires_grad_(); }
std::vector<double> values(const xg::Tensor& t) {
  const auto& a = t.value<double>();
  return {a.begin(), a.end()};
}
std::string here_line(const xg::Site& s) { return fmt::format("{}:{}", s.file_name(), s.line()); }
}  // namespace

// --- tensor hooks -----------------------------------------------------------------------------------

TEST_CASE("hooks: an intermediate's hook sees its summed gradient and its replacement flows on") {
  auto x = leaf({1.0, 2.0});
  auto h = x * 3.0;  // dL/dh = 2 (h is used twice below)
  std::vector<std::vector<double>> seen;
  h.register_hook([&](const xg::Tensor& g) { seen.push_back(values(g)); });
  h.register_hook([&](const xg::Tensor& g) { return g * 10.0; });  // runs second, replaces
  h.register_hook([&](const xg::Tensor& g) { seen.push_back(values(g)); });
  xg::sum(h + h).backward();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<double>{2.0, 2.0});             // both uses summed before the first hook
  CHECK(seen[1] == std::vector<double>{20.0, 20.0});           // the third hook sees the second's result
  CHECK(values(x.grad()) == std::vector<double>{60.0, 60.0});  // 20 * dh/dx = 20 * 3
}

TEST_CASE("hooks: a leaf's hook sees this backward's gradient before it is added into grad()") {
  auto w = leaf({1.0, -1.0});
  std::vector<std::vector<double>> seen;
  w.register_hook([&](const xg::Tensor& g) {
    seen.push_back(values(g));
    return g * 0.5;
  });
  xg::sum(w * 4.0 + w).backward();  // two uses: 4 + 1
  xg::sum(w * 2.0).backward();      // a second backward accumulates
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<double>{5.0, 5.0});
  CHECK(seen[1] == std::vector<double>{2.0, 2.0});
  CHECK(values(w.grad()) == std::vector<double>{3.5, 3.5});  // 2.5 + 1
}

TEST_CASE("hooks: remove() unregisters, twice is harmless, a handle may outlive its tensor") {
  auto x = leaf({1.0});
  int calls = 0;
  xg::HookHandle handle = x.register_hook([&](const xg::Tensor&) { ++calls; });
  xg::sum(x * 2.0).backward();
  handle.remove();
  handle.remove();
  xg::sum(x * 2.0).backward();
  CHECK(calls == 1);
  xg::HookHandle dangling;
  {
    auto y = leaf({1.0});
    dangling = y.register_hook([](const xg::Tensor&) {});
  }
  dangling.remove();  // the tensor is gone: nothing to do, no crash
  CHECK_THROWS_WITH_AS(xg::ones({2}).register_hook([](const xg::Tensor&) {}),
                       "register_hook: the tensor [2] does not require grad, so no gradient will reach the hook",
                       xg::Error);
}

TEST_CASE("post-accumulate hooks run once per backward per leaf, after grad() holds the new sum") {
  auto w = leaf({1.0, 2.0});
  std::vector<std::vector<double>> grads_seen;
  w.register_post_accumulate_grad_hook([&](const xg::Tensor& p) { grads_seen.push_back(values(p.grad())); });
  xg::sum(w * w + w * 3.0).backward();  // three uses of w, one hook call
  CHECK(grads_seen == std::vector<std::vector<double>>{{5.0, 7.0}});
  xg::sum(w).backward();
  CHECK(grads_seen.back() == std::vector<double>{6.0, 8.0});
  CHECK(grads_seen.size() == 2);
  auto h = w * 2.0;
  CHECK_THROWS_WITH_AS(h.register_post_accumulate_grad_hook([](const xg::Tensor&) {}),
                       Contains("only a leaf that requires grad accumulates a gradient"), xg::Error);
}

TEST_CASE("post-accumulate hooks fire last layer first, as gradient bucketing needs") {
  nn::Sequential net{nn::Linear(3, 4), nn::Tanh(), nn::Linear(4, 2)};
  net.to(xg::f64);
  std::vector<std::string> order;
  for (auto& [name, p] : net.named_parameters())
    p.register_post_accumulate_grad_hook([&order, name = name](const xg::Tensor&) { order.push_back(name); });
  xg::sum(net(xg::ones({5, 3}, xg::f64))).backward();
  REQUIRE(order.size() == 4);
  CHECK(order[0].starts_with("2."));
  CHECK(order[3].starts_with("0."));
}

// --- module hooks -----------------------------------------------------------------------------------

TEST_CASE("module hooks capture every layer's activation of a Sequential and can be removed") {
  nn::Sequential net{nn::Linear(3, 4), nn::ReLU(), nn::Linear(4, 2)};
  std::vector<std::pair<std::string, xg::Shape>> captured;
  std::vector<xg::HookHandle> handles;
  for (auto& [name, layer] : net.named_children())
    handles.push_back(layer->register_forward_hook([&captured](nn::Module& m, const xg::Tensor&, const xg::Tensor& y) {
      captured.emplace_back(m.name(), y.shape());
    }));
  const xg::Tensor out = net(xg::ones({5, 3}));
  REQUIRE(captured.size() == 3);
  CHECK(captured[0] == std::pair<std::string, xg::Shape>{"0", {5, 4}});
  CHECK(captured[1] == std::pair<std::string, xg::Shape>{"1", {5, 4}});
  CHECK(captured[2] == std::pair<std::string, xg::Shape>{"2", {5, 2}});
  for (auto& h : handles) h.remove();
  net(xg::ones({5, 3}));
  CHECK(captured.size() == 3);
}

TEST_CASE("a forward pre-hook may replace the input and a forward hook the output") {
  nn::Linear fc(2, 1);
  fc.to(xg::f64);
  fc.weight.mutable_value<double>() = xt::xarray<double>{{1.0, 1.0}};
  fc.bias.mutable_value<double>() = xt::xarray<double>{0.0};
  fc.register_forward_pre_hook([](nn::Module&, const xg::Tensor& x) { return x * 2.0; });
  fc.register_forward_hook([](nn::Module&, const xg::Tensor&, const xg::Tensor& y) { return y + 1.0; });
  CHECK(fc(xg::tensor({{1.0, 2.0}}, xg::f64)).item() == 7.0);  // (2 + 4) + 1
}

// --- anomaly mode -----------------------------------------------------------------------------------

TEST_CASE("anomaly mode: a log(0) in the forward names the op, the element and the test's line") {
  xg::DetectAnomalyGuard anomaly;
  auto x = leaf({1.0, 0.0, 2.0});
  auto y = x * 1.0;
  const xg::Site site = xg::Site::current();
  const std::string message = error_text::error_of([&] { xg::log(y, site); });
  CHECK(message.starts_with(
      fmt::format("anomaly: 'log' recorded at {} produced -inf at element [1] of its output [3]", here_line(site))));
  CHECK(message.find("fed by (nearest first):\n    'mul' recorded at") != std::string::npos);
}

TEST_CASE("anomaly mode: a 0/0 in a backward names the op, the input and the test's line") {
  xg::DetectAnomalyGuard anomaly;
  auto x = leaf({0.0, 1.0});
  const xg::Site site = xg::Site::current();
  // d|x|^(1/2)... a hand-written gate whose local gradient divides 0 by 0 at x = 0
  auto y = xg::record(
      "ratio", x * 1.0, {x}, [](xg::Backward& node) { node.dx[0] = node.dy * node.x[0] / node.x[0]; }, site);
  const std::string message = error_text::error_of([&] { xg::sum(y).backward(); });
  MESSAGE(message);
  CHECK(message.starts_with(fmt::format("anomaly: backward of 'ratio' recorded at {} produced nan at element [0] of "
                                        "the gradient [2] of its input 0",
                                        here_line(site))));
}

TEST_CASE("anomaly mode is off by default and off again after the guard") {
  CHECK_FALSE(xg::is_anomaly_enabled());
  {
    xg::DetectAnomalyGuard anomaly;
    CHECK(xg::is_anomaly_enabled());
  }
  CHECK_FALSE(xg::is_anomaly_enabled());
  auto x = leaf({0.0});
  CHECK(std::isinf(xg::log(x * 1.0).item()));  // off: no check, the value is what it is
}

// --- in-place changes ---------------------------------------------------------------------------------

TEST_CASE("forward, optimizer step, backward: the stale weights are caught, not silently used") {
  auto w = leaf({1.0, 2.0, 3.0});
  xg::optim::SGD opt({w}, {.lr = 0.1});
  xg::sum(w * 1.0).backward();  // a first gradient so that step() changes w
  const xg::Site site = xg::Site::current();
  const xg::Tensor loss = xg::sum(xg::mul(w, w, site));  // its backward reads w (d(w*w)/dw = 2w)
  opt.step();                                            // writes w in place
  const std::string message = error_text::error_of([&] { loss.backward(); });
  CHECK(message == fmt::format("backward of 'mul' recorded at {}: its input 0 [3] was modified in place after it was "
                               "recorded (version 1, expected 0); an optimizer step or another in-place write between "
                               "the forward and this backward changed it",
                               here_line(site)));
}

TEST_CASE("forward, backward, step, forward, backward: no false alarm") {
  auto w = leaf({1.0, 2.0});
  xg::optim::Adam opt({w}, {.lr = 0.1});
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    xg::sum(xg::tanh(w) * w).backward();
    opt.step();
  }
  CHECK(w.version() == 3);
}

TEST_CASE("an op whose backward does not read an input ignores in-place writes to it") {
  auto w = leaf({1.0, 2.0});
  auto y = xg::sum(w + 1.0);  // add's gradient is dy: it never reads w
  w.mutable_value<double>()(0) = 5.0;
  y.backward();
  CHECK(values(w.grad()) == std::vector<double>{1.0, 1.0});
}

TEST_CASE("a local gradient may read its inputs from the parts of a parallel_for, and those reads count") {
  // Reading node.x[i] notes the read for the in-place check; from several threads at once that note
  // was a data race (ThreadSanitizer, with set_num_threads(8) in the TSan build) until it became atomic.
  const int threads = xg::num_threads();
  xg::set_num_threads(4);
  auto w = leaf(std::vector<double>(64, 1.0));
  const xg::Site site = xg::Site::current();
  const auto scale = [&](const xg::Tensor& t) {
    xg::Tensor y;
    {
      xg::NoGradGuard no_grad;
      y = t * 2.0;
    }
    return xg::record(
        "scale_in_parts", y, {t},
        [](xg::Backward& node) {
          double sum = 0;  // the parts read the input, the caller only the sum of what they saw
          std::vector<double> seen(4, 0.0);
          xg::detail::parallel_for(64, 4, [&](std::size_t part, std::size_t first, std::size_t) {
            seen[part] = node.x[0].value<double>()(first);
          });
          for (double v : seen) sum += v;
          node.dx[0] = node.dy * (sum / double(seen.size()) * 2.0);
        },
        site);
  };
  xg::sum(scale(w)).backward();
  CHECK(values(w.grad()) == std::vector<double>(64, 2.0));
  const xg::Tensor loss = xg::sum(scale(w));
  w.mutable_value<double>()(0) = 5.0;  // an in-place write after recording: the parts' reads must count
  const std::string message = error_text::error_of([&] { loss.backward(); });
  xg::set_num_threads(threads);
  CHECK(message.starts_with(fmt::format("backward of 'scale_in_parts' recorded at {}: its input 0 [64] was modified in "
                                        "place after it was recorded",
                                        here_line(site))));
}

// --- the layer a node was recorded in ----------------------------------------------------------------

TEST_CASE("ops recorded inside a layer name the layer and the line that called it") {
  struct TwoLayer : nn::Module {
    std::shared_ptr<nn::Linear> fc1 = register_module("fc1", nn::Linear(3, 2));
    xg::Tensor forward(const xg::Tensor& x) override { return (*fc1)(x); }
  } model;
  const int line = __LINE__ + 1;
  const xg::Tensor y = model(xg::ones({4, 3}));
  const std::string where = xg::detail::describe_node(*y.impl());
  CHECK(where.starts_with("'linear' in Linear(in=3, out=2) 'fc1' (linear.cpp:"));
  CHECK(where.find("in TwoLayer, called from ") != std::string::npos);
  CHECK(where.ends_with(fmt::format("{}:{}", __FILE__, line)));
}

TEST_CASE("a custom op may declare itself once-differentiable; the node and the tape printout keep it") {
  auto x = leaf({1.0, 2.0});
  const auto square = [](const xg::Tensor& t, xg::Differentiability d) {
    xg::Tensor y;
    {
      xg::NoGradGuard no_grad;
      y = t * t;
    }
    return xg::record(
        "square", y, {t}, [](xg::Backward& node) { node.dx[0] = node.dy * node.x[0] * 2.0; }, xg::Site::current(), d);
  };
  const xg::Tensor once = square(x, xg::Differentiability::once);
  const xg::Tensor any = square(x, xg::Differentiability::any_order);
  CHECK(once.impl()->once_differentiable);
  CHECK_FALSE(any.impl()->once_differentiable);
  CHECK(xg::tape_to_string(once).find("once differentiable") != std::string::npos);
  CHECK(xg::tape_to_string(any).find("once differentiable") == std::string::npos);
  xg::sum(once).backward();  // first order works as always
  CHECK(values(x.grad()) == std::vector<double>{2.0, 4.0});
}
