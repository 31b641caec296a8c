// Op tests, elementwise family: + - * / neg, the operators with a double on either side, pow, exp,
// log, sqrt, abs, tanh, sigmoid, relu, maximum and minimum. Gradients are checked in f64 against
// finite differences on every broadcasting pattern; kinked ops are checked away from their kinks,
// then at them (the subgradient conventions, and gradcheck's "kink crossed" report).
#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>

#include "op_check.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace xg = xgrad;

namespace {
using namespace op_check;

std::string pattern_name(const xg::Shape& a, const xg::Shape& b) {
  return xg::shape_str(a) + " with " + xg::shape_str(b);
}

// Every broadcasting pattern: same shape, 0-d on either side, [M,N]/[N], [M,1]/[1,N], [M,N]/[M,1],
// rank 3 with rank 1, leading axes missing or of size 1 (each also with the sides swapped), and a
// single element that is not 0-d.
const std::vector<std::pair<xg::Shape, xg::Shape>> patterns = {
    {{3, 4}, {3, 4}},       {{}, {}},
    {{}, {3, 4}},           {{3, 4}, {}},
    {{3, 4}, {4}},          {{4}, {3, 4}},
    {{3, 1}, {1, 4}},       {{1, 4}, {3, 1}},
    {{3, 4}, {3, 1}},       {{3, 1}, {3, 4}},
    {{2, 3, 4}, {4}},       {{4}, {2, 3, 4}},
    {{2, 3, 4}, {3, 4}},    {{3, 4}, {2, 3, 4}},
    {{1, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {1, 3, 1}},
    {{2, 1, 4}, {3, 1}},    {{5}, {}},
    {{1}, {3, 4}},          {{3, 4}, {1, 1}},
    {{1, 1}, {4}},
};

struct Binary {
  const char* name;
  std::function<T(const T&, const T&)> f;
  enum { any, positive_only, kinked } inputs;  // mul and div: positive (b is a divisor, and a sum of
  // a * w over a broadcast axis must not cancel to near 0, see check); maximum and minimum: distinct
};
const std::vector<Binary> binaries = {
    {"add", [](const T& a, const T& b) { return xg::add(a, b); }, Binary::any},
    {"sub", [](const T& a, const T& b) { return xg::sub(a, b); }, Binary::any},
    {"mul", [](const T& a, const T& b) { return xg::mul(a, b); }, Binary::positive_only},
    {"div", [](const T& a, const T& b) { return xg::div(a, b); }, Binary::positive_only},
    {"a + b", [](const T& a, const T& b) { return a + b; }, Binary::any},
    {"a - b", [](const T& a, const T& b) { return a - b; }, Binary::any},
    {"a * b", [](const T& a, const T& b) { return a * b; }, Binary::positive_only},
    {"a / b", [](const T& a, const T& b) { return a / b; }, Binary::positive_only},
    {"maximum", [](const T& a, const T& b) { return xg::maximum(a, b); }, Binary::kinked},
    {"minimum", [](const T& a, const T& b) { return xg::minimum(a, b); }, Binary::kinked},
};
}  // namespace

TEST_CASE("elementwise: binary ops gradcheck on every broadcasting pattern") {
  xg::manual_seed(1);
  for (const Binary& op : binaries)
    for (const auto& [sa, sb] : patterns) {
      auto draw = [&](const xg::Shape& s, double offset) {
        if (op.inputs == Binary::positive_only) return positive(s);
        return op.inputs == Binary::kinked ? distinct(s, offset) : normal(s);
      };
      check([&](const Inputs& in) { return op.f(in[0], in[1]); }, {draw(sa, 0), draw(sb, 0.185)},
            fmt::format("{} {}", op.name, pattern_name(sa, sb)));
    }
}

TEST_CASE("elementwise: binary ops gradcheck with one side constant") {
  xg::manual_seed(2);
  for (const Binary& op : binaries) {
    // Signs vary here, kept away from 0 so no product is near 0; the constant a that b's gradient
    // sums over (b is broadcast) is positive, so that sum cannot cancel.
    const bool kinked = op.inputs == Binary::kinked;
    const T b_const = kinked ? distinct({4}, 0.185).detach() : away_from_zero({4}).detach();
    check([&](const Inputs& in) { return op.f(in[0], b_const); }, {kinked ? distinct({3, 4}) : away_from_zero({3, 4})},
          fmt::format("{} with constant b", op.name));
    const T a_const = kinked ? distinct({3, 4}, 0.185).detach() : positive({3, 4}).detach();
    check([&](const Inputs& in) { return op.f(a_const, in[0]); }, {kinked ? distinct({4}) : away_from_zero({4})},
          fmt::format("{} with constant a", op.name));
  }
}

TEST_CASE("elementwise: an input used twice accumulates both gradients") {
  xg::manual_seed(3);
  for (const xg::Shape& s : {xg::Shape{}, xg::Shape{3, 4}}) {
    check([](const Inputs& in) { return in[0] * in[0]; }, {away_from_zero(s)}, "x * x");
    check([](const Inputs& in) { return in[0] / (in[0] * in[0] + 4.0); }, {positive(s)}, "x / (x^2 + 4)");
    check([](const Inputs& in) { return xg::exp(in[0]) - xg::tanh(in[0]) * in[0]; }, {away_from_zero(s)},
          "exp x - x tanh x");
  }
}

TEST_CASE("elementwise: operators with a double on either side gradcheck") {
  xg::manual_seed(4);
  const std::vector<std::pair<const char*, std::function<T(const T&)>>> ops = {
      {"x + 2.5", [](const T& x) { return x + 2.5; }},
      {"2.5 + x", [](const T& x) { return 2.5 + x; }},
      {"x - 2.5", [](const T& x) { return x - 2.5; }},
      {"2.5 - x", [](const T& x) { return 2.5 - x; }},
      {"x * -1.5", [](const T& x) { return x * -1.5; }},
      {"-1.5 * x", [](const T& x) { return -1.5 * x; }},
      {"x / 2.5", [](const T& x) { return x / 2.5; }},
      {"2.5 / x", [](const T& x) { return 2.5 / x; }},
      {"-x", [](const T& x) { return -x; }},
      {"neg", [](const T& x) { return xg::neg(x); }},
  };
  for (const auto& [name, f] : ops)
    for (const xg::Shape& s : {xg::Shape{}, xg::Shape{5}, xg::Shape{3, 4}, xg::Shape{2, 3, 4}})
      check([&](const Inputs& in) { return f(in[0]); }, {away_from_zero(s)},
            fmt::format("{} on {}", name, xg::shape_str(s)));
}

TEST_CASE("elementwise: unary ops gradcheck on several shapes") {
  xg::manual_seed(5);
  using Make = T (*)(const xg::Shape&);
  struct Unary {
    const char* name;
    std::function<T(const T&)> f;
    Make input;
  };
  const std::vector<Unary> ops = {
      {"exp", [](const T& x) { return xg::exp(x); }, normal},
      {"log", [](const T& x) { return xg::log(x); }, positive},
      {"sqrt", [](const T& x) { return xg::sqrt(x); }, positive},
      {"abs", [](const T& x) { return xg::abs(x); }, away_from_zero},
      {"tanh", [](const T& x) { return xg::tanh(x); }, normal},
      {"sigmoid", [](const T& x) { return xg::sigmoid(x); }, normal},
      {"relu", [](const T& x) { return xg::relu(x); }, away_from_zero},
      {"pow 2", [](const T& x) { return xg::pow(x, 2); }, away_from_zero},
      {"pow 3", [](const T& x) { return xg::pow(x, 3); }, away_from_zero},
      {"pow 0.5", [](const T& x) { return xg::pow(x, 0.5); }, positive},
      {"pow 1.5", [](const T& x) { return xg::pow(x, 1.5); }, positive},
      {"pow -0.5", [](const T& x) { return xg::pow(x, -0.5); }, positive},
      {"pow -1", [](const T& x) { return xg::pow(x, -1); }, away_from_zero},
      {"pow -2", [](const T& x) { return xg::pow(x, -2); }, away_from_zero},
      {"pow 1", [](const T& x) { return xg::pow(x, 1); }, normal},
      {"maximum x 0", [](const T& x) { return xg::maximum(x, 0.0); }, away_from_zero},
      {"minimum x 0", [](const T& x) { return xg::minimum(x, 0.0); }, away_from_zero},
      {"maximum x -0.75", [](const T& x) { return xg::maximum(x - 0.75, -0.75); }, away_from_zero},
      {"minimum x 1.25", [](const T& x) { return xg::minimum(x + 1.25, 1.25); }, away_from_zero},
  };
  for (const Unary& op : ops)
    for (const xg::Shape& s : {xg::Shape{}, xg::Shape{7}, xg::Shape{3, 4}, xg::Shape{2, 3, 4}})
      check([&](const Inputs& in) { return op.f(in[0]); }, {op.input(s)},
            fmt::format("{} on {}", op.name, xg::shape_str(s)));
}

TEST_CASE("elementwise: forward values of the unary ops") {
  const double e = std::exp(1.0);
  for (xg::DType d : {xg::f32, xg::f64}) {
    const double eps = d == xg::f32 ? 1e-6 : 1e-12;
    CAPTURE(xg::dtype_name(d));
    check_values(xg::exp(xg::tensor({0.0, 1.0, -2.0}, d)), {3}, {1.0, e, std::exp(-2.0)}, eps);
    check_values(xg::log(xg::tensor({1.0, e, 0.5}, d)), {3}, {0.0, 1.0, std::log(0.5)}, eps);
    check_values(xg::sqrt(xg::tensor({4.0, 9.0, 0.25, 0.0}, d)), {4}, {2.0, 3.0, 0.5, 0.0}, eps);
    check_values(xg::abs(xg::tensor({-2.5, 0.0, 3.0}, d)), {3}, {2.5, 0.0, 3.0}, eps);
    check_values(xg::tanh(xg::tensor({0.0, 1.0, -1.0}, d)), {3}, {0.0, std::tanh(1.0), -std::tanh(1.0)}, eps);
    check_values(xg::sigmoid(xg::tensor({0.0, 2.0, -2.0}, d)), {3},
                 {0.5, 1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(2.0))}, eps);
    check_values(xg::relu(xg::tensor({-1.0, 0.0, 2.5}, d)), {3}, {0.0, 0.0, 2.5}, eps);
    check_values(xg::pow(xg::tensor({2.0, -3.0}, d), 2), {2}, {4.0, 9.0}, eps);
    check_values(xg::pow(xg::tensor({2.0, -3.0}, d), 3), {2}, {8.0, -27.0}, eps);
    check_values(xg::pow(xg::tensor({4.0, 0.25}, d), 0.5), {2}, {2.0, 0.5}, eps);
    check_values(xg::pow(xg::tensor({2.0, -4.0}, d), -1), {2}, {0.5, -0.25}, eps);
    check_values(xg::neg(xg::tensor({1.0, -2.0}, d)), {2}, {-1.0, 2.0}, eps);
    check_values(xg::maximum(xg::tensor({1.0, 5.0, -3.0}, d), xg::tensor({2.0, 4.0, -3.0}, d)), {3}, {2.0, 5.0, -3.0});
    check_values(xg::minimum(xg::tensor({1.0, 5.0, -3.0}, d), xg::tensor({2.0, 4.0, -3.0}, d)), {3}, {1.0, 4.0, -3.0});
    check_values(xg::maximum(xg::tensor({-1.0, 0.5, 2.0}, d), 1.0), {3}, {1.0, 1.0, 2.0});
    check_values(xg::minimum(xg::tensor({-1.0, 0.5, 2.0}, d), 1.0), {3}, {-1.0, 0.5, 1.0});
    CHECK(xg::exp(xg::tensor({1.0}, d)).dtype() == d);
  }
}

TEST_CASE("elementwise: forward values with broadcasting and doubles") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const double eps = d == xg::f32 ? 1e-6 : 1e-12;                 // for quotients that float rounds
    const T col = xg::tensor({1.0, 2.0}, d).reshape({2, 1});        // [2,1]
    const T row = xg::tensor({10.0, 20.0, 30.0}, d);                // [3]
    const T m = xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, d);  // [2,3]
    check_values(col + row, {2, 3}, {11, 21, 31, 12, 22, 32});
    check_values(row - col, {2, 3}, {9, 19, 29, 8, 18, 28});
    check_values(col - row, {2, 3}, {-9, -19, -29, -8, -18, -28});
    check_values(col / row, {2, 3}, {0.1, 0.05, 1.0 / 30, 0.2, 0.1, 2.0 / 30}, eps);
    check_values(m * row, {2, 3}, {10, 40, 90, 40, 100, 180});
    check_values(m / col, {2, 3}, {1, 2, 3, 2, 2.5, 3});
    check_values(xg::tensor({1.0, 2.0, 3.0}, d).reshape({1, 3}) + col, {2, 3}, {2, 3, 4, 3, 4, 5});  // [1,3] with [2,1]
    check_values(xg::scalar(10.0, d) - m, {2, 3}, {9, 8, 7, 6, 5, 4});
    check_values(m - xg::scalar(1.0, d), {2, 3}, {0, 1, 2, 3, 4, 5});
    // one element that is not 0-d, on either side and of lower or higher rank
    const T two = xg::tensor({2.0}, d), two_2d = xg::tensor({2.0}, d).reshape({1, 1});
    check_values(two / m, {2, 3}, {2, 1, 2.0 / 3, 0.5, 0.4, 2.0 / 6}, eps);
    check_values(m - two, {2, 3}, {-1, 0, 1, 2, 3, 4});
    check_values(two_2d - row, {1, 3}, {-8, -18, -28});
    check_values(row / two_2d, {1, 3}, {5, 10, 15});
    check_values(xg::maximum(m, xg::tensor({2.0, 6.0, 0.0}, d)), {2, 3}, {2, 6, 3, 4, 6, 6});
    check_values(xg::minimum(col, row), {2, 3}, {1, 1, 1, 2, 2, 2});
    // rank 3 with rank 1, and a missing leading axis
    const T cube = xg::arange(8, d).reshape({2, 2, 2});
    check_values(cube + xg::tensor({100.0, 200.0}, d), {2, 2, 2}, {100, 201, 102, 203, 104, 205, 106, 207});
    check_values(cube * xg::tensor({{1.0, -1.0}, {2.0, -2.0}}, d), {2, 2, 2}, {0, -1, 4, -6, 4, -5, 12, -14});
    // a double on either side
    const T v = xg::tensor({1.0, 2.0, 4.0}, d);
    check_values(v + 1.5, {3}, {2.5, 3.5, 5.5});
    check_values(1.5 + v, {3}, {2.5, 3.5, 5.5});
    check_values(v - 1.0, {3}, {0, 1, 3});
    check_values(1.0 - v, {3}, {0, -1, -3});
    check_values(v * 3.0, {3}, {3, 6, 12});
    check_values(3.0 * v, {3}, {3, 6, 12});
    check_values(v / 2.0, {3}, {0.5, 1, 2});
    check_values(8.0 / v, {3}, {8, 4, 2});
    check_values(-v, {3}, {-1, -2, -4});
    CHECK((v + 1.5).dtype() == d);
    CHECK((2.0 / v).dtype() == d);
  }
}

TEST_CASE("elementwise: local gradients on literal inputs") {
  // d/dx sum(f(x)) against the derivative written out by hand
  T x = xg::tensor({0.5, 1.0, 2.0}, xg::f64).requires_grad_();
  auto grad_of = [&](const std::function<T(const T&)>& f) {
    x.zero_grad();
    xg::sum(f(x)).backward();
    return x.grad();
  };
  check_values(grad_of([](const T& t) { return xg::exp(t); }), {3}, {std::exp(0.5), std::exp(1.0), std::exp(2.0)});
  check_values(grad_of([](const T& t) { return xg::log(t); }), {3}, {2.0, 1.0, 0.5});
  check_values(grad_of([](const T& t) { return xg::sqrt(t); }), {3}, {0.5 / std::sqrt(0.5), 0.5, 0.5 / std::sqrt(2.0)});
  check_values(grad_of([](const T& t) { return xg::pow(t, 3); }), {3}, {0.75, 3.0, 12.0});
  check_values(grad_of([](const T& t) { return xg::pow(t, -1); }), {3}, {-4.0, -1.0, -0.25});
  check_values(grad_of([](const T& t) { return 2.0 / t; }), {3}, {-8.0, -2.0, -0.5});
  check_values(grad_of([](const T& t) { return xg::tanh(t); }), {3},
               {1 - std::pow(std::tanh(0.5), 2), 1 - std::pow(std::tanh(1.0), 2), 1 - std::pow(std::tanh(2.0), 2)});
  check_values(grad_of([](const T& t) { return t * t * t; }), {3}, {0.75, 3.0, 12.0});
}

TEST_CASE("elementwise: subgradient conventions at the kinks") {
  auto leaf = [](std::initializer_list<double> v) { return xg::tensor(v, xg::f64).requires_grad_(); };
  SUBCASE("relu'(0) = 0") {
    T x = leaf({-1.0, 0.0, 2.0});
    xg::sum(xg::relu(x)).backward();
    check_values(x.grad(), {3}, {0.0, 0.0, 1.0}, 0);
  }
  SUBCASE("abs'(0) = 0") {
    T x = leaf({-2.0, 0.0, 3.0});
    xg::sum(xg::abs(x)).backward();
    check_values(x.grad(), {3}, {-1.0, 0.0, 1.0}, 0);
  }
  SUBCASE("maximum with a == b gives each half") {
    T a = leaf({1.0, 2.0, 3.0}), b = leaf({1.0, 5.0, 0.0});
    xg::sum(xg::maximum(a, b)).backward();
    check_values(a.grad(), {3}, {0.5, 0.0, 1.0}, 0);
    check_values(b.grad(), {3}, {0.5, 1.0, 0.0}, 0);
  }
  SUBCASE("minimum with a == b gives each half") {
    T a = leaf({1.0, 2.0, 3.0}), b = leaf({1.0, 5.0, 0.0});
    xg::sum(xg::minimum(a, b)).backward();
    check_values(a.grad(), {3}, {0.5, 1.0, 0.0}, 0);
    check_values(b.grad(), {3}, {0.5, 0.0, 1.0}, 0);
  }
  SUBCASE("maximum and minimum with a double, tied") {
    T a = leaf({1.0, 2.0, 0.0});
    xg::sum(xg::maximum(a, 1.0)).backward();
    check_values(a.grad(), {3}, {0.5, 1.0, 0.0}, 0);
    T c = leaf({1.0, 2.0, 0.0});
    xg::sum(xg::minimum(c, 1.0)).backward();
    check_values(c.grad(), {3}, {0.5, 0.0, 1.0}, 0);
  }
  SUBCASE("a broadcast tie: the halves are summed back to the scalar") {
    T a = xg::tensor({{1.0, 1.0}, {1.0, 3.0}}, xg::f64).requires_grad_();
    T b = xg::scalar(1.0, xg::f64).requires_grad_();
    xg::sum(xg::maximum(a, b)).backward();
    check_values(a.grad(), {2, 2}, {0.5, 0.5, 0.5, 1.0}, 0);
    check_values(b.grad(), {}, {1.5}, 0);
  }
}

TEST_CASE("elementwise: gradcheck reports a kink crossed within h of a kink") {
  const xg::GradcheckOptions opts{.h = 1e-6};
  auto expect_one_kink = [](const xg::GradcheckReport& r, std::size_t input, const xg::Shape& index,
                            std::size_t checked) {
    INFO(fmt::format("{}", r));
    CHECK(r.ok);
    REQUIRE(r.kinks.size() == 1);
    CHECK(r.kinks[0].input == input);
    CHECK(xg::shape_str(r.kinks[0].index) == xg::shape_str(index));
    CHECK(r.checked == checked);
  };
  SUBCASE("relu at 1e-7") {
    const T x = xg::tensor({0.5, 1e-7, -0.7}, xg::f64).requires_grad_();
    expect_one_kink(xg::gradcheck([](const Inputs& in) { return xg::relu(in[0]); }, {x}, opts), 0, {1}, 2);
  }
  SUBCASE("abs at -1e-7") {
    const T x = xg::tensor({{0.5, -1e-7}, {-0.7, 2.0}}, xg::f64).requires_grad_();
    expect_one_kink(xg::gradcheck([](const Inputs& in) { return xg::abs(in[0]); }, {x}, opts), 0, {0, 1}, 3);
  }
  SUBCASE("maximum and minimum with a and b 1e-7 apart") {
    const T a = xg::tensor({1.0, 2.0 + 1e-7, 3.0}, xg::f64).requires_grad_();
    const T b = xg::tensor({0.0, 2.0, 4.0}, xg::f64);  // constant, so only a's kink can be crossed
    expect_one_kink(xg::gradcheck([&](const Inputs& in) { return xg::maximum(in[0], b); }, {a}, opts), 0, {1}, 2);
    expect_one_kink(xg::gradcheck([&](const Inputs& in) { return xg::minimum(b, in[0]); }, {a}, opts), 0, {1}, 2);
    const xg::GradcheckReport both = xg::gradcheck([](const Inputs& in) { return xg::maximum(in[0], in[1]); },
                                                   {a, xg::tensor({0.0, 2.0, 4.0}, xg::f64).requires_grad_()}, opts);
    INFO(fmt::format("{}", both));
    CHECK(both.ok);
    CHECK(both.kinks.size() == 2);  // the same element, perturbed through a and through b
    CHECK(both.checked == 4);
  }
  SUBCASE("maximum with a double at 5e-7 from it") {
    const T x = xg::tensor({0.25 + 5e-7, -1.0}, xg::f64).requires_grad_();
    expect_one_kink(xg::gradcheck([](const Inputs& in) { return xg::maximum(in[0], 0.25); }, {x}, opts), 0, {0}, 1);
  }
}

TEST_CASE("elementwise: errors name the op and the shapes and the dtypes") {
  const T a = xg::zeros({3, 4}), b = xg::zeros({5, 4});
  CHECK_THROWS_WITH_AS(xg::add(a, b), doctest::Contains("add: shapes [3,4] and [5,4] cannot be broadcast together"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("add: shapes [3,4] and [5,4]"), xg::Error);
  CHECK_THROWS_WITH_AS(a * b, doctest::Contains("mul: shapes [3,4] and [5,4]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::maximum(a, b), doctest::Contains("maximum: shapes [3,4] and [5,4]"), xg::Error);
  const T c = xg::zeros({2, 3}), r = xg::zeros({2});
  CHECK_THROWS_WITH_AS(c - r, doctest::Contains("sub: shapes [2,3] and [2]"), xg::Error);

  const T x32 = xg::ones({2}, xg::f32), x64 = xg::ones({2}, xg::f64);
  CHECK_THROWS_WITH_AS(x32 + x64, doctest::Contains("add: [2] f32 and [2] f64: dtypes differ"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::div(x64, x32), doctest::Contains("div: [2] f64 and [2] f32: dtypes differ"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::minimum(x32, x64), doctest::Contains("minimum: [2] f32 and [2] f64"), xg::Error);
}
