#pragma once
// AdaGrad, PyTorch's definition (torch.optim.Adagrad). With g = grad + weight_decay * w and t the
// parameter's step count (from 1):
//   lr_t = lr / (1 + (t - 1) * lr_decay)
//   sum  = sum + g * g                       (sum starts at initial_accumulator_value)
//   w    = w - lr_t * g / (sqrt(sum) + eps)
// This is the notes' "cache += dx**2; x += -learning_rate * dx / (np.sqrt(cache) + eps)".
#include "optimizer.hpp"

namespace xgrad::optim {

struct AdaGradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class AdaGrad : public OptimizerWith<AdaGradOptions> {
 public:
  AdaGrad(std::vector<Tensor> params, AdaGradOptions options = {});
  explicit AdaGrad(std::vector<ParamGroup<AdaGradOptions>> groups);
  std::string_view name() const override { return "AdaGrad"; }

 protected:
  void check_options(const AdaGradOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names(std::size_t group) const override;
};

}  // namespace xgrad::optim
