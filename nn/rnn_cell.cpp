#include "rnn_cell.hpp"

#include <cmath>

#include "../ops/arithmetic.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/matmul.hpp"
#include "../ops/shape.hpp"
#include "init.hpp"

namespace xgrad::nn {

namespace detail {

CellWeights prepare(CellKind kind, std::size_t hidden, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                    const Tensor& b_hh) {
  CellWeights cw{kind, hidden, {}, {}, {}, {}, {}, {}};
  if (kind == CellKind::gru) {
    cw.w_ih = w_ih, cw.w_hh = w_hh, cw.b_ih = b_ih, cw.b_hh = b_hh;
  } else {
    cw.w = concat({w_ih, w_hh}, 1);  // [G*H, I + H]
    if (b_ih.defined()) cw.b = b_ih + b_hh;
  }
  return cw;
}

// h' = act([x, h] [W_ih, W_hh]^T + b_ih + b_hh)
Tensor rnn_step(const CellWeights& w, const Tensor& x, const Tensor& h) {
  Tensor pre = linear(concat({x, h}, 1), w.w, w.b);
  return w.kind == CellKind::rnn_relu ? relu(pre) : tanh(pre);
}

// gates = [x, h] [W_ih, W_hh]^T + b_ih + b_hh, blocks i f g o;  c' = f c + i g;  h' = o tanh(c')
LSTMState lstm_step(const CellWeights& w, const Tensor& x, const Tensor& h, const Tensor& c) {
  const std::size_t H = w.hidden;
  Tensor gates = linear(concat({x, h}, 1), w.w, w.b);  // [N, 4H]
  Tensor i = sigmoid(narrow(gates, 1, 0, H));
  Tensor f = sigmoid(narrow(gates, 1, H, H));
  Tensor g = tanh(narrow(gates, 1, 2 * H, H));
  Tensor o = sigmoid(narrow(gates, 1, 3 * H, H));
  Tensor c_next = f * c + i * g;
  return {o * tanh(c_next), c_next};
}

// r, z = sigmoid(gi[r z] + gh[r z]);  n = tanh(gi[n] + r gh[n]);  h' = (1 - z) n + z h = n + z (h - n)
Tensor gru_step(const CellWeights& w, const Tensor& x, const Tensor& h) {
  const std::size_t H = w.hidden;
  Tensor gi = linear(x, w.w_ih, w.b_ih);  // [N, 3H]: W_ir x + b_ir, W_iz x + b_iz, W_in x + b_in
  Tensor gh = linear(h, w.w_hh, w.b_hh);  // [N, 3H]: the same for h
  Tensor rz = sigmoid(narrow(gi, 1, 0, 2 * H) + narrow(gh, 1, 0, 2 * H));
  Tensor r = narrow(rz, 1, 0, H);
  Tensor z = narrow(rz, 1, H, H);
  Tensor n = tanh(narrow(gi, 1, 2 * H, H) + r * narrow(gh, 1, 2 * H, H));
  return n + z * (h - n);
}

CellParameters register_cell(const Registrar& reg, std::size_t gates, std::size_t input, std::size_t hidden, bool bias,
                             const std::string& suffix) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto param = [&](const std::string& name, const Shape& shape) {
    Tensor t = reg(name + suffix, zeros(shape));
    init::uniform_(t, -bound, bound);
    return t;
  };
  CellParameters p;
  p.weight_ih = param("weight_ih", {gates * hidden, input});
  p.weight_hh = param("weight_hh", {gates * hidden, hidden});
  if (bias) {
    p.bias_ih = param("bias_ih", {gates * hidden});
    p.bias_hh = param("bias_hh", {gates * hidden});
  }
  return p;
}

}  // namespace detail

namespace {
using detail::CellKind;

// Checks that t is [n, size] with the parameters' dtype; `what` names it in the error ("input", "h", "c").
void check_step_input(const char* layer, const char* what, const Tensor& t, std::size_t n, std::size_t size,
                      DType dtype) {
  if (!t.defined()) throw Error("{}: the {} is undefined", layer, what);
  const Shape s = t.shape();
  if (s.size() != 2 || s[0] != n || s[1] != size)
    throw Error("{}: {} has shape {}, expected [{}, {}] ([batch, {}])", layer, what, shape_str(s), n, size,
                what[0] == 'i' ? "input_size" : "hidden_size");
  if (t.dtype() != dtype)
    throw Error("{}: {} is {} but the parameters are {} (convert one with .to())", layer, what, dtype_name(t.dtype()),
                dtype_name(dtype));
}

void check_sizes(const char* layer, std::size_t input, std::size_t hidden) {
  if (input == 0 || hidden == 0)
    throw Error("{}: input_size and hidden_size must be positive, got {} and {}", layer, input, hidden);
}

// x [N, I] checked against the cell; returns N.
std::size_t check_x(const char* layer, const Tensor& x, std::size_t input, DType dtype) {
  if (!x.defined()) throw Error("{}: the input is undefined", layer);
  const Shape s = x.shape();
  if (s.size() != 2 || s[1] != input)
    throw Error("{}: input has shape {}, expected [batch, {}] (input_size = {})", layer, shape_str(s), input, input);
  check_step_input(layer, "input", x, s[0], input, dtype);
  return s[0];
}
Tensor state_or_zeros(const char* layer, const char* what, const Tensor& t, std::size_t n, std::size_t hidden,
                      DType dtype) {
  if (!t.defined()) return zeros({n, hidden}, dtype);
  check_step_input(layer, what, t, n, hidden, dtype);
  return t;
}
std::string describe_cell(const char* name, std::size_t in, std::size_t hidden, bool bias, const char* extra = "") {
  return fmt::format("{}(input={}, hidden={}{}{})", name, in, hidden, bias ? "" : ", no bias", extra);
}
}  // namespace

// --- RNNCell ---------------------------------------------------------------------------------------
RNNCell::RNNCell(std::size_t input_size, std::size_t hidden_size, bool bias, RNNNonlinearity nonlinearity)
    : input_(input_size), hidden_(hidden_size), nonlinearity_(nonlinearity) {
  check_sizes("RNNCell", input_size, hidden_size);
  const auto p = detail::register_cell(parameter_registrar(), 1, input_size, hidden_size, bias);
  weight_ih = p.weight_ih, weight_hh = p.weight_hh, bias_ih = p.bias_ih, bias_hh = p.bias_hh;
}

Tensor RNNCell::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor RNNCell::forward(const Tensor& x, const Tensor& h) {
  const DType dtype = weight_ih.dtype();
  const std::size_t n = check_x("RNNCell", x, input_, dtype);
  const Tensor h0 = state_or_zeros("RNNCell", "h", h, n, hidden_, dtype);
  const auto kind = nonlinearity_ == RNNNonlinearity::relu ? CellKind::rnn_relu : CellKind::rnn_tanh;
  return detail::rnn_step(detail::prepare(kind, hidden_, weight_ih, weight_hh, bias_ih, bias_hh), x, h0);
}

std::string RNNCell::describe() const {
  return describe_cell("RNNCell", input_, hidden_, bias_ih.defined(),
                       nonlinearity_ == RNNNonlinearity::relu ? ", relu" : ", tanh");
}

// --- LSTMCell --------------------------------------------------------------------------------------
LSTMCell::LSTMCell(std::size_t input_size, std::size_t hidden_size, bool bias)
    : input_(input_size), hidden_(hidden_size) {
  check_sizes("LSTMCell", input_size, hidden_size);
  const auto p = detail::register_cell(parameter_registrar(), 4, input_size, hidden_size, bias);
  weight_ih = p.weight_ih, weight_hh = p.weight_hh, bias_ih = p.bias_ih, bias_hh = p.bias_hh;
}

Tensor LSTMCell::forward(const Tensor& x) { return forward(x, LSTMState{}).h; }

LSTMState LSTMCell::forward(const Tensor& x, const LSTMState& state) {
  const DType dtype = weight_ih.dtype();
  const std::size_t n = check_x("LSTMCell", x, input_, dtype);
  const Tensor h0 = state_or_zeros("LSTMCell", "h", state.h, n, hidden_, dtype);
  const Tensor c0 = state_or_zeros("LSTMCell", "c", state.c, n, hidden_, dtype);
  return detail::lstm_step(detail::prepare(CellKind::lstm, hidden_, weight_ih, weight_hh, bias_ih, bias_hh), x, h0, c0);
}

std::string LSTMCell::describe() const { return describe_cell("LSTMCell", input_, hidden_, bias_ih.defined()); }

// --- GRUCell ---------------------------------------------------------------------------------------
GRUCell::GRUCell(std::size_t input_size, std::size_t hidden_size, bool bias)
    : input_(input_size), hidden_(hidden_size) {
  check_sizes("GRUCell", input_size, hidden_size);
  const auto p = detail::register_cell(parameter_registrar(), 3, input_size, hidden_size, bias);
  weight_ih = p.weight_ih, weight_hh = p.weight_hh, bias_ih = p.bias_ih, bias_hh = p.bias_hh;
}

Tensor GRUCell::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  const DType dtype = weight_ih.dtype();
  const std::size_t n = check_x("GRUCell", x, input_, dtype);
  const Tensor h0 = state_or_zeros("GRUCell", "h", h, n, hidden_, dtype);
  return detail::gru_step(detail::prepare(CellKind::gru, hidden_, weight_ih, weight_hh, bias_ih, bias_hh), x, h0);
}

std::string GRUCell::describe() const { return describe_cell("GRUCell", input_, hidden_, bias_ih.defined()); }

}  // namespace xgrad::nn
