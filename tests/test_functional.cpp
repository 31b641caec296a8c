// xg::vjp, jvp, jacobian, hessian and hvp (autograd/functional.hpp) against finite differences,
// hand formulas and each other; a Newton step on a quadratic; f32; create_graph; the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
using error_text::contains;
using error_text::error_of;
using Inputs = std::vector<xg::Tensor>;
using Matrix = xt::xarray<double>;

namespace {

Matrix as_f64(const xg::Tensor& t) { return t.dtype() == xg::f64 ? t.value<double>() : t.to(xg::f64).value<double>(); }

// max over elements of |a - b| / max(|a|, |b|, floor): relative, but absolute for entries near zero.
double max_rel_error(const Matrix& a, const Matrix& b, double floor = 1e-3) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const double x = a.data()[k], y = b.data()[k];
    worst = std::max(worst, std::abs(x - y) / std::max({std::abs(x), std::abs(y), floor}));
  }
  return worst;
}

// The gradient of a scalar f at x by xg::grad, as a plain array.
Matrix gradient_at(const xg::TensorFn& f, const Matrix& x) {
  auto leaf = xg::Tensor(x).requires_grad_();
  return xg::grad({f(leaf)}, {leaf})[0].value<double>();
}

// d(grad f)_i / dx_k by centered differences of the gradient, for x of any shape: [n, n] with n = x's size.
Matrix fd_jacobian_of_gradient(const xg::TensorFn& f, const Matrix& x, double h = 1e-5) {
  const std::size_t n = x.size();
  Matrix H = xt::zeros<double>({n, n});
  for (std::size_t k = 0; k < n; ++k) {
    Matrix plus = x, minus = x;
    plus.data()[k] += h;
    minus.data()[k] -= h;
    const Matrix gp = gradient_at(f, plus), gm = gradient_at(f, minus);
    for (std::size_t i = 0; i < n; ++i) H(i, k) = (gp.data()[i] - gm.data()[i]) / (2 * h);
  }
  return H;
}

// dy_i / dx_k by centered differences of f itself: [m, n] with m = y's size, n = x's size.
Matrix fd_jacobian(const xg::TensorFn& f, const Matrix& x, double h = 1e-6) {
  xg::NoGradGuard no_grad;
  const std::size_t n = x.size();
  const std::size_t m = f(xg::Tensor(x)).numel();
  Matrix J = xt::zeros<double>({m, n});
  for (std::size_t k = 0; k < n; ++k) {
    Matrix plus = x, minus = x;
    plus.data()[k] += h;
    minus.data()[k] -= h;
    const Matrix yp = f(xg::Tensor(plus)).value<double>(), ym = f(xg::Tensor(minus)).value<double>();
    for (std::size_t i = 0; i < m; ++i) J(i, k) = (yp.data()[i] - ym.data()[i]) / (2 * h);
  }
  return J;
}

Matrix flat2(const Matrix& a, std::size_t rows) {
  Matrix b = a;
  b.reshape({rows, a.size() / rows});
  return b;
}

Matrix matvec(const Matrix& A, const Matrix& v) {
  Matrix out = xt::zeros<double>({A.shape(0)});
  for (std::size_t i = 0; i < A.shape(0); ++i)
    for (std::size_t k = 0; k < A.shape(1); ++k) out(i) += A(i, k) * v.data()[k];
  return out;
}

// Solves A x = b by Gaussian elimination with partial pivoting (small dense systems only).
Matrix solve(Matrix A, Matrix b) {
  const std::size_t n = A.shape(0);
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(A(r, c)) > std::abs(A(p, c))) p = r;
    for (std::size_t k = 0; k < n; ++k) std::swap(A(c, k), A(p, k));
    std::swap(b(c), b(p));
    for (std::size_t r = c + 1; r < n; ++r) {
      const double m = A(r, c) / A(c, c);
      for (std::size_t k = c; k < n; ++k) A(r, k) -= m * A(c, k);
      b(r) -= m * b(c);
    }
  }
  Matrix x = xt::zeros<double>({n});
  for (std::size_t c = n; c-- > 0;) {
    double s = b(c);
    for (std::size_t k = c + 1; k < n; ++k) s -= A(c, k) * x(k);
    x(c) = s / A(c, c);
  }
  return x;
}

// A 2-layer tanh MLP of a 5-element x with fixed weights: f(x) = sum(tanh(tanh(x W1 + b1) W2 + b2)).
struct Mlp {
  xg::Tensor W1, b1, W2, b2;
  explicit Mlp(xg::DType dtype) {
    xg::manual_seed(11);
    W1 = xg::randn({5, 4}, xg::f64).to(dtype);
    b1 = xg::randn({4}, xg::f64).to(dtype);
    W2 = xg::randn({4, 3}, xg::f64).to(dtype);
    b2 = xg::randn({3}, xg::f64).to(dtype);
  }
  xg::Tensor operator()(const xg::Tensor& x) const {
    const auto h = xg::tanh(xg::matmul(x.reshape({1, 5}), W1) + b1);
    return xg::sum(xg::tanh(xg::matmul(h, W2) + b2));
  }
};

const Matrix x5 = {0.3, -0.8, 0.5, 1.1, -0.2};

}  // namespace

TEST_CASE("functional: the hessian of a 2-layer tanh MLP is the finite-difference Jacobian of its gradient") {
  const Mlp mlp(xg::f64);
  const xg::TensorFn f = [&](const xg::Tensor& x) { return mlp(x); };
  const auto x = xg::Tensor(x5);  // needs no requires_grad
  const xg::Tensor H = xg::hessian(f, x);
  REQUIRE(H.shape() == xg::Shape{5, 5});
  CHECK_FALSE(H.requires_grad());
  CHECK_FALSE(x.requires_grad());
  const Matrix fd = fd_jacobian_of_gradient(f, x5);
  const double error = max_rel_error(H.value<double>(), fd);
  MESSAGE("hessian vs finite differences of the gradient: max relative error " << error);
  CHECK(error < 1e-7);
  CHECK(xt::amax(xt::abs(H.value<double>()))() > 0.1);  // not trivially zero

  // symmetric, up to the rounding of the two orders of the products
  const Matrix& h = H.value<double>();
  CHECK(xt::amax(xt::abs(h - xt::transpose(h)))() < 1e-14);

  // hvp = H v, without forming H
  const Matrix v = {1.0, -2.0, 0.5, 0.25, 3.0};
  const auto r = xg::hvp(f, x, xg::Tensor(v));
  CHECK_FALSE(r.hvp.requires_grad());
  CHECK(r.output.item() == doctest::Approx(mlp(x).item()).epsilon(1e-15));
  CHECK(max_rel_error(r.hvp.value<double>(), matvec(h, v), 1e-12) < 1e-13);
}

TEST_CASE("functional: hvp of a cross_entropy MLP loss is the directional difference of its gradient") {
  // The loss bench/hvp_cost.cpp times: H v = (grad(p + h v) - grad(p - h v)) / 2h, over all parameters.
  xg::manual_seed(12);
  const auto x = xg::randn({3, 4}, xg::f64);
  const std::vector<std::int64_t> labels = {2, 0, 1};
  const xg::TensorsFn loss = [&](const Inputs& p) {
    const auto h = xg::tanh(xg::matmul(x, p[0]) + p[1]);
    return xg::cross_entropy(xg::matmul(h, p[2]) + p[3], labels);
  };
  const Inputs params = {xg::randn({4, 5}, xg::f64), xg::randn({5}, xg::f64), xg::randn({5, 3}, xg::f64),
                         xg::randn({3}, xg::f64)};
  Inputs v;
  for (const auto& p : params) v.push_back(xg::randn(p.shape(), xg::f64));
  const auto r = xg::hvp(loss, params, v);
  REQUIRE(r.hvp.size() == 4);

  const double h = 1e-5;
  auto gradient_at = [&](double step) {
    Inputs shifted;
    for (std::size_t i = 0; i < params.size(); ++i)
      shifted.push_back(xg::Tensor(Matrix(params[i].value<double>() + step * v[i].value<double>())).requires_grad_());
    return xg::grad({loss(shifted)}, shifted);
  };
  const Inputs plus = gradient_at(h), minus = gradient_at(-h);
  double error = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Matrix fd = (plus[i].value<double>() - minus[i].value<double>()) / (2 * h);
    error = std::max(error, max_rel_error(r.hvp[i].value<double>(), fd));
  }
  MESSAGE("cross_entropy MLP hvp vs directional differences of the gradient: max relative error " << error);
  CHECK(error < 1e-7);
}

TEST_CASE("functional: jacobian, jvp and vjp of non-scalar functions against finite differences") {
  SUBCASE("softmax, also against diag(s) - s s^T") {
    const xg::TensorFn f = [](const xg::Tensor& x) { return xg::softmax(x); };
    const Matrix x = {0.5, -1.0, 2.0, 0.1};
    const xg::Tensor J = xg::jacobian(f, xg::Tensor(x));
    REQUIRE(J.shape() == xg::Shape{4, 4});
    CHECK_FALSE(J.requires_grad());
    const Matrix s = f(xg::Tensor(x)).value<double>();
    Matrix expected = xt::zeros<double>({4, 4});
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t k = 0; k < 4; ++k) expected(i, k) = (i == k ? s(i) : 0.0) - s(i) * s(k);
    CHECK(max_rel_error(J.value<double>(), expected, 1e-12) < 1e-14);
    CHECK(max_rel_error(J.value<double>(), fd_jacobian(f, x)) < 1e-8);
  }
  SUBCASE("[3] -> [4,1], not square: J of shape [4,1,3]; jvp = J v and vjp = v^T J") {
    const auto M = xg::tensor({{1.0, -0.5, 0.3}, {0.2, 0.7, -1.1}, {-0.4, 0.9, 0.6}, {0.8, 0.1, -0.2}}, xg::f64);
    const xg::TensorFn f = [&](const xg::Tensor& x) {
      return xg::tanh(xg::matmul(M, x.reshape({3, 1}))) * xg::sum(x * x);
    };
    const Matrix x = {0.4, -0.3, 0.9};
    const xg::Tensor J = xg::jacobian(f, xg::Tensor(x));
    REQUIRE(J.shape() == xg::Shape{4, 1, 3});
    const Matrix J2 = flat2(J.value<double>(), 4);
    const double fd_error = max_rel_error(J2, fd_jacobian(f, x));
    MESSAGE("jacobian vs finite differences: max relative error " << fd_error);
    CHECK(fd_error < 1e-8);

    const Matrix v = {0.5, -1.5, 2.0};
    const auto forward = xg::jvp(f, xg::Tensor(x), xg::Tensor(v));
    REQUIRE(forward.jvp.shape() == xg::Shape{4, 1});
    CHECK_FALSE(forward.jvp.requires_grad());
    CHECK(max_rel_error(flat2(forward.jvp.value<double>(), 4), flat2(matvec(J2, v), 4), 1e-12) < 1e-13);
    CHECK(max_rel_error(forward.output.value<double>(), f(xg::Tensor(x)).value<double>(), 1e-12) == 0.0);

    Matrix w = {1.0, 0.25, -2.0, 0.5};
    w.reshape({4, 1});
    const auto backward = xg::vjp(f, xg::Tensor(x), xg::Tensor(w));
    REQUIRE(backward.vjp.shape() == xg::Shape{3});
    Matrix wJ = xt::zeros<double>({3});
    for (std::size_t k = 0; k < 3; ++k)
      for (std::size_t i = 0; i < 4; ++i) wJ(k) += w(i, 0) * J2(i, k);
    CHECK(max_rel_error(backward.vjp.value<double>(), wJ, 1e-12) < 1e-13);
  }
  SUBCASE("several inputs: x * x * y has blocks diag(2xy) and diag(x^2)") {
    const Matrix x = {1.5, -2.0, 0.5}, y = {0.3, 4.0, -1.0};
    const xg::TensorsFn f = [](const Inputs& in) { return in[0] * in[0] * in[1]; };
    const std::vector<xg::Tensor> J = xg::jacobian(f, {xg::Tensor(x), xg::Tensor(y)});
    REQUIRE(J.size() == 2);
    REQUIRE(J[0].shape() == xg::Shape{3, 3});
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t k = 0; k < 3; ++k) {
        CHECK(J[0].value<double>()(i, k) == (i == k ? 2 * x(i) * y(i) : 0.0));
        CHECK(J[1].value<double>()(i, k) == (i == k ? x(i) * x(i) : 0.0));
      }
    // jvp with a direction per input sums the blocks: J_x vx + J_y vy
    const Matrix vx = {1.0, 2.0, 3.0}, vy = {-1.0, 0.5, 2.0};
    const auto r = xg::jvp(f, {xg::Tensor(x), xg::Tensor(y)}, {xg::Tensor(vx), xg::Tensor(vy)});
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(r.jvp.value<double>()(i) == doctest::Approx(2 * x(i) * y(i) * vx(i) + x(i) * x(i) * vy(i)).epsilon(1e-15));
    // vjp gives one block per input
    const auto b = xg::vjp(f, {xg::Tensor(x), xg::Tensor(y)}, xg::Tensor(vx));
    REQUIRE(b.vjp.size() == 2);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(b.vjp[0].value<double>()(i) == doctest::Approx(vx(i) * 2 * x(i) * y(i)).epsilon(1e-15));
      CHECK(b.vjp[1].value<double>()(i) == doctest::Approx(vx(i) * x(i) * x(i)).epsilon(1e-15));
    }
  }
  SUBCASE("several outputs: J[i][j] = dy_i/dx_j, zero blocks where y_i does not use x_j") {
    const xg::MultiOutputFn f = [](const Inputs& in) {
      return std::vector<xg::Tensor>{xg::sum(in[0] * in[1]), xg::tanh(in[0])};
    };
    const Matrix x = {0.2, -0.7};
    const auto J = xg::jacobian(f, {xg::Tensor(x), xg::Tensor(Matrix{2.0, 5.0})});
    REQUIRE(J.size() == 2);
    REQUIRE(J[0].size() == 2);
    CHECK(J[0][0].shape() == xg::Shape{2});  // a 0-d output: the blocks have the inputs' shapes
    CHECK(J[0][0].value<double>()(1) == 5.0);
    CHECK(J[0][1].value<double>()(0) == 0.2);
    CHECK(J[1][0].shape() == xg::Shape{2, 2});
    CHECK(J[1][0].value<double>()(1, 1) == doctest::Approx(1 - std::tanh(-0.7) * std::tanh(-0.7)).epsilon(1e-15));
    REQUIRE(J[1][1].shape() == xg::Shape{2, 2});  // tanh(x) does not use the second input: zeros
    CHECK(xt::amax(xt::abs(J[1][1].value<double>()))() == 0.0);
  }
}

TEST_CASE("functional: a Newton step with the hessian lands on the minimum of a quadratic") {
  // f(x) = 0.5 x^T A x - b^T x + c with A symmetric positive definite: grad = A x - b, H = A, and one
  // Newton step x - H^{-1} grad from anywhere is the minimum A^{-1} b.
  const Matrix M = {{1.0, 0.5, -0.3, 0.2}, {0.1, 2.0, 0.4, -0.6}, {0.7, -0.2, 1.5, 0.3}, {-0.4, 0.3, 0.2, 1.2}};
  Matrix A = xt::zeros<double>({4, 4});  // M M^T + I
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) {
      for (std::size_t k = 0; k < 4; ++k) A(i, j) += M(i, k) * M(j, k);
      A(i, j) += i == j ? 1.0 : 0.0;
    }
  const Matrix b = {1.0, -2.0, 0.5, 3.0};
  const auto At = xg::Tensor(A), bt = xg::Tensor(b);
  const xg::TensorFn f = [&](const xg::Tensor& x) {
    const auto col = x.reshape({4, 1});
    return 0.5 * xg::sum(col * xg::matmul(At, col)) - xg::sum(bt * x) + 7.0;
  };
  const Matrix x0 = {3.0, -1.0, 2.0, 0.5};
  const xg::Tensor H = xg::hessian(f, xg::Tensor(x0));
  CHECK(max_rel_error(H.value<double>(), A, 1e-12) < 1e-15);
  const auto g = xg::vjp(f, xg::Tensor(x0));  // a scalar f: v = 1, the gradient
  CHECK(max_rel_error(g.vjp.value<double>(), matvec(A, x0) - b, 1e-12) < 1e-14);

  const Matrix x1 = x0 - solve(H.value<double>(), g.vjp.value<double>());
  const Matrix minimum = solve(A, b);
  const double step_error = xt::amax(xt::abs(x1 - minimum))();
  MESSAGE("Newton step vs A^-1 b: max abs difference " << step_error);
  CHECK(step_error < 1e-12);
  const Matrix g1 = xg::vjp(f, xg::Tensor(x1)).vjp.value<double>();
  CHECK(xt::amax(xt::abs(g1))() < 1e-12);  // a stationary point
}

TEST_CASE("functional: hessian blocks of f(x, y) = sum(x^2 y^3) against hand formulas") {
  // d/dx = 2x y^3, d/dy = 3x^2 y^2; H_xx = diag(2y^3), H_xy = H_yx = diag(6x y^2), H_yy = diag(6x^2 y)
  const Matrix x = {1.5, -0.5, 2.0}, y = {0.8, 1.2, -0.7};
  const xg::TensorsFn f = [](const Inputs& in) { return xg::sum(xg::pow(in[0], 2.0) * xg::pow(in[1], 3.0)); };
  const auto H = xg::hessian(f, {xg::Tensor(x), xg::Tensor(y)});
  REQUIRE(H.size() == 2);
  REQUIRE(H[0].size() == 2);
  const auto expect_diag = [](const xg::Tensor& block, const Matrix& diag) {
    REQUIRE(block.shape() == xg::Shape{3, 3});
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t k = 0; k < 3; ++k)
        CHECK(block.value<double>()(i, k) == doctest::Approx(i == k ? diag(i) : 0.0).epsilon(1e-14));
  };
  expect_diag(H[0][0], 2.0 * y * y * y);
  expect_diag(H[0][1], 6.0 * x * y * y);
  expect_diag(H[1][0], 6.0 * x * y * y);
  expect_diag(H[1][1], 6.0 * x * x * y);

  // hvp over both inputs: (H v)_x = H_xx vx + H_xy vy
  const Matrix vx = {1.0, -1.0, 0.5}, vy = {2.0, 0.0, -3.0};
  const auto r = xg::hvp(f, {xg::Tensor(x), xg::Tensor(y)}, {xg::Tensor(vx), xg::Tensor(vy)});
  REQUIRE(r.hvp.size() == 2);
  for (std::size_t i = 0; i < 3; ++i) {
    const double yi = y(i), xi = x(i);
    CHECK(r.hvp[0].value<double>()(i) ==
          doctest::Approx(2 * yi * yi * yi * vx(i) + 6 * xi * yi * yi * vy(i)).epsilon(1e-14));
    CHECK(r.hvp[1].value<double>()(i) ==
          doctest::Approx(6 * xi * yi * yi * vx(i) + 6 * xi * xi * yi * vy(i)).epsilon(1e-14));
  }
}

TEST_CASE("functional: f32 hvp and jacobian agree with f64") {
  const Mlp mlp64(xg::f64), mlp32(xg::f32);
  const xg::TensorFn f64 = [&](const xg::Tensor& x) { return mlp64(x); };
  const xg::TensorFn f32 = [&](const xg::Tensor& x) { return mlp32(x); };
  const Matrix v = {1.0, -2.0, 0.5, 0.25, 3.0};
  const auto r64 = xg::hvp(f64, xg::Tensor(x5), xg::Tensor(v));
  const auto r32 = xg::hvp(f32, xg::Tensor(x5).to(xg::f32), xg::Tensor(v).to(xg::f32));
  CHECK(r32.hvp.dtype() == xg::f32);
  CHECK(r32.output.dtype() == xg::f32);
  const double hvp_error = max_rel_error(as_f64(r32.hvp), r64.hvp.value<double>());
  MESSAGE("hvp f32 vs f64: max relative error " << hvp_error);
  CHECK(hvp_error < 1e-5);

  // the Jacobian of the MLP's hidden layer, [1,4] by [5]
  const xg::TensorFn h64 = [&](const xg::Tensor& x) { return xg::tanh(xg::matmul(x.reshape({1, 5}), mlp64.W1)); };
  const xg::TensorFn h32 = [&](const xg::Tensor& x) { return xg::tanh(xg::matmul(x.reshape({1, 5}), mlp32.W1)); };
  const xg::Tensor J32 = xg::jacobian(h32, xg::Tensor(x5).to(xg::f32));
  CHECK(J32.dtype() == xg::f32);
  REQUIRE(J32.shape() == xg::Shape{1, 4, 5});
  const double jac_error = max_rel_error(as_f64(J32), xg::jacobian(h64, xg::Tensor(x5)).value<double>());
  MESSAGE("jacobian f32 vs f64: max relative error " << jac_error);
  CHECK(jac_error < 1e-5);
  // and the f32 hessian against the f64 one
  CHECK(max_rel_error(as_f64(xg::hessian(f32, xg::Tensor(x5).to(xg::f32))),
                      xg::hessian(f64, xg::Tensor(x5)).value<double>()) < 1e-5);
}

TEST_CASE("functional: create_graph gives differentiable results, also with respect to the caller's tensors") {
  // f = sum(x^3): H = diag(6x); with create_graph, d(sum H)/dx = 6 through the recorded hessian
  const xg::TensorFn f = [](const xg::Tensor& x) { return xg::sum(x * x * x); };
  auto x = xg::tensor({0.5, -2.0}, xg::f64).requires_grad_();
  const xg::Tensor H = xg::hessian(f, x, /*create_graph=*/true);
  REQUIRE(H.requires_grad());
  CHECK(H.value<double>()(0, 0) == 3.0);
  CHECK(H.value<double>()(1, 1) == -12.0);
  CHECK(H.value<double>()(0, 1) == 0.0);
  const auto third = xg::grad({xg::sum(H)}, {x});
  CHECK(third[0].value<double>()(0) == 6.0);
  CHECK(third[0].value<double>()(1) == 6.0);

  // hvp with create_graph: d<Hv, w>/dx = 6 v w elementwise
  const auto r = xg::hvp(f, x, xg::tensor({1.0, 2.0}, xg::f64), true);
  REQUIRE(r.hvp.requires_grad());
  REQUIRE(r.output.requires_grad());
  CHECK(r.hvp.value<double>()(1) == -24.0);  // 6x v
  const auto d = xg::grad({xg::sum(r.hvp * xg::tensor({3.0, 1.0}, xg::f64))}, {x});
  CHECK(d[0].value<double>()(0) == 18.0);
  CHECK(d[0].value<double>()(1) == 12.0);

  // without create_graph: nothing requires grad and x gets no gradient
  const auto plain = xg::hvp(f, x, xg::tensor({1.0, 2.0}, xg::f64));
  CHECK_FALSE(plain.hvp.requires_grad());
  CHECK_FALSE(plain.output.requires_grad());
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("functional: constant and linear functions, and NoGradGuard") {
  const auto x = xg::tensor({1.0, 2.0, 3.0}, xg::f64);
  // linear: the hessian and hvp are zero, the jacobian is constant
  const xg::TensorFn linear = [](const xg::Tensor& t) { return xg::sum(t * 2.0); };
  CHECK(xt::amax(xt::abs(xg::hessian(linear, x).value<double>()))() == 0.0);
  CHECK(xt::amax(xt::abs(xg::hvp(linear, x, x).hvp.value<double>()))() == 0.0);
  // an output that does not depend on the input: zeros everywhere
  const xg::TensorFn constant = [](const xg::Tensor&) { return xg::ones({2}, xg::f64); };
  const xg::Tensor J = xg::jacobian(constant, x);
  REQUIRE(J.shape() == xg::Shape{2, 3});
  CHECK(xt::amax(xt::abs(J.value<double>()))() == 0.0);
  CHECK(xt::amax(xt::abs(xg::jvp(constant, x, x).jvp.value<double>()))() == 0.0);
  CHECK(xt::amax(xt::abs(xg::vjp(constant, x, xg::ones({2}, xg::f64)).vjp.value<double>()))() == 0.0);
  // the identity: J = I, jvp = v
  const xg::TensorFn identity = [](const xg::Tensor& t) { return t; };
  CHECK(xg::jacobian(identity, x).value<double>()(1, 1) == 1.0);
  CHECK(xg::jvp(identity, x, x).jvp.value<double>()(2) == 3.0);
  {
    xg::NoGradGuard no_grad;  // the functional API records what it needs itself
    const xg::TensorFn cube = [](const xg::Tensor& t) { return xg::sum(t * t * t); };
    CHECK(xg::hessian(cube, x).value<double>()(2, 2) == 18.0);
    CHECK(xg::jvp(cube, x, x).jvp.item() == 3.0 * (1 + 8 + 27));  // sum 3x^2 * x
    CHECK_FALSE(xg::grad_mode::enabled());
  }
}

TEST_CASE("functional: errors name the function and the shapes") {
  const auto x = xg::tensor({1.0, 2.0, 3.0}, xg::f64);
  const xg::TensorFn vector_f = [](const xg::Tensor& t) { return t * t; };
  const xg::TensorFn scalar_f = [](const xg::Tensor& t) { return xg::sum(t * t); };
  CHECK(contains(error_of([&] { xg::hessian(vector_f, x); }),
                 "hessian: f returns a tensor of shape [3], not a single element"));
  CHECK(contains(error_of([&] { xg::hvp(vector_f, x, x); }), "hvp: f returns a tensor of shape [3], not a single"));
  CHECK(contains(error_of([&] {
                   xg::hvp(scalar_f, x, xg::tensor({1.0, 2.0}, xg::f64));
                 }),
                 "hvp: v 0 is [2] f64 but input 0 is [3] f64; they must have the same shape and dtype"));
  CHECK(contains(error_of([&] {
                   xg::vjp(vector_f, x, xg::tensor({1.0, 2.0, 3.0}, xg::f32));
                 }),
                 "vjp: v is [3] f32 but f's output is [3] f64"));
  CHECK(contains(error_of([&] { xg::vjp(vector_f, x); }), "vjp: f's output [3] f64 is not a single element; pass v"));
  CHECK(contains(error_of([&] { xg::jvp(vector_f, x); }), "jvp: input 0 [3] f64 is not a single element; pass v"));
  const xg::TensorsFn two = [](const Inputs& in) { return in[0] * in[1]; };
  CHECK(contains(error_of([&] { xg::jvp(two, {x, x}, {x}); }), "jvp: 1 tensors v for 2 inputs"));
  CHECK(contains(error_of([&] { xg::jacobian(two, {}); }), "jacobian: no inputs given"));
  CHECK(contains(error_of([&] { xg::jacobian(vector_f, xg::Tensor()); }), "jacobian: input 0 is undefined"));
  CHECK(contains(error_of([&] { xg::jacobian([](const xg::Tensor&) { return xg::Tensor(); }, x); }),
                 "jacobian: f returned an undefined tensor"));
}
