#pragma once
// RMSProp, PyTorch's definition (torch.optim.RMSprop). alpha is the notes' decay_rate. With
// g = grad + weight_decay * w:
//   v = alpha * v + (1 - alpha) * g * g
//   centered:  a = alpha * a + (1 - alpha) * g;  denom = sqrt(v - a * a) + eps
//   otherwise: denom = sqrt(v) + eps
//   momentum > 0:  b = momentum * b + g / denom;  w = w - lr * b
//   otherwise:     w = w - lr * g / denom
#include "optimizer.hpp"

namespace xgrad::optim {

struct RMSPropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

class RMSProp : public OptimizerWith<RMSPropOptions> {
 public:
  RMSProp(std::vector<Tensor> params, RMSPropOptions options = {});
  explicit RMSProp(std::vector<ParamGroup<RMSPropOptions>> groups);
  std::string_view name() const override { return "RMSProp"; }

 protected:
  void check_options(const RMSPropOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names(std::size_t group) const override;
};

}  // namespace xgrad::optim
