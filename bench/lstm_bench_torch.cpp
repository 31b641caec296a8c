// The libtorch half of lstm_bench (own TU: torch's headers never meet xtensor's).
#include <torch/torch.h>

#include "macro_bench.hpp"

namespace bench {

ChainRun torch_lstm(const LstmShape& s) {
  static torch::nn::LSTM lstm(torch::nn::LSTMOptions(s.input, s.hidden));
  ChainRun run;
  lstm->zero_grad();
  torch::Tensor x = torch::randn({s.seq, s.batch, s.input}).requires_grad_(true);
  Stopwatch watch;
  torch::Tensor l = std::get<0>(lstm->forward(x)).sum();
  run.forward = watch.lap();
  run.value = l.item<double>();
  watch.restart();
  l.backward();
  run.backward = watch.lap();
  run.grad = x.grad().sum().item<double>();
  return run;
}

}  // namespace bench
