// The libtorch half of the LSTM oracle test: torch::nn::LSTM on the same weights and input.
#include "lstm_oracle.hpp"

#include <stdexcept>

#include <torch/torch.h>

namespace oracle {

namespace {
std::vector<double> flat(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous().to(torch::kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
torch::Tensor make(const std::vector<double>& v, std::vector<std::int64_t> shape) {
  return torch::tensor(v, torch::dtype(torch::kFloat64)).reshape(shape).clone();
}
}  // namespace

LstmResult torch_lstm(const LstmProblem& p) {
  torch::set_num_threads(1);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(p.input, p.hidden).num_layers(p.layers));
  lstm->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    auto named = lstm->named_parameters();
    if (named.size() != p.params.size()) throw std::runtime_error("torch_lstm: parameter count differs");
    for (const auto& [name, values] : p.params) {
      torch::Tensor* t = named.find(name);
      if (!t) throw std::runtime_error("torch_lstm: no parameter " + name);
      if (static_cast<std::size_t>(t->numel()) != values.size())
        throw std::runtime_error("torch_lstm: parameter " + name + " has another size");
      t->copy_(make(values, t->sizes().vec()));
    }
  }
  torch::Tensor x = make(p.x, {p.seq, p.batch, p.input}).requires_grad_(true);
  auto [output, state] = lstm->forward(x);
  auto [h_n, c_n] = state;
  torch::Tensor loss = (output * make(p.r, output.sizes().vec())).sum() + (h_n * make(p.r_h, h_n.sizes().vec())).sum() +
                       (c_n * make(p.r_c, c_n.sizes().vec())).sum();
  loss.backward();
  LstmResult res{flat(output), flat(h_n), flat(c_n), flat(x.grad()), {}};
  for (const auto& item : lstm->named_parameters()) res.grads.emplace_back(item.key(), flat(item.value().grad()));
  return res;
}

}  // namespace oracle
