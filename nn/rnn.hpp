#pragma once
// Sequence layers RNN, LSTM and GRU: a cell (nn/rnn_cell.hpp) unrolled over time, stacked in
// num_layers layers (each layer's output sequence is the next layer's input) and optionally
// bidirectional (a second pass over the reversed sequence whose outputs are concatenated with the
// forward pass's at every step). Shapes, parameter names and initialization follow PyTorch
// (torch.nn.RNN / LSTM / GRU), so checkpoints interoperate:
//
//   input  x   [T, N, I]           ([N, T, I] with batch_first)
//   h0, c0     [L * D, N, H]       (optional, zeros when undefined; never batch-first, as in PyTorch)
//   output     [T, N, D * H]       ([N, T, D * H] with batch_first); at step t: [forward h_t, backward h_t]
//   h_n, c_n   [L * D, N, H]       row l * D + d: layer l, direction d (0 forward, 1 backward); the
//                                  backward direction's final state is the one after reading x_0
//   (L = num_layers, D = 2 if bidirectional else 1)
//
//   parameters per layer l and direction (suffix "" or "_reverse"):
//     weight_ih_l{l}{suffix} [G*H, I or D*H], weight_hh_l{l}{suffix} [G*H, H],
//     bias_ih_l{l}{suffix} [G*H], bias_hh_l{l}{suffix} [G*H]       (G = 1 RNN, 4 LSTM, 3 GRU)
//
//   xg::nn::LSTM lstm(10, 20, {.num_layers = 2, .bidirectional = true});
//   auto out = lstm.run(x);          // out.output [T, N, 40], out.h_n and out.c_n [4, N, 20]
//   auto y = lstm(x);                // the output sequence only
//
// Backpropagation through time is backward over the unrolled tape; truncate it by passing
// detached states (out.h_n.detach()) as the next chunk's h0.
#include <cstddef>
#include <vector>

#include "module.hpp"
#include "rnn_cell.hpp"

namespace xgrad::nn {

struct RNNOptions {
  std::size_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout =
      0.0;  // drop probability (not the notes' keep p), on every layer's output but the last; training only
  bool bidirectional = false;
  RNNNonlinearity nonlinearity = RNNNonlinearity::tanh;  // RNN only
};

struct RNNOutput {
  Tensor output;  // [T, N, D*H] (or [N, T, D*H])
  Tensor h_n;     // [L*D, N, H]
  Tensor c_n;     // [L*D, N, H] for the LSTM; undefined for RNN and GRU
};

class RNNBase : public Module {
 public:
  // The output sequence, from zero initial states.
  Tensor forward(const Tensor& x) override;
  // The output sequence and the final states. c0 is for the LSTM only.
  RNNOutput run(const Tensor& x, const Tensor& h0 = {}, const Tensor& c0 = {});
  std::string describe() const override;

  std::size_t input_size() const { return input_; }
  std::size_t hidden_size() const { return hidden_; }
  const RNNOptions& options() const { return options_; }
  std::size_t num_directions() const { return options_.bidirectional ? 2 : 1; }

  // The parameters of layer `layer` in direction `reverse` (bias_ih and bias_hh undefined without bias).
  using LayerWeights = detail::CellParameters;
  const LayerWeights& weights(std::size_t layer, bool reverse = false) const;

 protected:
  RNNBase(detail::CellKind kind, const char* name, std::size_t input_size, std::size_t hidden_size, RNNOptions options);

 private:
  // The LSTM's path: one fused lstm_sequence op per layer and direction (x already checked).
  RNNOutput run_lstm(const Tensor& x, const Tensor& h0, const Tensor& c0, std::size_t T, std::size_t N);

  detail::CellKind kind_;
  const char* name_;
  std::size_t input_, hidden_;
  RNNOptions options_;
  std::vector<LayerWeights> weights_;  // index layer * D + direction
};

// Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)  (relu with options.nonlinearity).
class RNN : public RNNBase {
 public:
  RNN(std::size_t input_size, std::size_t hidden_size, RNNOptions options = {});
};

class LSTM : public RNNBase {
 public:
  LSTM(std::size_t input_size, std::size_t hidden_size, RNNOptions options = {});
};

class GRU : public RNNBase {
 public:
  GRU(std::size_t input_size, std::size_t hidden_size, RNNOptions options = {});
};

}  // namespace xgrad::nn
