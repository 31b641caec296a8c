// conv2d, max_pool2d and avg_pool2d: forward values against direct nested loops written here, float64
// gradchecks across strides, paddings, odd and rectangular sizes, the pooling tie convention, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include <xtensor/xmath.hpp>
#include <xtensor/xrandom.hpp>

#include <xgrad/ops/avx512.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "op_check.hpp"

namespace xg = xgrad;

namespace {

using op_check::randn64;

// Distinct values (a shuffled 0.01 * arange), so no pooling window holds a tie or anything within
// the finite-difference step of one.
xg::Tensor distinct64(const xg::Shape& shape, std::uint64_t seed) {
  std::size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 0.0);
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  xt::xarray<double> a = xt::xarray<double>::from_shape(shape);
  for (std::size_t i = 0; i < n; ++i) a.data()[i] = 0.01 * v[i] - 0.005 * double(n);
  return xg::Tensor(std::move(a)).requires_grad_();
}

// The definition, as four nested loops per output element.
xt::xarray<double> conv_reference(const xt::xarray<double>& x, const xt::xarray<double>& w, const xt::xarray<double>* b,
                                  std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw) {
  const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::size_t F = w.shape()[0], KH = w.shape()[2], KW = w.shape()[3];
  const std::size_t OH = (H + 2 * ph - KH) / sh + 1, OW = (W + 2 * pw - KW) / sw + 1;
  xt::xarray<double> y = xt::zeros<double>({N, F, OH, OW});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t f = 0; f < F; ++f)
      for (std::size_t i = 0; i < OH; ++i)
        for (std::size_t j = 0; j < OW; ++j) {
          double s = b ? (*b)(f) : 0.0;
          for (std::size_t c = 0; c < C; ++c)
            for (std::size_t p = 0; p < KH; ++p)
              for (std::size_t q = 0; q < KW; ++q) {
                const long r = long(i * sh + p) - long(ph), col = long(j * sw + q) - long(pw);
                if (r < 0 || col < 0 || r >= long(H) || col >= long(W)) continue;
                s += w(f, c, p, q) * x(n, c, std::size_t(r), std::size_t(col));
              }
          y(n, f, i, j) = s;
        }
  return y;
}

// conv2d is linear in x and in w, and pooling is piecewise linear, so a centered difference is exact
// for any step: a step of 1e-3 (instead of 1e-6) leaves only rounding, ~1e-12 relative, and still
// stays inside one linear piece of the pools (their inputs are 0.01 apart).
const xg::GradcheckOptions kLinear{.h = 1e-3, .tolerance = 1e-7};

struct ConvCase {
  std::size_t n, c, h, w, f, kh, kw;
  xg::Size2 stride, padding;
};
const ConvCase conv_cases[] = {
    {2, 3, 5, 7, 4, 3, 3, 1, 0},            // odd, rectangular input
    {2, 3, 5, 7, 4, 3, 2, {2, 1}, {1, 2}},  // rectangular kernel, stride and padding
    {1, 1, 4, 4, 1, 4, 4, 1, 0},            // kernel == input: one output
    {3, 2, 7, 6, 2, 3, 3, 2, 1},            // the common stride 2, pad 1
    {1, 2, 5, 5, 3, 1, 1, 1, 0},            // 1x1 convolution
    {2, 2, 6, 5, 3, 5, 5, 3, 2},            // big kernel, stride 3, pad 2
    {1, 1, 7, 7, 2, 2, 2, 3, 0},            // stride larger than the kernel: skipped pixels
    {1, 2, 2, 3, 2, 3, 3, 1, 1},            // kernel larger than the input, fits with padding
    {2, 1, 3, 4, 1, 4, 5, 2, {1, 1}},       // padding-only rows at the edges
    // stride 1 with the output as wide as the input: im2col's shifted-plane shortcut
    {2, 3, 6, 5, 4, 3, 3, 1, 1},       // the common 3x3 "same" layer, odd sizes
    {2, 2, 5, 6, 3, 3, 5, 1, {1, 2}},  // rectangular "same" kernel
    {1, 2, 7, 5, 2, 5, 3, 1, {0, 1}},  // as wide as the input but shorter
    {1, 2, 4, 4, 2, 1, 1, 1, {1, 0}},  // rows of padding only, above and below
};

std::string describe(const ConvCase& k) {
  return fmt::format("x [{},{},{},{}] w [{},{},{},{}] stride [{},{}] padding [{},{}]", k.n, k.c, k.h, k.w, k.f, k.c,
                     k.kh, k.kw, k.stride.h, k.stride.w, k.padding.h, k.padding.w);
}

}  // namespace

TEST_CASE("conv2d: forward equals the nested-loop definition (f64 and f32)") {
  xg::manual_seed(1);
  for (const ConvCase& k : conv_cases) {
    CAPTURE(describe(k));
    const xg::Tensor x = randn64({k.n, k.c, k.h, k.w}, false), w = randn64({k.f, k.c, k.kh, k.kw}, false),
                     b = randn64({k.f}, false);
    for (bool with_bias : {true, false}) {
      const xg::Tensor y = xg::conv2d(x, w, with_bias ? b : xg::Tensor(), k.stride, k.padding);
      const auto expected =
          conv_reference(x.value<double>(), w.value<double>(), with_bias ? &b.value<double>() : nullptr, k.stride.h,
                         k.stride.w, k.padding.h, k.padding.w);
      REQUIRE(y.shape() == xg::Shape(expected.shape().begin(), expected.shape().end()));
      CHECK(xt::amax(xt::abs(y.value<double>() - expected))() < 1e-12);

      const xg::Tensor y32 =
          xg::conv2d(x.to(xg::f32), w.to(xg::f32), with_bias ? b.to(xg::f32) : xg::Tensor(), k.stride, k.padding);
      CHECK(y32.dtype() == xg::f32);
      CHECK(xt::amax(xt::abs(xt::cast<double>(y32.value<float>()) - expected))() < 1e-4);
    }
  }
}

TEST_CASE("conv2d: output shape and the default stride 1, padding 0") {
  const xg::Tensor x = xg::zeros({2, 3, 8, 6}), w = xg::zeros({5, 3, 3, 3});
  CHECK(xg::conv2d(x, w).shape() == xg::Shape{2, 5, 6, 4});
  CHECK(xg::conv2d(x, w, {}, 2, 1).shape() == xg::Shape{2, 5, 4, 3});
  CHECK(xg::conv2d(x, w, {}, {2, 1}, {0, 1}).shape() == xg::Shape{2, 5, 3, 6});
  CHECK(xg::conv2d(x, w, {}, std::pair{1, 2}).shape() == xg::Shape{2, 5, 6, 2});
}

TEST_CASE("conv2d: gradcheck in f64 across strides, paddings, odd and rectangular sizes") {
  xg::manual_seed(2);
  for (const ConvCase& k : conv_cases) {
    CAPTURE(describe(k));
    for (bool with_bias : {true, false}) {
      std::vector<xg::Tensor> in{randn64({k.n, k.c, k.h, k.w}), randn64({k.f, k.c, k.kh, k.kw})};
      if (with_bias) in.push_back(randn64({k.f}));
      auto report = xg::gradcheck(
          [&](const std::vector<xg::Tensor>& t) {
            return xg::conv2d(t[0], t[1], t.size() > 2 ? t[2] : xg::Tensor(), k.stride, k.padding);
          },
          in, kLinear);
      CAPTURE(xg::to_string(report));
      CHECK(report.ok);
      CHECK(report.max_rel_error < 1e-7);
      CHECK(report.kinks.empty());
    }
  }
}

TEST_CASE("conv2d: backward when only x or only w needs a gradient") {
  xg::manual_seed(3);
  const xg::Tensor x0 = randn64({2, 3, 6, 5}, false), w0 = randn64({4, 3, 3, 3}, false);
  const xg::Tensor r = randn64({2, 4, 3, 3}, false);
  // reference gradients with both requiring grad
  xg::Tensor xa = x0.detach().requires_grad_(), wa = w0.detach().requires_grad_();
  xg::sum(xg::conv2d(xa, wa, {}, 2, 1) * r).backward();

  xg::Tensor xb = x0.detach().requires_grad_();
  xg::sum(xg::conv2d(xb, w0, {}, 2, 1) * r).backward();
  CHECK(xt::amax(xt::abs(xb.grad().value<double>() - xa.grad().value<double>()))() < 1e-13);

  xg::Tensor wb = w0.detach().requires_grad_();
  xg::sum(xg::conv2d(x0, wb, {}, 2, 1) * r).backward();
  CHECK(xt::amax(xt::abs(wb.grad().value<double>() - wa.grad().value<double>()))() < 1e-13);

  // w marked after the forward: the columns were not kept and are rebuilt
  xg::Tensor xc = x0.detach().requires_grad_(), wc = w0.detach();
  xg::Tensor y = xg::conv2d(xc, wc, {}, 2, 1);
  wc.requires_grad_();
  xg::sum(y * r).backward();
  CHECK(xt::amax(xt::abs(wc.grad().value<double>() - wa.grad().value<double>()))() < 1e-13);
}

TEST_CASE("conv2d: 1 and 2 threads give the same values and gradients, im2col and Winograd") {
  xg::manual_seed(5);
  const xg::Tensor x0 = randn64({7, 16, 12, 11}, false), w0 = randn64({32, 16, 3, 3}, false), b0 = randn64({32}, false);
  const xg::Tensor r = randn64({7, 32, 12, 11}, false);
  const auto expected = conv_reference(x0.value<double>(), w0.value<double>(), &b0.value<double>(), 1, 1, 1, 1);
  const int threads_before = xg::num_threads();
  for (xg::ConvAlgorithm algorithm :
       {xg::ConvAlgorithm::im2col, xg::ConvAlgorithm::winograd_2x2, xg::ConvAlgorithm::winograd_4x4}) {
    xg::set_conv_algorithm(algorithm);
    std::vector<xt::xarray<double>> results[2];
    for (int threads : {1, 2}) {
      xg::set_num_threads(threads);
      CHECK(xg::num_threads() == threads);
      xg::Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(), b = b0.detach().requires_grad_();
      const xg::Tensor y = xg::conv2d(x, w, b, 1, 1);
      xg::sum(y * r).backward();
      results[threads - 1] = {y.value<double>(), x.grad().value<double>(), w.grad().value<double>(),
                              b.grad().value<double>()};
    }
    xg::set_num_threads(threads_before);
    xg::set_conv_algorithm(xg::ConvAlgorithm::automatic);
    // y against the definition, dx, dw and db on 1 thread against 2
    CHECK(xt::amax(xt::abs(results[0][0] - expected))() < 1e-12);
    for (std::size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      CHECK(xt::amax(xt::abs(results[0][i] - results[1][i]))() < 1e-10);
    }
  }
}

namespace {
struct AlgorithmFor {  // sets the conv algorithm for one test and puts the default back
  explicit AlgorithmFor(xg::ConvAlgorithm a) { xg::set_conv_algorithm(a); }
  ~AlgorithmFor() { xg::set_conv_algorithm(xg::ConvAlgorithm::automatic); }
};
struct Grads {
  xt::xarray<double> y, dx, dw, db;
};
Grads run_conv(xg::ConvAlgorithm a, const xg::Tensor& x0, const xg::Tensor& w0, const xg::Tensor& b0,
               const xg::Tensor& r, xg::Size2 padding, xg::DType dtype) {
  AlgorithmFor use(a);
  xg::Tensor x = x0.detach().to(dtype).requires_grad_(), w = w0.detach().to(dtype).requires_grad_(),
             b = b0.detach().to(dtype).requires_grad_();
  const xg::Tensor y = xg::conv2d(x, w, b, 1, padding);
  xg::sum(y * r.to(dtype)).backward();
  auto f64 = [](const xg::Tensor& t) { return t.to(xg::f64).value<double>(); };
  return {f64(y), f64(x.grad()), f64(w.grad()), f64(b.grad())};
}
}  // namespace

const xg::ConvAlgorithm kWinograd[] = {xg::ConvAlgorithm::winograd_2x2, xg::ConvAlgorithm::winograd_4x4};

TEST_CASE("conv2d: Winograd F(2x2,3x3) and F(4x4,3x3) equal im2col + GEMM in values and every gradient") {
  xg::manual_seed(6);
  struct Case {
    std::size_t n, c, h, w, f;
    xg::Size2 padding;
  };
  // even and odd outputs (partial 2x2 tiles), padding 0, 1, 2 and mixed, one channel, many channels
  const Case cases[] = {{2, 3, 6, 6, 4, 1},     {2, 3, 7, 5, 4, 1},      {1, 2, 5, 8, 3, 0},
                        {2, 1, 4, 4, 2, 2},     {3, 2, 9, 6, 5, {0, 2}}, {1, 4, 3, 3, 2, {2, 1}},
                        {2, 16, 14, 14, 32, 1}, {1, 1, 28, 28, 16, 1}};
  for (const Case& k : cases) {
    CAPTURE(describe({k.n, k.c, k.h, k.w, k.f, 3, 3, 1, k.padding}));
    const std::size_t oh = k.h + 2 * std::size_t(k.padding.h) - 2, ow = k.w + 2 * std::size_t(k.padding.w) - 2;
    const xg::Tensor x = randn64({k.n, k.c, k.h, k.w}, false), w = randn64({k.f, k.c, 3, 3}, false),
                     b = randn64({k.f}, false), r = randn64({k.n, k.f, oh, ow}, false);
    for (xg::ConvAlgorithm algorithm : kWinograd)
      for (xg::DType dtype : {xg::f64, xg::f32}) {
        CAPTURE(int(algorithm));
        CAPTURE(int(dtype));
        const double tol = dtype == xg::f64 ? 1e-12 : 2e-4;
        const Grads ref = run_conv(xg::ConvAlgorithm::im2col, x, w, b, r, k.padding, dtype);
        const Grads win = run_conv(algorithm, x, w, b, r, k.padding, dtype);
        for (auto [a, c] : {std::pair{&ref.y, &win.y}, std::pair{&ref.dx, &win.dx}, std::pair{&ref.dw, &win.dw},
                            std::pair{&ref.db, &win.db}}) {
          REQUIRE(a->shape() == c->shape());
          CHECK(xt::amax(xt::abs(*a - *c))() <= tol * (1.0 + xt::amax(xt::abs(*a))()));
        }
      }
  }
}

TEST_CASE("conv2d: Winograd backward when only x, only w, or w after the forward needs a gradient") {
  for (xg::ConvAlgorithm algorithm : kWinograd) {
    CAPTURE(int(algorithm));
    AlgorithmFor use(algorithm);
    xg::manual_seed(8);
    const xg::Tensor x0 = randn64({3, 4, 7, 6}, false), w0 = randn64({5, 4, 3, 3}, false),
                     r = randn64({3, 5, 7, 6}, false);
    xg::Tensor xa = x0.detach().requires_grad_(), wa = w0.detach().requires_grad_();
    xg::sum(xg::conv2d(xa, wa, {}, 1, 1) * r).backward();

    xg::Tensor xb = x0.detach().requires_grad_();  // w constant: no transformed input kept
    xg::sum(xg::conv2d(xb, w0, {}, 1, 1) * r).backward();
    CHECK(xt::amax(xt::abs(xb.grad().value<double>() - xa.grad().value<double>()))() < 1e-13);

    xg::Tensor wb = w0.detach().requires_grad_();  // x constant: dw only
    xg::sum(xg::conv2d(x0, wb, {}, 1, 1) * r).backward();
    CHECK(xt::amax(xt::abs(wb.grad().value<double>() - wa.grad().value<double>()))() < 1e-13);

    xg::Tensor xc = x0.detach().requires_grad_(), wc = w0.detach();  // w marked after the forward: x transformed again
    xg::Tensor y = xg::conv2d(xc, wc, {}, 1, 1);
    wc.requires_grad_();
    xg::sum(y * r).backward();
    CHECK(xt::amax(xt::abs(wc.grad().value<double>() - wa.grad().value<double>()))() < 1e-13);
  }
}

TEST_CASE("conv2d: gradcheck in f64 through the Winograd path") {
  for (xg::ConvAlgorithm algorithm : kWinograd) {
    CAPTURE(int(algorithm));
    AlgorithmFor use(algorithm);
    xg::manual_seed(7);
    for (xg::Size2 padding : {xg::Size2(0), xg::Size2(1), xg::Size2(2), xg::Size2{1, 0}}) {
      CAPTURE(padding.h);
      CAPTURE(padding.w);
      std::vector<xg::Tensor> in{randn64({2, 2, 5, 6}), randn64({3, 2, 3, 3}), randn64({3})};
      auto report =
          xg::gradcheck([&](const std::vector<xg::Tensor>& t) { return xg::conv2d(t[0], t[1], t[2], 1, padding); }, in,
                        kLinear);
      CAPTURE(xg::to_string(report));
      CHECK(report.ok);
      CHECK(report.max_rel_error < 1e-7);
    }
  }
}

TEST_CASE("conv2d: the automatic choice follows the documented rule") {
  // The three algorithms round differently in f32, so the automatic result equals exactly one of them.
  xg::manual_seed(9);
  struct Case {
    std::size_t c, hw;
    xg::ConvAlgorithm expected;
  };
  // With xgrad's AVX-512 GEMMs (on a CPU that runs them) Winograd starts at 4 channels and 4x4 outputs,
  // with OpenBLAS's at 8 channels and 12x12.
  const bool wide = xgrad::detail::avx512::enabled();
  const auto im2col_unless_wide = [&](xg::ConvAlgorithm a) { return wide ? a : xg::ConvAlgorithm::im2col; };
  const Case cases[] = {{8, 16, xg::ConvAlgorithm::winograd_4x4},
                        {16, 28, xg::ConvAlgorithm::winograd_4x4},
                        {8, 14, xg::ConvAlgorithm::winograd_2x2},
                        {16, 12, xg::ConvAlgorithm::winograd_2x2},
                        {4, 28, im2col_unless_wide(xg::ConvAlgorithm::winograd_4x4)},
                        {16, 11, im2col_unless_wide(xg::ConvAlgorithm::winograd_2x2)},
                        {8, 4, im2col_unless_wide(xg::ConvAlgorithm::winograd_2x2)},
                        {3, 28, xg::ConvAlgorithm::im2col},
                        {16, 3, xg::ConvAlgorithm::im2col}};
  for (const Case& k : cases) {
    CAPTURE(k.c);
    CAPTURE(k.hw);
    const xg::Tensor x = xg::randn({2, k.c, k.hw, k.hw}), w = xg::randn({4, k.c, 3, 3});
    auto run = [&](xg::ConvAlgorithm a) {
      AlgorithmFor use(a);
      return xg::conv2d(x, w, {}, 1, 1).value<float>();
    };
    const xt::xarray<float> chosen = run(xg::ConvAlgorithm::automatic);
    for (xg::ConvAlgorithm a :
         {xg::ConvAlgorithm::im2col, xg::ConvAlgorithm::winograd_2x2, xg::ConvAlgorithm::winograd_4x4}) {
      CAPTURE(int(a));
      CHECK((chosen == run(a)) == (a == k.expected));
    }
  }
}

TEST_CASE("conv2d: the algorithm can be chosen, and Winograd refuses layers it does not fit") {
  CHECK(xg::conv_algorithm() == xg::ConvAlgorithm::automatic);
  AlgorithmFor use(xg::ConvAlgorithm::winograd);
  const xg::Tensor x = xg::zeros({1, 2, 8, 8}), w5 = xg::zeros({3, 2, 5, 5}), w3 = xg::zeros({3, 2, 3, 3});
  CHECK(xg::conv2d(x, w3, {}, 1, 1).shape() == xg::Shape{1, 3, 8, 8});
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w3, {}, 2, 1),
                       "conv2d: the Winograd algorithm (set_conv_algorithm) needs a 3x3 kernel, stride 1 and padding "
                       "at most 2; this layer has kernel [3,3], stride [2,2], padding [1,1]",
                       xg::Error);
  CHECK_THROWS_AS(xg::conv2d(x, w5, {}, 1, 2), xg::Error);
  CHECK_THROWS_AS(xg::conv2d(x, w3, {}, 1, 3), xg::Error);
}

TEST_CASE("conv2d: f32 gradients match f64") {
  xg::manual_seed(4);
  const xg::Tensor x = randn64({2, 3, 7, 6}), w = randn64({4, 3, 3, 2}), b = randn64({4});
  xg::sum(xg::tanh(xg::conv2d(x, w, b, {2, 1}, 1))).backward();
  xg::Tensor x32 = x.detach().to(xg::f32).requires_grad_(), w32 = w.detach().to(xg::f32).requires_grad_(),
             b32 = b.detach().to(xg::f32).requires_grad_();
  xg::sum(xg::tanh(xg::conv2d(x32, w32, b32, {2, 1}, 1))).backward();
  for (auto [a, c] : {std::pair{x, x32}, std::pair{w, w32}, std::pair{b, b32}})
    CHECK(xt::amax(xt::abs(xt::cast<double>(c.grad().value<float>()) - a.grad().value<double>()))() < 1e-4);
}

TEST_CASE("conv2d: bad input is a clear error") {
  const xg::Tensor x = xg::zeros({2, 3, 5, 5}), w = xg::zeros({4, 3, 3, 3});
  CHECK_THROWS_WITH_AS(xg::conv2d(x, xg::zeros({4, 2, 3, 3})),
                       doctest::Contains("conv2d: input [2,3,5,5] has 3 channels but weight [4,2,3,3] expects 2"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, xg::zeros({4, 3, 6, 3})),
                       doctest::Contains(
                           "conv2d: kernel [6,3] of weight [4,3,6,3] is larger than the padded input [5,5]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, xg::zeros({4, 3, 8, 3}), {}, 1, 1),
                       doctest::Contains("larger than the padded input [7,7] (input [2,3,5,5], padding [1,1])"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(xg::zeros({3, 5, 5}), w), doctest::Contains("conv2d: input [3,5,5] is not 4-D"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, xg::zeros({4, 3, 3})), doctest::Contains("conv2d: weight [4,3,3] is not 4-D"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w, xg::zeros({3})),
                       doctest::Contains("conv2d: bias [3] does not match weight [4,3,3,3]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, xg::zeros({4, 3, 3, 3}, xg::f64)),
                       doctest::Contains("conv2d: input [2,3,5,5] is f32 but weight [4,3,3,3] is f64"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w, {}, 0), doctest::Contains("conv2d: stride [0,0] must be at least 1"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w, {}, 1, {0, -1}),
                       doctest::Contains("conv2d: padding [0,-1] must not be negative"), xg::Error);
}

// --- pooling --------------------------------------------------------------------------------------

namespace {
xt::xarray<double> pool_reference(const xt::xarray<double>& x, std::size_t kh, std::size_t kw, std::size_t sh,
                                  std::size_t sw, bool take_max) {
  const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::size_t OH = (H - kh) / sh + 1, OW = (W - kw) / sw + 1;
  xt::xarray<double> y = xt::zeros<double>({N, C, OH, OW});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t i = 0; i < OH; ++i)
        for (std::size_t j = 0; j < OW; ++j) {
          double m = -1e300, s = 0;
          for (std::size_t p = 0; p < kh; ++p)
            for (std::size_t q = 0; q < kw; ++q) {
              m = std::max(m, x(n, c, i * sh + p, j * sw + q));
              s += x(n, c, i * sh + p, j * sw + q);
            }
          y(n, c, i, j) = take_max ? m : s / double(kh * kw);
        }
  return y;
}

struct PoolCase {
  std::size_t n, c, h, w;
  xg::Size2 kernel, stride;
};
const PoolCase pool_cases[] = {
    {2, 3, 4, 6, 2, 2},            // the usual 2x2 / 2
    {2, 2, 7, 7, 3, 2},            // overlapping 3 / 2 (AlexNet), odd size
    {1, 2, 5, 8, {2, 3}, {1, 2}},  // rectangular kernel and stride
    {1, 1, 5, 5, 2, 3},            // stride larger than the kernel
    {2, 1, 3, 4, {3, 4}, 1},       // kernel == input
    {1, 3, 6, 5, 1, 1},            // 1x1: the identity
};
std::string describe(const PoolCase& k) {
  return fmt::format("x [{},{},{},{}] kernel [{},{}] stride [{},{}]", k.n, k.c, k.h, k.w, k.kernel.h, k.kernel.w,
                     k.stride.h, k.stride.w);
}
}  // namespace

TEST_CASE("max_pool2d and avg_pool2d: forward equals the definition") {
  xg::manual_seed(5);
  for (const PoolCase& k : pool_cases) {
    CAPTURE(describe(k));
    const xg::Tensor x = randn64({k.n, k.c, k.h, k.w}, false);
    for (bool take_max : {true, false}) {
      const xg::Tensor y = take_max ? xg::max_pool2d(x, k.kernel, k.stride) : xg::avg_pool2d(x, k.kernel, k.stride);
      const auto expected = pool_reference(x.value<double>(), k.kernel.h, k.kernel.w, k.stride.h, k.stride.w, take_max);
      REQUIRE(y.shape() == xg::Shape(expected.shape().begin(), expected.shape().end()));
      CHECK(xt::amax(xt::abs(y.value<double>() - expected))() < 1e-14);
      const xg::Tensor y32 = take_max ? xg::max_pool2d(x.to(xg::f32), k.kernel, k.stride)
                                      : xg::avg_pool2d(x.to(xg::f32), k.kernel, k.stride);
      CHECK(xt::amax(xt::abs(xt::cast<double>(y32.value<float>()) - expected))() < 1e-5);
    }
  }
  // stride defaults to the kernel
  const xg::Tensor x = randn64({1, 2, 6, 4}, false);
  CHECK(xg::max_pool2d(x, 2).value<double>() == xg::max_pool2d(x, 2, 2).value<double>());
  CHECK(xg::avg_pool2d(x, {3, 2}).value<double>() == xg::avg_pool2d(x, {3, 2}, {3, 2}).value<double>());
}

TEST_CASE("max_pool2d and avg_pool2d: gradcheck in f64") {
  std::uint64_t seed = 10;
  for (const PoolCase& k : pool_cases) {
    CAPTURE(describe(k));
    for (bool take_max : {true, false}) {
      auto report = xg::gradcheck(
          [&](const std::vector<xg::Tensor>& t) {
            return take_max ? xg::max_pool2d(t[0], k.kernel, k.stride) : xg::avg_pool2d(t[0], k.kernel, k.stride);
          },
          {distinct64({k.n, k.c, k.h, k.w}, ++seed)}, kLinear);
      CAPTURE(xg::to_string(report));
      CHECK(report.ok);
      CHECK(report.max_rel_error < 1e-7);
      CHECK(report.kinks.empty());  // distinct values: no switch changes under +-h
    }
  }
}

TEST_CASE("max_pool2d: the switches route the gradient and overlapping windows add up") {
  // one 3x3 plane, kernel 2, stride 1: four overlapping windows, and the center (9) wins all four
  xg::Tensor x = xg::Tensor(xt::xarray<double>{{{{1, 2, 3}, {4, 9, 5}, {6, 7, 8}}}}).requires_grad_();
  xg::Tensor y = xg::max_pool2d(x, 2, 1);
  CHECK(y.value<double>() == xt::xarray<double>{{{{9, 9}, {9, 9}}}});
  xg::sum(y).backward();
  CHECK(x.grad().value<double>() == xt::xarray<double>{{{{0, 0, 0}, {0, 4, 0}, {0, 0, 0}}}});

  // 3/2 overlapping pooling on 5x5: the shared row/column elements can collect from two windows
  xg::Tensor z =
      xg::Tensor(
          xt::xarray<double>{{{{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 7, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}}})
          .requires_grad_();
  xg::Tensor yz = xg::max_pool2d(z, 3, 2);
  CHECK(yz.value<double>() == xt::xarray<double>{{{{7, 7}, {7, 7}}}});
  xg::sum(yz * xg::Tensor(xt::xarray<double>{{{{1, 2}, {3, 4}}}})).backward();
  CHECK(z.grad().value<double>()(0, 0, 2, 2) == 10.0);
}

TEST_CASE("max_pool2d: ties go to the first maximum in row-major window order") {
  // all four equal: the top-left element gets the gradient
  xg::Tensor a = xg::Tensor(xt::xarray<double>{{{{5, 5}, {5, 5}}}}).requires_grad_();
  xg::sum(xg::max_pool2d(a, 2)).backward();
  CHECK(a.grad().value<double>() == xt::xarray<double>{{{{1, 0}, {0, 0}}}});
  // tie between (0,1) and (1,0): (0,1) comes first in row-major order
  xg::Tensor b = xg::Tensor(xt::xarray<double>{{{{1, 3}, {3, 2}}}}).requires_grad_();
  xg::sum(xg::max_pool2d(b, 2)).backward();
  CHECK(b.grad().value<double>() == xt::xarray<double>{{{{0, 1}, {0, 0}}}});
  // tie in the bottom row of a 2x2/2 window of a wider, odd plane (the last column is not pooled)
  xg::Tensor d = xg::Tensor(xt::xarray<double>{{{{1, 2, 9, 0, 7}, {4, 4, 9, 9, 7}}}}).requires_grad_();
  xg::sum(xg::max_pool2d(d, 2)).backward();
  CHECK(d.grad().value<double>() == xt::xarray<double>{{{{0, 0, 1, 0, 0}, {1, 0, 0, 0, 0}}}});
  // same in f32
  xg::Tensor c = xg::Tensor(xt::xarray<float>{{{{2, 1, 2}, {2, 0, 2}}}}).requires_grad_();
  xg::sum(xg::max_pool2d(c, {2, 3})).backward();
  CHECK(c.grad().value<float>() == xt::xarray<float>{{{{1, 0, 0}, {0, 0, 0}}}});
}

TEST_CASE("max_pool2d 2x2/2 (the vectorized path) routes ties like a scan in row-major window order") {
  // Values from {0, 1, 2}, as after a ReLU: most windows hold ties. The reference scans each window
  // with a strict '>' and gives the gradient to the first maximum.
  for (const xg::DType dtype : {xg::f32, xg::f64}) {
    CAPTURE(xg::dtype_name(dtype));
    const std::size_t N = 3, C = 4, H = 6, W = 9;  // odd W: the last column is not pooled
    xg::Tensor x = xg::Tensor(xt::floor(xt::random::rand<double>({N, C, H, W}, 0.0, 3.0))).to(dtype).requires_grad_();
    xg::Tensor y = xg::max_pool2d(x, 2);
    xg::Tensor dy = xg::randn(y.shape(), dtype);
    y.backward(dy);
    const auto xv = x.to(xg::f64).value<double>(), yv = y.to(xg::f64).value<double>();
    const auto dyv = dy.to(xg::f64).value<double>(), dxv = x.grad().to(xg::f64).value<double>();
    xt::xarray<double> want_dx = xt::zeros<double>(xv.shape());
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < H / 2; ++i)
          for (std::size_t j = 0; j < W / 2; ++j) {
            std::size_t bi = 2 * i, bj = 2 * j;
            for (std::size_t u = 0; u < 2; ++u)
              for (std::size_t v = 0; v < 2; ++v)
                if (xv(n, c, 2 * i + u, 2 * j + v) > xv(n, c, bi, bj)) bi = 2 * i + u, bj = 2 * j + v;
            CHECK(yv(n, c, i, j) == xv(n, c, bi, bj));
            want_dx(n, c, bi, bj) += dyv(n, c, i, j);
          }
    CHECK(dxv == want_dx);
  }
}

TEST_CASE("max_pool2d: gradcheck reports a tie as a kink crossing, not as a failure") {
  // the window holds 2.0 twice: moving the second one by +h makes it the switch
  xg::Tensor x = xg::Tensor(xt::xarray<double>{{{{2, 0.5}, {2, -1}}}}).requires_grad_();
  auto report = xg::gradcheck([](const std::vector<xg::Tensor>& t) { return xg::max_pool2d(t[0], 2); }, {x});
  CAPTURE(xg::to_string(report));
  CHECK(report.ok);
  REQUIRE(report.kinks.size() >= 1);
  bool second_tied = false;
  for (const auto& k : report.kinks) second_tied |= k.index == xg::Shape{0, 0, 1, 0};
  CHECK(second_tied);
}

TEST_CASE("avg_pool2d: gradient is dy / window size, summed over overlapping windows") {
  xg::Tensor x = xg::ones({1, 1, 3, 3}, xg::f64).requires_grad_();
  xg::sum(xg::avg_pool2d(x, 2, 1)).backward();
  CHECK(x.grad().value<double>() == xt::xarray<double>{{{{0.25, 0.5, 0.25}, {0.5, 1.0, 0.5}, {0.25, 0.5, 0.25}}}});
}

TEST_CASE("pooling: bad input is a clear error") {
  const xg::Tensor x = xg::zeros({2, 3, 4, 5});
  CHECK_THROWS_WITH_AS(xg::max_pool2d(x, 6),
                       doctest::Contains("max_pool2d: kernel [6,6] is larger than the input [2,3,4,5]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::avg_pool2d(x, {2, 6}, 1),
                       doctest::Contains("avg_pool2d: kernel [2,6] is larger than the input [2,3,4,5]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::max_pool2d(xg::zeros({3, 4, 5}), 2),
                       doctest::Contains("max_pool2d: input [3,4,5] is not 4-D"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::max_pool2d(x, 2, 0), doctest::Contains("max_pool2d: stride [0,0] must be at least 1"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::avg_pool2d(x, 0), doctest::Contains("avg_pool2d: kernel [0,0] must be at least 1"),
                       xg::Error);
}

TEST_CASE("a small ConvNet: conv -> relu -> max_pool -> conv -> avg_pool -> linear -> cross_entropy, gradcheck") {
  xg::manual_seed(6);
  std::vector<xg::Tensor> in{randn64({2, 2, 9, 8}), randn64({3, 2, 3, 3}), randn64({3}),
                             randn64({4, 3, 2, 2}), randn64({4}),          randn64({4, 3})};
  const std::vector<std::int64_t> labels{2, 0};
  auto net = [&](const std::vector<xg::Tensor>& t) {
    xg::Tensor h = xg::relu(xg::conv2d(t[0], t[1], t[2], 1, 1));  // [2,3,9,8]
    h = xg::max_pool2d(h, 3, 2);                                  // [2,3,4,3]
    h = xg::conv2d(h, t[3], t[4], {1, 1}, {0, 1});                // [2,4,3,4]
    h = xg::avg_pool2d(h, {3, 4});                                // [2,4,1,1]
    return xg::cross_entropy(xg::matmul(xg::flatten(h), t[5]), labels);
  };
  // h = 1e-5, not the default 1e-6: at 1e-6 the rounding noise of f(x +- h), divided by 2h, is about 1e-9
  // here (the im2col forward gave a worst relative error of 7.5e-7, Winograd's transforms 2.1e-6, with the
  // same analytic gradient); at 1e-5 both give 7.7e-8 and the truncation error is still ~1e-10.
  auto report = xg::gradcheck(net, in, {.h = 1e-5, .tolerance = 1e-6});
  CAPTURE(xg::to_string(report));
  CHECK(report.ok);
}
