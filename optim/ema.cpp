#include "ema.hpp"

#include <algorithm>

#include "../autograd/dispatch.hpp"
#include "state_dict.hpp"

namespace xgrad::optim {

namespace {
using state_io::copy_of;
using state_io::describe;

// Writes src's values into dst's array in place: every handle to the parameter sees them.
void assign(const Tensor& dst, const Tensor& src) {
  Tensor d = dst;
  xgrad::detail::visit("ExponentialMovingAverage", src, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    auto& m = d.mutable_value<T>();
    std::copy(a.begin(), a.end(), m.begin());
  });
}
}  // namespace

ExponentialMovingAverage::ExponentialMovingAverage(std::vector<Tensor> params, double decay, bool use_num_updates)
    : params_(std::move(params)), decay_(decay), use_num_updates_(use_num_updates) {
  if (!(decay >= 0.0 && decay <= 1.0)) throw Error("ExponentialMovingAverage: decay {} must be in [0, 1]", decay);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined()) throw Error("ExponentialMovingAverage: parameter {} is undefined", i);
    shadow_.push_back(copy_of(params_[i]));
  }
}

void ExponentialMovingAverage::update() {
  NoGradGuard no_grad;
  double decay = decay_;
  if (use_num_updates_) {
    ++num_updates_;
    decay = std::min(decay, (1.0 + static_cast<double>(num_updates_)) / (10.0 + static_cast<double>(num_updates_)));
  }
  const double one_minus_decay = 1.0 - decay;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    if (params_[i].shape() != shadow_[i].shape() || params_[i].dtype() != shadow_[i].dtype())
      throw Error("ExponentialMovingAverage.update: parameter {} is now {} but its average is {}", i,
                  describe(params_[i]), describe(shadow_[i]));
    detail::visit("ExponentialMovingAverage.update", params_[i], [&](const auto& p) {
      using T = value_t<decltype(p)>;
      T* s = shadow_[i].mutable_value<T>().data();
      const T* x = p.data();
      const T c = static_cast<T>(one_minus_decay);
      for (std::size_t k = 0; k < p.size(); ++k) s[k] = s[k] - (s[k] - x[k]) * c;
    });
  }
}

void ExponentialMovingAverage::copy_to() const {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].shape() != shadow_[i].shape() || params_[i].dtype() != shadow_[i].dtype())
      throw Error("ExponentialMovingAverage.copy_to: parameter {} is now {} but its average is {}", i,
                  describe(params_[i]), describe(shadow_[i]));
  }
  for (std::size_t i = 0; i < params_.size(); ++i) assign(params_[i], shadow_[i]);
}

void ExponentialMovingAverage::store() {
  stored_.clear();
  for (const auto& p : params_) stored_.push_back(copy_of(p));
}

void ExponentialMovingAverage::restore() {
  if (stored_.size() != params_.size())
    throw Error("ExponentialMovingAverage.restore: nothing stored (call store() first)");
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) assign(params_[i], stored_[i]);
  stored_.clear();
}

ExponentialMovingAverage::Scope::Scope(ExponentialMovingAverage& ema) : ema_(ema) {
  ema_.store();
  ema_.copy_to();
}
ExponentialMovingAverage::Scope::~Scope() {
  try {
    ema_.restore();
  } catch (...) {  // only if restore() was already called inside the scope
  }
}

NamedTensors ExponentialMovingAverage::state_dict() const {
  NamedTensors out;
  out.emplace_back("num_updates", state_io::f64_scalar(static_cast<double>(num_updates_)));
  for (std::size_t i = 0; i < shadow_.size(); ++i) out.emplace_back(fmt::format("shadow.{}", i), copy_of(shadow_[i]));
  return out;
}

void ExponentialMovingAverage::load_state_dict(const NamedTensors& dict) {
  state_io::StateDictReader reader("ExponentialMovingAverage", dict);
  const std::int64_t updates = reader.count("num_updates");
  std::vector<Tensor> next;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string key = fmt::format("shadow.{}", i);
    const Tensor& t = reader.take(key);
    if (!t.defined() || t.shape() != shadow_[i].shape() || t.dtype() != shadow_[i].dtype())
      reader.fail(fmt::format("'{}' is {} but parameter {} is {}", key, describe(t), i, describe(shadow_[i])));
    next.push_back(copy_of(t));
  }
  reader.finish(fmt::format("the average has {} parameters", params_.size()));
  shadow_ = std::move(next);
  num_updates_ = updates;
}

}  // namespace xgrad::optim
