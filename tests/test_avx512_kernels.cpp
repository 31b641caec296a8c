// xgrad's AVX-512 kernels. The f32 GEMMs (ops/gemm_avx512.cpp) against a sum in double, on shapes that
// cover every edge of their register blocks (rows kernel 8 x 48, dots kernel 4 x 4, k blocks of 256
// and 1024), all three operand forms they take, accumulation and padded leading dimensions; and
// detail::gemm with the kernels on and off agreeing. The direct conv2d route
// (ops/conv_direct_avx512.cpp) against im2col. On a CPU without AVX-512 the kernels never run and
// the first case only checks that they report so.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include <xgrad/ops/blas.hpp>
#include <xgrad/ops/conv_direct_avx512.hpp>
#include <xgrad/ops/gemm_avx512.hpp>

namespace {

namespace avx512 = xgrad::detail::avx512;
using xgrad::detail::GemmShape;

bool cpu_runs_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

struct Operands {
  std::size_t lda, ldb, ldc;
  std::vector<float> a, b, c;
};

// op(A) [m,k], op(B) [k,n], C [m,n] stored with `pad` spare values at the end of every row.
Operands make(const GemmShape& s, std::size_t pad) {
  Operands o;
  o.lda = (s.ta ? s.m : s.k) + pad;
  o.ldb = (s.tb ? s.k : s.n) + pad;
  o.ldc = s.n + pad;
  o.a.resize((s.ta ? s.k : s.m) * o.lda);
  o.b.resize((s.tb ? s.n : s.k) * o.ldb);
  o.c.resize(s.m * o.ldc);
  for (std::size_t i = 0; i < o.a.size(); ++i) o.a[i] = float((i * 37) % 23) / 11.f - 1.f;
  for (std::size_t i = 0; i < o.b.size(); ++i) o.b[i] = float((i * 53) % 29) / 13.f - 1.f;
  for (std::size_t i = 0; i < o.c.size(); ++i) o.c[i] = float((i * 17) % 7) - 3.f;
  return o;
}

double a_at(const GemmShape& s, const Operands& o, std::size_t i, std::size_t p) {
  return s.ta ? o.a[p * o.lda + i] : o.a[i * o.lda + p];
}
double b_at(const GemmShape& s, const Operands& o, std::size_t p, std::size_t j) {
  return s.tb ? o.b[j * o.ldb + p] : o.b[p * o.ldb + j];
}

// The largest error of C against the sum in double, relative to the sum of |terms| of each entry
// (the scale f32 rounding works at); the spare values of C must be untouched.
double check(const GemmShape& s, const Operands& before, const Operands& after, bool accumulate) {
  double worst = 0;
  for (std::size_t i = 0; i < s.m; ++i) {
    for (std::size_t j = 0; j < s.n; ++j) {
      double want = accumulate ? before.c[i * before.ldc + j] : 0.0, scale = std::abs(want) + 1e-30;
      for (std::size_t p = 0; p < s.k; ++p) {
        const double term = a_at(s, before, i, p) * b_at(s, before, p, j);
        want += term;
        scale += std::abs(term);
      }
      worst = std::max(worst, std::abs(double(after.c[i * after.ldc + j]) - want) / scale);
    }
    for (std::size_t j = s.n; j < before.ldc; ++j) REQUIRE(after.c[i * after.ldc + j] == before.c[i * before.ldc + j]);
  }
  return worst;
}

}  // namespace

TEST_CASE("avx512 gemm: the kernels run exactly where the CPU runs AVX-512, and can be switched off") {
  CHECK(avx512::enabled() == cpu_runs_avx512());
  avx512::set_enabled(false);
  CHECK_FALSE(avx512::enabled());
  avx512::set_enabled(true);
  CHECK(avx512::enabled() == cpu_runs_avx512());
  CHECK(avx512::handles({false, false, 2, 3, 4}));
  CHECK(avx512::handles({true, false, 2, 3, 4}));
  CHECK(avx512::handles({false, true, 2, 3, 4}));
  CHECK_FALSE(avx512::handles({true, true, 2, 3, 4}));
}

TEST_CASE("avx512 gemm: every block edge, operand form, accumulation and leading dimension, against double") {
  if (!avx512::enabled()) {
    MESSAGE("this CPU does not run AVX-512: the kernels are not used here");
    return;
  }
  // m around the 8-row and 4-row blocks, n around 16, 48 and 4, k around 16, 256 and 1024
  const std::vector<std::size_t> ms = {1, 3, 4, 7, 8, 9, 17, 33}, ns = {1, 5, 15, 16, 17, 47, 48, 49, 100},
                                 ks = {1, 15, 16, 17, 255, 256, 257, 1030};
  int cases = 0;
  double worst = 0;
  for (const int form : {0, 1, 2})  // A B, A^T B, A B^T
    for (const std::size_t m : ms)
      for (const std::size_t n : ns)
        for (const std::size_t k : ks) {
          const GemmShape s{form == 1, form == 2, m, n, k};
          const bool accumulate = (m + n + k) % 2 == 1;
          const std::size_t pad = (m * n) % 3;
          const Operands before = make(s, pad);
          Operands after = before;
          avx512::sgemm(s, after.a.data(), after.lda, after.b.data(), after.ldb, after.c.data(), after.ldc, accumulate);
          const double err = check(s, before, after, accumulate);
          INFO("form ", form, " m ", m, " n ", n, " k ", k, " accumulate ", accumulate, " pad ", pad);
          CHECK(err < 1e-5);
          worst = std::max(worst, err);
          ++cases;
        }
  MESSAGE(cases, " GEMMs, worst error ", worst, " of the sum of |terms|");
}

TEST_CASE("avx512 gemm: detail::gemm with the kernels on and off agrees on the ConvNet's and an MLP's GEMMs") {
  if (!avx512::enabled()) return;
  // Winograd F(2x2,3x3) of 16 -> 32 channels (forward, dx, dw), the 1-channel im2col layer, fc1 (fwd, dx, dw)
  const std::vector<GemmShape> shapes = {{false, false, 32, 224, 16},   {true, false, 16, 224, 32},
                                         {false, true, 32, 16, 224},    {false, false, 16, 784, 9},
                                         {false, true, 9, 16, 784},     {false, true, 64, 128, 1568},
                                         {false, false, 64, 1568, 128}, {true, false, 128, 1568, 64}};
  for (const GemmShape& s : shapes) {
    const Operands o = make(s, 0);
    std::vector<float> on(o.c.size()), off(o.c.size());
    xgrad::detail::gemm(s, o.a.data(), o.lda, o.b.data(), o.ldb, on.data(), o.ldc);
    avx512::set_enabled(false);
    xgrad::detail::gemm(s, o.a.data(), o.lda, o.b.data(), o.ldb, off.data(), o.ldc);
    avx512::set_enabled(true);
    double worst = 0, scale = 1;
    for (std::size_t i = 0; i < on.size(); ++i) {
      worst = std::max(worst, double(std::abs(on[i] - off[i])));
      scale = std::max(scale, double(std::abs(off[i])));
    }
    INFO("[", s.m, ",", s.k, "] x [", s.k, ",", s.n, "] ta ", s.ta, " tb ", s.tb);
    CHECK(worst <= 1e-5 * scale * std::sqrt(double(s.k)));
  }
}

#include <xgrad/xgrad.hpp>

namespace {

xg::Tensor values(const xg::Shape& shape, unsigned seed) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = double(((unsigned(i) + seed) * 2654435761u >> 9) % 2001) / 1000.0 - 1.0;
  return xg::reshape(xg::tensor(v, xg::f32), shape);
}

struct ConvRun {
  std::vector<double> y, dx, dw, db;
};

// conv2d 3x3 / stride 1 / padding 1 forward and backward (loss: sum of y times fixed weights)
ConvRun conv(const xg::Tensor& x0, const xg::Tensor& w0, const xg::Tensor& b0, bool x_grad, bool wide) {
  avx512::set_enabled(wide);
  xg::Tensor x = x_grad ? x0.detach().requires_grad_() : x0.detach();
  xg::Tensor w = w0.detach().requires_grad_();
  xg::Tensor b = b0.defined() ? b0.detach().requires_grad_() : xg::Tensor();
  xg::Tensor y = xg::conv2d(x, w, b, 1, 1);
  xg::sum(y * values(y.shape(), 7)).backward();
  avx512::set_enabled(true);
  ConvRun r{y.to_vector(), {}, w.grad().to_vector(), {}};
  if (x_grad) r.dx = x.grad().to_vector();
  if (b.defined()) r.db = b.grad().to_vector();
  return r;
}

double worst_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

}  // namespace

TEST_CASE("avx512 direct conv2d (3x3, stride 1, padding 1, C <= 2): y, dw, db and dx agree with im2col") {
  if (!avx512::enabled()) return;
  CHECK(avx512::direct_conv_applies(1, 3, 3, 1, 1, 1, 1));
  CHECK(avx512::direct_conv_applies(2, 3, 3, 1, 1, 1, 1));
  CHECK_FALSE(avx512::direct_conv_applies(3, 3, 3, 1, 1, 1, 1));  // im2col is as fast from 3 channels on
  CHECK_FALSE(avx512::direct_conv_applies(1, 3, 3, 2, 2, 1, 1));
  CHECK_FALSE(avx512::direct_conv_applies(1, 3, 3, 1, 1, 0, 0));
  CHECK_FALSE(avx512::direct_conv_applies(1, 5, 5, 1, 1, 2, 2));
  int layers = 0;
  for (const std::size_t c : {1, 2})
    for (const std::size_t f : {1, 2, 3, 8, 9, 17})
      for (const auto& [h, w] : std::vector<std::pair<std::size_t, std::size_t>>{{1, 1},
                                                                                 {2, 5},
                                                                                 {5, 16},
                                                                                 {7, 17},
                                                                                 {28, 28},
                                                                                 {3, 32},
                                                                                 {4, 33},
                                                                                 {6, 40}}) {
        const std::size_t n = (c + f + h) % 3 + 1;  // 1 to 3 images: uneven splits over threads
        const xg::Tensor x = values({n, c, h, w}, 1), wt = values({f, c, 3, 3}, 2);
        const xg::Tensor b = f % 2 ? values({f}, 3) : xg::Tensor();
        const bool x_grad = (h + w) % 2 == 0;
        const ConvRun direct = conv(x, wt, b, x_grad, true), im2col = conv(x, wt, b, x_grad, false);
        INFO("x [", n, ",", c, ",", h, ",", w, "], ", f, " filters, bias ", b.defined(), ", dx ", x_grad);
        // each y sums at most 9 C + 1 terms of size <= 1, each dx 9 F; dw and db sum n h w terms: f32
        // rounding on both sides, a few units of 2^-24 per term at most
        const double sums = 2e-7 * double(n * h * w) + 1e-5;
        CHECK(worst_difference(direct.y, im2col.y) <= 1e-5);
        CHECK(worst_difference(direct.dw, im2col.dw) <= sums);
        CHECK(worst_difference(direct.db, im2col.db) <= sums);
        CHECK(worst_difference(direct.dx, im2col.dx) <= 1e-5);
        ++layers;
      }
  MESSAGE(layers, " layers");
}

TEST_CASE("avx512 direct conv2d: a batch of 64 Fashion-MNIST-sized images, on 1 and 2 threads") {
  if (!avx512::enabled()) return;
  const xg::Tensor x = values({64, 1, 28, 28}, 11), wt = values({16, 1, 3, 3}, 12), b = values({16}, 13);
  const ConvRun im2col = conv(x, wt, b, false, false);
  for (const int threads : {1, 2}) {
    const int before = xg::num_threads();
    xg::set_num_threads(threads);
    const ConvRun direct = conv(x, wt, b, false, true);
    xg::set_num_threads(before);
    INFO(threads, " threads");
    CHECK(worst_difference(direct.y, im2col.y) <= 1e-5);
    // dw, db: sums of 50,176 terms of size <= 1
    CHECK(worst_difference(direct.dw, im2col.dw) <= 2e-3);
    CHECK(worst_difference(direct.db, im2col.db) <= 2e-3);
  }
}
