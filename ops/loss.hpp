#pragma once
// Loss functions. Each returns a 0-d tensor (a scalar) averaged, like PyTorch's reduction='mean':
//   classification losses (cross_entropy, svm_loss, svm_loss_squared) over the N rows of the batch;
//   elementwise losses (binary_cross_entropy_with_logits, mse_loss, l1_loss) over every element
//   (the batch average for [N] or [N,1] predictions).
// Labels are class indices, one per row: a std::vector<std::int64_t>, or a 1-D f32/f64 Tensor holding
// whole numbers. A wrong count or a label outside [0, C) throws xg::Error.
#include <cstdint>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad {

// Softmax cross-entropy (the softmax classifier's loss), computed stably as log_softmax + NLL:
//   L = -1/N sum_i log softmax(logits_i)[y_i].      logits [N,C]
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels, Site site = Site::current());
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Site site = Site::current());

// Multiclass SVM (Weston-Watkins hinge) loss:   L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta).
Tensor svm_loss(const Tensor& scores, const std::vector<std::int64_t>& labels, double delta = 1.0,
                Site site = Site::current());
Tensor svm_loss(const Tensor& scores, const Tensor& labels, double delta = 1.0, Site site = Site::current());
// The squared hinge variant:                     L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)^2.
Tensor svm_loss_squared(const Tensor& scores, const std::vector<std::int64_t>& labels, double delta = 1.0,
                        Site site = Site::current());
Tensor svm_loss_squared(const Tensor& scores, const Tensor& labels, double delta = 1.0, Site site = Site::current());

// Sigmoid + binary cross-entropy in one stable expression (targets t in [0,1], same shape as logits):
//   L = mean(max(x, 0) - x t + log(1 + e^-|x|));   dL/dx = (sigmoid(x) - t) / n,  dL/dt = -x / n.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, Site site = Site::current());

// L = mean((pred - target)^2) and L = mean(|pred - target|); pred and target must have one shape.
Tensor mse_loss(const Tensor& pred, const Tensor& target, Site site = Site::current());
Tensor l1_loss(const Tensor& pred, const Tensor& target, Site site = Site::current());

}  // namespace xgrad
