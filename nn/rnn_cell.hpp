#pragma once
// One time step of a recurrent network: RNNCell (Elman, tanh or relu), LSTMCell and GRUCell, with
// PyTorch's parameter names, shapes, gate order and initialization, so checkpoints interoperate:
//
//   weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H]   (G = 1, 4, 3)
//   every parameter ~ U(-1/sqrt(H), 1/sqrt(H))
//
//   RNN:  h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                 (or relu)
//   LSTM: i, f, g, o = the four H-wide blocks of W_ih x + b_ih + W_hh h + b_hh
//         i = sigmoid(i), f = sigmoid(f), g = tanh(g), o = sigmoid(o)
//         c' = f * c + i * g,   h' = o * tanh(c')
//   GRU:  r, z = sigmoid(blocks 0 and 1 of W_ih x + b_ih + W_hh h + b_hh)
//         n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))           (block 2 of each product)
//         h' = (1 - z) * n + z * h
//
// x is [N, I]; h and c are [N, H] (zeros when not given). Each cell is built from differentiable ops
// only: the gradient through time is backward over the unrolled tape. The RNN and LSTM cells fold
// both products and both biases into one GEMM per step: [x, h] [W_ih, W_hh]^T + (b_ih + b_hh).
#include <cstddef>
#include <functional>
#include <string>

#include "module.hpp"

namespace xgrad::nn {

enum class RNNNonlinearity { tanh, relu };

// An LSTM's state: hidden h and cell c, each [N, H].
struct LSTMState {
  Tensor h, c;
};

class RNNCell : public Module {
 public:
  RNNCell(std::size_t input_size, std::size_t hidden_size, bool bias = true,
          RNNNonlinearity nonlinearity = RNNNonlinearity::tanh);
  Tensor forward(const Tensor& x) override;  // from h = 0
  Tensor forward(const Tensor& x, const Tensor& h);
  using Module::operator();
  Tensor operator()(const Tensor& x, const Tensor& h) { return forward(x, h); }
  std::string describe() const override;

  std::size_t input_size() const { return input_; }
  std::size_t hidden_size() const { return hidden_; }

  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // biases undefined without bias

 private:
  std::size_t input_, hidden_;
  RNNNonlinearity nonlinearity_;
};

class LSTMCell : public Module {
 public:
  LSTMCell(std::size_t input_size, std::size_t hidden_size, bool bias = true);
  Tensor forward(const Tensor& x) override;                    // h' from h = c = 0
  LSTMState forward(const Tensor& x, const LSTMState& state);  // {h', c'}; an undefined h or c means zeros
  using Module::operator();
  LSTMState operator()(const Tensor& x, const LSTMState& state) { return forward(x, state); }
  std::string describe() const override;

  std::size_t input_size() const { return input_; }
  std::size_t hidden_size() const { return hidden_; }

  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 private:
  std::size_t input_, hidden_;
};

class GRUCell : public Module {
 public:
  GRUCell(std::size_t input_size, std::size_t hidden_size, bool bias = true);
  Tensor forward(const Tensor& x) override;  // from h = 0
  Tensor forward(const Tensor& x, const Tensor& h);
  using Module::operator();
  Tensor operator()(const Tensor& x, const Tensor& h) { return forward(x, h); }
  std::string describe() const override;

  std::size_t input_size() const { return input_; }
  std::size_t hidden_size() const { return hidden_; }

  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 private:
  std::size_t input_, hidden_;
};

namespace detail {
// The step functions shared by the cells and the sequence layers (nn/rnn.hpp). A layer prepares
// its weights once per sequence (the concatenation [W_ih, W_hh] and the summed bias are then ops
// recorded once, not once per step) and calls the step for every time step.
enum class CellKind { rnn_tanh, rnn_relu, lstm, gru };

struct CellWeights {
  CellKind kind;
  std::size_t hidden;
  Tensor w, b;                    // rnn, lstm: [W_ih, W_hh] along axis 1, and b_ih + b_hh
  Tensor w_ih, w_hh, b_ih, b_hh;  // gru: the separate products (the n gate needs W_hn h + b_hn alone)
};
CellWeights prepare(CellKind kind, std::size_t hidden, const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih,
                    const Tensor& b_hh);

// h' (and c' for the LSTM) from x [N, I], h [N, H] (and c [N, H]); no shape checks here.
Tensor rnn_step(const CellWeights& w, const Tensor& x, const Tensor& h);
LSTMState lstm_step(const CellWeights& w, const Tensor& x, const Tensor& h, const Tensor& c);
Tensor gru_step(const CellWeights& w, const Tensor& x, const Tensor& h);

// A cell's parameters as registered: weight_ih [G*H, I], weight_hh [G*H, H] and, with bias, bias_ih
// and bias_hh [G*H] (undefined without bias).
struct CellParameters {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};
// Registers one cell's parameters through `reg` (the module's register_parameter) under PyTorch's
// names followed by `suffix` ("_l0", "_l1_reverse" in the sequence layers), each ~ U(-1/sqrt(H), 1/sqrt(H)).
using Registrar = std::function<Tensor(const std::string& name, Tensor value)>;
CellParameters register_cell(const Registrar& reg, std::size_t gates, std::size_t input, std::size_t hidden, bool bias,
                             const std::string& suffix = "");
}  // namespace detail

}  // namespace xgrad::nn
