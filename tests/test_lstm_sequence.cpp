// ops/lstm_sequence: the fused LSTM layer against finite differences (first and second order), against
// the composed per-step form (detail::lstm_sequence_composed) in values and gradients, inside nn::LSTM, and its
// error messages.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;
using doctest::Contains;

namespace {

const xg::GradcheckOptions precise{.h = 1e-5, .tolerance = 1e-6};

xg::Tensor leaf(const xg::Shape& shape) { return xg::randn(shape, xg::f64).requires_grad_(); }

struct Case {
  std::size_t T, N, I, H;
  bool reverse, bias;
};

// x, h0, c0, w_ih, w_hh and (with bias) bias, f64 leaves that require grad.
std::vector<xg::Tensor> inputs_for(const Case& c) {
  std::vector<xg::Tensor> in{leaf({c.T, c.N, c.I}), leaf({c.N, c.H}), leaf({c.N, c.H}), leaf({4 * c.H, c.I}),
                             leaf({4 * c.H, c.H})};
  if (c.bias) in.push_back(leaf({4 * c.H}));
  return in;
}
xg::Tensor fused(const std::vector<xg::Tensor>& v, bool reverse) {
  return xg::lstm_sequence(v[0], v[1], v[2], v[3], v[4], v.size() > 5 ? v[5] : xg::Tensor(), reverse);
}
xg::Tensor composed(const std::vector<xg::Tensor>& v, bool reverse) {
  return xg::detail::lstm_sequence_composed(v[0], v[1], v[2], v[3], v[4], v.size() > 5 ? v[5] : xg::Tensor(), reverse);
}

double max_abs_diff(const xg::Tensor& a, const xg::Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (std::size_t k = 0; k < va.size(); ++k) m = std::max(m, std::abs(va[k] - vb[k]));
  return m;
}

std::string name(const Case& c) {
  return fmt::format("T={} N={} I={} H={}{}{}", c.T, c.N, c.I, c.H, c.reverse ? " reverse" : "",
                     c.bias ? "" : " no bias");
}

const std::vector<Case> cases{
    {3, 2, 3, 3, false, true},  {3, 2, 3, 3, true, true},  {1, 2, 2, 5, false, true}, {1, 1, 2, 5, true, true},
    {4, 1, 2, 1, false, false}, {2, 3, 4, 5, true, false}, {5, 2, 3, 1, true, true},  {2, 2, 1, 9, false, true},
};

}  // namespace

TEST_CASE("lstm_sequence: gradcheck w.r.t. x, h0, c0, w_ih, w_hh and bias (odd sizes, reverse, T=1, N=1)") {
  for (const Case& c : cases) {
    INFO(name(c));
    const auto report =
        xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return fused(v, c.reverse); }, inputs_for(c), precise);
    INFO(fmt::format("{}", report));
    CHECK(report.ok);
    CHECK(report.checked > 0);
  }
}

TEST_CASE("lstm_sequence: second order (gradgradcheck), through the composed form") {
  for (const Case& c : {Case{2, 2, 2, 2, false, true}, Case{3, 1, 2, 3, true, false}}) {
    INFO(name(c));
    const auto report = xg::gradgradcheck([&](const std::vector<xg::Tensor>& v) { return fused(v, c.reverse); },
                                          inputs_for(c), precise);
    INFO(fmt::format("{}", report));
    CHECK(report.ok);
    CHECK(report.checked > 0);
  }
}

TEST_CASE("lstm_sequence: values and gradients equal the composed per-step form to 1e-12 (f64)") {
  for (const Case& c : cases) {
    INFO(name(c));
    const auto in = inputs_for(c);
    const xg::Tensor yf = fused(in, c.reverse), yc = composed(in, c.reverse);
    CHECK(max_abs_diff(yf, yc) < 1e-12);
    const xg::Tensor dy = xg::randn(yf.shape(), xg::f64);
    const auto gf = xg::grad({yf}, in, {dy});
    const auto gc = xg::grad({yc}, in, {dy});
    for (std::size_t k = 0; k < in.size(); ++k) {
      INFO("input ", k);
      CHECK(max_abs_diff(gf[k], gc[k]) < 1e-12);
    }
  }
}

TEST_CASE("lstm_sequence: f32 agrees with f64") {
  const Case c{6, 3, 4, 7, false, true};
  const auto in = inputs_for(c);
  std::vector<xg::Tensor> in32;
  for (const auto& t : in) in32.push_back(t.detach().to(xg::f32).requires_grad_());
  const xg::Tensor y64 = fused(in, false), y32 = fused(in32, false);
  CHECK(max_abs_diff(y32.to(xg::f64), y64) < 1e-5);
  xg::sum(y64).backward();
  xg::sum(y32).backward();
  for (std::size_t k = 0; k < in.size(); ++k) {
    INFO("input ", k);
    CHECK(max_abs_diff(in32[k].grad().to(xg::f64), in[k].grad()) < 1e-4);
  }
}

TEST_CASE("lstm_sequence: nn::LSTM (2 layers, bidirectional, batch_first) equals the composed form to 1e-12") {
  const std::size_t I = 3, H = 5, L = 2, N = 2, T = 4;
  nn::LSTM lstm(I, H, {.num_layers = L, .batch_first = true, .bidirectional = true});
  lstm.to(xg::f64);
  const xg::Tensor x = leaf({N, T, I}), h0 = leaf({L * 2, N, H}), c0 = leaf({L * 2, N, H});
  const nn::RNNOutput out = lstm.run(x, h0, c0);

  // The reference: every layer and direction composed op by op, unrolled, with the module's parameters.
  xg::Tensor in = xg::permute(x, {1, 0, 2});
  std::vector<xg::Tensor> h_n, c_n;
  for (std::size_t l = 0; l < L; ++l) {
    std::vector<xg::Tensor> outs;
    for (std::size_t d = 0; d < 2; ++d) {
      const auto& w = lstm.weights(l, d == 1);
      const std::size_t k = l * 2 + d;
      const xg::Tensor y = xg::detail::lstm_sequence_composed(in, xg::reshape(xg::narrow(h0, 0, k, 1), {N, H}),
                                                              xg::reshape(xg::narrow(c0, 0, k, 1), {N, H}), w.weight_ih,
                                                              w.weight_hh, w.bias_ih + w.bias_hh, d == 1);
      outs.push_back(xg::narrow(y, 2, 0, H));
      const xg::Tensor last = xg::reshape(xg::narrow(y, 0, d == 1 ? 0 : T - 1, 1), {N, 2 * H});
      h_n.push_back(xg::narrow(last, 1, 0, H));
      c_n.push_back(xg::narrow(last, 1, H, H));
    }
    in = xg::concat(outs, 2);
  }
  const xg::Tensor ref_out = xg::permute(in, {1, 0, 2}), ref_h = xg::stack(h_n, 0), ref_c = xg::stack(c_n, 0);
  CHECK(max_abs_diff(out.output, ref_out) < 1e-12);
  CHECK(max_abs_diff(out.h_n, ref_h) < 1e-12);
  CHECK(max_abs_diff(out.c_n, ref_c) < 1e-12);

  std::vector<xg::Tensor> wrt{x, h0, c0};
  for (const auto& p : lstm.parameters()) wrt.push_back(p);
  const xg::Tensor r1 = xg::randn(out.output.shape(), xg::f64), r2 = xg::randn(out.h_n.shape(), xg::f64),
                   r3 = xg::randn(out.c_n.shape(), xg::f64);
  const auto loss = [&](const xg::Tensor& o, const xg::Tensor& h, const xg::Tensor& c) {
    return xg::sum(o * r1) + xg::sum(h * r2) + xg::sum(c * r3);
  };
  const auto gf = xg::grad({loss(out.output, out.h_n, out.c_n)}, wrt);
  const auto gc = xg::grad({loss(ref_out, ref_h, ref_c)}, wrt);
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    INFO("gradient ", k);
    CHECK(max_abs_diff(gf[k], gc[k]) < 1e-12);
  }
}

TEST_CASE("lstm_sequence: errors name the op and the shapes") {
  const auto x = xg::zeros({50, 32, 64}), h = xg::zeros({32, 128}), c = xg::zeros({32, 128});
  const auto w_hh = xg::zeros({512, 128}), b = xg::zeros({512});
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, c, xg::zeros({512, 60}), w_hh, b),
                       "lstm_sequence: x [50,32,64] and w_ih [512,60]: input sizes 64 and 60 differ", xg::Error);
  const auto w_ih = xg::zeros({512, 64});
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(xg::zeros({32, 64}), h, c, w_ih, w_hh, b),
                       Contains("lstm_sequence: x [32,64] must be [T, N, I]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, c, xg::zeros({510, 64}), w_hh, b),
                       Contains("lstm_sequence: w_ih [510,64] must be [4H, I]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, c, w_ih, xg::zeros({512, 64}), b),
                       Contains("lstm_sequence: w_hh [512,64] does not match w_ih [512,64]: expected [512, 128]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, xg::zeros({31, 128}), c, w_ih, w_hh, b),
                       Contains("lstm_sequence: h0 [31,128] does not match x [50,32,64]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, xg::zeros({32, 64}), w_ih, w_hh, b),
                       Contains("lstm_sequence: c0 [32,64] does not match"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, c, w_ih, w_hh, xg::zeros({128})),
                       Contains("lstm_sequence: bias [128] does not match w_ih [512,64]: expected [512]"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, h, c, w_ih, w_hh.to(xg::f64), b),
                       Contains("lstm_sequence: w_hh [512,128] is f64 but x [50,32,64] is f32"), xg::Error);
  CHECK_THROWS_WITH_AS(xg::lstm_sequence(x, xg::Tensor(), c, w_ih, w_hh, b), Contains("lstm_sequence: h0 is undefined"),
                       xg::Error);
}
