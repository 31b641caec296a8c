#pragma once
// BatchNorm1d ([N, D]) and BatchNorm2d ([N, C, H, W], statistics per channel over N, H, W).
// In train() mode each batch is normalized with its own mean and variance and the running
// estimates move by `momentum` (PyTorch's convention: running = (1 - momentum) running + momentum
// batch); in eval() mode the running estimates are used. gamma (weight) and beta (bias) are learned
// when affine. The running statistics are buffers: saved in checkpoints, not trained.
#include "module.hpp"

namespace xgrad::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
};

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  Tensor weight, bias, running_mean, running_var;

 protected:
  BatchNorm(std::size_t features, std::size_t input_rank, BatchNormOptions options);

 private:
  std::size_t features_, rank_;
  BatchNormOptions options_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::size_t features, BatchNormOptions options = {}) : BatchNorm(features, 2, options) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::size_t channels, BatchNormOptions options = {}) : BatchNorm(channels, 4, options) {}
};

}  // namespace xgrad::nn
