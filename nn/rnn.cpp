#include "rnn.hpp"

#include <cmath>

#include "../ops/arithmetic.hpp"
#include "../ops/dropout.hpp"
#include "../ops/lstm_sequence.hpp"
#include "../ops/shape.hpp"
#include "init.hpp"

namespace xgrad::nn {

namespace {
using detail::CellKind;

std::size_t gate_count(CellKind kind) {
  switch (kind) {
    case CellKind::lstm:
      return 4;
    case CellKind::gru:
      return 3;
    default:
      return 1;
  }
}

// x [T, ...] -> T tensors [...]. Each slice is a narrow, whose gradient is a zero-padded tensor
// of x's full size; taking T slices of x directly would make backward O(T^2 * slice). When x is
// on the tape it is therefore halved recursively, which keeps backward at O(T log T * slice).
void unstack_into(const Tensor& x, std::vector<Tensor>& out) {
  const Shape s = x.shape();
  const std::size_t t = s[0];
  const Shape step(s.begin() + 1, s.end());
  if (t <= 4 || !x.requires_grad() || !grad_mode::enabled()) {
    for (std::size_t i = 0; i < t; ++i) out.push_back(reshape(narrow(x, 0, i, 1), step));
    return;
  }
  const std::size_t half = t / 2;
  unstack_into(narrow(x, 0, 0, half), out);
  unstack_into(narrow(x, 0, half, t - half), out);
}
std::vector<Tensor> unstack(const Tensor& x) {
  std::vector<Tensor> out;
  out.reserve(x.shape()[0]);
  unstack_into(x, out);
  return out;
}
}  // namespace

RNNBase::RNNBase(CellKind kind, const char* name, std::size_t input_size, std::size_t hidden_size, RNNOptions options)
    : kind_(kind), name_(name), input_(input_size), hidden_(hidden_size), options_(options) {
  if (input_size == 0 || hidden_size == 0)
    throw Error("{}: input_size and hidden_size must be positive, got {} and {}", name, input_size, hidden_size);
  if (options.num_layers == 0) throw Error("{}: num_layers must be at least 1", name);
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    throw Error("{}: dropout = {} is outside [0, 1)", name, options.dropout);
  if (kind != CellKind::rnn_tanh && kind != CellKind::rnn_relu && options.nonlinearity != RNNNonlinearity::tanh)
    throw Error("{}: the nonlinearity option is for RNN only", name);

  const std::size_t G = gate_count(kind), D = num_directions(), H = hidden_size;
  // PyTorch's order: for each layer, for each direction: w_ih, w_hh, b_ih, b_hh.
  for (std::size_t l = 0; l < options.num_layers; ++l)
    for (std::size_t d = 0; d < D; ++d) {
      const std::size_t in = l == 0 ? input_size : D * H;
      weights_.push_back(detail::register_cell(parameter_registrar(), G, in, H, options.bias,
                                               fmt::format("_l{}{}", l, d ? "_reverse" : "")));
    }
}

const RNNBase::LayerWeights& RNNBase::weights(std::size_t layer, bool reverse) const {
  if (layer >= options_.num_layers || (reverse && !options_.bidirectional))
    throw Error("{}: there is no layer {}{} (num_layers = {}{})", name_, layer, reverse ? " reverse" : "",
                options_.num_layers, options_.bidirectional ? ", bidirectional" : "");
  return weights_[layer * num_directions() + (reverse ? 1 : 0)];
}

Tensor RNNBase::forward(const Tensor& x) { return run(x).output; }

RNNOutput RNNBase::run(const Tensor& x, const Tensor& h0, const Tensor& c0) {
  const std::size_t L = options_.num_layers, D = num_directions(), H = hidden_;
  const DType dtype = weights_[0].weight_ih.dtype();
  const bool lstm = kind_ == CellKind::lstm;

  // --- checks -----------------------------------------------------------------------------------
  if (!x.defined()) throw Error("{}: the input is undefined", name_);
  const Shape s = x.shape();
  const char* layout = options_.batch_first ? "[batch, seq, input_size]" : "[seq, batch, input_size]";
  if (s.size() != 3 || s[2] != input_)
    throw Error("{}: input has shape {}, expected a 3-D {} with input_size = {}{}", name_, shape_str(s), layout, input_,
                s.size() == 3 ? fmt::format(" (got {})", s[2]) : std::string());
  const std::size_t T = options_.batch_first ? s[1] : s[0], N = options_.batch_first ? s[0] : s[1];
  if (T == 0) throw Error("{}: input {} is an empty sequence", name_, shape_str(s));
  if (x.dtype() != dtype)
    throw Error("{}: input is {} but the parameters are {} (convert one with .to())", name_, dtype_name(x.dtype()),
                dtype_name(dtype));
  auto check_state = [&](const Tensor& t, const char* what) {
    if (!t.defined()) return;
    if (t.shape() != Shape{L * D, N, H})
      throw Error("{}: {} has shape {}, expected [num_layers * num_directions, batch, hidden_size] = [{}, {}, {}]",
                  name_, what, shape_str(t.shape()), L * D, N, H);
    if (t.dtype() != dtype)
      throw Error("{}: {} is {} but the parameters are {} (convert one with .to())", name_, what, dtype_name(t.dtype()),
                  dtype_name(dtype));
  };
  check_state(h0, "h0");
  if (c0.defined() && !lstm) throw Error("{}: c0 is given, but only an LSTM has a cell state", name_);
  check_state(c0, "c0");

  if (lstm) return run_lstm(x, h0, c0, T, N);

  // --- the unrolled network -------------------------------------------------------------------------
  std::vector<Tensor> xs = unstack(options_.batch_first ? permute(x, {1, 0, 2}) : x);  // T x [N, I]
  const std::vector<Tensor> h_init = h0.defined() ? unstack(h0) : std::vector<Tensor>();
  const std::vector<Tensor> c_init = c0.defined() ? unstack(c0) : std::vector<Tensor>();
  const Tensor zero = zeros({N, H}, dtype);
  std::vector<Tensor> h_n, c_n;
  std::vector<std::vector<Tensor>> outs(D, std::vector<Tensor>(T));
  for (std::size_t l = 0; l < L; ++l) {
    for (std::size_t d = 0; d < D; ++d) {
      const std::size_t k = l * D + d;
      const LayerWeights& lw = weights_[k];
      const detail::CellWeights cw = detail::prepare(kind_, H, lw.weight_ih, lw.weight_hh, lw.bias_ih, lw.bias_hh);
      Tensor h = h_init.empty() ? zero : h_init[k];
      Tensor c = c_init.empty() ? zero : c_init[k];
      for (std::size_t i = 0; i < T; ++i) {
        const std::size_t t = d == 0 ? i : T - 1 - i;
        if (lstm) {
          LSTMState next = detail::lstm_step(cw, xs[t], h, c);
          h = next.h;
          c = next.c;
        } else if (kind_ == CellKind::gru) {
          h = detail::gru_step(cw, xs[t], h);
        } else {
          h = detail::rnn_step(cw, xs[t], h);
        }
        outs[d][t] = h;
      }
      h_n.push_back(h);
      if (lstm) c_n.push_back(c);
    }
    const bool drop = options_.dropout > 0 && is_training() && l + 1 < L;
    for (std::size_t t = 0; t < T; ++t) {
      xs[t] = D == 2 ? concat({outs[0][t], outs[1][t]}, 1) : outs[0][t];
      if (drop) xs[t] = dropout(xs[t], options_.dropout, true);
    }
  }
  RNNOutput out;
  out.output = stack(xs, options_.batch_first ? 1 : 0);
  out.h_n = stack(h_n, 0);
  if (lstm) out.c_n = stack(c_n, 0);
  return out;
}

// The LSTM: one lstm_sequence op per layer and direction (ops/lstm_sequence.hpp: big GEMMs over all
// steps), each returning Y [T, N, 2H] = [h_t, c_t]; the layer's output is the h half, h_n and c_n the
// last step's halves (t = T-1 forward, t = 0 in reverse).
RNNOutput RNNBase::run_lstm(const Tensor& x, const Tensor& h0, const Tensor& c0, std::size_t T, std::size_t N) {
  const std::size_t L = options_.num_layers, D = num_directions(), H = hidden_;
  const DType dtype = weights_[0].weight_ih.dtype();
  const Tensor zero = zeros({N, H}, dtype);
  auto initial = [&](const Tensor& t, std::size_t k) {
    return t.defined() ? reshape(narrow(t, 0, k, 1), {N, H}) : zero;
  };
  Tensor in = options_.batch_first ? permute(x, {1, 0, 2}) : x;  // [T, N, I]
  std::vector<Tensor> h_n, c_n;
  for (std::size_t l = 0; l < L; ++l) {
    std::vector<Tensor> outs;
    for (std::size_t d = 0; d < D; ++d) {
      const std::size_t k = l * D + d;
      const LayerWeights& lw = weights_[k];
      const Tensor bias = lw.bias_ih.defined() ? lw.bias_ih + lw.bias_hh : Tensor();
      const Tensor y = lstm_sequence(in, initial(h0, k), initial(c0, k), lw.weight_ih, lw.weight_hh, bias, d == 1);
      outs.push_back(narrow(y, 2, 0, H));
      const Tensor last = narrow(y, 0, d == 1 ? 0 : T - 1, 1);  // [1, N, 2H]
      h_n.push_back(reshape(narrow(last, 2, 0, H), {N, H}));
      c_n.push_back(reshape(narrow(last, 2, H, H), {N, H}));
    }
    in = D == 2 ? concat(outs, 2) : outs[0];
    if (options_.dropout > 0 && is_training() && l + 1 < L) in = dropout(in, options_.dropout, true);
  }
  RNNOutput out;
  out.output = options_.batch_first ? permute(in, {1, 0, 2}) : in;
  out.h_n = stack(h_n, 0);
  out.c_n = stack(c_n, 0);
  return out;
}

std::string RNNBase::describe() const {
  std::string s = fmt::format("{}(input={}, hidden={}", name_, input_, hidden_);
  if (options_.num_layers != 1) s += fmt::format(", layers={}", options_.num_layers);
  if (kind_ == CellKind::rnn_relu) s += ", relu";
  if (!options_.bias) s += ", no bias";
  if (options_.batch_first) s += ", batch_first";
  if (options_.dropout > 0) s += fmt::format(", dropout={}", options_.dropout);
  if (options_.bidirectional) s += ", bidirectional";
  return s + ")";
}

RNN::RNN(std::size_t input_size, std::size_t hidden_size, RNNOptions options)
    : RNNBase(options.nonlinearity == RNNNonlinearity::relu ? CellKind::rnn_relu : CellKind::rnn_tanh, "RNN",
              input_size, hidden_size, options) {}

LSTM::LSTM(std::size_t input_size, std::size_t hidden_size, RNNOptions options)
    : RNNBase(CellKind::lstm, "LSTM", input_size, hidden_size, options) {}

GRU::GRU(std::size_t input_size, std::size_t hidden_size, RNNOptions options)
    : RNNBase(CellKind::gru, "GRU", input_size, hidden_size, options) {}

}  // namespace xgrad::nn
