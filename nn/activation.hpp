#pragma once
// Activation layers, each composed from ops (no layer writes a backward). At x = 0 each one's
// gradient is PyTorch's: relu 0, leaky_relu and prelu the slope, elu alpha, selu scale*alpha.
#include "module.hpp"

namespace xgrad::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "ReLU"; }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Tanh"; }
};

// y = x for x > 0, slope * x otherwise
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  double slope_;
};

// LeakyReLU with a learned slope a: one shared (num_parameters = 1) or one per channel (axis 1).
class PReLU : public Module {
 public:
  explicit PReLU(std::size_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  Tensor weight;  // [num_parameters]
};

// y = x for x > 0, alpha (e^x - 1) otherwise
class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : alpha_(alpha) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  double alpha_;
};

// y = scale * ELU_alpha(x) with the self-normalizing constants of Klambauer et al.
class SELU : public Module {
 public:
  static constexpr double alpha = 1.6732632423543772848170429916717;
  static constexpr double scale = 1.0507009873554804934193349852946;
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "SELU"; }
};

class Softmax : public Module {
 public:
  explicit Softmax(long axis = -1) : axis_(axis) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  long axis_;
};

Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01, Site site = Site::current());
Tensor elu(const Tensor& x, double alpha = 1.0, Site site = Site::current());

}  // namespace xgrad::nn
