// Op tests, matrix products and softmax: matmul 2-D, batched 3-D and 3-D x 2-D, softmax and
// log_softmax along each axis, and the dtype conversion to(). Gradients are checked in f64 against
// finite differences, forward values against small literal tensors (including logits of +-800, which
// only a stable softmax survives), and error messages word for word.
#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "op_check.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace xg = xgrad;

namespace {
using namespace op_check;

// Weights for checking (log_)softmax along `axis` of `shape`: 1 at position 0 of each line, else 0.
// With weights w, softmax's gradient is y_k (w_k - sum_j w_j y_j), near 0 whenever a w_k is near
// that average, as some random positive weight may well be; with a one-hot w the components are
// y_0 (1 - y_0) and -y_0 y_k (for log_softmax 1 - y_0 and -y_k), none small for normal logits.
T first_of_each_line(const xg::Shape& shape, long axis) {
  const std::size_t a = static_cast<std::size_t>(axis < 0 ? axis + static_cast<long>(shape.size()) : axis);
  xg::Shape one = shape, rest = shape;
  one[a] = 1;
  rest[a] = shape[a] - 1;
  return xg::concat({xg::ones(one, xg::f64), xg::zeros(rest, xg::f64)}, static_cast<long>(a));
}
}  // namespace

TEST_CASE("matmul: gradcheck 2-D and batched 3-D and 3-D x 2-D") {
  xg::manual_seed(21);
  // Positive entries: dA = dC B^T sums products over N, and a sum of mixed signs can cancel to near
  // 0 (see check); the literal tests below cover negative entries.
  const std::vector<std::pair<xg::Shape, xg::Shape>> cases = {
      {{3, 4}, {4, 5}},       {{1, 4}, {4, 1}},       {{5, 1}, {1, 3}},    {{2, 2}, {2, 2}},    {{2, 3, 4}, {2, 4, 5}},
      {{1, 2, 2}, {1, 2, 3}}, {{3, 1, 4}, {3, 4, 1}}, {{2, 3, 4}, {4, 5}}, {{3, 1, 4}, {4, 2}}, {{1, 2, 3}, {3, 3}},
  };
  for (const auto& [sa, sb] : cases) {
    const std::string what = xg::shape_str(sa) + " x " + xg::shape_str(sb);
    check([](const Inputs& in) { return xg::matmul(in[0], in[1]); }, {positive(sa), positive(sb)}, "matmul " + what);
    const T a_const = positive(sa).detach(), b_const = positive(sb).detach();
    check([&](const Inputs& in) { return xg::matmul(a_const, in[0]); }, {positive(sb)}, "matmul constant a " + what);
    check([&](const Inputs& in) { return xg::matmul(in[0], b_const); }, {positive(sa)}, "matmul constant b " + what);
  }
  check([](const Inputs& in) { return xg::matmul(in[0], in[0]); }, {positive({3, 3})}, "matmul x x");
  check([](const Inputs& in) { return xg::matmul(in[0], in[0].transpose()); }, {positive({2, 3})}, "matmul x x^T");
}

TEST_CASE("matmul: forward values on small integer matrices") {
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const T a = xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, d), b = xg::tensor({{5.0, 6.0}, {7.0, 8.0}}, d);
    check_values(xg::matmul(a, b), {2, 2}, {19, 22, 43, 50}, 0);
    check_values(xg::matmul(b, a), {2, 2}, {23, 34, 31, 46}, 0);
    const T r = xg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, d);
    const T s = xg::tensor({{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}, d);
    check_values(xg::matmul(r, s), {2, 2}, {58, 64, 139, 154}, 0);
    check_values(xg::matmul(s, r), {3, 3}, {39, 54, 69, 49, 68, 87, 59, 82, 105}, 0);
    const T row = xg::tensor({1.0, 2.0, 3.0}, d).reshape({1, 3});
    check_values(xg::matmul(row, row.reshape({3, 1})), {1, 1}, {14}, 0);
    check_values(xg::matmul(row.reshape({3, 1}), row), {3, 3}, {1, 2, 3, 2, 4, 6, 3, 6, 9}, 0);
    const T signs = xg::tensor({{1.0, -2.0}, {3.0, 4.0}}, d), mixed = xg::tensor({{5.0, 6.0}, {-7.0, 8.0}}, d);
    check_values(xg::matmul(signs, mixed), {2, 2}, {19, -10, -13, 50}, 0);
    // batched: each batch entry is its own product
    check_values(xg::matmul(xg::stack({a, b}), xg::stack({b, a})), {2, 2, 2}, {19, 22, 43, 50, 23, 34, 31, 46}, 0);
    // 3-D x 2-D: every batch entry times the same matrix
    check_values(xg::matmul(xg::stack({a, b}), a), {2, 2, 2}, {7, 10, 15, 22, 23, 34, 31, 46}, 0);
    check_values(xg::matmul(xg::stack({r, r}), s), {2, 2, 2}, {58, 64, 139, 154, 58, 64, 139, 154}, 0);
    CHECK(xg::matmul(a, b).dtype() == d);
  }
}

TEST_CASE("matmul: local gradients dA = dC B^T and dB = A^T dC") {
  T a = xg::tensor({{1.0, -2.0}, {3.0, 4.0}}, xg::f64).requires_grad_();
  T b = xg::tensor({{5.0, 6.0}, {-7.0, 8.0}}, xg::f64).requires_grad_();
  xg::matmul(a, b).backward(xg::tensor({{1.0, 0.0}, {0.0, 2.0}}, xg::f64));
  check_values(a.grad(), {2, 2}, {5, -7, 12, 16}, 0);
  check_values(b.grad(), {2, 2}, {1, 6, -2, 8}, 0);
  // 3-D x 2-D: q's gradient sums over the batch
  T p = xg::stack({xg::tensor({{1.0, -2.0}, {3.0, 4.0}}, xg::f64), xg::tensor({{1.0, 0.0}, {0.0, 1.0}}, xg::f64)})
            .detach()
            .requires_grad_();
  T q = xg::tensor({{5.0, 6.0}, {-7.0, 8.0}}, xg::f64).requires_grad_();
  xg::sum(xg::matmul(p, q)).backward();
  check_values(p.grad(), {2, 2, 2}, {11, 1, 11, 1, 11, 1, 11, 1}, 0);  // each row: the row sums of q
  check_values(q.grad(), {2, 2}, {5, 5, 3, 3}, 0);                     // row k: column k of p summed
  // batched 3-D: each batch entry's gradient is its own
  T u = xg::stack({xg::tensor({{1.0, 2.0}}, xg::f64), xg::tensor({{3.0, -1.0}}, xg::f64)}).detach().requires_grad_();
  T v = xg::tensor({1.0, 0.0, 2.0, 5.0}, xg::f64).reshape({2, 2, 1}).detach().requires_grad_();
  xg::sum(xg::matmul(u, v)).backward();                 // [2,1,2] x [2,2,1] -> [2,1,1]
  check_values(u.grad(), {2, 1, 2}, {1, 0, 2, 5}, 0);   // v_b^T
  check_values(v.grad(), {2, 2, 1}, {1, 2, 3, -1}, 0);  // u_b^T
}

TEST_CASE("softmax: gradcheck of softmax and log_softmax along each axis") {
  xg::manual_seed(22);
  for (const xg::Shape& s : {xg::Shape{5}, xg::Shape{3, 4}, xg::Shape{2, 3, 4}}) {
    for (long axis = -static_cast<long>(s.size()); axis < static_cast<long>(s.size()); ++axis) {
      const std::string what = fmt::format("{} axis {}", xg::shape_str(s), axis);
      const T w = first_of_each_line(s, axis);
      check([axis](const Inputs& in) { return xg::softmax(in[0], axis); }, {normal(s)}, "softmax " + what, w);
      check([axis](const Inputs& in) { return xg::log_softmax(in[0], axis); }, {normal(s)}, "log_softmax " + what, w);
    }
  }
  // the default axis is the last one
  const T w = first_of_each_line({3, 4}, -1);
  check([](const Inputs& in) { return xg::softmax(in[0]); }, {normal({3, 4})}, "softmax default axis", w);
  check([](const Inputs& in) { return xg::log_softmax(in[0]); }, {normal({3, 4})}, "log_softmax default axis", w);
}

TEST_CASE("softmax: forward values and stability at logits of +-800 in f32 and f64") {
  const double e = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), z = e + e2 + e3;
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    const double eps = d == xg::f32 ? 1e-6 : 1e-12;
    check_values(xg::softmax(xg::tensor({1.0, 2.0, 3.0}, d)), {3}, {e / z, e2 / z, e3 / z}, eps);
    check_values(xg::softmax(xg::tensor({1.0, 2.0, 3.0}, d)), {3},
                 {0.09003057317038046, 0.24472847105479764, 0.6652409557748219}, eps);
    check_values(xg::log_softmax(xg::tensor({1.0, 2.0, 3.0}, d)), {3},
                 {1 - std::log(z), 2 - std::log(z), 3 - std::log(z)}, eps);
    // along axis 0 each column is normalized, along axis 1 (= -1) each row
    const T m = xg::tensor({{1.0, 1.0}, {2.0, 3.0}}, d);
    check_values(xg::softmax(m, 0), {2, 2}, {1 / (1 + e), 1 / (1 + e2), e / (1 + e), e2 / (1 + e2)}, eps);
    check_values(xg::softmax(m, 1), {2, 2}, {0.5, 0.5, 1 / (1 + e), e / (1 + e)}, eps);
    check_values(xg::softmax(m, -1), {2, 2}, {0.5, 0.5, 1 / (1 + e), e / (1 + e)}, eps);
    check_values(xg::log_softmax(m, 0), {2, 2},
                 {-std::log1p(e), -std::log1p(e2), 1 - std::log1p(e), 2 - std::log1p(e2)}, eps);
    // rank 3 along the middle axis
    const T c = xg::tensor({0.0, 0.0, 1.0, 0.0}, d).reshape({1, 2, 2});
    check_values(xg::softmax(c, 1), {1, 2, 2}, {1 / (1 + e), 0.5, e / (1 + e), 0.5}, eps);

    // logits of +-800: e^800 overflows and e^-800 underflows, but the shifted forms are exact
    for (const T& big : {xg::tensor({800.0, 0.0}, d), xg::tensor({-800.0, 0.0}, d)})
      for (const T& t : {xg::log_softmax(big), xg::softmax(big)}) {
        const T as_f64 = t.to(xg::f64);  // keep it alive: value() refers into it
        for (double v : as_f64.value<double>()) CHECK(std::isfinite(v));
      }
    check_values(xg::log_softmax(xg::tensor({800.0, 0.0}, d)), {2}, {0.0, -800.0}, eps);
    check_values(xg::log_softmax(xg::tensor({-800.0, 0.0}, d)), {2}, {-800.0, 0.0}, eps);
    check_values(xg::softmax(xg::tensor({800.0, 0.0}, d)), {2}, {1.0, 0.0}, eps);
    check_values(xg::softmax(xg::tensor({-800.0, 0.0}, d)), {2}, {0.0, 1.0}, eps);
    check_values(xg::log_softmax(xg::tensor({{800.0, 0.0}, {-800.0, 0.0}}, d), 1), {2, 2}, {0.0, -800.0, -800.0, 0.0},
                 eps);
    CHECK(xg::softmax(m).dtype() == d);
  }
}

TEST_CASE("softmax: gradients on literal inputs and at logits of 800") {
  // softmax: dx = y (dy - sum(dy y)); with dy = e_0: dx = y_0 (e_0 - y)
  T x = xg::tensor({1.0, 2.0, 3.0}, xg::f64).requires_grad_();
  const double e = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), z = e + e2 + e3;
  const double y0 = e / z, y1 = e2 / z, y2 = e3 / z;
  xg::softmax(x).backward(xg::tensor({1.0, 0.0, 0.0}, xg::f64));
  check_values(x.grad(), {3}, {y0 * (1 - y0), -y0 * y1, -y0 * y2});
  // log_softmax: dx = dy - softmax * sum(dy)
  x.zero_grad();
  xg::log_softmax(x).backward(xg::tensor({1.0, 0.0, 0.0}, xg::f64));
  check_values(x.grad(), {3}, {1 - y0, -y1, -y2});
  for (xg::DType d : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(d));
    T big = xg::tensor({800.0, 0.0, -800.0}, d).requires_grad_();
    xg::sum(xg::log_softmax(big) * xg::tensor({0.0, 1.0, 0.0}, d)).backward();
    check_values(big.grad(), {3}, {-1.0, 1.0, 0.0}, 1e-6);
    big.zero_grad();
    xg::sum(xg::softmax(big) * xg::tensor({1.0, 0.0, 0.0}, d)).backward();
    check_values(big.grad(), {3}, {0.0, 0.0, 0.0}, 1e-6);
  }
}

TEST_CASE("to: f64 -> f32 -> f64 round trip values and gradient") {
  T x = xg::tensor({0.1, -2.5, 1.0 / 3.0}, xg::f64).requires_grad_();
  const T y = x.to(xg::f32);
  CHECK(y.dtype() == xg::f32);
  CHECK(y.op() == "to");
  const T back = y.to(xg::f64);
  CHECK(back.dtype() == xg::f64);
  // the values are rounded to float on the way through
  const auto& v = back.value<double>();
  CHECK(v(0) == static_cast<double>(0.1f));
  CHECK(v(1) == -2.5);
  CHECK(v(2) == static_cast<double>(1.0f / 3.0f));
  CHECK(v(0) != 0.1);
  // d(to)/dx = 1 in the input's dtype: the gradient comes back as f64, its values rounded to float
  xg::sum(back * xg::tensor({0.5, 0.1, -3.0}, xg::f64)).backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == xg::f64);
  check_values(x.grad(), {3}, {0.5, static_cast<double>(0.1f), -3.0}, 0);
  // an f32 leaf through f64: its gradient is f32
  T s = xg::tensor({1.5, -0.25}, xg::f32).requires_grad_();
  xg::sum(xg::exp(s.to(xg::f64))).backward();
  CHECK(s.grad().dtype() == xg::f32);
  check_values(s.grad(), {2}, {std::exp(1.5), std::exp(-0.25)}, 1e-6);
  // to the same dtype is the tensor itself, nothing recorded
  CHECK(x.to(xg::f64).impl() == x.impl());
}

TEST_CASE("matmul and softmax: errors name the op and the shapes") {
  const T a = xg::zeros({3, 4}), b = xg::zeros({5, 6});
  CHECK_THROWS_WITH_AS(xg::matmul(a, b), doctest::Contains("matmul: [3,4] x [5,6]: inner dimensions 4 and 5 differ"),
                       xg::Error);
  const T batch = xg::zeros({2, 3, 4}), other_batch = xg::zeros({3, 4, 5});
  CHECK_THROWS_WITH_AS(xg::matmul(batch, b),
                       doctest::Contains("matmul: [2,3,4] x [5,6]: inner dimensions 4 and 5 differ"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::matmul(batch, other_batch),
                       doctest::Contains("matmul: [2,3,4] x [3,4,5]: batch sizes 2 and 3 differ"), xg::Error);
  const T vec = xg::zeros({4});
  CHECK_THROWS_WITH_AS(xg::matmul(vec, a), doctest::Contains("matmul: [4] x [3,4]"), xg::Error);
  const T a64 = xg::zeros({4, 2}, xg::f64);
  CHECK_THROWS_WITH_AS(xg::matmul(a, a64), doctest::Contains("matmul: [3,4] f32 and [4,2] f64: dtypes differ"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::softmax(a, 2),
                       doctest::Contains("softmax: axis 2 is out of range for a tensor of shape [3,4]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::log_softmax(a, -3), doctest::Contains("log_softmax: axis -3 is out of range"), xg::Error);
}
