#pragma once
// Learning-rate schedules. Each one holds an Optimizer& and sets its groups' learning rates; call
// step() once per epoch (or once per iteration, with the schedule's lengths counted in
// iterations), after the optimizer's step, as in PyTorch. The closed-form schedules compute the
// lr at step t from each group's base lr (the group's lr when the schedule was made):
//
//   StepLR(opt, step_size, gamma)        base * gamma^floor(t / step_size)
//   ExponentialLR(opt, gamma)            base * gamma^t
//   InverseTimeLR(opt, k)                base / (1 + k t)                       (1/t decay)
//   CosineAnnealingLR(opt, T_max, eta_min)
//                                        eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2
//   CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)   (SGDR)
//                                        the same within each period; period i lasts T_0 T_mult^i
//   LambdaLR(opt, f)                     base * f(t)
//   LinearWarmup(opt, warmup_steps, start_factor, after)
//                                        base * (start_factor + (1 - start_factor) t / warmup_steps)
//                                        for t < warmup_steps, then after's schedule from its t = 0
//
//   auto sched = xg::optim::LinearWarmup(opt, 5, 0.1,
//       std::make_unique<xg::optim::CosineAnnealingWarmRestarts>(opt, 10, 2));
//
// ReduceLROnPlateau is driven by a metric instead: plateau.step(val_loss).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "../autograd/tensor.hpp"
#include "optimizer.hpp"

namespace xgrad::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances to the next epoch and sets each group's lr to lr_at(t, base).
  void step();
  // The schedule's closed form: the lr at step t of a group whose base lr is base_lr.
  virtual double lr_at(std::int64_t t, double base_lr) const = 0;

  std::int64_t last_epoch() const { return t_; }  // 0 after construction, +1 per step()
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  std::vector<double> last_lr() const;  // the lrs the schedule set last
  Optimizer& optimizer() const { return opt_; }

  // "last_epoch" and "base_lr.<g>" (0-d f64 tensors). load_state_dict validates, then sets the
  // optimizer's lrs for the loaded epoch.
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& state);

 protected:
  // Records the optimizer's current lrs as the base lrs (or the given ones).
  explicit LRScheduler(Optimizer& optimizer);
  LRScheduler(Optimizer& optimizer, std::vector<double> base_lrs);
  // Sets the lrs for the current t; derived constructors call it last (as PyTorch's initial step).
  void apply();

 private:
  Optimizer& opt_;
  std::vector<double> base_lrs_;
  std::int64_t t_ = 0;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  double gamma_;
};

// 1/t decay: lr = base / (1 + k t).
class InverseTimeLR : public LRScheduler {
 public:
  InverseTimeLR(Optimizer& optimizer, double k);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  double k_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

// SGDR (Loshchilov & Hutter): cosine annealing from base to eta_min over T_0 steps, then a restart
// at base with a period T_mult times longer, and so on.
class CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0, std::int64_t T_mult = 1, double eta_min = 0.0);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  std::int64_t T_0_, T_mult_;
  double eta_min_;
};

// lr = base * factor(t): any schedule as a multiplier function of the step.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, std::function<double(std::int64_t)> factor);
  double lr_at(std::int64_t t, double base_lr) const override;

 private:
  std::function<double(std::int64_t)> factor_;
};

// Linear warmup from start_factor * base to base over warmup_steps steps, then `after` (a
// closed-form schedule on the same optimizer, made before the warmup; the warmup owns it and
// evaluates after->lr_at(t - warmup_steps, base), so do not step it yourself). Without `after`
// the lr stays at base once warmed up.
class LinearWarmup : public LRScheduler {
 public:
  LinearWarmup(Optimizer& optimizer, std::int64_t warmup_steps, double start_factor,
               std::unique_ptr<LRScheduler> after = nullptr);
  double lr_at(std::int64_t t, double base_lr) const override;
  const LRScheduler* after() const { return after_.get(); }

 private:
  std::int64_t warmup_steps_;
  double start_factor_;
  std::unique_ptr<LRScheduler> after_;
};

// Reduce-on-plateau, PyTorch's torch.optim.lr_scheduler.ReduceLROnPlateau: when the metric has
// not improved for more than `patience` epochs, every group's lr becomes max(lr * factor, min_lr)
// (changes smaller than eps are skipped), then `cooldown` epochs pass before bad epochs count
// again. "Improved" in mode min with threshold_mode rel means metric < best * (1 - threshold);
// abs: metric < best - threshold (mirrored for max).
enum class PlateauMode { min, max };
enum class ThresholdMode { rel, abs };

struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::min;
  double factor = 0.1;
  std::int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  std::int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  void step(double metric);  // once per epoch, with the validation metric

  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }
  std::int64_t last_epoch() const { return last_epoch_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }
  const ReduceLROnPlateauOptions& options() const { return options_; }
  Optimizer& optimizer() const { return opt_; }

  // "best", "num_bad_epochs", "cooldown_counter", "last_epoch" (0-d f64 tensors).
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& state);

 private:
  bool is_better(double metric) const;
  Optimizer& opt_;
  ReduceLROnPlateauOptions options_;
  double best_;
  std::int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
};

}  // namespace xgrad::optim
