// Op tests, reductions and shape ops: sum, mean, max, min, expand, sum_to, reshape, transpose,
// permute, flatten, unsqueeze, squeeze, concat, stack, narrow and index_select. Gradients are
// checked in f64 against finite differences; forward values against small literal tensors; max/min
// also at ties (the first maximal position takes the gradient) and within h of a tie (kink crossed).
#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>

#include "op_check.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace xg = xgrad;

namespace {
using namespace op_check;

// All axes of a rank-r tensor, negative ones included: -r .. r-1.
std::vector<long> all_axes(std::size_t rank) {
  std::vector<long> axes;
  for (long a = -static_cast<long>(rank); a < static_cast<long>(rank); ++a) axes.push_back(a);
  return axes;
}
const std::vector<xg::Shape> shapes = {{5}, {3, 4}, {2, 3, 4}};

// x.grad() after backward of sum(f(x) * upstream), or of f(x) itself when upstream is undefined.
T grad_of(const std::function<T(const T&)>& f, const T& x_value, const T& upstream = {}) {
  T x = x_value.detach().requires_grad_();
  const T y = f(x);
  if (upstream.defined())
    y.backward(upstream);
  else
    y.backward();
  return x.grad();
}
}  // namespace

TEST_CASE("reduce: sum and mean gradcheck over all elements and along each axis") {
  xg::manual_seed(11);
  for (const xg::Shape& s : shapes) {
    const std::string sh = xg::shape_str(s);
    check([](const Inputs& in) { return xg::sum(in[0]); }, {normal(s)}, "sum " + sh);
    check([](const Inputs& in) { return xg::mean(in[0]); }, {normal(s)}, "mean " + sh);
    for (long axis : all_axes(s.size()))
      for (bool keepdim : {false, true}) {
        const std::string what = fmt::format("{} axis {} keepdim {}", sh, axis, keepdim);
        check([=](const Inputs& in) { return xg::sum(in[0], axis, keepdim); }, {normal(s)}, "sum " + what);
        check([=](const Inputs& in) { return xg::mean(in[0], axis, keepdim); }, {normal(s)}, "mean " + what);
      }
  }
  check([](const Inputs& in) { return xg::sum(in[0]); }, {normal({})}, "sum of a 0-d tensor");
}

TEST_CASE("reduce: max and min gradcheck along each axis and over all elements") {
  xg::manual_seed(12);
  for (const xg::Shape& s : shapes) {
    const std::string sh = xg::shape_str(s);
    check([](const Inputs& in) { return xg::max(in[0]); }, {distinct(s)}, "max " + sh);
    check([](const Inputs& in) { return xg::min(in[0]); }, {distinct(s)}, "min " + sh);
    for (long axis : all_axes(s.size()))
      for (bool keepdim : {false, true}) {
        const std::string what = fmt::format("{} axis {} keepdim {}", sh, axis, keepdim);
        check([=](const Inputs& in) { return xg::max(in[0], axis, keepdim); }, {distinct(s)}, "max " + what);
        check([=](const Inputs& in) { return xg::min(in[0], axis, keepdim); }, {distinct(s)}, "min " + what);
      }
  }
}

TEST_CASE("reduce: forward values of sum mean max min") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const T x = xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, d);
    check_values(xg::sum(x), {}, {21});
    check_values(xg::sum(x, 0), {3}, {5, 7, 9});
    check_values(xg::sum(x, 1), {2}, {6, 15});
    check_values(xg::sum(x, -1, true), {2, 1}, {6, 15});
    check_values(xg::sum(x, -2, true), {1, 3}, {5, 7, 9});
    check_values(xg::mean(x), {}, {3.5});
    check_values(xg::mean(x, 0), {3}, {2.5, 3.5, 4.5});
    check_values(xg::mean(x, -1, true), {2, 1}, {2, 5});
    const T cube = xg::arange(24, d).reshape({2, 3, 4});  // cube[i][j][k] = 12i + 4j + k
    check_values(xg::sum(cube, 1), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57});
    check_values(xg::sum(cube, 2), {2, 3}, {6, 22, 38, 54, 70, 86});
    check_values(xg::sum(cube, 0, true), {1, 3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
    check_values(xg::mean(cube, -1), {2, 3}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5});

    const T y = xg::tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}}, d);
    check_values(xg::max(y), {}, {6});
    check_values(xg::min(y), {}, {1});
    check_values(xg::max(y, 0), {3}, {4, 5, 6});
    check_values(xg::max(y, 1), {2}, {5, 6});
    check_values(xg::max(y, -1, true), {2, 1}, {5, 6});
    check_values(xg::min(y, 0), {3}, {1, 2, 3});
    check_values(xg::min(y, -1), {2}, {1, 2});
    check_values(xg::min(y, 0, true), {1, 3}, {1, 2, 3});
    check_values(xg::max(cube, 1), {2, 4}, {8, 9, 10, 11, 20, 21, 22, 23});
    check_values(xg::min(cube, 2), {2, 3}, {0, 4, 8, 12, 16, 20});
    CHECK(xg::sum(x).dtype() == d);
    CHECK(xg::max(x, 0).dtype() == d);
  }
}

TEST_CASE("reduce: gradients of sum mean max min on literal inputs") {
  const T x = xg::tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}}, xg::f64);
  check_values(grad_of([](const T& t) { return xg::sum(t); }, x), {2, 3}, {1, 1, 1, 1, 1, 1}, 0);
  check_values(grad_of([](const T& t) { return xg::mean(t); }, x), {2, 3},
               {1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6});
  const T up2 = xg::tensor({10.0, 20.0}, xg::f64);
  check_values(grad_of([](const T& t) { return xg::sum(t, 1); }, x, up2), {2, 3}, {10, 10, 10, 20, 20, 20}, 0);
  check_values(grad_of([](const T& t) { return xg::mean(t, -1); }, x, up2), {2, 3},
               {10. / 3, 10. / 3, 10. / 3, 20. / 3, 20. / 3, 20. / 3});
  check_values(grad_of([](const T& t) { return xg::max(t, 1); }, x, up2), {2, 3}, {0, 10, 0, 0, 0, 20}, 0);
  check_values(grad_of([](const T& t) { return xg::min(t, 1); }, x, up2), {2, 3}, {10, 0, 0, 0, 20, 0}, 0);
  const T up3 = xg::tensor({1.0, 2.0, 3.0}, xg::f64).reshape({1, 3});
  check_values(grad_of([](const T& t) { return xg::max(t, 0, true); }, x, up3), {2, 3}, {0, 2, 0, 1, 0, 3}, 0);
  check_values(grad_of([](const T& t) { return xg::max(t); }, x), {2, 3}, {0, 0, 0, 0, 0, 1}, 0);
  check_values(grad_of([](const T& t) { return xg::min(t); }, x), {2, 3}, {1, 0, 0, 0, 0, 0}, 0);
}

TEST_CASE("reduce: max and min with ties give the whole gradient to the first extreme position") {
  const T rows = xg::tensor({{3.0, 1.0, 3.0}, {2.0, 2.0, 0.0}}, xg::f64);
  check_values(xg::max(rows, 1), {2}, {3, 2});
  check_values(grad_of([](const T& t) { return xg::max(t, 1); }, rows, xg::tensor({2.0, 3.0}, xg::f64)), {2, 3},
               {2, 0, 0, 3, 0, 0}, 0);
  check_values(grad_of([](const T& t) { return xg::max(t, -1, true); }, rows,
                       xg::tensor({2.0, 3.0}, xg::f64).reshape({2, 1})),
               {2, 3}, {2, 0, 0, 3, 0, 0}, 0);
  const T cols = xg::tensor({{1.0, 4.0, 2.0}, {1.0, 4.0, 3.0}}, xg::f64);
  check_values(grad_of([](const T& t) { return xg::sum(xg::max(t, 0)); }, cols), {2, 3}, {1, 1, 0, 0, 0, 1}, 0);
  check_values(grad_of([](const T& t) { return xg::max(t); }, xg::tensor({2.0, 7.0, 7.0, 1.0}, xg::f64)), {4},
               {0, 1, 0, 0}, 0);
  check_values(grad_of([](const T& t) { return xg::max(t); }, xg::tensor({{5.0, 1.0}, {5.0, 5.0}}, xg::f64)), {2, 2},
               {1, 0, 0, 0}, 0);
  const T low = xg::tensor({{0.0, 0.0, 5.0}, {5.0, -1.0, -1.0}}, xg::f64);
  check_values(grad_of([](const T& t) { return xg::sum(xg::min(t, 1)); }, low), {2, 3}, {1, 0, 0, 0, 1, 0}, 0);
  check_values(grad_of([](const T& t) { return xg::min(t); }, xg::tensor({3.0, 1.0, 1.0}, xg::f64)), {3}, {0, 1, 0}, 0);
  // argmax follows the same convention
  CHECK(xg::argmax(rows, 1) == std::vector<std::size_t>{0, 0});
  CHECK(xg::argmax(cols, 0) == std::vector<std::size_t>{0, 0, 1});
}

TEST_CASE("reduce: gradcheck reports a kink crossed when two maxima are within h") {
  const xg::GradcheckOptions opts{.h = 1e-6};
  const T x = xg::tensor({{1.0, 1.0 + 1e-7, 0.0}, {0.0, 2.0, 1.0}}, xg::f64).requires_grad_();
  for (bool use_min : {false, true}) {
    CAPTURE(use_min);
    const xg::GradcheckReport r =
        xg::gradcheck([use_min](const Inputs& in) { return use_min ? xg::min(-in[0], 1) : xg::max(in[0], 1); }, {x},
                      opts);
    INFO(fmt::format("{}", r));
    CHECK(r.ok);
    REQUIRE(r.kinks.size() == 2);  // [0,0] and [0,1]: nudging either one changes which is the maximum
    CHECK(xg::shape_str(r.kinks[0].index) == "[0,0]");
    CHECK(xg::shape_str(r.kinks[1].index) == "[0,1]");
    CHECK(r.checked == 4);
  }
  const T v = xg::tensor({3.0, 3.0 - 5e-7, 1.0}, xg::f64).requires_grad_();
  const xg::GradcheckReport all = xg::gradcheck([](const Inputs& in) { return xg::max(in[0]); }, {v}, opts);
  INFO(fmt::format("{}", all));
  CHECK(all.ok);
  CHECK(all.kinks.size() == 2);
  CHECK(all.checked == 1);
}

TEST_CASE("reduce: expand and sum_to gradcheck and values") {
  xg::manual_seed(13);
  const std::vector<std::pair<xg::Shape, xg::Shape>> pairs = {
      {{3, 1}, {3, 4}},       {{4}, {2, 3, 4}}, {{}, {2, 3}}, {{1, 3, 1}, {2, 3, 4}},
      {{2, 1, 4}, {2, 3, 4}}, {{3, 4}, {3, 4}}, {{1}, {5}},   {{}, {}},
  };
  for (const auto& [small, big] : pairs) {
    const std::string what = xg::shape_str(small) + " and " + xg::shape_str(big);
    check([big](const Inputs& in) { return xg::expand(in[0], big); }, {normal(small)}, "expand " + what);
    check([small](const Inputs& in) { return xg::sum_to(in[0], small); }, {normal(big)}, "sum_to " + what);
  }
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    check_values(xg::expand(xg::tensor({1.0, 2.0}, d).reshape({2, 1}), {2, 3}), {2, 3}, {1, 1, 1, 2, 2, 2});
    check_values(xg::expand(xg::tensor({1.0, 2.0, 3.0}, d), {2, 3}), {2, 3}, {1, 2, 3, 1, 2, 3});
    check_values(xg::expand(xg::scalar(5.0, d), {2, 2}), {2, 2}, {5, 5, 5, 5});
    check_values(xg::expand(xg::tensor({1.0, 2.0}, d).reshape({2, 1}), {2, 2, 3}), {2, 2, 3},
                 {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2});
    const T x = xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, d);
    check_values(xg::sum_to(x, {1, 3}), {1, 3}, {5, 7, 9});
    check_values(xg::sum_to(x, {3}), {3}, {5, 7, 9});
    check_values(xg::sum_to(x, {2, 1}), {2, 1}, {6, 15});
    check_values(xg::sum_to(x, {}), {}, {21});
    check_values(xg::sum_to(x, {1, 1}), {1, 1}, {21});
    check_values(xg::sum_to(x, {2, 3}), {2, 3}, {1, 2, 3, 4, 5, 6});
    const T cube = xg::arange(24, d).reshape({2, 3, 4});
    check_values(xg::sum_to(cube, {3, 1}), {3, 1},
                 {(0 + 1 + 2 + 3) * 2 + 12 * 4, (4 + 5 + 6 + 7) * 2 + 12 * 4, (8 + 9 + 10 + 11) * 2 + 12 * 4});
  }
  check_values(grad_of(
                   [](const T& t) {
                     return xg::sum(xg::expand(t, {2, 3}));
                   },
                   xg::tensor({1.0, 2.0}, xg::f64).reshape({2, 1})),
               {2, 1}, {3, 3}, 0);
}

TEST_CASE("shape: reshape transpose permute flatten unsqueeze squeeze gradcheck") {
  xg::manual_seed(14);
  const T x3 = normal({2, 3, 4});
  for (const xg::Shape& to : {xg::Shape{6, 4}, xg::Shape{24}, xg::Shape{4, 3, 2}, xg::Shape{1, 24, 1}})
    check([to](const Inputs& in) { return xg::reshape(in[0], to); }, {x3}, "reshape to " + xg::shape_str(to));
  check([](const Inputs& in) { return in[0].reshape({1, 1}); }, {normal({})}, "reshape [] to [1,1]");
  check([](const Inputs& in) { return in[0].reshape({}); }, {normal({1})}, "reshape [1] to []");
  check([](const Inputs& in) { return xg::transpose(in[0]); }, {normal({3, 4})}, "transpose [3,4]");
  check([](const Inputs& in) { return in[0].transpose(); }, {normal({1, 5})}, "transpose [1,5]");
  for (const std::vector<std::size_t>& axes :
       std::vector<std::vector<std::size_t>>{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {2, 1, 0}, {1, 0, 2}})
    check([axes](const Inputs& in) { return xg::permute(in[0], axes); }, {x3}, "permute " + xg::shape_str(axes));
  check(
      [](const Inputs& in) {
        return xg::permute(in[0], {3, 1, 0, 2});
      },
      {normal({2, 3, 1, 2})}, "permute 4-D [3,1,0,2]");
  for (std::size_t start : {0, 1, 2})
    check([start](const Inputs& in) { return xg::flatten(in[0], start); }, {x3}, fmt::format("flatten {}", start));
  for (long axis : {0L, 1L, 2L, -1L, -3L})
    check([axis](const Inputs& in) { return xg::unsqueeze(in[0], axis); }, {normal({3, 4})},
          fmt::format("unsqueeze {}", axis));
  for (long axis : {1L, -2L})
    check([axis](const Inputs& in) { return xg::squeeze(in[0], axis); }, {normal({3, 1, 4})},
          fmt::format("squeeze {}", axis));
}

TEST_CASE("shape: layouts of reshape transpose permute flatten unsqueeze squeeze") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const T m = xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, d);
    check_values(xg::reshape(m, {3, 2}), {3, 2}, {1, 2, 3, 4, 5, 6});
    check_values(m.reshape({6}), {6}, {1, 2, 3, 4, 5, 6});
    check_values(xg::transpose(m), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(m.transpose(), {3, 2}, {1, 4, 2, 5, 3, 6});
    check_values(xg::permute(m, {1, 0}), {3, 2}, {1, 4, 2, 5, 3, 6});
    const T c = xg::arange(8, d).reshape({2, 2, 2});  // c[i][j][k] = 4i + 2j + k
    check_values(xg::permute(c, {2, 0, 1}), {2, 2, 2}, {0, 2, 4, 6, 1, 3, 5, 7});
    check_values(xg::permute(c, {1, 0, 2}), {2, 2, 2}, {0, 1, 4, 5, 2, 3, 6, 7});
    check_values(xg::permute(c, {0, 2, 1}), {2, 2, 2}, {0, 2, 1, 3, 4, 6, 5, 7});
    // a non-cubic one: y[k][i][j] = x[i][j][k] = 12i + 4j + k
    const T x = xg::arange(24, d).reshape({2, 3, 4});
    std::vector<double> expected;
    for (int k = 0; k < 4; ++k)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) expected.push_back(12 * i + 4 * j + k);
    check_values(xg::permute(x, {2, 0, 1}), {4, 2, 3}, expected);
    std::vector<double> in_order(24);
    for (int i = 0; i < 24; ++i) in_order[i] = i;
    check_values(xg::flatten(x), {2, 12}, in_order);
    CHECK(xg::shape_str(xg::flatten(x, 0).shape()) == "[24]");
    CHECK(xg::shape_str(xg::flatten(x, 2).shape()) == "[2,3,4]");
    CHECK(xg::shape_str(xg::unsqueeze(m, 0).shape()) == "[1,2,3]");
    CHECK(xg::shape_str(xg::unsqueeze(m, 1).shape()) == "[2,1,3]");
    CHECK(xg::shape_str(xg::unsqueeze(m, -1).shape()) == "[2,3,1]");
    check_values(xg::squeeze(xg::unsqueeze(m, 1), -2), {2, 3}, {1, 2, 3, 4, 5, 6});
  }
  // the gradient of a permute is the inverse permute
  const T c = xg::arange(24, xg::f64).reshape({2, 3, 4});
  const T up = xg::arange(24, xg::f64).reshape({3, 4, 2});
  const T g = grad_of([](const T& t) { return xg::permute(t, {1, 2, 0}); }, c, up);
  std::vector<double> expected;  // g[i][j][k] = up[j][k][i] = 8j + 2k + i
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) expected.push_back(8 * j + 2 * k + i);
  check_values(g, {2, 3, 4}, expected, 0);
}

TEST_CASE("shape: concat and stack gradcheck on several axes and lengths") {
  xg::manual_seed(15);
  auto cat = [](long axis) { return [axis](const Inputs& in) { return xg::concat(in, axis); }; };
  check(cat(0), {normal({2, 3}), normal({4, 3}), normal({1, 3})}, "concat axis 0 lengths 2 4 1");
  check(cat(1), {normal({2, 1}), normal({2, 3}), normal({2, 2})}, "concat axis 1 lengths 1 3 2");
  check(cat(-1), {normal({2, 2}), normal({2, 3})}, "concat axis -1");
  check(cat(0), {normal({2, 3, 4}), normal({1, 3, 4})}, "concat rank 3 axis 0");
  check(cat(1), {normal({2, 1, 4}), normal({2, 3, 4})}, "concat rank 3 axis 1");
  check(cat(2), {normal({2, 3, 1}), normal({2, 3, 2}), normal({2, 3, 3})}, "concat rank 3 axis 2");
  check(cat(0), {normal({3})}, "concat of one tensor");
  const T constant = xg::randn({2, 3}, xg::f64);
  check(
      [&](const Inputs& in) {
        return xg::concat({constant, in[0], constant}, 0);
      },
      {normal({1, 3})}, "concat with constants around");
  auto stk = [](long axis) { return [axis](const Inputs& in) { return xg::stack(in, axis); }; };
  for (long axis : {0L, 1L, 2L, -1L, -3L})
    check(stk(axis), {normal({2, 3}), normal({2, 3}), normal({2, 3})}, fmt::format("stack axis {}", axis));
  check(stk(0), {normal({}), normal({})}, "stack of 0-d tensors");
}

TEST_CASE("shape: concat and stack layouts") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const T a = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, d), b = xg::tensor({5.0, 6.0}, d).reshape({1, 2});
    check_values(xg::concat({a, b}, 0), {3, 2}, {1, 2, 3, 4, 5, 6});
    check_values(xg::concat({b, a}, 0), {3, 2}, {5, 6, 1, 2, 3, 4});
    const T col = xg::tensor({1.0, 2.0}, d).reshape({2, 1}), m = xg::tensor({{3.0, 4.0}, {5.0, 6.0}}, d);
    check_values(xg::concat({col, m}, 1), {2, 3}, {1, 3, 4, 2, 5, 6});
    check_values(xg::concat({m, col}, -1), {2, 3}, {3, 4, 1, 5, 6, 2});
    const T p = xg::arange(4, d).reshape({2, 1, 2});           // [[[0,1]],[[2,3]]]
    const T q = (xg::arange(8, d) + 10.0).reshape({2, 2, 2});  // [[[10,11],[12,13]],[[14,15],[16,17]]]
    check_values(xg::concat({p, q}, 1), {2, 3, 2}, {0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17});
    const T u = xg::tensor({1.0, 2.0}, d), v = xg::tensor({3.0, 4.0}, d);
    check_values(xg::stack({u, v}, 0), {2, 2}, {1, 2, 3, 4});
    check_values(xg::stack({u, v}, 1), {2, 2}, {1, 3, 2, 4});
    check_values(xg::stack({u, v}, -1), {2, 2}, {1, 3, 2, 4});
    const T s = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, d), t = xg::tensor({{5.0, 6.0}, {7.0, 8.0}}, d);
    check_values(xg::stack({s, t}), {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    check_values(xg::stack({s, t}, 1), {2, 2, 2}, {1, 2, 5, 6, 3, 4, 7, 8});
    check_values(xg::stack({s, t}, 2), {2, 2, 2}, {1, 5, 2, 6, 3, 7, 4, 8});
  }
  // each input's gradient is its slice of the upstream gradient
  T a = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, xg::f64).requires_grad_();
  T b = xg::tensor({5.0, 6.0}, xg::f64).reshape({2, 1}).detach().requires_grad_();
  xg::concat({a, b}, 1).backward(xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, xg::f64));
  check_values(a.grad(), {2, 2}, {1, 2, 4, 5}, 0);
  check_values(b.grad(), {2, 1}, {3, 6}, 0);
}

TEST_CASE("shape: narrow and index_select gradcheck") {
  xg::manual_seed(16);
  struct Narrow {
    xg::Shape shape;
    long axis;
    std::size_t start, length;
  };
  for (const Narrow& n : std::vector<Narrow>{{{4, 3}, 0, 1, 2},
                                             {{4, 3}, 1, 0, 2},
                                             {{4, 3}, 1, 2, 1},
                                             {{2, 3, 4}, -1, 2, 2},
                                             {{2, 3, 4}, 1, 1, 1},
                                             {{2, 3, 4}, 0, 0, 2},
                                             {{5}, 0, 1, 3}})
    check([n](const Inputs& in) { return xg::narrow(in[0], n.axis, n.start, n.length); }, {normal(n.shape)},
          fmt::format("narrow {} axis {} [{}, +{})", xg::shape_str(n.shape), n.axis, n.start, n.length));
  struct Select {
    xg::Shape shape;
    long axis;
    std::vector<std::int64_t> indices;
  };
  for (const Select& s : std::vector<Select>{{{3, 4}, 0, {2, 0, 2, 1, 2}},
                                             {{3, 4}, 1, {3, 3, 0}},
                                             {{3, 4}, -1, {1}},
                                             {{2, 3, 4}, 1, {1, 1, 0}},
                                             {{2, 3, 4}, -1, {0, 3, 3, 3}},
                                             {{2, 3, 4}, 0, {1, 0, 1}},
                                             {{4}, 0, {3, 3, 2, 0, 0}}})
    check([s](const Inputs& in) { return xg::index_select(in[0], s.axis, s.indices); }, {normal(s.shape)},
          fmt::format("index_select {} axis {} indices {}", xg::shape_str(s.shape), s.axis, xg::shape_str(s.indices)));
}

TEST_CASE("shape: narrow and index_select layouts and the gradient of repeated indices") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const T x = xg::arange(12, d).reshape({3, 4});
    check_values(xg::narrow(x, 1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
    check_values(xg::narrow(x, 0, 2, 1), {1, 4}, {8, 9, 10, 11});
    check_values(xg::narrow(x, -1, 3, 1), {3, 1}, {3, 7, 11});
    check_values(xg::narrow(x, 0, 0, 3), {3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    check_values(xg::narrow(xg::arange(24, d).reshape({2, 3, 4}), 1, 1, 1), {2, 1, 4}, {4, 5, 6, 7, 16, 17, 18, 19});
    const T m = xg::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, d);
    check_values(xg::index_select(m, 0, {2, 0, 2}), {3, 2}, {5, 6, 1, 2, 5, 6});
    check_values(xg::index_select(m, 1, {1, 1, 0}), {3, 3}, {2, 2, 1, 4, 4, 3, 6, 6, 5});
    check_values(xg::index_select(m, -1, {0}), {3, 1}, {1, 3, 5});
  }
  const T x = xg::arange(12, xg::f64).reshape({3, 4});
  check_values(grad_of([](const T& t) { return xg::sum(xg::narrow(t, 1, 1, 2)); }, x), {3, 4},
               {0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0}, 0);
  check_values(grad_of([](const T& t) { return xg::narrow(t, 0, 1, 1); }, x,
                       xg::tensor({1.0, 2.0, 3.0, 4.0}, xg::f64).reshape({1, 4})),
               {3, 4}, {0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0}, 0);
  const T m = xg::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, xg::f64);
  check_values(grad_of(
                   [](const T& t) {
                     return xg::sum(xg::index_select(t, 0, {2, 0, 2}));
                   },
                   m),
               {3, 2}, {1, 1, 0, 0, 2, 2}, 0);
  check_values(grad_of(
                   [](const T& t) {
                     return xg::sum(xg::index_select(t, 1, {1, 1, 0}));
                   },
                   m),
               {3, 2}, {1, 2, 1, 2, 1, 2}, 0);
  check_values(grad_of(
                   [](const T& t) {
                     return xg::index_select(t, 0, {2, 0, 2});
                   },
                   m, xg::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, xg::f64)),
               {3, 2}, {3, 4, 0, 0, 6, 8}, 0);
}

TEST_CASE("reduce and shape: errors name the op and the shapes") {
  const T x = xg::zeros({2, 3});
  CHECK_THROWS_WITH_AS(xg::sum(x, 5), doctest::Contains("sum: axis 5 is out of range for a tensor of shape [2,3]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::sum(x, -3, true), doctest::Contains("sum: axis -3 is out of range"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::mean(x, 2), doctest::Contains("mean: axis 2 is out of range for a tensor of shape [2,3]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::max(x, 2), doctest::Contains("max: axis 2 is out of range"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::reshape(x, {4}),
                       doctest::Contains("reshape: [2,3] (6 elements) cannot become [4] (4 elements)"), xg::Error);
  CHECK_THROWS_WITH_AS(x.reshape({7}), doctest::Contains("reshape: [2,3] (6 elements) cannot become [7]"), xg::Error);
  const T m = xg::zeros({3, 2});
  const std::vector<std::int64_t> too_big{0, 3}, negative{-1};
  CHECK_THROWS_WITH_AS(xg::index_select(m, 0, too_big),
                       doctest::Contains("index_select: index 3 is out of range for axis 0 of shape [3,2]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::index_select(m, 1, negative),
                       doctest::Contains("index_select: index -1 is out of range for axis 1 of shape [3,2]"),
                       xg::Error);
  const T n = xg::zeros({3, 4});
  CHECK_THROWS_WITH_AS(xg::narrow(n, 1, 2, 3),
                       doctest::Contains("narrow: [2, 5) is out of range for axis 1 of shape [3,4]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::narrow(n, 0, 4, 1), doctest::Contains("narrow: [4, 5) is out of range for axis 0"),
                       xg::Error);
  const T cube = xg::zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(xg::transpose(cube), doctest::Contains("transpose: tensor of shape [2,3,4] is not 2-D"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(cube.transpose(), doctest::Contains("transpose: tensor of shape [2,3,4] is not 2-D"), xg::Error);
  CHECK_THROWS_WITH_AS(x.item(), doctest::Contains("item: tensor of shape [2,3] has 6 elements"), xg::Error);
  CHECK(xg::ones({1, 1}).item() == 1.0);
  const T wide = xg::zeros({2, 4});
  const std::vector<T> mismatched{x, wide};
  CHECK_THROWS_WITH_AS(xg::concat(mismatched, 0), doctest::Contains("concat: [2,3] f32 and [2,4] f32 differ"),
                       xg::Error);
  const xg::Shape bad_target{4, 3};
  CHECK_THROWS_WITH_AS(xg::expand(x, bad_target), doctest::Contains("[2,3]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::sum_to(x, {2}), doctest::Contains("sum_to: shapes [2] and [2,3]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::squeeze(m, 0), doctest::Contains("squeeze: axis 0 of shape [3,2] has size 3, not 1"),
                       xg::Error);
  const std::vector<std::size_t> repeated_axis{0, 0, 1};
  CHECK_THROWS_WITH_AS(xg::permute(cube, repeated_axis),
                       doctest::Contains("permute: axes [0,0,1] are not a permutation"), xg::Error);
}
