#pragma once
// Shared by the op tests (tests/test_ops_*.cpp): input generators and the gradcheck and value checks.
#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace op_check {
namespace xg = xgrad;

using T = xg::Tensor;
using Inputs = std::vector<T>;

// Inputs in f64 marked for gradients: normal; normal pushed at least 0.5 away from 0 (the kink of
// relu and abs, the pole of 1/x); uniform on [0.5, 1.5) (the domain of log, sqrt, x^0.5).
inline T normal(const xg::Shape& s) { return xg::randn(s, xg::f64).requires_grad_(); }
// Standard normal f64, requiring grad unless `grad` is false.
inline T randn64(const xg::Shape& shape, bool grad = true) {
  T t = xg::randn(shape, xg::f64);
  if (grad) t.requires_grad_();
  return t;
}
inline T away_from_zero(const xg::Shape& s) {
  T t = xg::randn(s, xg::f64);
  for (double& v : t.mutable_value<double>()) v += v < 0 ? -0.5 : 0.5;
  return t.requires_grad_();
}
inline T positive(const xg::Shape& s) {
  T t = xg::rand(s, xg::f64);
  for (double& v : t.mutable_value<double>()) v += 0.5;
  return t.requires_grad_();
}

// Distinct values 0.37 i + offset for the integers i = k - floor(n/2), k = 0..n-1, in random order:
// any two differ by at least 0.37, and differ from those of a distinct(..., 0.185) by at least 0.185,
// so no tie of the kinked ops (max, min, maximum, minimum) lies within h, whatever the seed.
inline T distinct(const xg::Shape& s, double offset = 0) {
  T t = xg::zeros(s, xg::f64);
  auto& v = t.mutable_value<double>();
  const long half = static_cast<long>(v.size() / 2);
  for (std::size_t k = 0; k < v.size(); ++k)
    v.data()[k] = 0.37 * static_cast<double>(static_cast<long>(k) - half) + offset;
  std::shuffle(v.begin(), v.end(), xg::generator());
  return t.requires_grad_();
}

// gradcheck of f at inputs: every element compared, none across a kink, relative error < 1e-7.
// A relative error is only meaningful for a gradient component well above the rounding noise of the
// finite difference (~1e-16 |loss| / h), so the check is set up to keep every component large:
//  - f's output is reduced to sum(f * w) with weights w in [0.5, 1.5), positive and away from zero
//    (gradcheck's own projection is normal, and a weight near 0 makes that component near 0), and
//  - h = 1e-5 instead of 1e-6: rounding noise 10x smaller, truncation error still O(h^2) ~ 1e-10.
// `weights` replaces w where a test needs other weights.
inline void check(const xg::GradcheckFn& f, const Inputs& inputs, const std::string& what, T weights = {}) {
  std::size_t elements = 0;
  for (const T& x : inputs)
    if (x.requires_grad()) elements += x.numel();
  xg::Shape out_shape;
  {
    xg::NoGradGuard no_grad;
    out_shape = f(inputs).shape();
  }
  const T w = weights.defined() ? weights : xg::rand(out_shape, xg::f64) + 0.5;
  const xg::GradcheckReport report =
      xg::gradcheck([&](const Inputs& in) { return xg::sum(f(in) * w); }, inputs, {.h = 1e-5});
  INFO(what);
  if (!report.ok || !(report.max_rel_error < 1e-7) || !report.kinks.empty())
    MESSAGE(fmt::format("{}: {}", what, report));
  CHECK(report.ok);
  CHECK(report.max_rel_error < 1e-7);
  CHECK(report.kinks.empty());
  CHECK(report.checked == elements);
}

// t has `shape` and (row-major) `expected` values: exactly for eps = 0, else within a relative eps.
inline void check_values(const T& t, const xg::Shape& shape, const std::vector<double>& expected, double eps = 1e-12) {
  REQUIRE(xg::shape_str(t.shape()) == xg::shape_str(shape));
  const xt::xarray<double> v = t.detach().to(xg::f64).value<double>();
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if (eps == 0)
      CHECK(v.data()[i] == expected[i]);
    else
      CHECK(v.data()[i] == doctest::Approx(expected[i]).epsilon(eps));
  }
}

}  // namespace op_check
