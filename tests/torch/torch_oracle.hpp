#pragma once
// The interface between the libtorch half of the oracle test (torch_oracle.cpp, the only file
// that includes torch) and the xgrad half (test_optim_torch.cpp): plain C++ types only, so
// torch's headers never meet xtensor's.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace oracle {

// Hyperparameters of one parameter group; `algo` picks the optimizer and the fields it uses.
struct Config {
  std::string algo;  // "SGD", "Adam", "AdamW", "AdaGrad", "RMSProp"
  double lr = 1e-3;
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool amsgrad = false;
  double lr_decay = 0, initial_accumulator_value = 0;
  double alpha = 0.99;
  bool centered = false;
};

// Parameters w_i (row-major values and shape), minimized through the loss
// sum_i sum(c_i * w_i * w_i + d_i * w_i), each w_i in its own parameter group.
struct Problem {
  std::vector<std::vector<double>> init, c, d;
  std::vector<std::vector<std::int64_t>> shapes;
};

// The parameters after each step, all of them flattened and concatenated.
using Trajectory = std::vector<std::vector<double>>;

// torch::optim on the problem in f64: zero_grad, loss.backward(), step(), `steps` times.
// groups[i] configures parameter i's group (all groups use groups[0].algo).
Trajectory torch_trajectory(const std::vector<Config>& groups, const Problem& problem, int steps);

// torch::nn::utils::clip_grad_norm_ on the gradients of the problem's loss at its initial point:
// the returned total norm, then the clipped gradients flattened and concatenated.
std::pair<double, std::vector<double>> torch_clip_grad_norm(const Problem& problem, double max_norm, double norm_type);

}  // namespace oracle
