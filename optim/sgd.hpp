#pragma once
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// PyTorch's definition (torch.optim.SGD). With g = grad + weight_decay * w:
//   b = g                                   (first step)
//   b = momentum * b + (1 - dampening) * g  (later steps)
//   g = g + momentum * b  (nesterov)   or   g = b
//   w = w - lr * g
// The Nesterov form is the notes' "look-ahead" update rewritten in terms of the current weights.
#include "optimizer.hpp"

namespace xgrad::optim {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // requires momentum > 0 and dampening == 0
};

class SGD : public OptimizerWith<SGDOptions> {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  explicit SGD(std::vector<ParamGroup<SGDOptions>> groups);
  std::string_view name() const override { return "SGD"; }

 protected:
  void check_options(const SGDOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;
  std::vector<std::string> buffer_names(std::size_t group) const override;
};

}  // namespace xgrad::optim
