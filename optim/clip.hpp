#pragma once
// Around the optimizer step: gradient clipping (before step) and the max-norm constraint (after
// step). The average of the parameters for evaluation is optim/ema.hpp.
//
//   loss.backward();
//   xg::optim::clip_grad_norm_(net.parameters(), 5.0);
//   opt.step();
//   xg::optim::max_norm_(fc.weight, 3.0);
#include <limits>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad::optim {

// Scales the gradients of `params` (those that have one) in place so that their total norm (the
// norm of all of them as one vector) is at most max_norm: each is multiplied by
// max_norm / (total + 1e-6) when that is below 1, as torch.nn.utils.clip_grad_norm_ does.
// norm_type is p > 0 or inf_norm (max |g|). Returns the total norm before clipping; with
// error_if_nonfinite a NaN or infinite total norm throws instead (and nothing is changed).
inline constexpr double inf_norm = std::numeric_limits<double>::infinity();
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

// The max-norm constraint: scales each neuron's incoming weight vector (each slice weight[j, ...]
// along the first axis: a row of a Linear weight [out, in], an output channel of a conv weight
// [out, in, kh, kw]) whose L2 norm exceeds max_norm down to norm max_norm. Call after step().
void max_norm_(const Tensor& weight, double max_norm);

}  // namespace xgrad::optim
