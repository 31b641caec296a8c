// Tape semantics: accumulation, reuse, retain_graph, no_grad, detach, zero_grad, error messages,
// and a million-op chain that must not recurse.
#include <doctest/doctest.h>
#include <type_traits>
#include <utility>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
using doctest::Contains;

namespace {
xg::Tensor leaf(double v) { return xg::scalar(v, xg::f64).requires_grad_(); }
}  // namespace

TEST_CASE("a tensor used twice accumulates both contributions: d(x*x)/dx = 2x") {
  auto x = leaf(3.0);
  auto y = x * x;
  y.backward();
  CHECK(y.item() == 9.0);
  CHECK(x.grad().item() == 6.0);
}

TEST_CASE("a diamond sums the gradients of both paths") {
  // a = 2x, b = x^2 (both from x), f = a * b = 2x^3, df/dx = 6x^2
  auto x = leaf(1.5);
  auto a = x * 2.0;
  auto b = xg::pow(x, 2);
  auto f = a * b;
  f.backward();
  CHECK(x.grad().item() == doctest::Approx(6 * 1.5 * 1.5).epsilon(1e-15));
}

TEST_CASE("a reused non-leaf is processed once / after all its uses (micrograd PR #64)") {
  // b = a + a; c = b + b  =>  dc/da = 4
  auto a = leaf(-4.0);
  auto b = a + a;
  auto c = b + b;
  c.backward();
  CHECK(a.grad().item() == 4.0);
}

TEST_CASE("leaf gradients accumulate across backward calls until zero_grad") {
  auto x = leaf(2.0);
  (x * 3.0).backward();
  (x * 3.0).backward();
  CHECK(x.grad().item() == 6.0);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  (x * 5.0).backward();
  CHECK(x.grad().item() == 5.0);
}

TEST_CASE("a gradient shared by two leaves is stored separately on each") {
  // add passes dy to both inputs; changing one leaf's grad in place must not change the other's
  auto a = leaf(1.0), b = leaf(2.0);
  (a + b).backward();
  xg::Tensor ga = a.grad();
  ga.mutable_value<double>()(0) = 100.0;
  CHECK(a.grad().item() == 100.0);
  CHECK(b.grad().item() == 1.0);
}

// `const auto& v = model(x).value<float>();` once kept a reference into a tensor destroyed at the
// end of the statement (examples/rnn_classify.cpp, found by ASan). On a temporary, value() now
// returns a copy, and mutable_value() does not compile.
template <class T>
concept WritableValue = requires(T t) {
  std::forward<T>(t).template mutable_value<double>();
};
static_assert(std::is_same_v<decltype(std::declval<xg::Tensor>().value<float>()), xt::xarray<float>>);
static_assert(std::is_same_v<decltype(std::declval<xg::Tensor&>().value<float>()), const xt::xarray<float>&>);
static_assert(WritableValue<xg::Tensor&>);
static_assert(!WritableValue<xg::Tensor>);
static_assert(!WritableValue<const xg::Tensor&>);

TEST_CASE("the value of a temporary tensor outlives it") {
  auto x = leaf(3.0);
  const auto& v = (x * 2.0).value<double>();  // the product is gone after this line
  CHECK(v(0) == 6.0);
  const auto& g =
      [&] {
        (x * x).backward();
        return x;
      }()
          .grad()
          .value<double>();  // grad() is a reference into x, which is alive
  CHECK(g(0) == 6.0);
}

TEST_CASE("the graph is freed after backward - a second backward is a clear error") {
  auto x = leaf(2.0);
  auto y = x * x;
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), Contains("retain_graph"), xg::Error);
  CHECK_THROWS_WITH_AS(y.backward(), Contains("'mul' recorded at"), xg::Error);
  CHECK_THROWS_WITH_AS(y.backward(), Contains("test_tape.cpp"), xg::Error);
}

TEST_CASE("a shared subgraph freed by one backward cannot be traversed by another") {
  auto x = leaf(2.0);
  auto h = x * 3.0;
  auto y1 = h + 1.0;
  auto y2 = h * 2.0;
  y1.backward();
  CHECK_THROWS_WITH_AS(y2.backward(), Contains("already back-propagated"), xg::Error);
}

TEST_CASE("retain_graph allows a second backward / which accumulates again") {
  auto x = leaf(2.0);
  auto y = x * x * x;  // 3x^2 = 12
  y.backward({}, /*retain_graph=*/true);
  CHECK(x.grad().item() == 12.0);
  y.backward();
  CHECK(x.grad().item() == 24.0);
}

TEST_CASE("NoGradGuard records nothing - recording resumes after the scope") {
  auto x = leaf(2.0);
  {
    xg::NoGradGuard no_grad;
    auto y = x * x;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK_THROWS_WITH_AS(y.backward(), Contains("does not require grad"), xg::Error);
  }
  auto z = x * x;
  CHECK(z.requires_grad());
  CHECK(z.op() == "mul");
}

TEST_CASE("detach cuts the tape: the detached branch is a constant") {
  auto x = leaf(3.0);
  auto c = (x * x).detach();  // 9, but no gradient flows through it
  CHECK_FALSE(c.requires_grad());
  auto y = c * x;  // dy/dx = c = 9
  y.backward();
  CHECK(x.grad().item() == 9.0);
}

TEST_CASE("backward(grad) on a non-scalar output - without a gradient it is an error") {
  auto x = xg::tensor({1.0, 2.0, 3.0}, xg::f64).requires_grad_();
  auto y = x * x;
  CHECK_THROWS_WITH_AS(y.backward(), Contains("backward: output of shape [3] is not a scalar"), xg::Error);
  y.backward(xg::tensor({1.0, 10.0, 100.0}, xg::f64));
  const auto& g = x.grad().value<double>();
  CHECK(g(0) == 2.0);
  CHECK(g(1) == 40.0);
  CHECK(g(2) == 600.0);
}

TEST_CASE("backward(grad) with a gradient of the wrong shape or dtype is an error") {
  auto x = xg::tensor({1.0, 2.0}, xg::f64).requires_grad_();
  auto y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(xg::ones({3}, xg::f64)),
                       Contains("gradient [3] f64 does not match the output [2] f64"), xg::Error);
  CHECK_THROWS_WITH_AS(y.backward(xg::ones({2}, xg::f32)), Contains("f32 does not match"), xg::Error);
}

TEST_CASE("intermediate gradients are dropped unless retain_grad() is asked for") {
  auto x = leaf(2.0);
  auto h = x * 3.0;
  auto kept = (x * 4.0).retain_grad();
  auto y = h * kept;
  y.backward();
  CHECK_FALSE(h.grad().defined());
  CHECK(kept.grad().item() == 6.0);  // dy/dkept = h = 6
}

TEST_CASE("broadcast gradients are summed back to each input's shape") {
  auto m = xg::ones({2, 3}, xg::f64).requires_grad_();
  auto row = xg::tensor({1.0, 2.0, 3.0}, xg::f64).requires_grad_();
  auto s = xg::scalar(2.0, xg::f64).requires_grad_();
  xg::sum((m + row) * s).backward();
  CHECK(row.grad().shape() == xg::Shape{3});
  CHECK(row.grad().value<double>()(0) == 4.0);  // two rows, times s = 2
  CHECK(s.grad().shape() == xg::Shape{});
  CHECK(s.grad().item() == doctest::Approx(6 + 12));  // sum of (1 + row) over 2 rows
  CHECK(m.grad().value<double>()(1, 2) == 2.0);
}

TEST_CASE("only leaves can be marked requires_grad_") {
  auto x = leaf(1.0);
  auto y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.requires_grad_(), Contains("requires_grad_: 'mul' output [] is not a leaf"), xg::Error);
}

TEST_CASE("value<T> and item check dtype and element count") {
  auto a = xg::zeros({2, 3});
  CHECK(a.dtype() == xg::f32);
  CHECK_THROWS_WITH_AS(a.value<double>(), Contains("value<f64>: the tensor is f32"), xg::Error);
  CHECK_THROWS_WITH_AS(a.item(), Contains("item: tensor of shape [2,3] has 6 elements"), xg::Error);
  xg::Tensor undefined;
  CHECK_THROWS_WITH_AS(undefined.shape(), Contains("undefined"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::exp(undefined), Contains("exp: the tensor is undefined"), xg::Error);
}

TEST_CASE("an error raised inside a node's backward names the op and the line that recorded it") {
  auto x = xg::scalar(1.0, xg::f64).requires_grad_();
  // A deliberately broken op whose local gradient has the wrong dtype.
  const xg::Site here = xg::Site::current();
  auto y = xg::record(
      "broken", x * 1.0, {x}, [](xg::Backward& node) { node.dx[0] = node.dy.to(xg::f32); }, here);
  const std::string expected = fmt::format("backward of 'broken' recorded at {}:{}: ", here.file_name(), here.line());
  CHECK_THROWS_WITH_AS(y.backward(), Contains(expected.c_str()), xg::Error);
}

TEST_CASE("an op's own error that happens to start with 'backward of' is still wrapped with its site") {
  // The engine once recognised its own wrapper by the text "backward of" and passed such messages on
  // without the op and the line.
  auto x = xg::scalar(1.0, xg::f64).requires_grad_();
  const xg::Site here = xg::Site::current();
  auto y = xg::record(
      "custom", x * 1.0, {x}, [](xg::Backward&) { throw xg::Error("backward of custom is not written yet"); }, here);
  const std::string expected =
      fmt::format("backward of 'custom' recorded at {}:{}: backward of custom is not written yet", here.file_name(),
                  here.line());
  CHECK_THROWS_WITH_AS(y.backward(), expected.c_str(), xg::Error);
  // and an error from an inner node is wrapped once, not once per node it passes through
  auto z = xg::tanh(xg::record(
      "broken", x * 1.0, {x}, [](xg::Backward& node) { node.dx[0] = node.dy.to(xg::f32); }, here));
  try {
    z.backward();
    FAIL("no error");
  } catch (const xg::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("backward of", 1) == std::string::npos);
  }
}

TEST_CASE("operators record the line of the user's expression") {
  auto x = leaf(1.0);
  const int line = __LINE__ + 1;
  auto y = x + 2.0;
  CHECK(y.site().line() == static_cast<unsigned>(line));
  CHECK(std::string_view(y.site().file_name()).ends_with("test_tape.cpp"));
  auto z = xg::tanh(y);
  CHECK(z.site().line() == static_cast<unsigned>(line + 3));
}

TEST_CASE("the same model code runs in f32 and f64 - to() is differentiable") {
  for (xg::DType dt : {xg::f32, xg::f64}) {
    auto w = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, dt).requires_grad_();
    auto loss = xg::sum(xg::tanh(xg::matmul(w, w)));
    loss.backward();
    CHECK(loss.dtype() == dt);
    CHECK(w.grad().dtype() == dt);
  }
  auto x = xg::tensor({1.5, -2.0}, xg::f64).requires_grad_();
  auto y = xg::sum(x.to(xg::f32) * 3.0);
  CHECK(y.dtype() == xg::f32);
  y.backward();
  CHECK(x.grad().dtype() == xg::f64);
  CHECK(x.grad().value<double>()(1) == 3.0);
}

TEST_CASE("a chain of 1000000 ops builds / back-propagates and is destroyed without recursion") {
  constexpr int n = 1'000'000;
  auto x = xg::scalar(1.0, xg::f64).requires_grad_();
  {
    xg::Tensor y = x;
    for (int i = 0; i < n / 2; ++i) {
      y = y * 1.0000001;
      y = y + 0.5;
    }
    y.backward();  // dy/dx = 1.0000001^(n/2)
    CHECK(x.grad().item() == doctest::Approx(std::pow(1.0000001, n / 2)).epsilon(1e-9));
  }
  // and a chain that is destroyed without ever running backward
  {
    xg::Tensor y = x;
    for (int i = 0; i < n; ++i) y = xg::tanh(y);
    CHECK(y.item() > 0.0);
    CHECK(xg::tape_to_string(y).size() > 0);
  }
}

TEST_CASE("creation: tensor / zeros / ones / full / arange / randn/rand with manual_seed") {
  auto m = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, xg::f64);
  CHECK(m.shape() == xg::Shape{2, 2});
  CHECK(m.numel() == 4);
  CHECK(m.dim() == 2);
  CHECK(m.value<double>()(1, 0) == 3.0);
  CHECK_THROWS_WITH_AS(xg::tensor({{1.0, 2.0}, {3.0}}), Contains("rows have different lengths"), xg::Error);
  CHECK(xg::full({2}, 7.0).value<float>()(1) == 7.f);
  CHECK(xg::arange(4).value<float>()(3) == 3.f);
  xg::manual_seed(42);
  auto r1 = xg::randn({1000}, xg::f64);
  xg::manual_seed(42);
  auto r2 = xg::randn({1000}, xg::f64);
  CHECK(r1.value<double>() == r2.value<double>());
  const double mean = xg::mean(r1).item();
  CHECK(std::abs(mean) < 0.15);
  auto u = xg::rand({1000});
  CHECK(xg::min(u).item() >= 0.0);
  CHECK(xg::max(u).item() < 1.0);
  auto wrapped = xg::Tensor(xt::xarray<double>{{1, 2}, {3, 4}});
  CHECK(wrapped.dtype() == xg::f64);
}

TEST_CASE("printing through fmt") {
  auto x = xg::tensor({1.0, 2.0}, xg::f64).requires_grad_();
  CHECK(fmt::format("{}", x).find("f64, requires_grad") != std::string::npos);
  auto y = x * 2.0;
  CHECK(fmt::format("{}", y).find("op=mul") != std::string::npos);
  const std::string tape = xg::tape_to_string(xg::sum(y));
  CHECK(tape.find("mul") != std::string::npos);
  CHECK(tape.find("sum") != std::string::npos);
}

TEST_CASE("gradcheck refuses a non-leaf input whose gradient would not be kept") {
  auto x = xg::randn({3}, xg::f64).requires_grad_() * 3.0;
  CHECK_THROWS_WITH_AS(xg::gradcheck([](const std::vector<xg::Tensor>& in) { return xg::sum(in[0]); }, {x}),
                       Contains("gradcheck: input 0 [3] is the output of 'mul'"), xg::Error);
}

TEST_CASE("gradcheck with no input that requires grad says so in its own words") {
  auto x = xg::randn({3}, xg::f64);
  CHECK_THROWS_WITH_AS(xg::gradcheck([](const std::vector<xg::Tensor>& in) { return xg::sum(in[0]); }, {x}),
                       "gradcheck: none of the 1 inputs requires grad, so there is no gradient to check; mark the "
                       "inputs to check with requires_grad_()",
                       xg::Error);
}

TEST_CASE("an undefined tensor or a wrong input size is blamed on the op or layer that was called") {
  const xg::Tensor undefined, x = xg::ones({5, 4});
  CHECK_THROWS_WITH_AS(xg::matmul(undefined, x), Contains("matmul: the tensor is undefined"), xg::Error);
  CHECK_THROWS_WITH_AS(undefined.item(), Contains("item: the tensor is undefined"), xg::Error);
  xg::nn::Linear fc(3, 2);
  CHECK_THROWS_WITH_AS(fc(undefined), "Linear(in=3, out=2): the input is undefined", xg::Error);
  CHECK_THROWS_WITH_AS(fc(x), "Linear(in=3, out=2): expects 3 input features (an input [..., 3]), got [5,4] with 4",
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::linear(x, xg::ones({2, 3})),
                       "linear: input [5,4] x weight [2,3]: the weight [out, in] expects 3 input features, the input "
                       "has 4",
                       xg::Error);
}

TEST_CASE("gradcheck reports a finite difference that crosses a kink instead of failing") {
  auto x = xg::tensor({1e-7, 0.5, -0.5}, xg::f64).requires_grad_();
  const auto report = xg::gradcheck([](const std::vector<xg::Tensor>& in) { return xg::sum(xg::relu(in[0])); }, {x});
  CHECK(report.ok);
  REQUIRE(report.kinks.size() == 1);
  CHECK(report.kinks[0].index == xg::Shape{0});
  CHECK(report.checked == 2);
  CHECK(fmt::format("{}", report).find("kink crossed") != std::string::npos);
}

TEST_CASE("tensor(): 1-D, 2-D, a column from one-element rows, and from a vector") {
  const xg::Tensor a = xg::tensor({1.0, 2.0, 3.0});
  CHECK(a.shape() == xg::Shape{3});
  const xg::Tensor m = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, xg::f64);
  CHECK(m.shape() == xg::Shape{2, 2});
  CHECK(m.value<double>()(1, 0) == 3.0);
  const xg::Tensor column = xg::tensor({{1.0}, {2.0}});  // [2, 1], not ambiguous
  CHECK(column.shape() == xg::Shape{2, 1});
  CHECK(column.value<float>()(1, 0) == 2.0f);
  const std::vector<double> values{4.0, 5.0};
  const xg::Tensor v = xg::tensor(values, xg::f64);
  CHECK(v.shape() == xg::Shape{2});
  CHECK(v.value<double>()(1) == 5.0);
  CHECK_THROWS_AS(xg::tensor({{1.0, 2.0}, {3.0}}), xg::Error);
}
