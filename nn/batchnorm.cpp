#include "batchnorm.hpp"

#include "../ops/normalization.hpp"

namespace xgrad::nn {

BatchNorm::BatchNorm(std::size_t features, std::size_t input_rank, BatchNormOptions options)
    : features_(features), rank_(input_rank), options_(options) {
  if (features == 0) throw Error("BatchNorm: the number of features must be positive");
  if (options.affine) {
    weight = register_parameter("weight", ones({features}));
    bias = register_parameter("bias", zeros({features}));
  }
  running_mean = register_buffer("running_mean", zeros({features}));
  running_var = register_buffer("running_var", ones({features}));
}

Tensor BatchNorm::forward(const Tensor& x) {
  const Shape s = x.shape();
  if (s.size() != rank_ || s[1] != features_)
    throw Error("{}: expected input [N, {}{}], got {}", describe(), features_, rank_ == 4 ? ", H, W" : "",
                shape_str(s));
  // The fused op gives the same values and gradients as the composed batch_norm (tests/test_losses_norm.cpp)
  // in one tape node instead of about fifteen.
  return batch_norm_fused(x, weight, bias, running_mean, running_var, is_training(), options_.momentum, options_.eps);
}

std::string BatchNorm::describe() const {
  return fmt::format("BatchNorm{}d({}, eps={}, momentum={}{})", rank_ == 4 ? 2 : 1, features_, options_.eps,
                     options_.momentum, options_.affine ? "" : ", no affine");
}

}  // namespace xgrad::nn
