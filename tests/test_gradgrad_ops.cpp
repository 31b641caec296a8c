// Every op twice differentiable: xg::gradgradcheck (second derivatives against centered differences
// of the first) in f64 over the shapes and broadcasting patterns of the first-order op tests.
// Relative error below 1e-6; kinks are reported (the inputs are chosen to keep away from them).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <xgrad/testing.hpp>
#include <xgrad/xgrad.hpp>

#include "error_text.hpp"
#include "op_check.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;
using op_check::away_from_zero;
using op_check::distinct;
using op_check::Inputs;
using op_check::normal;
using op_check::positive;
using op_check::T;

namespace {

// gradgradcheck of f at inputs, f's output weighted by a fixed positive w as in op_check::check.
void check2(const xg::GradcheckFn& f, const Inputs& inputs, const std::string& what) {
  xg::Shape out_shape;
  {
    xg::NoGradGuard no_grad;
    out_shape = f(inputs).shape();
  }
  const T w = xg::rand(out_shape, xg::f64) + 0.5;
  const xg::GradcheckReport report =
      xg::gradgradcheck([&](const Inputs& in) { return xg::sum(f(in) * w); }, inputs, {.h = 1e-5});
  INFO(what);
  if (!report.ok || !(report.max_rel_error < 1e-6) || !report.kinks.empty())
    MESSAGE(fmt::format("{}: {}", what, report));
  CHECK(report.ok);
  CHECK(report.max_rel_error < 1e-6);
  CHECK(report.checked > 0);
}

const std::vector<std::pair<xg::Shape, xg::Shape>> broadcasts = {{{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}},
                                                                 {{3}, {2, 3}},    {{2, 3}, {}},  {{}, {2, 3}}};

}  // namespace

TEST_CASE("gradgrad: binary elementwise ops on every broadcasting pattern") {
  xg::manual_seed(11);
  for (const auto& [sa, sb] : broadcasts) {
    const std::string shapes = xg::shape_str(sa) + " " + xg::shape_str(sb);
    check2([](const Inputs& t) { return t[0] + t[1]; }, {normal(sa), normal(sb)}, "add " + shapes);
    check2([](const Inputs& t) { return t[0] - t[1]; }, {normal(sa), normal(sb)}, "sub " + shapes);
    check2([](const Inputs& t) { return t[0] * t[1]; }, {normal(sa), normal(sb)}, "mul " + shapes);
    check2([](const Inputs& t) { return t[0] / t[1]; }, {normal(sa), away_from_zero(sb)}, "div " + shapes);
    check2([](const Inputs& t) { return xg::maximum(t[0], t[1]); }, {distinct(sa), distinct(sb, 0.185)},
           "maximum " + shapes);
    check2([](const Inputs& t) { return xg::minimum(t[0], t[1]); }, {distinct(sa), distinct(sb, 0.185)},
           "minimum " + shapes);
    // products of ops, so the second derivative is not zero for the linear ones
    check2([](const Inputs& t) { return (t[0] + t[1]) * (t[0] - t[1]) * xg::maximum(t[0], t[1]); },
           {distinct(sa), distinct(sb, 0.185)}, "composed " + shapes);
  }
}

TEST_CASE("gradgrad: operators with a double, unary ops and activations") {
  xg::manual_seed(12);
  for (const xg::Shape& s : {xg::Shape{}, xg::Shape{4}, xg::Shape{2, 3}}) {
    const std::string shape = xg::shape_str(s);
    check2([](const Inputs& t) { return (2.0 - t[0]) * (t[0] + 1.5) / 3.0 + 1.0 / t[0]; }, {away_from_zero(s)},
           "doubles " + shape);
    check2([](const Inputs& t) { return -t[0] * t[0]; }, {normal(s)}, "neg " + shape);
    check2([](const Inputs& t) { return xg::exp(t[0]); }, {normal(s)}, "exp " + shape);
    check2([](const Inputs& t) { return xg::log(t[0]); }, {positive(s)}, "log " + shape);
    check2([](const Inputs& t) { return xg::sqrt(t[0]); }, {positive(s)}, "sqrt " + shape);
    check2([](const Inputs& t) { return xg::abs(t[0]) * t[0]; }, {away_from_zero(s)}, "abs " + shape);
    check2([](const Inputs& t) { return xg::pow(t[0], 3.0); }, {normal(s)}, "pow 3 " + shape);
    check2([](const Inputs& t) { return xg::pow(t[0], -1.5); }, {positive(s)}, "pow -1.5 " + shape);
    check2([](const Inputs& t) { return xg::tanh(t[0]); }, {normal(s)}, "tanh " + shape);
    check2([](const Inputs& t) { return xg::sigmoid(t[0]); }, {normal(s)}, "sigmoid " + shape);
    check2([](const Inputs& t) { return xg::relu(t[0]) * t[0]; }, {away_from_zero(s)}, "relu " + shape);
    check2([](const Inputs& t) { return nn::leaky_relu(t[0], 0.1) * t[0]; }, {away_from_zero(s)}, "leaky " + shape);
    check2([](const Inputs& t) { return nn::elu(t[0], 0.7); }, {away_from_zero(s)}, "elu " + shape);
  }
  nn::SELU selu;
  check2([&](const Inputs& t) { return selu(t[0]); }, {away_from_zero({2, 3})}, "SELU");
  nn::PReLU prelu(3, 0.2);
  prelu.to(xg::f64);
  check2([&](const Inputs& t) { return prelu(t[0]) * t[0]; }, {away_from_zero({2, 3})}, "PReLU");
  nn::Maxout maxout(4, 3, 2);
  maxout.to(xg::f64);
  check2([&](const Inputs& t) { return maxout(t[0]) * maxout(t[0]); }, {normal({2, 4})}, "Maxout");
}

TEST_CASE("gradgrad: reductions") {
  xg::manual_seed(13);
  const xg::Shape s{2, 3, 4};
  auto square = [](const T& t) { return t * t; };
  check2([&](const Inputs& t) { return square(xg::sum(t[0] * t[0] * t[0])); }, {normal(s)}, "sum");
  for (long axis : {0L, 1L, -1L})
    for (bool keep : {false, true}) {
      const std::string what = fmt::format("axis {} keepdim {}", axis, keep);
      check2([&](const Inputs& t) { return square(xg::sum(t[0] * t[0], axis, keep)); }, {normal(s)}, "sum " + what);
      check2([&](const Inputs& t) { return square(xg::mean(t[0] * t[0], axis, keep)); }, {normal(s)}, "mean " + what);
      check2([&](const Inputs& t) { return square(xg::max(t[0] * t[0], axis, keep)); }, {distinct(s, 0.05)},
             "max " + what);
      check2([&](const Inputs& t) { return square(xg::min(t[0], axis, keep)); }, {distinct(s)}, "min " + what);
    }
  check2([&](const Inputs& t) { return square(xg::mean(t[0] * t[0])); }, {normal(s)}, "mean");
  check2([&](const Inputs& t) { return square(xg::max(t[0])); }, {distinct(s)}, "max all");
  check2([&](const Inputs& t) { return square(xg::min(t[0])); }, {distinct(s)}, "min all");
}

TEST_CASE("gradgrad: shape ops") {
  xg::manual_seed(14);
  auto cube = [](const T& t) { return t * t * t; };
  check2([&](const Inputs& t) { return cube(xg::reshape(t[0], {3, 2})); }, {normal({2, 3})}, "reshape");
  check2([&](const Inputs& t) { return cube(xg::permute(t[0], {2, 0, 1})); }, {normal({2, 3, 2})}, "permute");
  check2([&](const Inputs& t) { return cube(xg::transpose(t[0])); }, {normal({2, 3})}, "transpose");
  check2([&](const Inputs& t) { return cube(xg::flatten(t[0], 1)); }, {normal({2, 2, 2})}, "flatten");
  check2([&](const Inputs& t) { return cube(xg::squeeze(xg::unsqueeze(t[0], 1), 1)); }, {normal({2, 3})},
         "unsqueeze/squeeze");
  check2(
      [&](const Inputs& t) {
        return cube(xg::concat({t[0], t[1]}, 1));
      },
      {normal({2, 1}), normal({2, 3})}, "concat");
  check2([&](const Inputs& t) { return cube(xg::stack({t[0], t[1]}, 0)); }, {normal({2, 3}), normal({2, 3})}, "stack");
  check2([&](const Inputs& t) { return cube(xg::narrow(t[0], 1, 1, 2)); }, {normal({2, 4})}, "narrow");
  check2(
      [&](const Inputs& t) {
        return cube(xg::index_select(t[0], 1, {2, 0, 2}));
      },
      {normal({2, 3, 2})}, "index_select (repeated index)");
  check2([&](const Inputs& t) { return cube(xg::expand(t[0], {2, 3})); }, {normal({1, 3})}, "expand");
  check2([&](const Inputs& t) { return cube(xg::sum_to(t[0], {1, 3})); }, {normal({2, 3})}, "sum_to");
  check2([&](const Inputs& t) { return cube(xg::pick(t[0], {2, 0})); }, {normal({2, 3})}, "pick");
}

TEST_CASE("gradgrad: matmul and linear") {
  xg::manual_seed(15);
  auto sq = [](const T& t) { return t * t; };
  check2([&](const Inputs& t) { return sq(xg::matmul(t[0], t[1])); }, {normal({2, 3}), normal({3, 4})}, "matmul 2-D");
  check2([&](const Inputs& t) { return sq(xg::matmul(t[0], t[1])); }, {normal({2, 2, 3}), normal({2, 3, 2})},
         "matmul batched");
  check2([&](const Inputs& t) { return sq(xg::matmul(t[0], t[1])); }, {normal({2, 2, 3}), normal({3, 2})},
         "matmul 3-D x 2-D");
  check2([&](const Inputs& t) { return xg::matmul(xg::matmul(t[0], t[0]), t[0]); }, {normal({3, 3})}, "x^3 matrices");
  check2([&](const Inputs& t) { return xg::tanh(xg::linear(t[0], t[1], t[2])); },
         {normal({3, 4}), normal({2, 4}), normal({2})}, "linear");
  check2([&](const Inputs& t) { return sq(xg::linear(t[0], t[1])); }, {normal({2, 2, 4}), normal({3, 4})},
         "linear 3-D, no bias");
}

TEST_CASE("gradgrad: softmax, log_softmax and every loss") {
  xg::manual_seed(16);
  for (long axis : {0L, 1L, -1L}) {
    check2([&](const Inputs& t) { return xg::softmax(t[0], axis); }, {normal({3, 4})}, fmt::format("softmax {}", axis));
    check2([&](const Inputs& t) { return xg::log_softmax(t[0], axis); }, {normal({3, 4})},
           fmt::format("log_softmax {}", axis));
  }
  const std::vector<std::int64_t> labels{2, 0, 3};
  check2([&](const Inputs& t) { return xg::cross_entropy(t[0], labels); }, {normal({3, 4})}, "cross_entropy");
  check2([&](const Inputs& t) { return xg::svm_loss(t[0] * t[0], labels); }, {distinct({3, 4}, 0.1)}, "svm_loss");
  check2([&](const Inputs& t) { return xg::svm_loss_squared(t[0], labels); }, {distinct({3, 4}, 0.1)},
         "svm_loss_squared");
  check2([&](const Inputs& t) { return xg::binary_cross_entropy_with_logits(t[0], t[1]); },
         {normal({2, 3}), positive({2, 3})}, "binary_cross_entropy_with_logits");
  check2([&](const Inputs& t) { return xg::mse_loss(t[0] * t[0], t[1]); }, {normal({2, 3}), normal({2, 3})},
         "mse_loss");
  check2([&](const Inputs& t) { return xg::l1_loss(t[0], t[1]) * xg::sum(t[0] * t[1]); },
         {distinct({2, 3}), distinct({2, 3}, 0.185)}, "l1_loss");
  check2(
      [&](const Inputs& t) {
        return xg::l2_penalty({t[0], t[1]}) * xg::l1_penalty({t[0]});
      },
      {away_from_zero({2, 2}), normal({3})}, "l1/l2 penalties");
}

TEST_CASE("gradgrad: conv2d by both algorithms, max and avg pool") {
  xg::manual_seed(17);
  struct Case {
    xg::ConvAlgorithm algorithm;
    xg::Shape x, w;
    int stride, padding;
  };
  const std::vector<Case> cases = {
      {xg::ConvAlgorithm::im2col, {2, 2, 5, 4}, {3, 2, 3, 3}, 1, 1},
      {xg::ConvAlgorithm::im2col, {1, 2, 6, 5}, {2, 2, 2, 3}, 2, 0},
      {xg::ConvAlgorithm::im2col, {2, 1, 5, 5}, {2, 1, 3, 3}, 2, 2},
      {xg::ConvAlgorithm::winograd_2x2, {1, 2, 4, 5}, {2, 2, 3, 3}, 1, 1},
      {xg::ConvAlgorithm::winograd_4x4, {1, 2, 6, 6}, {2, 2, 3, 3}, 1, 0},
  };
  const xg::ConvAlgorithm before = xg::conv_algorithm();
  for (const Case& c : cases) {
    xg::set_conv_algorithm(c.algorithm);
    const std::string what = fmt::format("conv2d x {} w {} stride {} padding {} algorithm {}", xg::shape_str(c.x),
                                         xg::shape_str(c.w), c.stride, c.padding, static_cast<int>(c.algorithm));
    check2(
        [&](const Inputs& t) {
          const T y = xg::conv2d(t[0], t[1], t[2], c.stride, c.padding);
          return y * y;
        },
        {normal(c.x), normal(c.w), normal({c.w[0]})}, what);
  }
  xg::set_conv_algorithm(before);
  check2(
      [](const Inputs& t) {
        const T y = xg::max_pool2d(t[0] * t[0], 2);
        return y * y;
      },
      {distinct({1, 2, 4, 4}, 0.05)}, "max_pool2d 2x2");
  check2(
      [](const Inputs& t) {
        return xg::max_pool2d(xg::tanh(t[0]), {3, 2}, {1, 2});
      },
      {distinct({2, 1, 5, 4})}, "max_pool2d 3x2 stride 1,2 (overlapping)");
  check2(
      [](const Inputs& t) {
        const T y = xg::avg_pool2d(t[0], 2);
        return y * y * y;
      },
      {normal({1, 2, 4, 4})}, "avg_pool2d 2x2");
  check2(
      [](const Inputs& t) {
        return xg::tanh(xg::avg_pool2d(t[0], {3, 2}, {1, 2}));
      },
      {normal({2, 1, 5, 4})}, "avg_pool2d 3x2 stride 1,2 (overlapping)");
}

TEST_CASE("gradgrad: batch norm in both forms, training and eval, 2-D and 4-D") {
  xg::manual_seed(18);
  for (const xg::Shape& s : {xg::Shape{4, 3}, xg::Shape{2, 2, 2, 3}}) {
    const std::size_t c = s[1];
    for (bool training : {true, false}) {
      const T running_mean = xg::randn({c}, xg::f64), running_var = xg::rand({c}, xg::f64) + 0.5;
      for (bool fused : {false, true}) {
        const std::string what =
            fmt::format("batch_norm{} {} {}", fused ? "_fused" : "", xg::shape_str(s), training ? "train" : "eval");
        check2(
            [&](const Inputs& t) {
              // copies: training updates the running statistics in place at every evaluation
              T rm = running_mean.detach(), rv = running_var.detach();
              const auto op = fused ? xg::batch_norm_fused : xg::batch_norm;
              const T y = op(t[0], t[1], t[2], rm, rv, training, 0.1, 1e-5, xg::Site::current());
              return y * y * y;
            },
            {normal(s), normal({c}), normal({c})}, what);
      }
    }
  }
}

TEST_CASE("gradgrad: dropout, Embedding and the recurrent cells") {
  xg::manual_seed(19);
  // dropout's dy must itself depend on x (a product after it), or dropping dy's graph would go unseen
  check2(
      [](const Inputs& t) {
        const T y = xg::dropout(t[0] * t[0], 0.4, true);
        return xg::tanh(y) * t[0];
      },
      {normal({3, 4})}, "dropout");
  nn::Embedding embedding(5, 3);
  embedding.to(xg::f64);
  const T ids = xg::tensor({4.0, 1.0, 4.0});
  check2([&](const Inputs& t) { return xg::tanh(embedding(ids) * t[0]); }, {normal({3, 3})}, "Embedding (input)");
  check2(
      [&](const Inputs& t) {
        const T rows = xg::index_select(t[0], 0, {4, 1, 4});  // what Embedding records, on a checked leaf
        return rows * rows * rows;
      },
      {normal({5, 3})}, "Embedding's lookup (weight)");
  using nn::detail::CellKind;
  for (CellKind kind : {CellKind::rnn_tanh, CellKind::lstm, CellKind::gru}) {
    const std::size_t gates = kind == CellKind::lstm ? 4 : kind == CellKind::gru ? 3 : 1, hidden = 2, input = 3;
    check2(
        [&](const Inputs& t) {
          const auto w = nn::detail::prepare(kind, hidden, t[2], t[3], t[4], t[5]);
          if (kind == CellKind::lstm) {
            const auto s = nn::detail::lstm_step(w, t[0], t[1], t[1] * 0.5);
            return s.h * s.c;
          }
          return kind == CellKind::gru ? nn::detail::gru_step(w, t[0], t[1]) : nn::detail::rnn_step(w, t[0], t[1]);
        },
        {normal({2, input}), normal({2, hidden}), normal({gates * hidden, input}), normal({gates * hidden, hidden}),
         normal({gates * hidden}), normal({gates * hidden})},
        fmt::format("cell {}", static_cast<int>(kind)));
  }
}
