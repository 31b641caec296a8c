#pragma once
// An exponential moving average of the parameters for evaluation (Polyak averaging):
//
//   opt.step();
//   ema.update();
//   { auto averaged = ema.average_parameters(); evaluate(net); }  // the averaged weights, then back
#include <cstdint>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad::optim {

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
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& state);

 private:
  std::vector<Tensor> params_, shadow_, stored_;
  double decay_;
  bool use_num_updates_;
  std::int64_t num_updates_ = 0;
};

}  // namespace xgrad::optim
