// The LSTM against libtorch: a 2-layer xg::nn::LSTM and torch::nn::LSTM with the same weights, in
// f64: the output, h_n, c_n and every gradient (input and all parameters) agree to 1e-10.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "lstm_oracle.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;

namespace {
std::vector<double> values(const xg::Tensor& t) {
  const auto& a = t.value<double>();
  return std::vector<double>(a.begin(), a.end());
}
std::vector<double> random_values(const xg::Shape& shape) { return values(xg::randn(shape, xg::f64)); }

// max |a - b| / max(1, |b|)
double max_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t k = 0; k < a.size(); ++k) m = std::max(m, std::abs(a[k] - b[k]) / std::max(1.0, std::abs(b[k])));
  return m;
}
}  // namespace

TEST_CASE("a 2-layer LSTM agrees with torch::nn::LSTM in f64: outputs and all gradients") {
  xg::manual_seed(2024);
  const std::size_t I = 5, H = 4, L = 2, T = 7, N = 3;
  nn::LSTM lstm(I, H, {.num_layers = L});
  lstm.to(xg::f64);
  oracle::LstmProblem p;
  p.input = static_cast<std::int64_t>(I);
  p.hidden = static_cast<std::int64_t>(H);
  p.layers = static_cast<std::int64_t>(L);
  p.seq = static_cast<std::int64_t>(T);
  p.batch = static_cast<std::int64_t>(N);
  for (const auto& [name, t] : lstm.named_parameters()) p.params.emplace_back(name, values(t));
  xg::Tensor x = xg::randn({T, N, I}, xg::f64).requires_grad_();
  p.x = values(x);
  p.r = random_values({T, N, H});
  p.r_h = random_values({L, N, H});
  p.r_c = random_values({L, N, H});

  const nn::RNNOutput out = lstm.run(x);
  auto as_tensor = [](const std::vector<double>& v, const xg::Shape& s) {
    return xg::reshape(xg::tensor(v, xg::f64), s);
  };
  xg::Tensor loss = xg::sum(out.output * as_tensor(p.r, {T, N, H})) + xg::sum(out.h_n * as_tensor(p.r_h, {L, N, H})) +
                    xg::sum(out.c_n * as_tensor(p.r_c, {L, N, H}));
  loss.backward();

  const oracle::LstmResult torch = oracle::torch_lstm(p);
  CHECK(max_error(values(out.output), torch.output) < 1e-10);
  CHECK(max_error(values(out.h_n), torch.h_n) < 1e-10);
  CHECK(max_error(values(out.c_n), torch.c_n) < 1e-10);
  CHECK(max_error(values(x.grad()), torch.x_grad) < 1e-10);
  const auto named = lstm.named_parameters();
  REQUIRE(torch.grads.size() == named.size());
  for (const auto& [name, g] : torch.grads) {
    INFO(name);
    auto it = std::find_if(named.begin(), named.end(), [&](const auto& kv) { return kv.first == name; });
    REQUIRE(it != named.end());
    CHECK(max_error(values(it->second.grad()), g) < 1e-10);
  }
}
