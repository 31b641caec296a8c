// Edge shapes for every public op: zero-size dimensions, one-element tensors, 0-d scalars,
// non-contiguous (permuted) inputs, and f32 mixed with f64.
//
// Each row runs one op on one case and expects either a result (its shape and hand-computed values,
// or for the permuted and mixed cases the same op on a contiguous copy / in one dtype) or an
// xg::Error whose message contains a given text. Any other exception type fails the row, and a crash
// or a sanitizer report fails the suite (scripts/test.sh --sanitize). Where the op is differentiable
// and the forward gave a result, backward() runs too: every input's gradient must come back with the
// input's shape and dtype, finite, and in the one-element and 0-d cases agree with gradcheck's
// finite differences.
//
// xgrad has no views: permute and transpose copy, so every tensor is contiguous. The permuted case
// therefore feeds an op the output of permute (on the tape, so the gradient also flows back through
// permute) and compares with a tensor of the same values built by hand.
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <typeinfo>
#include <vector>

#include <doctest/doctest.h>
#include <xgrad/autograd/allocation.hpp>
#include <xgrad/ops/blas.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;

namespace {

using T = xg::Tensor;
using Shape = xg::Shape;
using Args = const std::vector<T>&;
using Fn = std::function<T(Args)>;

enum class Case { empty, one, scalar, permuted, mixed };
const char* case_name(Case c) {
  switch (c) {
    case Case::empty:
      return "zero-size";
    case Case::one:
      return "one element";
    case Case::scalar:
      return "0-d";
    case Case::permuted:
      return "permuted";
    case Case::mixed:
      return "f32 with f64";
  }
  return "?";
}

// One input of an op: its shape, and fixed values (class labels, running statistics) or none, in
// which case the harness fills it. Only inputs with `grad` are marked requires_grad.
struct Arg {
  Shape shape;
  std::vector<double> values;
  bool grad = true;
};
Arg x(Shape s) { return {std::move(s), {}, true}; }
Arg fixed(Shape s, std::vector<double> v) { return {std::move(s), std::move(v), false}; }

// What a row expects: a result of `shape` (with `values`, row-major, unless none are given), the
// same as the reference run (permuted and mixed cases), or an xg::Error containing `message`.
struct Expect {
  enum Kind { result, same, error } kind = same;
  Shape shape;
  std::vector<double> values;
  std::string message;
};
Expect gives(Shape s, std::vector<double> v = {}) { return {Expect::result, std::move(s), std::move(v), {}}; }
Expect fails(std::string part) { return {Expect::error, {}, {}, std::move(part)}; }
const Expect agrees{};  // mixed case: the op takes one dtype at a time, and f32 agrees with f64
std::vector<double> filled(std::size_t n, double v) { return std::vector<double>(n, v); }

struct Op {
  std::string name;
  Fn f;
  std::vector<Arg> regular;  // the inputs of the permuted and mixed cases
  Expect mixed;              // input 0 f32 and the others f64 (a one-input op: f32 against f64)
  bool differentiable = true;
};

// Class labels for scores [N,C]: i % C (all 0 when C is 0, which the losses must reject).
std::vector<std::int64_t> labels_for(const T& scores) {
  const Shape s = scores.shape();
  const std::size_t n = s.empty() ? 1 : s[0], c = s.size() < 2 ? 0 : s[1];
  std::vector<std::int64_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = c ? static_cast<std::int64_t>(i % c) : 0;
  return labels;
}
Shape reversed(Shape s) { return Shape(s.rbegin(), s.rend()); }
std::vector<std::size_t> reversed_axes(std::size_t rank) {
  std::vector<std::size_t> axes(rank);
  for (std::size_t i = 0; i < rank; ++i) axes[i] = rank - 1 - i;
  return axes;
}
// x runs through conv2d with `algorithm` chosen (a process-wide setting, put back afterwards).
T conv_with(xg::ConvAlgorithm algorithm, Args in) {
  const xg::ConvAlgorithm before = xg::conv_algorithm();
  xg::set_conv_algorithm(algorithm);
  struct Restore {
    xg::ConvAlgorithm a;
    ~Restore() { xg::set_conv_algorithm(a); }
  } restore{before};
  return xg::conv2d(in[0], in[1], in[2], 1, 1);
}
// argmax as a tensor (it returns positions, not a tensor, and is not differentiable).
T argmax_tensor(const T& t, long axis) {
  std::vector<double> at;
  for (std::size_t i : xg::argmax(t, axis)) at.push_back(static_cast<double>(i));
  return xg::tensor(at, xg::f64);
}

// Every op the library exports from ops/ (and Tensor::to), with the inputs of its permuted and mixed cases.
const std::vector<Op>& ops() {
  constexpr auto huge = std::numeric_limits<std::size_t>::max();
  static const std::vector<Op> table = {
      // elementwise, one input
      {"exp", [](Args a) { return xg::exp(a[0]); }, {x({3, 4})}, agrees},
      {"log", [](Args a) { return xg::log(a[0]); }, {x({3, 4})}, agrees},
      {"sqrt", [](Args a) { return xg::sqrt(a[0]); }, {x({3, 4})}, agrees},
      {"abs", [](Args a) { return xg::abs(a[0]); }, {x({3, 4})}, agrees},
      {"pow(x, 2)", [](Args a) { return xg::pow(a[0], 2); }, {x({3, 4})}, agrees},
      {"pow(x, 3)", [](Args a) { return xg::pow(a[0], 3); }, {x({3, 4})}, agrees},
      {"tanh", [](Args a) { return xg::tanh(a[0]); }, {x({3, 4})}, agrees},
      {"sigmoid", [](Args a) { return xg::sigmoid(a[0]); }, {x({3, 4})}, agrees},
      {"relu", [](Args a) { return xg::relu(a[0]); }, {x({3, 4})}, agrees},
      {"sign", [](Args a) { return xg::sign(a[0]); }, {x({3, 4})}, agrees, false},
      {"neg", [](Args a) { return xg::neg(a[0]); }, {x({3, 4})}, agrees},
      {"x + 2", [](Args a) { return a[0] + 2.0; }, {x({3, 4})}, agrees},
      {"2 - x", [](Args a) { return 2.0 - a[0]; }, {x({3, 4})}, agrees},
      {"x * 2", [](Args a) { return a[0] * 2.0; }, {x({3, 4})}, agrees},
      {"2 / x", [](Args a) { return 2.0 / a[0]; }, {x({3, 4})}, agrees},
      {"x > 1", [](Args a) { return a[0] > 1.0; }, {x({3, 4})}, agrees, false},
      {"x < 1", [](Args a) { return a[0] < 1.0; }, {x({3, 4})}, agrees, false},
      {"maximum(x, 1)", [](Args a) { return xg::maximum(a[0], 1.0); }, {x({3, 4})}, agrees},
      {"minimum(x, 1)", [](Args a) { return xg::minimum(a[0], 1.0); }, {x({3, 4})}, agrees},
      {"to(f32)", [](Args a) { return a[0].to(xg::f32); }, {x({3, 4})}, agrees},
      {"dropout(x, 0.5)", [](Args a) { return xg::dropout(a[0], 0.5); }, {x({3, 4})}, agrees},
      {"dropout(x, 0.5, eval)", [](Args a) { return xg::dropout(a[0], 0.5, false); }, {x({3, 4})}, agrees},
      // elementwise, two inputs with broadcasting
      {"add",
       [](Args a) { return xg::add(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("add: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"sub",
       [](Args a) { return xg::sub(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("sub: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"mul",
       [](Args a) { return xg::mul(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("mul: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"div",
       [](Args a) { return xg::div(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("div: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"maximum",
       [](Args a) { return xg::maximum(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("maximum: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"minimum",
       [](Args a) { return xg::minimum(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("minimum: [2,3,4] f32 and [3,4] f64: dtypes differ")},
      {"gt",
       [](Args a) { return xg::gt(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("gt: [2,3,4] f32 and [3,4] f64: dtypes differ"),
       false},
      {"lt",
       [](Args a) { return xg::lt(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("lt: [2,3,4] f32 and [3,4] f64: dtypes differ"),
       false},
      {"eq",
       [](Args a) { return xg::eq(a[0], a[1]); },
       {x({2, 3, 4}), x({3, 4})},
       fails("eq: [2,3,4] f32 and [3,4] f64: dtypes differ"),
       false},
      // reductions
      {"sum", [](Args a) { return xg::sum(a[0]); }, {x({3, 4})}, agrees},
      {"sum(x, -1)", [](Args a) { return xg::sum(a[0], -1); }, {x({3, 4})}, agrees},
      {"mean", [](Args a) { return xg::mean(a[0]); }, {x({3, 4})}, agrees},
      {"mean(x, -1, keepdim)", [](Args a) { return xg::mean(a[0], -1, true); }, {x({3, 4})}, agrees},
      {"max", [](Args a) { return xg::max(a[0]); }, {x({3, 4})}, agrees},
      {"max(x, -1)", [](Args a) { return xg::max(a[0], -1); }, {x({3, 4})}, agrees},
      {"min", [](Args a) { return xg::min(a[0]); }, {x({3, 4})}, agrees},
      {"min(x, 0, keepdim)", [](Args a) { return xg::min(a[0], 0, true); }, {x({3, 4})}, agrees},
      {"argmax(x, -1)", [](Args a) { return argmax_tensor(a[0], -1); }, {x({3, 4})}, agrees, false},
      {"expand(x, [2, ...])",
       [](Args a) {
         Shape s = a[0].shape();
         s.insert(s.begin(), 2);
         return xg::expand(a[0], s);
       },
       {x({3, 4})},
       agrees},
      {"sum_to(x, shape without axis 0)",
       [](Args a) {
         const Shape s = a[0].shape();
         return xg::sum_to(a[0], s.empty() ? s : Shape(s.begin() + 1, s.end()));
       },
       {x({3, 4})},
       agrees},
      {"softmax", [](Args a) { return xg::softmax(a[0]); }, {x({3, 4})}, agrees},
      {"log_softmax", [](Args a) { return xg::log_softmax(a[0]); }, {x({3, 4})}, agrees},
      // shape ops
      {"reshape(x, reversed shape)",
       [](Args a) { return xg::reshape(a[0], reversed(a[0].shape())); },
       {x({3, 4})},
       agrees},
      {"transpose", [](Args a) { return xg::transpose(a[0]); }, {x({3, 4})}, agrees},
      {"permute(x, reversed axes)",
       [](Args a) { return xg::permute(a[0], reversed_axes(a[0].dim())); },
       {x({2, 3, 4})},
       agrees},
      {"flatten", [](Args a) { return xg::flatten(a[0]); }, {x({2, 3, 4})}, agrees},
      {"unsqueeze(x, 0)", [](Args a) { return xg::unsqueeze(a[0], 0); }, {x({3, 4})}, agrees},
      {"squeeze(x, 0)", [](Args a) { return xg::squeeze(a[0], 0); }, {x({1, 3, 4})}, agrees},
      {"concat({a, b}, 0)",
       [](Args a) {
         return xg::concat({a[0], a[1]}, 0);
       },
       {x({2, 3, 4}), x({2, 3, 4})},
       fails("concat: [2,3,4] f32 and [2,3,4] f64 differ other than along axis 0")},
      {"concat({a, b}, -1)",
       [](Args a) {
         return xg::concat({a[0], a[1]}, -1);
       },
       {x({3, 4}), x({3, 2})},
       fails("concat: [3,4] f32 and [3,2] f64 differ other than along axis -1")},
      {"stack({a, b})",
       [](Args a) {
         return xg::stack({a[0], a[1]});
       },
       {x({3, 4}), x({3, 4})},
       fails("stack: tensor 1 [3,4] f64 differs from tensor 0 [3,4] f32")},
      {"narrow(x, 0, 0, 1)", [](Args a) { return xg::narrow(a[0], 0, 0, 1); }, {x({3, 4})}, agrees},
      {"narrow(x, 0, 2^64-1, 2)",
       [=](Args a) { return xg::narrow(a[0], 0, huge, 2); },
       {x({3, 4})},
       fails("narrow: [18446744073709551615, 18446744073709551615 + 2) is out of range for axis 0 of shape [3,4]")},
      {"index_select(x, 0, {0, 0})",
       [](Args a) {
         return xg::index_select(a[0], 0, {0, 0});
       },
       {x({3, 4})},
       agrees},
      {"index_select(x, -1, {})", [](Args a) { return xg::index_select(a[0], -1, {}); }, {x({3, 4})}, agrees},
      // matrix products
      {"matmul",
       [](Args a) { return xg::matmul(a[0], a[1]); },
       {x({3, 4}), x({4, 5})},
       fails("matmul: [3,4] f32 and [4,5] f64: dtypes differ")},
      {"linear(x, w, b)",
       [](Args a) { return xg::linear(a[0], a[1], a[2]); },
       {x({3, 4}), x({5, 4}), x({5})},
       fails("linear: input [3,4] is f32 but weight [5,4] is f64")},
      {"linear(x, w)",
       [](Args a) { return xg::linear(a[0], a[1]); },
       {x({2, 3, 4}), x({5, 4})},
       fails("linear: input [2,3,4] is f32 but weight [5,4] is f64")},
      // ConvNet ops
      {"conv2d(x, w, b, 1, 1) im2col",
       [](Args a) { return conv_with(xg::ConvAlgorithm::im2col, a); },
       {x({2, 3, 5, 5}), x({4, 3, 3, 3}), x({4})},
       fails("conv2d: input [2,3,5,5] is f32 but weight [4,3,3,3] is f64")},
      {"conv2d(x, w, b, 1, 1) winograd 2x2",
       [](Args a) { return conv_with(xg::ConvAlgorithm::winograd_2x2, a); },
       {x({2, 8, 6, 6}), x({3, 8, 3, 3}), x({3})},
       fails("conv2d: input [2,8,6,6] is f32 but weight [3,8,3,3] is f64")},
      {"conv2d(x, w, b, 1, 1) winograd 4x4",
       [](Args a) { return conv_with(xg::ConvAlgorithm::winograd_4x4, a); },
       {x({2, 8, 6, 6}), x({3, 8, 3, 3}), x({3})},
       fails("conv2d: input [2,8,6,6] is f32 but weight [3,8,3,3] is f64")},
      {"conv2d(x, w, {}, 2, 1)",
       [](Args a) { return xg::conv2d(a[0], a[1], {}, 2, 1); },
       {x({2, 3, 5, 5}), x({4, 3, 3, 3})},
       fails("conv2d: input [2,3,5,5] is f32 but weight [4,3,3,3] is f64")},
      {"max_pool2d(x, 2)", [](Args a) { return xg::max_pool2d(a[0], 2); }, {x({2, 3, 4, 6})}, agrees},
      {"max_pool2d(x, 1)", [](Args a) { return xg::max_pool2d(a[0], 1); }, {x({2, 3, 4, 6})}, agrees},
      {"avg_pool2d(x, 2)", [](Args a) { return xg::avg_pool2d(a[0], 2); }, {x({2, 3, 4, 6})}, agrees},
      {"avg_pool2d(x, 3, 2)", [](Args a) { return xg::avg_pool2d(a[0], 3, 2); }, {x({2, 3, 5, 7})}, agrees},
      // batch normalization: x, gamma, beta, running_mean, running_var
      {"batch_norm train",
       [](Args a) { return xg::batch_norm(a[0], a[1], a[2], a[3], a[4], true); },
       {x({4, 3, 2, 2}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm: gamma [3] is f64 but input [4,3,2,2] is f32")},
      {"batch_norm eval",
       [](Args a) { return xg::batch_norm(a[0], a[1], a[2], a[3], a[4], false); },
       {x({4, 3, 2, 2}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm: gamma [3] is f64 but input [4,3,2,2] is f32")},
      {"batch_norm_fused train",
       [](Args a) { return xg::batch_norm_fused(a[0], a[1], a[2], a[3], a[4], true); },
       {x({4, 3, 2, 2}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm_fused: gamma [3] is f64 but input [4,3,2,2] is f32")},
      {"batch_norm_fused eval",
       [](Args a) { return xg::batch_norm_fused(a[0], a[1], a[2], a[3], a[4], false); },
       {x({4, 3, 2, 2}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm_fused: gamma [3] is f64 but input [4,3,2,2] is f32")},
      // gather and losses (labels i % C, or a labels tensor)
      {"pick", [](Args a) { return xg::pick(a[0], labels_for(a[0])); }, {x({3, 4})}, agrees},
      {"cross_entropy", [](Args a) { return xg::cross_entropy(a[0], labels_for(a[0])); }, {x({3, 4})}, agrees},
      {"cross_entropy(x, labels tensor)",
       [](Args a) { return xg::cross_entropy(a[0], a[1]); },
       {x({3, 4}), fixed({3}, {0, 3, 1})},
       agrees},
      {"svm_loss", [](Args a) { return xg::svm_loss(a[0], labels_for(a[0])); }, {x({3, 4})}, agrees},
      {"svm_loss(x, labels tensor)",
       [](Args a) { return xg::svm_loss(a[0], a[1]); },
       {x({3, 4}), fixed({3}, {0, 3, 1})},
       agrees},
      {"svm_loss_squared", [](Args a) { return xg::svm_loss_squared(a[0], labels_for(a[0])); }, {x({3, 4})}, agrees},
      {"svm_loss_squared(x, labels tensor)",
       [](Args a) { return xg::svm_loss_squared(a[0], a[1]); },
       {x({3, 4}), fixed({3}, {0, 3, 1})},
       agrees},
      {"binary_cross_entropy_with_logits",
       [](Args a) { return xg::binary_cross_entropy_with_logits(a[0], a[1]); },
       {x({3, 4}), x({3, 4})},
       fails("binary_cross_entropy_with_logits: logits [3,4] is f32 but targets [3,4] is f64")},
      {"mse_loss",
       [](Args a) { return xg::mse_loss(a[0], a[1]); },
       {x({3, 4}), x({3, 4})},
       fails("mse_loss: pred [3,4] is f32 but target [3,4] is f64")},
      {"l1_loss",
       [](Args a) { return xg::l1_loss(a[0], a[1]); },
       {x({3, 4}), x({3, 4})},
       fails("l1_loss: pred [3,4] is f32 but target [3,4] is f64")},
      // weight penalties over a parameter list
      {"l1_penalty",
       [](Args a) { return xg::l1_penalty({a[0], a[1]}); },
       {x({3, 4}), x({4, 2})},
       fails("l1_penalty: parameter 1 [4,2] is f64 but parameter 0 [3,4] is f32")},
      {"l2_penalty(half)",
       [](Args a) { return xg::l2_penalty({a[0], a[1]}, true); },
       {x({3, 4}), x({4, 2})},
       fails("l2_penalty: parameter 1 [4,2] is f64 but parameter 0 [3,4] is f32")},
      {"elastic_net(0.1, 0.2)",
       [](Args a) { return xg::elastic_net({a[0], a[1]}, 0.1, 0.2); },
       {x({3, 4}), x({4, 2})},
       fails("elastic_net: parameter 1 [4,2] is f64 but parameter 0 [3,4] is f32")},
  };
  return table;
}

// The zero-size, one-element and 0-d rows. Inputs without fixed values hold b + 0.125 i at element i,
// b = 0.5, 2, 1.5, 0.25, 1 for inputs 0..4: distinct, positive and easy to compute with by hand.
struct Row {
  std::string op;
  Case c;
  std::vector<Arg> in;
  Expect expect;
};
constexpr double kBase[] = {0.5, 2.0, 1.5, 0.25, 1.0};

// dropout's keep decisions for n elements after manual_seed(1234), drawn as ops/dropout.cpp documents
// (u from the top 53 bits of one draw, kept when u >= p).
std::vector<double> dropout_of(std::vector<double> v, double p) {
  std::mt19937_64 rng(1234);
  for (double& e : v) e = static_cast<double>(rng() >> 11) * 0x1.0p-53 >= p ? e / (1 - p) : 0.0;
  return v;
}
double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }
double bce(double v, double t) { return std::max(v, 0.0) - v * t + std::log1p(std::exp(-std::abs(v))); }
const double kBnEval = 2.0 * (0.5 - 0.25) / std::sqrt(1.0 + 1e-5) + 1.5;  // gamma (x - mean) / sqrt(var + eps) + beta

const std::vector<Row>& rows() {
  using C = Case;
  static const std::vector<Row> table = {
      // --- elementwise, one input ---
      {"exp", C::empty, {x({2, 0, 3})}, gives({2, 0, 3})},
      {"exp", C::one, {x({1})}, gives({1}, {std::exp(0.5)})},
      {"exp", C::scalar, {x({})}, gives({}, {std::exp(0.5)})},
      {"log", C::empty, {x({0})}, gives({0})},
      {"log", C::one, {x({1, 1})}, gives({1, 1}, {std::log(0.5)})},
      {"log", C::scalar, {x({})}, gives({}, {std::log(0.5)})},
      {"sqrt", C::empty, {x({3, 0})}, gives({3, 0})},
      {"sqrt", C::one, {x({1})}, gives({1}, {std::sqrt(0.5)})},
      {"sqrt", C::scalar, {x({})}, gives({}, {std::sqrt(0.5)})},
      {"abs", C::empty, {x({0, 2})}, gives({0, 2})},
      {"abs", C::one, {x({1})}, gives({1}, {0.5})},
      {"abs", C::scalar, {x({})}, gives({}, {0.5})},
      {"pow(x, 2)", C::empty, {x({0})}, gives({0})},
      {"pow(x, 2)", C::one, {x({1})}, gives({1}, {0.25})},
      {"pow(x, 2)", C::scalar, {x({})}, gives({}, {0.25})},
      {"pow(x, 3)", C::empty, {x({2, 0})}, gives({2, 0})},
      {"pow(x, 3)", C::one, {x({1, 1, 1})}, gives({1, 1, 1}, {0.125})},
      {"pow(x, 3)", C::scalar, {x({})}, gives({}, {0.125})},
      {"tanh", C::empty, {x({0, 0})}, gives({0, 0})},
      {"tanh", C::one, {x({1})}, gives({1}, {std::tanh(0.5)})},
      {"tanh", C::scalar, {x({})}, gives({}, {std::tanh(0.5)})},
      {"sigmoid", C::empty, {x({0})}, gives({0})},
      {"sigmoid", C::one, {x({1})}, gives({1}, {sigmoid(0.5)})},
      {"sigmoid", C::scalar, {x({})}, gives({}, {sigmoid(0.5)})},
      {"relu", C::empty, {x({4, 0})}, gives({4, 0})},
      {"relu", C::one, {x({1})}, gives({1}, {0.5})},
      {"relu", C::scalar, {fixed({}, {-0.5})}, gives({}, {0.0})},
      {"sign", C::empty, {x({0})}, gives({0})},
      {"sign", C::one, {x({1})}, gives({1}, {1.0})},
      {"sign", C::scalar, {fixed({}, {-0.5})}, gives({}, {-1.0})},
      {"neg", C::empty, {x({0, 3})}, gives({0, 3})},
      {"neg", C::one, {x({1})}, gives({1}, {-0.5})},
      {"neg", C::scalar, {x({})}, gives({}, {-0.5})},
      {"x + 2", C::empty, {x({0})}, gives({0})},
      {"x + 2", C::one, {x({1, 1})}, gives({1, 1}, {2.5})},
      {"x + 2", C::scalar, {x({})}, gives({}, {2.5})},
      {"2 - x", C::empty, {x({2, 0})}, gives({2, 0})},
      {"2 - x", C::one, {x({1})}, gives({1}, {1.5})},
      {"2 - x", C::scalar, {x({})}, gives({}, {1.5})},
      {"x * 2", C::empty, {x({0, 1})}, gives({0, 1})},
      {"x * 2", C::one, {x({1})}, gives({1}, {1.0})},
      {"x * 2", C::scalar, {x({})}, gives({}, {1.0})},
      {"2 / x", C::empty, {x({0})}, gives({0})},
      {"2 / x", C::one, {x({1})}, gives({1}, {4.0})},
      {"2 / x", C::scalar, {x({})}, gives({}, {4.0})},
      {"x > 1", C::empty, {x({0})}, gives({0})},
      {"x > 1", C::one, {x({1})}, gives({1}, {0.0})},
      {"x > 1", C::scalar, {x({})}, gives({}, {0.0})},
      {"x < 1", C::empty, {x({1, 0})}, gives({1, 0})},
      {"x < 1", C::one, {x({1})}, gives({1}, {1.0})},
      {"x < 1", C::scalar, {x({})}, gives({}, {1.0})},
      {"maximum(x, 1)", C::empty, {x({0})}, gives({0})},
      {"maximum(x, 1)", C::one, {x({1})}, gives({1}, {1.0})},
      {"maximum(x, 1)", C::scalar, {x({})}, gives({}, {1.0})},
      {"minimum(x, 1)", C::empty, {x({0, 2})}, gives({0, 2})},
      {"minimum(x, 1)", C::one, {x({1})}, gives({1}, {0.5})},
      {"minimum(x, 1)", C::scalar, {x({})}, gives({}, {0.5})},
      {"to(f32)", C::empty, {x({0, 2})}, gives({0, 2})},
      {"to(f32)", C::one, {x({1})}, gives({1}, {0.5})},
      {"to(f32)", C::scalar, {x({})}, gives({}, {0.5})},
      {"dropout(x, 0.5)", C::empty, {x({0, 5})}, gives({0, 5})},
      {"dropout(x, 0.5)", C::one, {x({1})}, gives({1}, dropout_of({0.5}, 0.5))},
      {"dropout(x, 0.5)", C::scalar, {x({})}, gives({}, dropout_of({0.5}, 0.5))},
      {"dropout(x, 0.5, eval)", C::empty, {x({0})}, gives({0})},
      {"dropout(x, 0.5, eval)", C::one, {x({1})}, gives({1}, {0.5})},
      {"dropout(x, 0.5, eval)", C::scalar, {x({})}, gives({}, {0.5})},

      // --- elementwise, two inputs (broadcasting) ---
      {"add", C::empty, {x({2, 0}), x({0})}, gives({2, 0})},
      {"add", C::empty, {x({0, 3}), x({2, 1, 3})}, gives({2, 0, 3})},
      {"add", C::empty, {x({2, 0}), x({2, 1})}, gives({2, 0})},
      {"add", C::one, {x({1}), x({1, 1})}, gives({1, 1}, {2.5})},
      {"add", C::scalar, {x({}), x({})}, gives({}, {2.5})},
      {"add", C::scalar, {x({}), x({0})}, gives({0})},
      {"add", C::scalar, {x({}), x({2})}, gives({2}, {2.5, 2.625})},
      {"sub", C::empty, {x({2, 0}), x({0})}, gives({2, 0})},
      {"sub", C::empty, {x({0, 3}), x({3})}, gives({0, 3})},
      {"sub", C::one, {x({1}), x({1})}, gives({1}, {-1.5})},
      {"sub", C::scalar, {x({}), x({})}, gives({}, {-1.5})},
      {"mul", C::empty, {x({1, 0}), x({3, 1})}, gives({3, 0})},
      {"mul", C::one, {x({1, 1}), x({1})}, gives({1, 1}, {1.0})},
      {"mul", C::scalar, {x({}), x({})}, gives({}, {1.0})},
      {"mul", C::scalar, {x({2, 0}), x({})}, gives({2, 0})},
      {"div", C::empty, {x({0}), x({0})}, gives({0})},
      {"div", C::one, {x({1}), x({1})}, gives({1}, {0.25})},
      {"div", C::scalar, {x({}), x({})}, gives({}, {0.25})},
      {"maximum", C::empty, {x({2, 0}), x({1})}, gives({2, 0})},
      {"maximum", C::one, {x({1}), x({1})}, gives({1}, {2.0})},
      {"maximum", C::scalar, {x({}), x({})}, gives({}, {2.0})},
      {"minimum", C::empty, {x({0, 4}), x({1, 4})}, gives({0, 4})},
      {"minimum", C::one, {x({1}), x({1})}, gives({1}, {0.5})},
      {"minimum", C::scalar, {x({}), x({})}, gives({}, {0.5})},
      {"gt", C::empty, {x({0}), x({})}, gives({0})},
      {"gt", C::one, {x({1}), x({1})}, gives({1}, {0.0})},
      {"gt", C::scalar, {x({}), x({})}, gives({}, {0.0})},
      {"lt", C::empty, {x({0}), x({1})}, gives({0})},
      {"lt", C::one, {x({1}), x({1})}, gives({1}, {1.0})},
      {"lt", C::scalar, {x({}), x({})}, gives({}, {1.0})},
      {"eq", C::empty, {x({2, 0}), x({2, 0})}, gives({2, 0})},
      {"eq", C::one, {x({1}), fixed({1}, {0.5})}, gives({1}, {1.0})},
      {"eq", C::scalar, {x({}), x({})}, gives({}, {0.0})},
      {"add", C::empty, {x({2, 0}), x({3})}, fails("add: shapes [2,0] and [3] cannot be broadcast together")},

      // --- reductions ---
      {"sum", C::empty, {x({2, 0})}, gives({}, {0.0})},
      {"sum", C::one, {x({1, 1})}, gives({}, {0.5})},
      {"sum", C::scalar, {x({})}, gives({}, {0.5})},
      {"sum(x, -1)", C::empty, {x({2, 0})}, gives({2}, {0.0, 0.0})},
      {"sum(x, -1)", C::empty, {x({0, 3})}, gives({0})},
      {"sum(x, -1)", C::one, {x({1, 1})}, gives({1}, {0.5})},
      {"sum(x, -1)", C::scalar, {x({})}, fails("sum: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"mean", C::empty, {x({2, 0})}, fails("mean: tensor of shape [2,0] is empty")},
      {"mean", C::one, {x({1, 1})}, gives({}, {0.5})},
      {"mean", C::scalar, {x({})}, gives({}, {0.5})},
      {"mean(x, -1, keepdim)", C::empty, {x({2, 0})}, fails("mean: axis -1 of shape [2,0] is empty")},
      {"mean(x, -1, keepdim)", C::empty, {x({0, 3})}, gives({0, 1})},
      {"mean(x, -1, keepdim)", C::one, {x({1, 1})}, gives({1, 1}, {0.5})},
      {"mean(x, -1, keepdim)",
       C::scalar,
       {x({})},
       fails("mean: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"max", C::empty, {x({2, 0})}, fails("max: tensor of shape [2,0] is empty")},
      {"max", C::one, {x({1})}, gives({}, {0.5})},
      {"max", C::scalar, {x({})}, gives({}, {0.5})},
      {"max(x, -1)", C::empty, {x({2, 0})}, fails("max: axis -1 of shape [2,0] is empty")},
      {"max(x, -1)", C::empty, {x({0, 3})}, gives({0})},
      {"max(x, -1)", C::one, {x({1, 1})}, gives({1}, {0.5})},
      {"max(x, -1)", C::scalar, {x({})}, fails("max: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"min", C::empty, {x({0})}, fails("min: tensor of shape [0] is empty")},
      {"min", C::one, {x({1, 1, 1})}, gives({}, {0.5})},
      {"min", C::scalar, {x({})}, gives({}, {0.5})},
      {"min(x, 0, keepdim)", C::empty, {x({0, 3})}, fails("min: axis 0 of shape [0,3] is empty")},
      {"min(x, 0, keepdim)", C::empty, {x({2, 0})}, gives({1, 0})},
      {"min(x, 0, keepdim)", C::one, {x({1})}, gives({1}, {0.5})},
      {"min(x, 0, keepdim)",
       C::scalar,
       {x({})},
       fails("min: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"argmax(x, -1)", C::empty, {x({2, 0})}, fails("argmax: axis -1 of shape [2,0] is empty")},
      {"argmax(x, -1)", C::empty, {x({0, 2})}, gives({0})},
      {"argmax(x, -1)", C::one, {x({1})}, gives({1}, {0.0})},
      {"argmax(x, -1)", C::scalar, {x({})}, fails("argmax: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"expand(x, [2, ...])", C::empty, {x({0, 3})}, gives({2, 0, 3})},
      {"expand(x, [2, ...])", C::one, {x({1})}, gives({2, 1}, {0.5, 0.5})},
      {"expand(x, [2, ...])", C::scalar, {x({})}, gives({2}, {0.5, 0.5})},
      {"sum_to(x, shape without axis 0)", C::empty, {x({0, 3})}, gives({3}, {0.0, 0.0, 0.0})},
      {"sum_to(x, shape without axis 0)", C::empty, {x({2, 0})}, gives({0})},
      {"sum_to(x, shape without axis 0)", C::one, {x({1, 1})}, gives({1}, {0.5})},
      {"sum_to(x, shape without axis 0)", C::scalar, {x({})}, gives({}, {0.5})},
      {"softmax", C::empty, {x({2, 0})}, gives({2, 0})},
      {"softmax", C::empty, {x({0, 3})}, gives({0, 3})},
      {"softmax", C::one, {x({1, 1})}, gives({1, 1}, {1.0})},
      {"softmax", C::scalar, {x({})}, fails("softmax: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"log_softmax", C::empty, {x({2, 0})}, gives({2, 0})},
      {"log_softmax", C::empty, {x({3, 0, 2})}, gives({3, 0, 2})},
      {"log_softmax", C::one, {x({1})}, gives({1}, {0.0})},
      {"log_softmax",
       C::scalar,
       {x({})},
       fails("log_softmax: axis -1 is out of range for a tensor of shape [] (rank 0)")},

      // --- shape ops ---
      {"reshape(x, reversed shape)", C::empty, {x({2, 0, 3})}, gives({3, 0, 2})},
      {"reshape(x, reversed shape)", C::one, {x({1, 1})}, gives({1, 1}, {0.5})},
      {"reshape(x, reversed shape)", C::scalar, {x({})}, gives({}, {0.5})},
      {"transpose", C::empty, {x({2, 0})}, gives({0, 2})},
      {"transpose", C::one, {x({1, 1})}, gives({1, 1}, {0.5})},
      {"transpose", C::scalar, {x({})}, fails("transpose: tensor of shape [] is not 2-D")},
      {"permute(x, reversed axes)", C::empty, {x({2, 0, 3})}, gives({3, 0, 2})},
      {"permute(x, reversed axes)", C::one, {x({1, 1})}, gives({1, 1}, {0.5})},
      {"permute(x, reversed axes)", C::scalar, {x({})}, gives({}, {0.5})},
      {"flatten", C::empty, {x({2, 0, 3})}, gives({2, 0})},
      {"flatten", C::empty, {x({0, 2, 3})}, gives({0, 6})},
      {"flatten", C::one, {x({1, 1, 1})}, gives({1, 1}, {0.5})},
      {"flatten", C::scalar, {x({})}, fails("flatten: start axis 1 is out of range for a tensor of shape []")},
      {"unsqueeze(x, 0)", C::empty, {x({2, 0})}, gives({1, 2, 0})},
      {"unsqueeze(x, 0)", C::one, {x({1})}, gives({1, 1}, {0.5})},
      {"unsqueeze(x, 0)", C::scalar, {x({})}, gives({1}, {0.5})},
      {"squeeze(x, 0)", C::empty, {x({1, 0})}, gives({0})},
      {"squeeze(x, 0)", C::empty, {x({0, 1})}, fails("squeeze: axis 0 of shape [0,1] has size 0, not 1")},
      {"squeeze(x, 0)", C::one, {x({1})}, gives({}, {0.5})},
      {"squeeze(x, 0)", C::scalar, {x({})}, fails("squeeze: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"concat({a, b}, 0)", C::empty, {x({2, 0}), x({3, 0})}, gives({5, 0})},
      {"concat({a, b}, 0)", C::empty, {x({0, 3}), x({1, 3})}, gives({1, 3}, {2.0, 2.125, 2.25})},
      {"concat({a, b}, 0)", C::empty, {x({0}), x({0})}, gives({0})},
      {"concat({a, b}, 0)", C::one, {x({1}), x({1})}, gives({2}, {0.5, 2.0})},
      {"concat({a, b}, 0)",
       C::scalar,
       {x({}), x({})},
       fails("concat: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"concat({a, b}, -1)", C::empty, {x({0, 3}), x({0, 2})}, gives({0, 5})},
      {"concat({a, b}, -1)", C::empty, {x({2, 0}), x({2, 1})}, gives({2, 1}, {2.0, 2.125})},
      {"concat({a, b}, -1)", C::one, {x({1, 1}), x({1, 1})}, gives({1, 2}, {0.5, 2.0})},
      {"concat({a, b}, -1)",
       C::scalar,
       {x({}), x({})},
       fails("concat: axis -1 is out of range for a tensor of shape [] (rank 0)")},
      {"stack({a, b})", C::empty, {x({2, 0}), x({2, 0})}, gives({2, 2, 0})},
      {"stack({a, b})", C::empty, {x({0}), x({0})}, gives({2, 0})},
      {"stack({a, b})", C::one, {x({1}), x({1})}, gives({2, 1}, {0.5, 2.0})},
      {"stack({a, b})", C::scalar, {x({}), x({})}, gives({2}, {0.5, 2.0})},
      {"narrow(x, 0, 0, 1)", C::empty, {x({2, 0})}, gives({1, 0})},
      {"narrow(x, 0, 0, 1)", C::empty, {x({0, 2})}, fails("narrow: [0, 1) is out of range for axis 0 of shape [0,2]")},
      {"narrow(x, 0, 0, 1)", C::one, {x({1, 1})}, gives({1, 1}, {0.5})},
      {"narrow(x, 0, 0, 1)",
       C::scalar,
       {x({})},
       fails("narrow: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"narrow(x, 0, 2^64-1, 2)",
       C::empty,
       {x({2, 0})},
       fails("narrow: [18446744073709551615, 18446744073709551615 + 2) is out of range for axis 0 of shape [2,0]")},
      {"narrow(x, 0, 2^64-1, 2)",
       C::one,
       {x({1})},
       fails("narrow: [18446744073709551615, 18446744073709551615 + 2) is out of range for axis 0 of shape [1]")},
      {"narrow(x, 0, 2^64-1, 2)",
       C::scalar,
       {x({})},
       fails("narrow: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"index_select(x, 0, {0, 0})", C::empty, {x({2, 0})}, gives({2, 0})},
      {"index_select(x, 0, {0, 0})",
       C::empty,
       {x({0, 2})},
       fails("index_select: index 0 is out of range for axis 0 of shape [0,2]")},
      {"index_select(x, 0, {0, 0})", C::one, {x({1})}, gives({2}, {0.5, 0.5})},
      {"index_select(x, 0, {0, 0})",
       C::scalar,
       {x({})},
       fails("index_select: axis 0 is out of range for a tensor of shape [] (rank 0)")},
      {"index_select(x, -1, {})", C::empty, {x({0, 2})}, gives({0, 0})},
      {"index_select(x, -1, {})", C::one, {x({1, 1})}, gives({1, 0})},
      {"index_select(x, -1, {})",
       C::scalar,
       {x({})},
       fails("index_select: axis -1 is out of range for a tensor of shape [] (rank 0)")},

      // --- matrix products ---
      {"matmul", C::empty, {x({2, 0}), x({0, 3})}, gives({2, 3}, filled(6, 0.0))},
      {"matmul", C::empty, {x({0, 2}), x({2, 3})}, gives({0, 3})},
      {"matmul", C::empty, {x({2, 3}), x({3, 0})}, gives({2, 0})},
      {"matmul", C::empty, {x({0, 2, 3}), x({0, 3, 4})}, gives({0, 2, 4})},
      {"matmul", C::empty, {x({2, 0, 3}), x({3, 4})}, gives({2, 0, 4})},
      {"matmul", C::empty, {x({2, 3, 0}), x({0, 4})}, gives({2, 3, 4}, filled(24, 0.0))},
      {"matmul", C::one, {x({1, 1}), x({1, 1})}, gives({1, 1}, {1.0})},
      {"matmul", C::one, {x({1, 1, 1}), x({1, 1})}, gives({1, 1, 1}, {1.0})},
      {"matmul", C::scalar, {x({}), x({})}, fails("matmul: [] x []: expected two 2-D or two 3-D tensors")},
      {"matmul", C::scalar, {x({}), x({1, 1})}, fails("matmul: [] x [1,1]: expected two 2-D or two 3-D tensors")},
      {"linear(x, w, b)",
       C::empty,
       {x({2, 0}), x({3, 0}), x({3})},
       gives({2, 3}, {1.5, 1.625, 1.75, 1.5, 1.625, 1.75})},
      {"linear(x, w, b)", C::empty, {x({0, 4}), x({3, 4}), x({3})}, gives({0, 3})},
      {"linear(x, w, b)", C::empty, {x({2, 4}), x({0, 4}), x({0})}, gives({2, 0})},
      {"linear(x, w, b)", C::one, {x({1, 1}), x({1, 1}), x({1})}, gives({1, 1}, {2.5})},
      {"linear(x, w, b)", C::one, {x({1}), x({1, 1}), x({1})}, gives({1}, {2.5})},
      {"linear(x, w, b)", C::scalar, {x({}), x({1, 1}), x({1})}, fails("linear: input [] x weight [1,1]")},
      {"linear(x, w)", C::empty, {x({2, 3, 0}), x({4, 0})}, gives({2, 3, 4}, filled(24, 0.0))},
      {"linear(x, w)", C::empty, {x({0, 3, 2}), x({4, 2})}, gives({0, 3, 4})},
      {"linear(x, w)", C::one, {x({1, 1, 1}), x({1, 1})}, gives({1, 1, 1}, {1.0})},
      {"linear(x, w)", C::scalar, {x({}), x({1, 1})}, fails("linear: input [] x weight [1,1]")},

      // --- ConvNet ops (conv2d rows: stride 1, padding 1) ---
      {"conv2d(x, w, b, 1, 1) im2col", C::empty, {x({0, 1, 3, 3}), x({2, 1, 2, 2}), x({2})}, gives({0, 2, 4, 4})},
      {"conv2d(x, w, b, 1, 1) im2col",
       C::empty,
       {x({2, 0, 3, 3}), x({2, 0, 2, 2}), x({2})},
       gives({2, 2, 4, 4},
             [] {
               std::vector<double> v;
               for (int n = 0; n < 2; ++n)
                 for (double b : {1.5, 1.625}) v.insert(v.end(), 16, b);
               return v;
             }())},
      {"conv2d(x, w, b, 1, 1) im2col", C::empty, {x({2, 1, 3, 3}), x({0, 1, 2, 2}), x({0})}, gives({2, 0, 4, 4})},
      {"conv2d(x, w, b, 1, 1) im2col",
       C::empty,
       {x({1, 1, 0, 3}), x({1, 1, 1, 1}), x({1})},
       gives({1, 1, 2, 5}, filled(10, 1.5))},
      {"conv2d(x, w, b, 1, 1) im2col",
       C::empty,
       {x({1, 1, 3, 3}), x({1, 1, 0, 2}), x({1})},
       fails("conv2d: weight [1,1,0,2] has an empty kernel")},
      {"conv2d(x, w, b, 1, 1) im2col",
       C::one,
       {x({1, 1, 1, 1}), x({1, 1, 1, 1}), x({1})},
       gives({1, 1, 3, 3}, {1.5, 1.5, 1.5, 1.5, 2.5, 1.5, 1.5, 1.5, 1.5})},
      {"conv2d(x, w, b, 1, 1) im2col",
       C::scalar,
       {x({}), x({1, 1, 1, 1}), x({1})},
       fails("conv2d: input [] is not 4-D [N,C,H,W]")},
      {"conv2d(x, w, b, 1, 1) winograd 2x2",
       C::empty,
       {x({0, 8, 16, 16}), x({2, 8, 3, 3}), x({2})},
       gives({0, 2, 16, 16})},
      {"conv2d(x, w, b, 1, 1) winograd 2x2",
       C::empty,
       {x({1, 0, 2, 2}), x({2, 0, 3, 3}), x({2})},
       gives({1, 2, 2, 2}, {1.5, 1.5, 1.5, 1.5, 1.625, 1.625, 1.625, 1.625})},
      {"conv2d(x, w, b, 1, 1) winograd 2x2", C::empty, {x({1, 2, 4, 4}), x({0, 2, 3, 3}), x({0})}, gives({1, 0, 4, 4})},
      {"conv2d(x, w, b, 1, 1) winograd 2x2",
       C::one,
       {x({1, 1, 1, 1}), x({1, 1, 3, 3}), x({1})},
       gives({1, 1, 1, 1}, {0.5 * 2.5 + 1.5})},
      {"conv2d(x, w, b, 1, 1) winograd 2x2",
       C::scalar,
       {x({}), x({1, 1, 3, 3}), x({1})},
       fails("conv2d: input [] is not 4-D [N,C,H,W]")},
      {"conv2d(x, w, b, 1, 1) winograd 4x4",
       C::empty,
       {x({0, 8, 16, 16}), x({2, 8, 3, 3}), x({2})},
       gives({0, 2, 16, 16})},
      {"conv2d(x, w, b, 1, 1) winograd 4x4",
       C::empty,
       {x({1, 0, 2, 2}), x({2, 0, 3, 3}), x({2})},
       gives({1, 2, 2, 2}, {1.5, 1.5, 1.5, 1.5, 1.625, 1.625, 1.625, 1.625})},
      {"conv2d(x, w, b, 1, 1) winograd 4x4", C::empty, {x({1, 2, 5, 5}), x({0, 2, 3, 3}), x({0})}, gives({1, 0, 5, 5})},
      {"conv2d(x, w, b, 1, 1) winograd 4x4",
       C::one,
       {x({1, 1, 1, 1}), x({1, 1, 3, 3}), x({1})},
       gives({1, 1, 1, 1}, {0.5 * 2.5 + 1.5})},
      {"conv2d(x, w, b, 1, 1) winograd 4x4",
       C::scalar,
       {x({}), x({1, 1, 3, 3}), x({1})},
       fails("conv2d: input [] is not 4-D [N,C,H,W]")},
      {"conv2d(x, w, {}, 2, 1)", C::empty, {x({0, 3, 5, 5}), x({4, 3, 3, 3})}, gives({0, 4, 3, 3})},
      {"conv2d(x, w, {}, 2, 1)", C::empty, {x({1, 3, 5, 5}), x({0, 3, 3, 3})}, gives({1, 0, 3, 3})},
      {"conv2d(x, w, {}, 2, 1)", C::one, {x({1, 1, 1, 1}), x({1, 1, 1, 1})}, gives({1, 1, 2, 2}, filled(4, 0.0))},
      {"conv2d(x, w, {}, 2, 1)", C::scalar, {x({}), x({})}, fails("conv2d: input [] is not 4-D [N,C,H,W]")},
      {"max_pool2d(x, 2)", C::empty, {x({0, 1, 2, 2})}, gives({0, 1, 1, 1})},
      {"max_pool2d(x, 2)", C::empty, {x({1, 0, 2, 2})}, gives({1, 0, 1, 1})},
      {"max_pool2d(x, 2)",
       C::empty,
       {x({1, 1, 0, 2})},
       fails("max_pool2d: kernel [2,2] is larger than the input [1,1,0,2] (its H,W are [0,2])")},
      {"max_pool2d(x, 2)",
       C::one,
       {x({1, 1, 1, 1})},
       fails("max_pool2d: kernel [2,2] is larger than the input [1,1,1,1] (its H,W are [1,1])")},
      {"max_pool2d(x, 2)", C::scalar, {x({})}, fails("max_pool2d: input [] is not 4-D [N,C,H,W]")},
      {"max_pool2d(x, 1)", C::empty, {x({2, 0, 1, 1})}, gives({2, 0, 1, 1})},
      {"max_pool2d(x, 1)", C::one, {x({1, 1, 1, 1})}, gives({1, 1, 1, 1}, {0.5})},
      {"max_pool2d(x, 1)", C::scalar, {x({})}, fails("max_pool2d: input [] is not 4-D [N,C,H,W]")},
      {"avg_pool2d(x, 2)", C::empty, {x({0, 3, 4, 4})}, gives({0, 3, 2, 2})},
      {"avg_pool2d(x, 2)",
       C::one,
       {x({1, 1, 1, 1})},
       fails("avg_pool2d: kernel [2,2] is larger than the input [1,1,1,1] (its H,W are [1,1])")},
      {"avg_pool2d(x, 2)", C::scalar, {x({})}, fails("avg_pool2d: input [] is not 4-D [N,C,H,W]")},
      {"avg_pool2d(x, 3, 2)", C::empty, {x({2, 0, 3, 3})}, gives({2, 0, 1, 1})},
      {"avg_pool2d(x, 3, 2)",
       C::one,
       {x({1, 1, 1, 1})},
       fails("avg_pool2d: kernel [3,3] is larger than the input [1,1,1,1] (its H,W are [1,1])")},
      {"avg_pool2d(x, 3, 2)", C::scalar, {x({})}, fails("avg_pool2d: input [] is not 4-D [N,C,H,W]")},

      // --- batch normalization: x, gamma, beta, running_mean, running_var ---
      {"batch_norm train",
       C::empty,
       {x({0, 3}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm: input [0,3] has 0 value per channel; training needs more than 1")},
      {"batch_norm train", C::empty, {x({4, 0}), x({0}), x({0}), fixed({0}, {}), fixed({0}, {})}, gives({4, 0})},
      {"batch_norm train",
       C::empty,
       {x({2, 3, 0, 4}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm: input [2,3,0,4] has 0 value per channel")},
      {"batch_norm train",
       C::one,
       {x({1, 1}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm: input [1,1] has 1 value per channel; training needs more than 1")},
      {"batch_norm train",
       C::scalar,
       {x({}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm: input [] must be [N,D] or [N,C,H,W]")},
      {"batch_norm eval",
       C::empty,
       {x({0, 3}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       gives({0, 3})},
      {"batch_norm eval",
       C::empty,
       {x({2, 0, 3, 3}), x({0}), x({0}), fixed({0}, {}), fixed({0}, {})},
       gives({2, 0, 3, 3})},
      {"batch_norm eval",
       C::one,
       {x({1, 1}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       gives({1, 1}, {kBnEval})},
      {"batch_norm eval",
       C::scalar,
       {x({}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm: input [] must be [N,D] or [N,C,H,W]")},
      {"batch_norm_fused train",
       C::empty,
       {x({0, 3}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       fails("batch_norm_fused: input [0,3] has 0 value per channel; training needs more than 1")},
      {"batch_norm_fused train", C::empty, {x({4, 0}), x({0}), x({0}), fixed({0}, {}), fixed({0}, {})}, gives({4, 0})},
      {"batch_norm_fused train",
       C::one,
       {x({1, 1}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm_fused: input [1,1] has 1 value per channel; training needs more than 1")},
      {"batch_norm_fused train",
       C::scalar,
       {x({}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm_fused: input [] must be [N,D] or [N,C,H,W]")},
      {"batch_norm_fused eval",
       C::empty,
       {x({0, 3}), x({3}), x({3}), fixed({3}, {0, 0, 0}), fixed({3}, {1, 1, 1})},
       gives({0, 3})},
      {"batch_norm_fused eval",
       C::empty,
       {x({2, 0, 3, 3}), x({0}), x({0}), fixed({0}, {}), fixed({0}, {})},
       gives({2, 0, 3, 3})},
      {"batch_norm_fused eval",
       C::one,
       {x({1, 1}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       gives({1, 1}, {kBnEval})},
      {"batch_norm_fused eval",
       C::scalar,
       {x({}), x({1}), x({1}), fixed({1}, {0.25}), fixed({1}, {1})},
       fails("batch_norm_fused: input [] must be [N,D] or [N,C,H,W]")},

      // --- gather and losses ---
      {"pick", C::empty, {x({0, 3})}, gives({0})},
      {"pick", C::empty, {x({2, 0})}, fails("pick: index 0 at position 0 is out of range for input [2,0] (0 columns)")},
      {"pick", C::one, {x({1, 1})}, gives({1}, {0.5})},
      {"pick", C::scalar, {x({})}, fails("pick: input [] is not 2-D [N,C]")},
      {"cross_entropy", C::empty, {x({0, 3})}, fails("cross_entropy: scores [0,3] hold an empty batch")},
      {"cross_entropy",
       C::empty,
       {x({2, 0})},
       fails("cross_entropy: label 0 at position 0 is out of range for scores [2,0] (it has no classes)")},
      {"cross_entropy", C::one, {x({1, 1})}, gives({}, {0.0})},
      {"cross_entropy", C::scalar, {x({})}, fails("cross_entropy: scores [] must be 2-D [N,C]")},
      {"cross_entropy(x, labels tensor)",
       C::empty,
       {x({0, 3}), fixed({0}, {})},
       fails("cross_entropy: scores [0,3] hold an empty batch")},
      {"cross_entropy(x, labels tensor)",
       C::empty,
       {x({2, 3}), fixed({0}, {})},
       fails("cross_entropy: 0 labels for scores [2,3] with 2 rows")},
      {"cross_entropy(x, labels tensor)", C::one, {x({1, 1}), fixed({1}, {0})}, gives({}, {0.0})},
      {"cross_entropy(x, labels tensor)",
       C::scalar,
       {x({1, 2}), fixed({}, {1})},
       fails("cross_entropy: labels [] must be 1-D, one class index per row")},
      {"svm_loss", C::empty, {x({0, 3})}, fails("svm_loss: scores [0,3] hold an empty batch")},
      {"svm_loss",
       C::empty,
       {x({2, 0})},
       fails("svm_loss: label 0 at position 0 is out of range for scores [2,0] (it has no classes)")},
      {"svm_loss", C::one, {x({1, 1})}, gives({}, {0.0})},
      {"svm_loss", C::scalar, {x({})}, fails("svm_loss: scores [] must be 2-D [N,C]")},
      {"svm_loss(x, labels tensor)",
       C::empty,
       {x({0, 2}), fixed({0}, {})},
       fails("svm_loss: scores [0,2] hold an empty batch")},
      {"svm_loss(x, labels tensor)", C::one, {x({1, 1}), fixed({1}, {0})}, gives({}, {0.0})},
      {"svm_loss(x, labels tensor)",
       C::scalar,
       {x({1, 2}), fixed({}, {1})},
       fails("svm_loss: labels [] must be 1-D, one class index per row")},
      {"svm_loss_squared", C::empty, {x({0, 3})}, fails("svm_loss_squared: scores [0,3] hold an empty batch")},
      {"svm_loss_squared", C::one, {x({1, 1})}, gives({}, {0.0})},
      {"svm_loss_squared", C::scalar, {x({})}, fails("svm_loss_squared: scores [] must be 2-D [N,C]")},
      {"svm_loss_squared(x, labels tensor)",
       C::empty,
       {x({0, 2}), fixed({0}, {})},
       fails("svm_loss_squared: scores [0,2] hold an empty batch")},
      {"svm_loss_squared(x, labels tensor)", C::one, {x({1, 1}), fixed({1}, {0})}, gives({}, {0.0})},
      {"svm_loss_squared(x, labels tensor)",
       C::scalar,
       {x({1, 2}), fixed({}, {1})},
       fails("svm_loss_squared: labels [] must be 1-D, one class index per row")},
      {"binary_cross_entropy_with_logits",
       C::empty,
       {x({2, 0}), x({2, 0})},
       fails("binary_cross_entropy_with_logits: logits [2,0] is empty")},
      {"binary_cross_entropy_with_logits", C::one, {x({1}), x({1})}, gives({}, {bce(0.5, 2.0)})},
      {"binary_cross_entropy_with_logits", C::scalar, {x({}), x({})}, gives({}, {bce(0.5, 2.0)})},
      {"mse_loss", C::empty, {x({0}), x({0})}, fails("mse_loss: pred [0] is empty")},
      {"mse_loss", C::one, {x({1, 1}), x({1, 1})}, gives({}, {2.25})},
      {"mse_loss", C::scalar, {x({}), x({})}, gives({}, {2.25})},
      {"l1_loss", C::empty, {x({3, 0}), x({3, 0})}, fails("l1_loss: pred [3,0] is empty")},
      {"l1_loss", C::one, {x({1}), x({1})}, gives({}, {1.5})},
      {"l1_loss", C::scalar, {x({}), x({})}, gives({}, {1.5})},

      // --- weight penalties ---
      {"l1_penalty", C::empty, {x({2, 0}), x({0})}, gives({}, {0.0})},
      {"l1_penalty", C::one, {x({1}), x({1, 1})}, gives({}, {2.5})},
      {"l1_penalty", C::scalar, {x({}), x({})}, gives({}, {2.5})},
      {"l2_penalty(half)", C::empty, {x({0}), x({0, 0})}, gives({}, {0.0})},
      {"l2_penalty(half)", C::one, {x({1}), x({1})}, gives({}, {0.5 * (0.25 + 4.0)})},
      {"l2_penalty(half)", C::scalar, {x({}), x({})}, gives({}, {0.5 * (0.25 + 4.0)})},
      {"elastic_net(0.1, 0.2)", C::empty, {x({0, 3}), x({3, 0})}, gives({}, {0.0})},
      {"elastic_net(0.1, 0.2)", C::one, {x({1}), x({1})}, gives({}, {0.1 * 2.5 + 0.2 * 4.25})},
      {"elastic_net(0.1, 0.2)", C::scalar, {x({}), x({})}, gives({}, {0.1 * 2.5 + 0.2 * 4.25})},
  };
  return table;
}

// --- the harness ------------------------------------------------------------------------------------

const Op& op_named(const std::string& name) {
  for (const Op& op : ops())
    if (op.name == name) return op;
  FAIL("no op named '" << name << "' in the table");
  return ops().front();
}

std::vector<double> values_of(const T& t) {
  const T d = t.detach().to(xg::f64);
  const auto& a = d.value<double>();
  return {a.begin(), a.end()};
}

// An input as a leaf of `dtype`: its fixed values, else kBase[k] + 0.125 i (or, with rng, uniform
// on [0.5, 1.5)).
T make_input(const Arg& arg, std::size_t k, xg::DType dtype, std::mt19937_64* rng = nullptr) {
  T t = xg::zeros(arg.shape, xg::f64);
  auto& v = t.mutable_value<double>();
  std::uniform_real_distribution<double> uniform(0.5, 1.5);
  for (std::size_t i = 0; i < v.size(); ++i)
    v.data()[i] = !arg.values.empty() ? arg.values.at(i)
                  : rng               ? uniform(*rng)
                                      : kBase[k % std::size(kBase)] + 0.125 * static_cast<double>(i);
  T out = t.to(dtype);
  if (arg.grad) out.requires_grad_();
  return out;
}

// The op's result, or std::nullopt with the xg::Error's message in `error`. Any other exception
// fails the row. dropout draws from a generator reseeded here, so runs compare.
std::optional<T> run(const Op& op, const std::vector<T>& inputs, std::string& error) {
  xg::manual_seed(1234);
  try {
    return op.f(inputs);
  } catch (const xg::Error& e) {
    error = e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("threw " << typeid(e).name() << " (not xg::Error): " << e.what());
    error = "(another exception)";
  }
  return std::nullopt;
}

// Backward from sum(y * w), w = 1 + 0.25 i: every element of y gets a different weight.
void backward_from(const T& y) {
  T w = xg::zeros(y.shape(), y.dtype());
  std::vector<double> weights(y.numel());
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = 1 + 0.25 * static_cast<double>(i);
  if (y.dtype() == xg::f32)
    std::copy(weights.begin(), weights.end(), w.mutable_value<float>().begin());
  else
    std::copy(weights.begin(), weights.end(), w.mutable_value<double>().begin());
  xg::sum(y * w).backward();
}

bool differentiable(const Op& op, const std::vector<T>& inputs, const T& y) {
  if (!op.differentiable || !y.requires_grad()) return false;
  for (const T& t : inputs)
    if (t.requires_grad()) return true;
  return false;
}

// Runs backward and checks each gradient's shape, dtype and finiteness.
void check_gradients(const Op& op, const std::vector<T>& inputs, const T& y) {
  if (!differentiable(op, inputs, y)) return;
  try {
    backward_from(y);
  } catch (const std::exception& e) {
    FAIL_CHECK("backward threw: " << e.what());
    return;
  }
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    CAPTURE(k);
    const T g = inputs[k].grad();
    if (!g.defined()) {
      FAIL_CHECK("no gradient reached input " << k);
      continue;
    }
    CHECK(xg::shape_str(g.shape()) == xg::shape_str(inputs[k].shape()));
    CHECK(g.dtype() == inputs[k].dtype());
    for (double v : values_of(g)) CHECK(std::isfinite(v));
  }
}

void check_result(const T& y, const Expect& e, xg::DType dtype) {
  CHECK(xg::shape_str(y.shape()) == xg::shape_str(e.shape));
  if (e.values.empty() || y.shape() != e.shape) return;
  const std::vector<double> got = values_of(y);
  const double eps = dtype == xg::f32 ? 1e-6 : 1e-12;
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(e.values[i]).epsilon(eps));
  }
}

// A zero-size, one-element or 0-d row in one dtype.
void run_row(const Row& row, xg::DType dtype) {
  const Op& op = op_named(row.op);
  std::vector<T> inputs;
  for (std::size_t k = 0; k < row.in.size(); ++k) inputs.push_back(make_input(row.in[k], k, dtype));
  std::string error;
  const std::optional<T> y = run(op, inputs, error);
  if (row.expect.kind == Expect::error) {
    if (y)
      FAIL_CHECK("no error; expected: " << row.expect.message);
    else if (error.find(row.expect.message) == std::string::npos)
      FAIL_CHECK("error: " << error << "\nexpected: " << row.expect.message);
    return;
  }
  if (!y) {
    FAIL_CHECK("error: " << error);
    return;
  }
  check_result(*y, row.expect, dtype);
  if (op.name != "to(f32)" && !op.name.starts_with("argmax")) CHECK(y->dtype() == dtype);
  check_gradients(op, inputs, *y);
  // One element or 0-d, in f64: the gradient against finite differences too.
  if (dtype == xg::f64 && y->dtype() == xg::f64 && row.c != Case::empty && differentiable(op, inputs, *y)) {
    std::vector<T> leaves;
    for (std::size_t k = 0; k < row.in.size(); ++k) leaves.push_back(make_input(row.in[k], k, xg::f64));
    const xg::GradcheckReport report = xg::gradcheck(
        [&](const std::vector<T>& in) {
          xg::manual_seed(1234);
          return op.f(in);
        },
        leaves);
    CHECK_MESSAGE(report.ok, fmt::format("{}", report));
  }
}

// Swaps the last two axes of a shape, or of a row-major array's data.
Shape swap_last_two(Shape s) {
  std::swap(s[s.size() - 2], s[s.size() - 1]);
  return s;
}
std::vector<double> transpose_last_two(const std::vector<double>& v, const Shape& shape) {
  const std::size_t r = shape[shape.size() - 2], c = shape.back(), plane = r * c;
  std::vector<double> out(v.size());
  for (std::size_t p = 0; p * plane < v.size(); ++p)
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < c; ++j) out[p * plane + j * r + i] = v[p * plane + i * c + j];
  return out;
}
T leaf_with(const std::vector<double>& v, const Shape& shape, xg::DType dtype) {
  T t = xg::zeros(shape, xg::f64);
  std::copy(v.begin(), v.end(), t.mutable_value<double>().begin());
  T out = t.to(dtype);
  return out.requires_grad_();
}

// The op on inputs that come out of permute (their last two axes swapped back), against the op on
// contiguous leaves holding the same values; gradients reach the permuted bases through permute.
void run_permuted(const Op& op) {
  std::mt19937_64 rng(99);
  std::vector<T> bases, through_permute, contiguous;
  for (std::size_t k = 0; k < op.regular.size(); ++k) {
    const Arg& arg = op.regular[k];
    if (arg.shape.size() < 2 || !arg.values.empty()) {  // labels, statistics, vectors: as they are
      through_permute.push_back(make_input(arg, k, xg::f32, &rng));
      contiguous.push_back(through_permute.back());
      bases.push_back({});
      continue;
    }
    const Shape base_shape = swap_last_two(arg.shape);
    const T base = make_input({base_shape, {}, true}, k, xg::f32, &rng);
    std::vector<std::size_t> axes(arg.shape.size());
    for (std::size_t i = 0; i < axes.size(); ++i) axes[i] = i;
    std::swap(axes[axes.size() - 2], axes[axes.size() - 1]);
    bases.push_back(base);
    through_permute.push_back(xg::permute(base, axes));
    contiguous.push_back(leaf_with(transpose_last_two(values_of(base), base_shape), arg.shape, xg::f32));
  }
  std::string error_p, error_c;
  const std::optional<T> yp = run(op, through_permute, error_p), yc = run(op, contiguous, error_c);
  if (!yp && !yc && op.mixed.kind == Expect::error && error_p.find(op.mixed.message) != std::string::npos) {
    CHECK(error_p == error_c);  // the regular inputs themselves are out of range (narrow at 2^64-1)
    return;
  }
  if (!yp || !yc) {
    FAIL_CHECK("error: " << error_p << " / " << error_c);
    return;
  }
  CHECK(xg::shape_str(yp->shape()) == xg::shape_str(yc->shape()));
  CHECK(values_of(*yp) == values_of(*yc));
  if (!differentiable(op, through_permute, *yp)) return;
  backward_from(*yp);
  backward_from(*yc);
  for (std::size_t k = 0; k < bases.size(); ++k) {
    CAPTURE(k);
    if (!bases[k].defined()) continue;
    if (!bases[k].grad().defined() || !contiguous[k].grad().defined()) {
      FAIL_CHECK("no gradient reached input " << k);
      continue;
    }
    CHECK(values_of(bases[k].grad()) == transpose_last_two(values_of(contiguous[k].grad()), op.regular[k].shape));
  }
}

// Input 0 in f32 and the others in f64 (a one-input op: its input in f64), against all in f32.
void run_mixed(const Op& op) {
  std::mt19937_64 rng_a(7), rng_b(7);
  std::vector<T> same, mixed;
  for (std::size_t k = 0; k < op.regular.size(); ++k) {
    same.push_back(make_input(op.regular[k], k, xg::f32, &rng_a));
    const bool other = k > 0 || op.regular.size() == 1;
    mixed.push_back(make_input(op.regular[k], k, other ? xg::f64 : xg::f32, &rng_b));
  }
  std::string error;
  const std::optional<T> y = run(op, mixed, error);
  if (op.mixed.kind == Expect::error) {
    if (y)
      FAIL_CHECK("no error; expected: " << op.mixed.message);
    else if (error.find(op.mixed.message) == std::string::npos)
      FAIL_CHECK("error: " << error << "\nexpected: " << op.mixed.message);
    return;
  }
  std::string error_same;
  const std::optional<T> reference = run(op, same, error_same);
  if (!y || !reference) {
    FAIL_CHECK("error: " << error << " / " << error_same);
    return;
  }
  CHECK(xg::shape_str(y->shape()) == xg::shape_str(reference->shape()));
  if (y->shape() != reference->shape()) return;
  const std::vector<double> a = values_of(*y), b = values_of(*reference);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-5).scale(1));
  check_gradients(op, mixed, *y);
}

}  // namespace

TEST_CASE("edge shapes: every op on zero-size, one-element and 0-d inputs, in f32 and f64") {
  std::size_t runs = 0;
  for (const Row& row : rows()) {
    for (xg::DType dtype : {xg::f32, xg::f64}) {
      const std::string what = fmt::format("{} / {} / {}", row.op, case_name(row.c), xg::dtype_name(dtype));
      CAPTURE(what);
      run_row(row, dtype);
      ++runs;
    }
  }
  MESSAGE(runs << " runs of " << rows().size() << " rows");
}

TEST_CASE("edge shapes: every op on permuted (non-contiguous) inputs and on f32 mixed with f64") {
  for (const Op& op : ops()) {
    CAPTURE(op.name);
    {
      const std::string what = case_name(Case::permuted);
      CAPTURE(what);
      run_permuted(op);
    }
    {
      const std::string what = case_name(Case::mixed);
      CAPTURE(what);
      run_mixed(op);
    }
  }
}

TEST_CASE("edge shapes: the table covers every op in every case") {
  std::size_t pairs = 0;
  for (const Op& op : ops()) {
    CAPTURE(op.name);
    for (Case c : {Case::empty, Case::one, Case::scalar}) {
      const std::string what = case_name(c);
      CAPTURE(what);
      bool covered = false;
      for (const Row& row : rows()) covered |= row.op == op.name && row.c == c;
      CHECK(covered);
      pairs += covered;
    }
    pairs += 2;  // permuted and mixed, generated from op.regular
  }
  for (const Row& row : rows()) {
    CAPTURE(row.op);
    CHECK_NOTHROW(op_named(row.op));
  }
  MESSAGE(ops().size() << " ops x 5 cases: " << pairs << " op x case pairs covered");
}

namespace {
// The xg::Error's message, "std::bad_alloc" or "(no error)": what a huge request gave.
template <class F>
std::string outcome_of(F&& f) {
  try {
    f();
  } catch (const xg::Error& e) {
    return e.what();
  } catch (const std::bad_alloc&) {
    return "std::bad_alloc";
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("edge shapes: a request for more memory than the machine has is an xg::Error naming the op and the bytes") {
  using xg::f32, xg::f64;
  const std::size_t memory = xg::detail::physical_memory_bytes();
  const std::size_t big = std::size_t{1} << 40;  // 4 TiB of f32 (this machine's memory is checked below)
  REQUIRE(big * 4 > memory);
  // Many handles to one modest tensor, so nothing large exists; together they ask for 4x the memory, so
  // that without the check malloc refuses at once (rather than the OOM killer stepping in).
  const T block = xg::zeros({std::size_t{1} << 24}, f64);  // 128 MiB
  const std::vector<T> blocks(4 * (memory / (std::size_t{128} << 20)) + 1, block);
  const T row = xg::zeros({1, std::size_t{1} << 20});  // 4 MiB
  const std::vector<std::int64_t> rows(4 * (memory / (std::size_t{4} << 20)) + 1, 0);
  // stack copies each input once before joining them, so its case uses empty tensors whose joined
  // shape overflows: a regression there fails the test instead of filling the machine.
  const std::vector<T> empties(4, xg::zeros({std::size_t{1} << 62, 0}));
  struct Request {
    const char* what;
    std::function<void()> f;
    std::string message;
  };
  const std::vector<Request> requests = {
      {"zeros", [&] { xg::zeros({big}); }, "zeros: [1099511627776] f32 needs 4.0 TiB (4398046511104 bytes), more than"},
      {"ones",
       [] {
         xg::ones({1 << 20, 1 << 20}, f64);
       },
       "ones: [1048576,1048576] f64 needs 8.0 TiB (8796093022208 bytes), more than"},
      {"full", [&] { xg::full({big}, 1.0); }, "full: [1099511627776] f32 needs 4.0 TiB (4398046511104 bytes)"},
      {"randn", [&] { xg::randn({big}); }, "randn: [1099511627776] f32 needs 4.0 TiB (4398046511104 bytes)"},
      {"rand",
       [&] {
         xg::rand({2, big}, f64);
       },
       "rand: [2,1099511627776] f64 needs 16.0 TiB (17592186044416 bytes)"},
      {"arange", [&] { xg::arange(big); }, "arange: [1099511627776] f32 needs 4.0 TiB (4398046511104 bytes)"},
      {"zeros beyond size_t",
       [] {
         xg::zeros({1ull << 32, 1ull << 32});
       },
       "zeros: [4294967296,4294967296] f32 has dimensions that multiply to 1.84e+19, more than a 64-bit size can "
       "count"},
      {"zeros empty beyond size_t",
       [] {
         xg::zeros({1ull << 32, 0, 1ull << 32});
       },
       "zeros: [4294967296,0,4294967296] f32 has dimensions that multiply to 1.84e+19"},
      {"reshape beyond size_t",
       [] {
         xg::reshape(xg::zeros({0}), {1ull << 32, 1ull << 32});
       },
       "reshape: [0] reshaped gives [4294967296,4294967296] f32, which has dimensions that multiply to 1.84e+19"},
      {"matmul",
       [] {
         xg::matmul(xg::zeros({200000, 1}, f64), xg::zeros({1, 200000}, f64));
       },
       "matmul: [200000,1] x [1,200000] gives [200000,200000] f64, which needs 298.0 GiB (320000000000 bytes), more "
       "than this machine's"},
      {"matmul [B,M,K] x [K,N]",
       [] {
         xg::matmul(xg::zeros({2, 100000, 1}), xg::zeros({1, 200000}));
       },
       "matmul: [2,100000,1] x [1,200000] gives [2,100000,200000] f32, which needs 149.0 GiB (160000000000 bytes)"},
      {"linear",
       [] {
         xg::linear(xg::zeros({200000, 1}), xg::zeros({200000, 1}));
       },
       "linear: input [200000,1] x weight [200000,1] gives [200000,200000] f32, which needs 149.0 GiB (160000000000 "
       "bytes)"},
      {"add (broadcast)",
       [] {
         xg::zeros({200000, 1}) + xg::zeros({1, 200000});
       },
       "add: [200000,1] and [1,200000] gives [200000,200000] f32, which needs 149.0 GiB (160000000000 bytes)"},
      {"maximum (broadcast)",
       [] {
         xg::maximum(xg::zeros({200000, 1}, f64), xg::zeros({200000}, f64));
       },
       "maximum: [200000,1] and [200000] gives [200000,200000] f64, which needs 298.0 GiB (320000000000 bytes)"},
      {"expand", [&] { xg::expand(xg::zeros({1}), {big}); },
       "expand: [1] expanded gives [1099511627776] f32, which needs 4.0 TiB (4398046511104 bytes)"},
      {"sum over an empty axis",
       [&] {
         xg::sum(xg::zeros({big, 0}), 1);
       },
       "sum: [1099511627776] f32 needs 4.0 TiB (4398046511104 bytes)"},
      {"conv2d",
       [] {
         xg::conv2d(xg::zeros({1, 1, 1, 1}), xg::zeros({1, 1, 1, 1}), {}, 1, 300000);
       },
       "conv2d: input [1,1,1,1] and weight [1,1,1,1] with stride [1,1] and padding [300000,300000] gives "
       "[1,1,600001,600001] f32, which needs 1.3 TiB (1440004800004 bytes)"},
      {"concat", [&] { xg::concat(blocks); },
       fmt::format("concat: {} tensors joined gives [{}] f64, which needs", blocks.size(), blocks.size() << 24)},
      {"stack", [&] { xg::stack(empties); },
       "stack: 4 tensors stacked gives [4,4611686018427387904,0] f32, which has dimensions that multiply to 1.84e+19"},
      {"index_select", [&] { xg::index_select(row, 0, rows); },
       fmt::format("index_select: {} indices into [1,1048576] gives [{},1048576] f32, which needs", rows.size(),
                   rows.size())},
  };
  for (const Request& r : requests) {
    const std::string what = r.what;
    CAPTURE(what);
    const std::string got = outcome_of(r.f);
    CHECK_MESSAGE(got.find(r.message) != std::string::npos, "got: " << got << "\nexpected: " << r.message);
    CHECK_MESSAGE(got.find(" of memory") != std::string::npos, "got: " << got);
  }
}

TEST_CASE("edge shapes: arguments whose arithmetic would wrap around are errors") {
  const T x = xg::zeros({1, 1, 3, 3}), w = xg::zeros({1, 1, 1, 1});
  constexpr std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  // 2 * padding wraps around to -2 (the padded input looked smaller than the input), and a huge stride
  // with padding 2 overflowed the signed offsets of the padding's edges (undefined behaviour).
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w, {}, 1, huge),
                       doctest::Contains(
                           "conv2d: padding [9223372036854775807,9223372036854775807] is beyond 2147483647"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::conv2d(x, w, {}, huge, 2),
                       doctest::Contains(
                           "conv2d: stride [9223372036854775807,9223372036854775807] is beyond 2147483647"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::narrow(x, 2, 1, std::numeric_limits<std::size_t>::max()),
                       doctest::Contains(
                           "narrow: [1, 1 + 18446744073709551615) is out of range for axis 2 of shape [1,1,3,3]"),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::index_select(x, 2, {huge}),
                       doctest::Contains("index_select: index 9223372036854775807 is out of range for axis 2"),
                       xg::Error);
  CHECK(xg::max_pool2d(x, 1, huge).shape() == Shape{1, 1, 1, 1});  // one window: fine, no wrap-around
  CHECK(xg::avg_pool2d(x, {3, 1}, {huge, huge}).shape() == Shape{1, 1, 1, 1});
}

TEST_CASE("a GEMM dimension above OpenBLAS's 32-bit limit is an xg::Error, not a wrapped negative size") {
  // The check comes before any element is touched, so tiny buffers stand in for the huge operands.
  float a[1] = {1}, b[1] = {1}, c[1] = {0};
  const std::size_t huge = std::size_t{1} << 31;
  CHECK_THROWS_WITH_AS(xg::detail::gemm({false, false, huge, 1, 1}, a, 1, b, 1, c, 1, false),
                       "matmul: a GEMM of [2147483648,1] x [1,1] has a dimension above 2147483647, the largest "
                       "OpenBLAS accepts",
                       xg::Error);
  CHECK(c[0] == 0.0f);
}
