#pragma once
// Batch normalization (Ioffe & Szegedy 2015) for [N,D] and spatial [N,C,H,W] input (any [N,C,...]):
// the statistics are per feature / per channel, over every axis but axis 1 (N for [N,D]; N, H, W
// for [N,C,H,W]).
//
//   training:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta,   mean_B, var_B: the batch's
//              (biased) statistics; then, in place and off the tape,
//                running_mean = (1 - momentum) * running_mean + momentum * mean_B
//                running_var  = (1 - momentum) * running_var  + momentum * var_B * m / (m - 1)
//              with m the number of values per channel (the unbiased variance, as PyTorch does;
//              momentum is PyTorch's: the weight of the NEW statistic, default 0.1).
//   eval:      y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.
//
// gamma, beta, running_mean, running_var are [C] (or [D]) tensors of x's dtype. gamma or beta may
// be undefined (no scale / no shift). The running statistics are updated through the handles you
// pass (they are shared, like every Tensor); pass undefined ones to skip the update in training.
// Eval needs them.
#include "../autograd/tensor.hpp"

namespace xgrad {

// Composed from the primitives (mean, sub, mul, div, sqrt, ...): its gradient comes from the tape.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                  Site site = Site::current());

// The same function as one op with a hand-written backward (the simplified formula of the CS231n
// batchnorm_backward_alt):  with xhat = (x - mean) / std and per channel sums over its m values,
//   dgamma = sum(dy * xhat),   dbeta = sum(dy),
//   dx = gamma / (m std) * (m dy - dbeta - xhat * dgamma)       (training)
//   dx = gamma / std * dy                                      (eval: the statistics are constants)
Tensor batch_norm_fused(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                        Site site = Site::current());

}  // namespace xgrad
