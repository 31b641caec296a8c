#pragma once
// Adam and AdamW, PyTorch's definitions (torch.optim.Adam, torch.optim.AdamW). With t the
// parameter's step count (from 1):
//   Adam:  g = grad + weight_decay * w          (L2 penalty in the gradient)
//   AdamW: w = w * (1 - lr * weight_decay);  g = grad   (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   amsgrad: v_max = max(v_max, v) and v_max is used instead of v below
//   w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// This is the notes' Adam with bias correction: mt = m / (1 - beta1^t), vt = v / (1 - beta2^t),
// w += -lr * mt / (sqrt(vt) + eps).
#include <utility>

#include "optimizer.hpp"

namespace xgrad::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

class Adam : public OptimizerWith<AdamOptions> {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  explicit Adam(std::vector<ParamGroup<AdamOptions>> groups);
  std::string_view name() const override { return "Adam"; }

 protected:
  void check_options(const AdamOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names(std::size_t group) const override;
};

class AdamW : public OptimizerWith<AdamWOptions> {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(std::vector<ParamGroup<AdamWOptions>> groups);
  std::string_view name() const override { return "AdamW"; }

 protected:
  void check_options(const AdamWOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names(std::size_t group) const override;
};

}  // namespace xgrad::optim
