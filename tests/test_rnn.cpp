// nn/rnn_cell, nn/rnn, nn/embedding: gradchecks in f64 of the cells and of stacked bidirectional
// sequence layers (parameters, input and initial states), forward values against the gate equations
// written out with plain doubles, the layers against the cells unrolled by hand, shapes for every
// layout, PyTorch's parameter names, errors, and the Embedding gradient.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;
using doctest::Approx;
using doctest::Contains;

namespace {
// The scalar a gradcheck differentiates is sum(f * r) over every output of the unrolled network, so its
// rounding noise (~1e-15 of its size, divided by 2h) reaches ~1e-9 absolute with the default h = 1e-6:
// gradient entries of ~3e-4 then read as ~8e-7 relative error. h = 1e-5 cuts that noise tenfold, while
// the truncation error (h^2 / 6 times the third derivative) stays ~1e-11.
const xg::GradcheckOptions precise{.h = 1e-5, .tolerance = 1e-6};

// f64 random tensor that requires grad.
xg::Tensor leaf(const xg::Shape& shape) { return xg::randn(shape, xg::f64).requires_grad_(); }

void check_report(const xg::GradcheckReport& report, const std::string& what) {
  INFO(what, ": ", fmt::format("{}", report));
  CHECK(report.ok);
  CHECK(report.max_rel_error < 1e-6);
  CHECK(report.checked > 0);
}

// Every output of a sequence layer as one tensor, so the gradcheck covers output, h_n and c_n.
xg::Tensor all_outputs(const nn::RNNOutput& out) {
  std::vector<xg::Tensor> parts{xg::flatten(out.output, 0), xg::flatten(out.h_n, 0)};
  if (out.c_n.defined()) parts.push_back(xg::flatten(out.c_n, 0));
  return xg::concat(parts, 0);
}

// The values of an f64 tensor, flat.
std::vector<double> values(const xg::Tensor& t) {
  const auto& a = t.value<double>();
  return std::vector<double>(a.begin(), a.end());
}
double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// y[n][r] = sum_k W[r][k] x[n][k] + b[r] for row-major W [R, K], x [N, K], b [R] (b may be empty).
std::vector<double> affine(const std::vector<double>& W, const std::vector<double>& x, const std::vector<double>& b,
                           std::size_t N, std::size_t R, std::size_t K) {
  std::vector<double> y(N * R, 0.0);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t r = 0; r < R; ++r) {
      double s = b.empty() ? 0.0 : b[r];
      for (std::size_t k = 0; k < K; ++k) s += W[r * K + k] * x[n * K + k];
      y[n * R + r] = s;
    }
  return y;
}

void check_close(const xg::Tensor& t, const std::vector<double>& expected, double eps = 1e-12) {
  const auto got = values(t);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i);
    CHECK(got[i] == Approx(expected[i]).epsilon(eps));
  }
}
}  // namespace

TEST_CASE("RNNCell LSTMCell and GRUCell gradcheck in f64") {
  xg::manual_seed(7);
  const std::size_t N = 3, I = 4, H = 5;
  SUBCASE("RNNCell tanh") {
    nn::RNNCell cell(I, H);
    cell.to(xg::f64);
    std::vector<xg::Tensor> in{leaf({N, I}), leaf({N, H})};
    for (auto& p : cell.parameters()) in.push_back(p);
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return cell(v[0], v[1]); }, in), "RNNCell");
  }
  SUBCASE("RNNCell relu without bias") {
    nn::RNNCell cell(I, H, false, nn::RNNNonlinearity::relu);
    cell.to(xg::f64);
    CHECK(cell.parameters().size() == 2);
    std::vector<xg::Tensor> in{leaf({N, I}), leaf({N, H})};
    for (auto& p : cell.parameters()) in.push_back(p);
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return cell(v[0], v[1]); }, in), "RNNCell relu");
  }
  SUBCASE("LSTMCell with respect to x h c and the parameters") {
    nn::LSTMCell cell(I, H);
    cell.to(xg::f64);
    std::vector<xg::Tensor> in{leaf({N, I}), leaf({N, H}), leaf({N, H})};
    for (auto& p : cell.parameters()) in.push_back(p);
    check_report(xg::gradcheck(
                     [&](const std::vector<xg::Tensor>& v) {
                       auto [h, c] = cell(v[0], {v[1], v[2]});
                       return xg::concat({h, c}, 1);
                     },
                     in, precise),
                 "LSTMCell");
  }
  SUBCASE("GRUCell") {
    nn::GRUCell cell(I, H);
    cell.to(xg::f64);
    std::vector<xg::Tensor> in{leaf({N, I}), leaf({N, H})};
    for (auto& p : cell.parameters()) in.push_back(p);
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return cell(v[0], v[1]); }, in), "GRUCell");
  }
  SUBCASE("cells from zero state through Module operator()") {
    nn::LSTMCell lstm(I, H);
    lstm.to(xg::f64);
    std::vector<xg::Tensor> in{leaf({N, I})};
    for (auto& p : lstm.parameters()) in.push_back(p);
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return lstm(v[0]); }, in), "LSTMCell(x)");
  }
}

TEST_CASE("2-layer bidirectional RNN LSTM and GRU gradcheck over a sequence in f64") {
  xg::manual_seed(11);
  const std::size_t T = 4, N = 2, I = 3, H = 3, L = 2, D = 2;
  auto check_layer = [&](nn::RNNBase& m, bool with_c0) {
    m.to(xg::f64);
    const bool bf = m.options().batch_first;
    std::vector<xg::Tensor> in{leaf(bf ? xg::Shape{N, T, I} : xg::Shape{T, N, I}), leaf({L * D, N, H})};
    if (with_c0) in.push_back(leaf({L * D, N, H}));
    const std::size_t first_param = in.size();
    for (auto& p : m.parameters()) in.push_back(p);
    const auto report =
        xg::gradcheck([&](const std::vector<xg::Tensor>&
                              v) { return all_outputs(m.run(v[0], v[1], with_c0 ? v[2] : xg::Tensor())); },
                      in, precise);
    check_report(report, m.describe());
    // Every parameter, the input and the initial states actually receive a gradient.
    m.zero_grad();
    for (auto& t : in) t.zero_grad();
    xg::sum(all_outputs(m.run(in[0], in[1], with_c0 ? in[2] : xg::Tensor()))).backward();
    for (std::size_t i = 0; i < in.size(); ++i) {
      INFO("input ", i, " (parameters from ", first_param, ")");
      CHECK(in[i].grad().defined());
    }
  };
  SUBCASE("RNN tanh") {
    nn::RNN m(I, H, {.num_layers = L, .bidirectional = true});
    check_layer(m, false);
  }
  SUBCASE("RNN relu") {
    nn::RNN m(I, H, {.num_layers = L, .bidirectional = true, .nonlinearity = nn::RNNNonlinearity::relu});
    check_layer(m, false);
  }
  SUBCASE("LSTM") {
    nn::LSTM m(I, H, {.num_layers = L, .bidirectional = true});
    check_layer(m, true);
  }
  SUBCASE("GRU") {
    nn::GRU m(I, H, {.num_layers = L, .bidirectional = true});
    check_layer(m, false);
  }
  SUBCASE("LSTM batch_first with inter-layer dropout in training mode") {
    nn::LSTM m(I, H, {.num_layers = L, .batch_first = true, .dropout = 0.3, .bidirectional = true});
    check_layer(m, true);  // gradcheck replays the same dropout masks
  }
  SUBCASE("GRU without bias on a long sequence") {
    nn::GRU m(2, 2, {.num_layers = 1, .bias = false});
    m.to(xg::f64);
    std::vector<xg::Tensor> in{leaf({13, 2, 2})};  // 13 steps: the input is split by recursive halving
    for (auto& p : m.parameters()) in.push_back(p);
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>& v) { return all_outputs(m.run(v[0])); }, in, precise),
                 "GRU long");
  }
}

TEST_CASE("LSTMCell forward values match the gate equations computed by hand") {
  xg::manual_seed(3);
  const std::size_t N = 2, I = 3, H = 2;
  nn::LSTMCell cell(I, H);
  cell.to(xg::f64);
  const auto x = xg::randn({N, I}, xg::f64), h = xg::randn({N, H}, xg::f64), c = xg::randn({N, H}, xg::f64);
  const auto [h1, c1] = cell(x, {h, c});
  CHECK(h1.shape() == xg::Shape{N, H});
  CHECK(c1.shape() == xg::Shape{N, H});

  // gates = W_ih x + b_ih + W_hh h + b_hh; blocks i f g o of H rows each (PyTorch's order).
  const auto gi = affine(values(cell.weight_ih), values(x), values(cell.bias_ih), N, 4 * H, I);
  const auto gh = affine(values(cell.weight_hh), values(h), values(cell.bias_hh), N, 4 * H, H);
  const auto cv = values(c);
  std::vector<double> h_expected(N * H), c_expected(N * H);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t j = 0; j < H; ++j) {
      auto gate = [&](std::size_t block) { return gi[n * 4 * H + block * H + j] + gh[n * 4 * H + block * H + j]; };
      const double i = sigmoid(gate(0)), f = sigmoid(gate(1)), g = std::tanh(gate(2)), o = sigmoid(gate(3));
      const double c_new = f * cv[n * H + j] + i * g;
      c_expected[n * H + j] = c_new;
      h_expected[n * H + j] = o * std::tanh(c_new);
    }
  check_close(c1, c_expected);
  check_close(h1, h_expected);
}

TEST_CASE("GRUCell and RNNCell forward values match their equations computed by hand") {
  xg::manual_seed(5);
  const std::size_t N = 2, I = 3, H = 4;
  const auto x = xg::randn({N, I}, xg::f64), h = xg::randn({N, H}, xg::f64);
  const auto hv = values(h);
  SUBCASE("GRU with r applied to W_hn h + b_hn") {
    nn::GRUCell cell(I, H);
    cell.to(xg::f64);
    const auto gi = affine(values(cell.weight_ih), values(x), values(cell.bias_ih), N, 3 * H, I);
    const auto gh = affine(values(cell.weight_hh), values(h), values(cell.bias_hh), N, 3 * H, H);
    std::vector<double> expected(N * H);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t j = 0; j < H; ++j) {
        auto at = [&](const std::vector<double>& v, std::size_t block) { return v[n * 3 * H + block * H + j]; };
        const double r = sigmoid(at(gi, 0) + at(gh, 0)), z = sigmoid(at(gi, 1) + at(gh, 1));
        const double nn_ = std::tanh(at(gi, 2) + r * at(gh, 2));
        expected[n * H + j] = (1 - z) * nn_ + z * hv[n * H + j];
      }
    check_close(cell(x, h), expected);
  }
  SUBCASE("RNN relu") {
    nn::RNNCell cell(I, H, true, nn::RNNNonlinearity::relu);
    cell.to(xg::f64);
    const auto gi = affine(values(cell.weight_ih), values(x), values(cell.bias_ih), N, H, I);
    const auto gh = affine(values(cell.weight_hh), values(h), values(cell.bias_hh), N, H, H);
    std::vector<double> expected(N * H);
    for (std::size_t k = 0; k < N * H; ++k) expected[k] = std::max(0.0, gi[k] + gh[k]);
    check_close(cell(x, h), expected);
  }
}

TEST_CASE("a bidirectional LSTM layer equals its cells unrolled by hand") {
  // Layer 0 forward runs t = 0..T-1, layer 0 reverse runs t = T-1..0 and writes its h at position t;
  // layer 1 reads [forward h_t, reverse h_t]. h_n rows: l0 forward, l0 reverse, l1 forward, l1 reverse.
  xg::manual_seed(9);
  const std::size_t T = 5, N = 2, I = 3, H = 4;
  nn::LSTM lstm(I, H, {.num_layers = 2, .batch_first = true, .bidirectional = true});
  lstm.to(xg::f64);
  const auto x = xg::randn({N, T, I}, xg::f64);
  const auto h0 = xg::randn({4, N, H}, xg::f64), c0 = xg::randn({4, N, H}, xg::f64);
  const auto out = lstm.run(x, h0, c0);

  auto cell_like = [&](std::size_t layer, bool reverse) {
    const auto& w = lstm.weights(layer, reverse);
    nn::LSTMCell cell(layer == 0 ? I : 2 * H, H);
    cell.to(xg::f64);
    cell.weight_ih.mutable_value<double>() = w.weight_ih.value<double>();
    cell.weight_hh.mutable_value<double>() = w.weight_hh.value<double>();
    cell.bias_ih.mutable_value<double>() = w.bias_ih.value<double>();
    cell.bias_hh.mutable_value<double>() = w.bias_hh.value<double>();
    return cell;
  };
  auto row = [](const xg::Tensor& t, std::size_t k) { return xg::squeeze(xg::narrow(t, 0, k, 1), 0); };
  std::vector<xg::Tensor> seq;
  for (std::size_t t = 0; t < T; ++t) seq.push_back(xg::squeeze(xg::narrow(x, 1, t, 1), 1));
  std::vector<xg::Tensor> h_n, c_n;
  for (std::size_t layer = 0; layer < 2; ++layer) {
    std::vector<std::vector<xg::Tensor>> dir(2, std::vector<xg::Tensor>(T));
    for (std::size_t d = 0; d < 2; ++d) {
      auto cell = cell_like(layer, d == 1);
      nn::LSTMState s{row(h0, 2 * layer + d), row(c0, 2 * layer + d)};
      for (std::size_t i = 0; i < T; ++i) {
        const std::size_t t = d == 0 ? i : T - 1 - i;
        s = cell(seq[t], s);
        dir[d][t] = s.h;
      }
      h_n.push_back(s.h);
      c_n.push_back(s.c);
    }
    for (std::size_t t = 0; t < T; ++t) seq[t] = xg::concat({dir[0][t], dir[1][t]}, 1);
  }
  check_close(out.output, values(xg::stack(seq, 1)));
  check_close(out.h_n, values(xg::stack(h_n, 0)));
  check_close(out.c_n, values(xg::stack(c_n, 0)));
  // docs/rnn.md: the last layer's forward final state is output[:, T-1, :H], the backward one output[:, 0, H:].
  check_close(xg::narrow(xg::narrow(out.output, 1, T - 1, 1), 2, 0, H), values(xg::narrow(out.h_n, 0, 2, 1)));
  check_close(xg::narrow(xg::narrow(out.output, 1, 0, 1), 2, H, H), values(xg::narrow(out.h_n, 0, 3, 1)));
}

TEST_CASE("RNN LSTM and GRU shapes for every num_layers bidirectional and batch_first") {
  const std::size_t T = 5, N = 3, I = 4, H = 6;
  for (int kind = 0; kind < 3; ++kind)
    for (std::size_t layers : {1, 2})
      for (bool bidirectional : {false, true})
        for (bool batch_first : {false, true}) {
          const nn::RNNOptions o{.num_layers = layers, .batch_first = batch_first, .bidirectional = bidirectional};
          std::unique_ptr<nn::RNNBase> m;
          if (kind == 0) m = std::make_unique<nn::RNN>(I, H, o);
          if (kind == 1) m = std::make_unique<nn::LSTM>(I, H, o);
          if (kind == 2) m = std::make_unique<nn::GRU>(I, H, o);
          const std::size_t D = bidirectional ? 2 : 1, G = kind == 1 ? 4 : kind == 2 ? 3 : 1;
          INFO(m->describe());
          const xg::Shape in = batch_first ? xg::Shape{N, T, I} : xg::Shape{T, N, I};
          const xg::Shape out = batch_first ? xg::Shape{N, T, D * H} : xg::Shape{T, N, D * H};
          const auto r = m->run(xg::randn(in), xg::zeros({layers * D, N, H}),
                                kind == 1 ? xg::zeros({layers * D, N, H}) : xg::Tensor());
          CHECK(r.output.shape() == out);
          CHECK((*m)(xg::randn(in)).shape() == out);
          CHECK(r.h_n.shape() == xg::Shape{layers * D, N, H});
          CHECK(r.c_n.defined() == (kind == 1));
          if (kind == 1) CHECK(r.c_n.shape() == xg::Shape{layers * D, N, H});
          const auto params = m->named_parameters();
          CHECK(params.size() == 4 * layers * D);
          for (const auto& [name, p] : params) {
            INFO(name);
            const bool upper = name.find("_l1") != std::string::npos;
            if (name.starts_with("weight_ih")) CHECK(p.shape() == xg::Shape{G * H, upper ? D * H : I});
            if (name.starts_with("weight_hh")) CHECK(p.shape() == xg::Shape{G * H, H});
            if (name.starts_with("bias")) CHECK(p.shape() == xg::Shape{G * H});
          }
          // The summary runs forward on zeros of the input shape.
          CHECK_NOTHROW(m->summary(in));
        }
}

TEST_CASE("RNN parameter names and order follow PyTorch") {
  nn::LSTM lstm(3, 4, {.num_layers = 2, .bidirectional = true});
  std::vector<std::string> names;
  for (const auto& [name, p] : lstm.named_parameters()) names.push_back(name);
  const std::vector<std::string> expected{"weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",
                                          "bias_hh_l0",           "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                          "bias_ih_l0_reverse",   "bias_hh_l0_reverse",   "weight_ih_l1",
                                          "weight_hh_l1",         "bias_ih_l1",           "bias_hh_l1",
                                          "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
                                          "bias_hh_l1_reverse"};
  CHECK(names == expected);
  nn::GRU gru(3, 4, {.bias = false});
  CHECK(gru.named_parameters().size() == 2);
  nn::GRUCell cell(3, 4);
  CHECK(cell.named_parameters()[0].first == "weight_ih");
  CHECK(cell.named_parameters()[3].first == "bias_hh");
  CHECK(cell.weight_ih.shape() == xg::Shape{12, 3});
  // PyTorch's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
  nn::LSTM big(8, 100);
  for (const auto& p : big.parameters()) {
    float largest = 0;
    for (float v : p.value<float>()) largest = std::max(largest, std::abs(v));
    CHECK(largest <= 0.1f);
    CHECK(largest > 0.09f);
  }
}

TEST_CASE("RNN layers and cells reject a wrong input with a clear error") {
  nn::LSTM lstm(4, 6, {.num_layers = 2});
  CHECK_THROWS_WITH_AS(lstm(xg::zeros({5, 2, 3})),
                       Contains("LSTM: input has shape [5,2,3], expected a 3-D [seq, batch, input_size] with "
                                "input_size = 4 (got 3)"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(lstm(xg::zeros({5, 4})), Contains("LSTM: input has shape [5,4]"), xg::Error);
  CHECK_THROWS_WITH_AS(lstm.run(xg::zeros({5, 2, 4}), xg::zeros({1, 2, 6})),
                       Contains("LSTM: h0 has shape [1,2,6], expected [num_layers * num_directions, batch, "
                                "hidden_size] = [2, 2, 6]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(lstm.run(xg::zeros({5, 2, 4}), {}, xg::zeros({2, 3, 6})), Contains("LSTM: c0 has shape [2,3,6]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(lstm(xg::zeros({5, 2, 4}, xg::f64)), Contains("LSTM: input is f64 but the parameters are f32"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(lstm(xg::zeros({0, 2, 4})), Contains("empty sequence"), xg::Error);
  nn::GRU gru(4, 6, {.batch_first = true});
  CHECK_THROWS_WITH_AS(gru(xg::zeros({2, 5, 3})),
                       Contains("GRU: input has shape [2,5,3], expected a 3-D [batch, seq, "
                                "input_size]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(gru.run(xg::zeros({2, 5, 4}), {}, xg::zeros({1, 2, 6})),
                       Contains("GRU: c0 is given, but only an LSTM has a cell state"), xg::Error);
  nn::LSTMCell cell(4, 6);
  CHECK_THROWS_WITH_AS(cell(xg::zeros({2, 5})), Contains("LSTMCell: input has shape [2,5], expected [batch, 4]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(cell(xg::zeros({2, 4}), {xg::zeros({3, 6}), {}}),
                       Contains("LSTMCell: h has shape [3,6], expected [2, 6]"), xg::Error);
  nn::RNNCell rnn(4, 6);
  CHECK_THROWS_WITH_AS(rnn(xg::zeros({2, 4}), xg::zeros({2, 5})), Contains("RNNCell: h has shape [2,5]"), xg::Error);
  CHECK_THROWS_WITH_AS(nn::LSTM(4, 6, {.nonlinearity = nn::RNNNonlinearity::relu}), Contains("for RNN only"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(nn::GRU(4, 6, {.num_layers = 0}), Contains("num_layers"), xg::Error);
  CHECK_THROWS_WITH_AS(nn::RNN(4, 6, {.dropout = 1.0}), Contains("dropout"), xg::Error);
}

TEST_CASE("RNN inter-layer dropout applies in training only") {
  xg::manual_seed(2);
  nn::GRU gru(3, 8, {.num_layers = 2, .dropout = 0.5});
  const auto x = xg::randn({4, 2, 3});
  gru.eval();
  const auto a = gru(x), b = gru(x);
  CHECK(xt::allclose(a.value<float>(), b.value<float>()));
  gru.train();
  const auto c = gru(x);
  CHECK_FALSE(xt::allclose(a.value<float>(), c.value<float>()));
  nn::GRU one(3, 8, {.dropout = 0.5});  // one layer: nothing between layers to drop
  CHECK(xt::allclose(one(x).value<float>(), one(x).value<float>()));
}

TEST_CASE("RNN truncated backpropagation through time with detached state") {
  xg::manual_seed(4);
  nn::LSTM lstm(2, 3);
  auto first = lstm.run(xg::randn({4, 1, 2}));
  auto second = lstm.run(xg::randn({4, 1, 2}), first.h_n.detach(), first.c_n.detach());
  xg::sum(second.output).backward();
  const auto g = lstm.weights(0).weight_hh.grad().value<float>();
  // The second chunk's backward stopped at the detached state: the first chunk's graph is intact.
  CHECK_NOTHROW(xg::sum(first.output).backward());
  CHECK_FALSE(xt::allclose(g, lstm.weights(0).weight_hh.grad().value<float>()));
}

TEST_CASE("RNN checkpoint round trip keeps the outputs") {
  xg::manual_seed(6);
  nn::GRU a(3, 4, {.num_layers = 2, .bidirectional = true}), b(3, 4, {.num_layers = 2, .bidirectional = true});
  const std::string path = "test_rnn_roundtrip.safetensors";
  xg::save(a, path);
  xg::load(b, path);
  std::remove(path.c_str());
  const auto x = xg::randn({3, 2, 3});
  CHECK(xt::allclose(a(x).value<float>(), b(x).value<float>()));
}

TEST_CASE("Embedding gradient scatters into the rows used") {
  xg::manual_seed(8);
  nn::Embedding emb(5, 3);
  emb.to(xg::f64);
  CHECK(emb.weight.shape() == xg::Shape{5, 3});
  SUBCASE("lookup of integers with a repeated index") {
    const auto y = emb.lookup({1, 3, 1});
    CHECK(y.shape() == xg::Shape{3, 3});
    check_close(xg::narrow(y, 0, 1, 1), values(xg::narrow(emb.weight, 0, 3, 1)));
    const auto r = xg::randn({3, 3}, xg::f64);
    xg::sum(y * r).backward();
    const auto g = emb.weight.grad().value<double>();
    const auto rv = r.value<double>();
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(g(0, j) == 0.0);
      CHECK(g(2, j) == 0.0);
      CHECK(g(4, j) == 0.0);
      CHECK(g(1, j) == Approx(rv(0, j) + rv(2, j)));
      CHECK(g(3, j) == Approx(rv(1, j)));
    }
  }
  SUBCASE("a tensor of indices of any shape") {
    const auto ids = xg::tensor({{0.0, 4.0}, {4.0, 2.0}});
    const auto y = emb(ids);
    CHECK(y.shape() == xg::Shape{2, 2, 3});
    xg::sum(y).backward();
    const auto g = emb.weight.grad().value<double>();
    CHECK(g(4, 0) == 2.0);
    CHECK(g(0, 1) == 1.0);
    CHECK(g(1, 2) == 0.0);
    std::vector<xg::Tensor> in{emb.weight};
    check_report(xg::gradcheck([&](const std::vector<xg::Tensor>&) { return xg::tanh(emb(ids)); }, in), "Embedding");
  }
  SUBCASE("errors") {
    CHECK_THROWS_WITH_AS(emb.lookup({0, 5}), Contains("Embedding: index 5 at position 1 is out of range [0, 5)"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(emb(xg::tensor({1.5})), Contains("not a whole number"), xg::Error);
    CHECK_THROWS_WITH_AS(emb.lookup({-1}), Contains("out of range"), xg::Error);
  }
}

TEST_CASE("Embedding into an LSTM trains end to end") {
  // Memorize a 6-step sequence: predict the next token with an Embedding -> LSTM -> Linear stack.
  xg::manual_seed(12);
  nn::Embedding emb(4, 8);
  nn::LSTM lstm(8, 16);
  nn::Linear head(16, 4);
  const std::vector<std::int64_t> seq{0, 1, 2, 3, 2, 1, 0};
  std::vector<std::int64_t> in(seq.begin(), seq.end() - 1), target(seq.begin() + 1, seq.end());
  std::vector<xg::Tensor> params = emb.parameters();
  for (auto& p : lstm.parameters()) params.push_back(p);
  for (auto& p : head.parameters()) params.push_back(p);
  xg::optim::Adam adam(params, {.lr = 0.05});
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    const auto x = xg::reshape(emb.lookup(in), {in.size(), 1, 8});  // [T, N = 1, 8]
    const auto logits = head(xg::reshape(lstm(x), {in.size(), 16}));
    const auto loss = xg::cross_entropy(logits, target);
    adam.zero_grad();
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.item();
  }
  CHECK(first > 1.0);
  CHECK(last < 0.05);
}
