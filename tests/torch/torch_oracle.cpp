// The libtorch half of the optimizer oracle test: runs torch::optim on the problem.
#include "torch_oracle.hpp"

#include <memory>
#include <stdexcept>

#include <torch/torch.h>

namespace oracle {

namespace {
namespace to = torch::optim;

to::SGDOptions sgd(const Config& c) {
  return to::SGDOptions(c.lr)
      .momentum(c.momentum)
      .dampening(c.dampening)
      .weight_decay(c.weight_decay)
      .nesterov(c.nesterov);
}
to::AdamOptions adam(const Config& c) {
  return to::AdamOptions(c.lr)
      .betas(std::make_tuple(c.beta1, c.beta2))
      .eps(c.eps)
      .weight_decay(c.weight_decay)
      .amsgrad(c.amsgrad);
}
to::AdamWOptions adamw(const Config& c) {
  return to::AdamWOptions(c.lr)
      .betas(std::make_tuple(c.beta1, c.beta2))
      .eps(c.eps)
      .weight_decay(c.weight_decay)
      .amsgrad(c.amsgrad);
}
to::AdagradOptions adagrad(const Config& c) {
  return to::AdagradOptions(c.lr)
      .lr_decay(c.lr_decay)
      .weight_decay(c.weight_decay)
      .initial_accumulator_value(c.initial_accumulator_value)
      .eps(c.eps);
}
to::RMSpropOptions rmsprop(const Config& c) {
  return to::RMSpropOptions(c.lr)
      .alpha(c.alpha)
      .eps(c.eps)
      .weight_decay(c.weight_decay)
      .momentum(c.momentum)
      .centered(c.centered);
}

template <class Opt, class Make>
std::unique_ptr<to::Optimizer> build(const std::vector<torch::Tensor>& params, const std::vector<Config>& groups,
                                     Make make) {
  std::vector<to::OptimizerParamGroup> pg;
  for (std::size_t i = 0; i < params.size(); ++i)
    pg.emplace_back(std::vector<torch::Tensor>{params[i]},
                    std::make_unique<decltype(make(groups[i]))>(make(groups[i])));
  return std::make_unique<Opt>(std::move(pg), make(groups[0]));
}

torch::Tensor make_tensor(const std::vector<double>& v, const std::vector<std::int64_t>& shape) {
  return torch::tensor(v, torch::dtype(torch::kFloat64)).reshape(shape).clone();
}
}  // namespace

Trajectory torch_trajectory(const std::vector<Config>& groups, const Problem& p, int steps) {
  torch::set_num_threads(1);
  std::vector<torch::Tensor> w, c, d;
  for (std::size_t i = 0; i < p.init.size(); ++i) {
    w.push_back(make_tensor(p.init[i], p.shapes[i]).requires_grad_(true));
    c.push_back(make_tensor(p.c[i], p.shapes[i]));
    d.push_back(make_tensor(p.d[i], p.shapes[i]));
  }
  const std::string& algo = groups.at(0).algo;
  std::unique_ptr<to::Optimizer> opt;
  if (algo == "SGD")
    opt = build<to::SGD>(w, groups, sgd);
  else if (algo == "Adam")
    opt = build<to::Adam>(w, groups, adam);
  else if (algo == "AdamW")
    opt = build<to::AdamW>(w, groups, adamw);
  else if (algo == "AdaGrad")
    opt = build<to::Adagrad>(w, groups, adagrad);
  else if (algo == "RMSProp")
    opt = build<to::RMSprop>(w, groups, rmsprop);
  else
    throw std::invalid_argument("torch_trajectory: unknown optimizer " + algo);

  Trajectory out;
  for (int k = 0; k < steps; ++k) {
    opt->zero_grad();
    torch::Tensor loss = torch::zeros({}, torch::dtype(torch::kFloat64));
    for (std::size_t i = 0; i < w.size(); ++i) loss = loss + (c[i] * w[i] * w[i] + d[i] * w[i]).sum();
    loss.backward();
    opt->step();
    std::vector<double> flat;
    for (const auto& t : w) {
      torch::Tensor x = t.detach().contiguous();
      flat.insert(flat.end(), x.data_ptr<double>(), x.data_ptr<double>() + x.numel());
    }
    out.push_back(std::move(flat));
  }
  return out;
}

std::pair<double, std::vector<double>> torch_clip_grad_norm(const Problem& p, double max_norm, double norm_type) {
  std::vector<torch::Tensor> w;
  torch::Tensor loss = torch::zeros({}, torch::dtype(torch::kFloat64));
  for (std::size_t i = 0; i < p.init.size(); ++i) {
    w.push_back(make_tensor(p.init[i], p.shapes[i]).requires_grad_(true));
    loss = loss + (make_tensor(p.c[i], p.shapes[i]) * w[i] * w[i] + make_tensor(p.d[i], p.shapes[i]) * w[i]).sum();
  }
  loss.backward();
  const double total = torch::nn::utils::clip_grad_norm_(w, max_norm, norm_type);
  std::vector<double> flat;
  for (const auto& t : w) {
    torch::Tensor g = t.grad().contiguous();
    flat.insert(flat.end(), g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
  }
  return {total, flat};
}

}  // namespace oracle
