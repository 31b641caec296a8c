// conv2d against libtorch: xg::conv2d and torch::conv2d on the same inputs, in f64 and f32, on each
// route ops/conv.cpp picks by itself (direct AVX-512, Winograd with 2x2 and 4x4 tiles, im2col):
// the output and the gradients of x, w and b of the loss sum(y * g).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xgrad/ops/avx512.hpp>
#include <xgrad/xgrad.hpp>

#include "conv_oracle.hpp"

namespace xg = xgrad;

namespace {

std::vector<double> uniform(std::size_t count, std::uint64_t seed) {  // deterministic, in [-1, 1]
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(count);
  for (double& e : v) e = dist(engine);
  return v;
}

std::size_t numel(const xg::Shape& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return n;
}

// max |a - b| / max |b|: the error relative to the largest value, so that entries near zero (where
// a sum's cancellation leaves the rounding of its terms) do not count as large relative errors.
double error_vs_largest(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, largest = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(a[k] - b[k]));
    largest = std::max(largest, std::abs(b[k]));
  }
  return largest > 0 ? diff / largest : diff;
}

struct Case {
  std::string route;  // the route ops/conv.cpp takes for it in f32 (f64 never takes the direct one)
  xg::Shape x, w;     // [N,C,H,W], [F,C,KH,KW]
  bool bias = true;
  xg::Size2 stride = 1, padding = 0;
  bool x_requires_grad = true;
  // In f32, the floor of the bound, for Winograd's 4x4 tiles: their transforms' coefficients (up to 8
  // and 1/24) cost 2-4e-6 of the largest value whatever the number of terms (docs/conv_and_losses.md).
  double f32_floor = 0;
};

// In f32 each entry is a sum of `terms` products. A sum of K terms rounded after every addition is
// off by at most K u times its largest partial sum (u = 2^-24); with terms of random sign the partial
// sums stay, in practice, within the largest entry, so each library is within K u of the largest
// value and the two within 2 K u (blocked and double sums do far better). In f64: 1e-10.
double bound(xg::DType dtype, const Case& c, std::size_t terms) {
  if (dtype == xg::f64) return 1e-10;
  return std::max(2.0 * static_cast<double>(terms) * std::ldexp(1.0, -24), c.f32_floor);
}

void compare(const Case& c, xg::DType dtype, std::uint64_t seed) {
  const std::size_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3], F = c.w[0], KH = c.w[2], KW = c.w[3];
  const auto sh = static_cast<std::size_t>(c.stride.h), sw = static_cast<std::size_t>(c.stride.w);
  const auto ph = static_cast<std::size_t>(c.padding.h), pw = static_cast<std::size_t>(c.padding.w);
  const xg::Shape y_shape{N, F, (H + 2 * ph - KH) / sh + 1, (W + 2 * pw - KW) / sw + 1};

  oracle::ConvProblem p;
  p.precision = dtype == xg::f32 ? oracle::Precision::f32 : oracle::Precision::f64;
  p.x_shape = {c.x.begin(), c.x.end()};
  p.w_shape = {c.w.begin(), c.w.end()};
  p.x = uniform(numel(c.x), seed);
  p.w = uniform(numel(c.w), seed + 1);
  if (c.bias) p.b = uniform(F, seed + 2);
  p.stride_h = c.stride.h, p.stride_w = c.stride.w, p.pad_h = c.padding.h, p.pad_w = c.padding.w;
  p.x_requires_grad = c.x_requires_grad;
  p.g = uniform(numel(y_shape), seed + 3);

  auto make = [&](const std::vector<double>& v, const xg::Shape& s) { return xg::reshape(xg::tensor(v, dtype), s); };
  xg::Tensor x = make(p.x, c.x), w = make(p.w, c.w).requires_grad_(), b;
  if (c.x_requires_grad) x.requires_grad_();
  if (c.bias) b = make(p.b, {F}).requires_grad_();
  const xg::Tensor y = xg::conv2d(x, w, b, c.stride, c.padding);
  xg::sum(y * make(p.g, y_shape)).backward();

  const oracle::ConvResult torch = oracle::torch_conv2d(p);
  REQUIRE(y.shape() == xg::Shape(torch.y_shape.begin(), torch.y_shape.end()));
  const std::size_t positions = N * y_shape[2] * y_shape[3];  // the terms of a dw or db entry
  struct Quantity {
    const char* name;
    std::vector<double> xgrad, torch;
    std::size_t terms;
  };
  std::vector<Quantity> quantities{{"y", y.to_vector(), torch.y, C * KH * KW + (c.bias ? 1 : 0)},
                                   {"dw", w.grad().to_vector(), torch.dw, positions}};
  if (c.x_requires_grad) quantities.push_back({"dx", x.grad().to_vector(), torch.dx, F * KH * KW});
  if (c.bias) quantities.push_back({"db", b.grad().to_vector(), torch.db, positions});
  std::string report;
  for (const Quantity& q : quantities) {
    const double error = error_vs_largest(q.xgrad, q.torch), limit = bound(dtype, c, q.terms);
    report += fmt::format("  {} {:.2e} (bound {:.1e})", q.name, error, limit);
    CHECK_MESSAGE(error < limit, fmt::format("{} {}: {} differs by {:.3e} of the largest value, bound {:.3e}", c.route,
                                             dtype == xg::f32 ? "f32" : "f64", q.name, error, limit));
  }
  MESSAGE(fmt::format("{} x {} w {} {}:{}", c.route, fmt::join(c.x, "x"), fmt::join(c.w, "x"),
                      dtype == xg::f32 ? "f32" : "f64", report));
}

void compare_both(const Case& c, std::uint64_t seed) {
  compare(c, xg::f64, seed);
  compare(c, xg::f32, seed);
}

}  // namespace

TEST_CASE("conv2d agrees with torch::conv2d on the direct AVX-512 route: 3x3, stride 1, padding 1, C 1 and 2") {
  const std::string route = xg::detail::avx512::enabled() ? "direct AVX-512" : "im2col (this CPU runs no AVX-512)";
  // The first layer of a Fashion-MNIST ConvNet: its input needs no gradient. In f32 torch's dw and db
  // (sums over 50176 positions) are ~5e-6 of the largest value from exact; xgrad's, summed in double, 1e-7.
  compare_both({.route = route,
                .x = {64, 1, 28, 28},
                .w = {16, 1, 3, 3},
                .stride = 1,
                .padding = 1,
                .x_requires_grad = false},
               11);
  // Two channels, odd sizes; dx by the im2col backward.
  compare_both({.route = route, .x = {2, 2, 17, 33}, .w = {5, 2, 3, 3}, .stride = 1, .padding = 1}, 21);
  // RGB: im2col from 3 channels on (as fast as direct there).
  compare_both({.route = "im2col (3 channels)", .x = {2, 3, 17, 33}, .w = {5, 3, 3, 3}, .stride = 1, .padding = 1}, 31);
}

TEST_CASE("conv2d agrees with torch::conv2d on the Winograd route: 2x2 and 4x4 tiles") {
  compare_both({.route = "Winograd 2x2 tiles", .x = {4, 16, 14, 14}, .w = {32, 16, 3, 3}, .stride = 1, .padding = 1},
               31);
  compare_both({.route = "Winograd 4x4 tiles",
                .x = {2, 16, 28, 28},
                .w = {8, 16, 3, 3},
                .stride = 1,
                .padding = 1,
                .f32_floor = 1e-5},
               41);
}

TEST_CASE("conv2d agrees with torch::conv2d on the im2col route: a 5x3 kernel at stride 2, and 1x1") {
  compare_both({.route = "im2col", .x = {3, 4, 11, 9}, .w = {6, 4, 5, 3}, .stride = 2, .padding = {2, 1}}, 51);
  compare_both({.route = "im2col 1x1", .x = {2, 8, 7, 5}, .w = {6, 8, 1, 1}, .bias = false}, 61);
}
