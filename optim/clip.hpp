#pragma once
// Around the optimizer step: gradient clipping (before step), the max-norm constraint (after
// step) and an exponential moving average of the parameters for evaluation (Polyak averaging).
//
//   loss.backward();
//   xg::optim::clip_grad_norm_(net.parameters(), 5.0);
//   opt.step();
//   xg::optim::max_norm_(fc.weight, 3.0);
//   ema.update();
//   { auto averaged = ema.average_parameters(); evaluate(net); }  // the averaged weights, then back
#include <cstdint>
#include <limits>
#include <vector>

#include "../autograd/tensor.hpp"
#include "../nn/module.hpp"

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

// Exponential moving average of parameters (Polyak averaging), with torch_ema's semantics:
//   decay_t = min(decay, (1 + t) / (10 + t))   (t = number of updates so far, if use_num_updates)
//   shadow  = shadow - (1 - decay_t) * (shadow - param)      for each param that requires grad
class ExponentialMovingAverage {
 public:
  ExponentialMovingAverage(std::vector<Tensor> params, double decay, bool use_num_updates = true);

  void update();         // after each optimizer step
  void copy_to() const;  // writes the averages into the parameters
  void store();          // remembers the parameters' current values...
  void restore();        // ...and writes them back

  // store() + copy_to() now, restore() when the returned guard goes out of scope.
  class Scope {
   public:
    explicit Scope(ExponentialMovingAverage& ema);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ExponentialMovingAverage& ema_;
  };
  [[nodiscard]] Scope average_parameters() { return Scope(*this); }

  const std::vector<Tensor>& shadow() const { return shadow_; }  // the averages
  double decay() const { return decay_; }
  std::int64_t num_updates() const { return num_updates_; }

  // "num_updates" and "shadow.<i>"; load_state_dict validates before changing anything.
  nn::NamedTensors state_dict() const;
  void load_state_dict(const nn::NamedTensors& state);

 private:
  std::vector<Tensor> params_, shadow_, stored_;
  double decay_;
  bool use_num_updates_;
  std::int64_t num_updates_ = 0;
};

}  // namespace xgrad::optim
