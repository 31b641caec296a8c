#include "schedule.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <numbers>

#include "state_dict.hpp"

namespace xgrad::optim {

namespace {
using Reader = state_io::StateDictReader;

std::vector<double> current_lrs(const Optimizer& opt) {
  std::vector<double> lrs;
  for (std::size_t g = 0; g < opt.group_count(); ++g) lrs.push_back(opt.lr(g));
  return lrs;
}

double cosine(double base, double eta_min, double t_cur, double period) {
  return eta_min + (base - eta_min) * (1.0 + std::cos(std::numbers::pi * t_cur / period)) / 2.0;
}
}  // namespace

// --- LRScheduler ------------------------------------------------------------------------------------
LRScheduler::LRScheduler(Optimizer& optimizer) : LRScheduler(optimizer, current_lrs(optimizer)) {}
LRScheduler::LRScheduler(Optimizer& optimizer, std::vector<double> base_lrs)
    : opt_(optimizer), base_lrs_(std::move(base_lrs)) {}

void LRScheduler::apply() {
  if (opt_.group_count() != base_lrs_.size())
    throw Error("LR schedule: the optimizer has {} parameter groups but the schedule was made for {}",
                opt_.group_count(), base_lrs_.size());
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) opt_.set_lr(g, lr_at(t_, base_lrs_[g]));
}

void LRScheduler::step() {
  ++t_;
  apply();
}

std::vector<double> LRScheduler::last_lr() const {
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(lr_at(t_, b));
  return out;
}

NamedTensors LRScheduler::state_dict() const {
  NamedTensors out;
  out.emplace_back("last_epoch", scalar(static_cast<double>(t_), f64));
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    out.emplace_back(fmt::format("base_lr.{}", g), scalar(base_lrs_[g], f64));
  return out;
}

void LRScheduler::load_state_dict(const NamedTensors& dict) {
  Reader r("LR schedule", dict);
  const std::int64_t t = r.count("last_epoch");
  std::vector<double> base(base_lrs_.size());
  for (std::size_t g = 0; g < base.size(); ++g) {
    base[g] = r.learning_rate(fmt::format("base_lr.{}", g));
  }
  r.finish();
  if (opt_.group_count() != base.size())
    throw Error("LR schedule.load_state_dict: the optimizer has {} parameter groups but the schedule has {}",
                opt_.group_count(), base.size());
  for (std::size_t g = 0; g < base.size(); ++g) {
    const double lr = lr_at(t, base[g]);
    if (!(lr >= 0.0) || !std::isfinite(lr))
      throw Error("LR schedule.load_state_dict: the lr at epoch {} would be {}", t, lr);
  }
  base_lrs_ = std::move(base);
  t_ = t;
  apply();
}

// --- closed forms -------------------------------------------------------------------------------------
StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) throw Error("StepLR: step_size {} must be > 0", step_size);
  if (!(gamma >= 0.0) || !std::isfinite(gamma))
    throw Error("StepLR: invalid gamma {} (must be finite and >= 0)", gamma);
  apply();
}
double StepLR::lr_at(std::int64_t t, double base) const {
  return base * std::pow(gamma_, static_cast<double>(t / step_size_));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {
  if (!(gamma >= 0.0) || !std::isfinite(gamma))
    throw Error("ExponentialLR: invalid gamma {} (must be finite and >= 0)", gamma);
  apply();
}
double ExponentialLR::lr_at(std::int64_t t, double base) const {
  return base * std::pow(gamma_, static_cast<double>(t));
}

InverseTimeLR::InverseTimeLR(Optimizer& optimizer, double k) : LRScheduler(optimizer), k_(k) {
  if (!(k >= 0.0) || !std::isfinite(k)) throw Error("InverseTimeLR: invalid k {} (must be finite and >= 0)", k);
  apply();
}
double InverseTimeLR::lr_at(std::int64_t t, double base) const { return base / (1.0 + k_ * static_cast<double>(t)); }

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  if (T_max <= 0) throw Error("CosineAnnealingLR: T_max {} must be > 0", T_max);
  if (!(eta_min >= 0.0) || !std::isfinite(eta_min))
    throw Error("CosineAnnealingLR: invalid eta_min {} (must be finite and >= 0)", eta_min);
  apply();
}
double CosineAnnealingLR::lr_at(std::int64_t t, double base) const {
  return cosine(base, eta_min_, static_cast<double>(t), static_cast<double>(T_max_));
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0, std::int64_t T_mult,
                                                         double eta_min)
    : LRScheduler(optimizer), T_0_(T_0), T_mult_(T_mult), eta_min_(eta_min) {
  if (T_0 <= 0) throw Error("CosineAnnealingWarmRestarts: T_0 {} must be > 0", T_0);
  if (T_mult < 1) throw Error("CosineAnnealingWarmRestarts: T_mult {} must be >= 1", T_mult);
  if (!(eta_min >= 0.0) || !std::isfinite(eta_min))
    throw Error("CosineAnnealingWarmRestarts: invalid eta_min {} (must be finite and >= 0)", eta_min);
  apply();
}
double CosineAnnealingWarmRestarts::lr_at(std::int64_t t, double base) const {
  std::int64_t t_cur = t, period = T_0_;
  if (T_mult_ == 1) {
    t_cur = t % T_0_;
  } else {
    while (t_cur >= period) {
      t_cur -= period;
      period *= T_mult_;
    }
  }
  return cosine(base, eta_min_, static_cast<double>(t_cur), static_cast<double>(period));
}

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(std::int64_t)> factor)
    : LRScheduler(optimizer), factor_(std::move(factor)) {
  if (!factor_) throw Error("LambdaLR: the factor function is empty");
  apply();
}
double LambdaLR::lr_at(std::int64_t t, double base) const { return base * factor_(t); }

namespace {
std::vector<double> warmup_base(Optimizer& optimizer, const std::unique_ptr<LRScheduler>& after) {
  if (!after) return current_lrs(optimizer);
  if (&after->optimizer() != &optimizer)
    throw Error("LinearWarmup: the schedule after the warmup was made for another optimizer");
  return after->base_lrs();
}
}  // namespace

LinearWarmup::LinearWarmup(Optimizer& optimizer, std::int64_t warmup_steps, double start_factor,
                           std::unique_ptr<LRScheduler> after)
    : LRScheduler(optimizer, warmup_base(optimizer, after)),
      warmup_steps_(warmup_steps),
      start_factor_(start_factor),
      after_(std::move(after)) {
  if (warmup_steps < 0) throw Error("LinearWarmup: warmup_steps {} must be >= 0", warmup_steps);
  if (!(start_factor >= 0.0 && start_factor <= 1.0))
    throw Error("LinearWarmup: start_factor {} must be in [0, 1]", start_factor);
  apply();
}
double LinearWarmup::lr_at(std::int64_t t, double base) const {
  if (t < warmup_steps_)
    return base * (start_factor_ + (1.0 - start_factor_) * static_cast<double>(t) / static_cast<double>(warmup_steps_));
  return after_ ? after_->lr_at(t - warmup_steps_, base) : base;
}

// --- ReduceLROnPlateau ------------------------------------------------------------------------------
ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options)
    : opt_(optimizer), options_(options) {
  const auto& o = options_;
  if (!(o.factor >= 0.0 && o.factor < 1.0)) throw Error("ReduceLROnPlateau: factor {} must be in [0, 1)", o.factor);
  if (o.patience < 0) throw Error("ReduceLROnPlateau: patience {} must be >= 0", o.patience);
  if (o.cooldown < 0) throw Error("ReduceLROnPlateau: cooldown {} must be >= 0", o.cooldown);
  if (!(o.threshold >= 0.0) || !std::isfinite(o.threshold))
    throw Error("ReduceLROnPlateau: invalid threshold {} (must be finite and >= 0)", o.threshold);
  if (!(o.min_lr >= 0.0) || !std::isfinite(o.min_lr))
    throw Error("ReduceLROnPlateau: invalid min_lr {} (must be finite and >= 0)", o.min_lr);
  if (!(o.eps >= 0.0)) throw Error("ReduceLROnPlateau: invalid eps {} (must be >= 0)", o.eps);
  best_ =
      o.mode == PlateauMode::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double a) const {
  const auto& o = options_;
  if (o.mode == PlateauMode::min)
    return o.threshold_mode == ThresholdMode::rel ? a < best_ * (1.0 - o.threshold) : a < best_ - o.threshold;
  return o.threshold_mode == ThresholdMode::rel ? a > best_ * (1.0 + o.threshold) : a > best_ + o.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (in_cooldown()) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (std::size_t g = 0; g < opt_.group_count(); ++g) {
      const double old_lr = opt_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) opt_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
}

NamedTensors ReduceLROnPlateau::state_dict() const {
  NamedTensors out;
  out.emplace_back("best", scalar(best_, f64));
  out.emplace_back("num_bad_epochs", scalar(static_cast<double>(num_bad_epochs_), f64));
  out.emplace_back("cooldown_counter", scalar(static_cast<double>(cooldown_counter_), f64));
  out.emplace_back("last_epoch", scalar(static_cast<double>(last_epoch_), f64));
  return out;
}

void ReduceLROnPlateau::load_state_dict(const NamedTensors& dict) {
  Reader r("ReduceLROnPlateau", dict);
  const double best = r.scalar("best");
  const std::int64_t bad = r.count("num_bad_epochs");
  const std::int64_t cooldown = r.count("cooldown_counter");
  const std::int64_t epoch = r.count("last_epoch");
  r.finish();
  if (std::isnan(best)) throw Error("ReduceLROnPlateau.load_state_dict: 'best' is NaN");
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
  last_epoch_ = epoch;
}

}  // namespace xgrad::optim
