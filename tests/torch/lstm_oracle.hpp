#pragma once
// The interface between the libtorch half of the LSTM oracle test (lstm_oracle.cpp) and the xgrad
// half (test_lstm_torch.cpp): plain C++ types only, so torch's headers never meet xtensor's.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace oracle {

// A stacked LSTM, x [seq, batch, input] (not batch-first), zero initial states, in f64.
struct LstmProblem {
  std::int64_t input = 0, hidden = 0, layers = 1, seq = 0, batch = 0;
  // Parameters by PyTorch's names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ...), row-major.
  std::vector<std::pair<std::string, std::vector<double>>> params;
  std::vector<double> x;  // [seq, batch, input]
  std::vector<double> r;  // loss = sum(output * r) + sum(h_n * r_h) + sum(c_n * r_c)
  std::vector<double> r_h, r_c;
};

struct LstmResult {
  std::vector<double> output, h_n, c_n, x_grad;
  std::vector<std::pair<std::string, std::vector<double>>> grads;  // by parameter name
};

// torch::nn::LSTM with the problem's parameters copied in: forward, the loss, backward.
LstmResult torch_lstm(const LstmProblem& problem);

}  // namespace oracle
