#include "clip.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "../autograd/dispatch.hpp"

namespace xgrad::optim {

namespace {
// The p-norm of n values, accumulated in double.
template <class T>
double norm_of(const T* x, std::size_t n, double p) {
  double acc = 0.0;
  if (std::isinf(p)) {
    for (std::size_t k = 0; k < n; ++k) {
      const double v = std::abs(static_cast<double>(x[k]));
      if (std::isnan(v)) return v;
      acc = std::max(acc, v);
    }
    return acc;
  }
  if (p == 2.0) {
    for (std::size_t k = 0; k < n; ++k) acc += static_cast<double>(x[k]) * static_cast<double>(x[k]);
    return std::sqrt(acc);
  }
  if (p == 1.0) {
    for (std::size_t k = 0; k < n; ++k) acc += std::abs(static_cast<double>(x[k]));
    return acc;
  }
  for (std::size_t k = 0; k < n; ++k) acc += std::pow(std::abs(static_cast<double>(x[k])), p);
  return std::pow(acc, 1.0 / p);
}

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (g.defined()) out.push_back(g);
  }
  return out;
}
}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  if (!(norm_type > 0.0))
    throw Error("clip_grad_norm_: norm_type {} is not supported (use p > 0 or inf_norm)", norm_type);
  if (!(max_norm >= 0.0)) throw Error("clip_grad_norm_: invalid max_norm {} (must be >= 0)", max_norm);
  std::vector<Tensor> grads = grads_of(params);
  if (grads.empty()) return 0.0;
  // As PyTorch: the norm of each gradient, then the norm of those norms.
  std::vector<double> norms;
  for (const auto& g : grads)
    norms.push_back(detail::visit("clip_grad_norm_", g, [&](const auto& a) { return norm_of(a.data(), a.size(), norm_type); }));
  const double total = norm_of(norms.data(), norms.size(), norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    throw Error("clip_grad_norm_: the total {}-norm of the gradients of {} parameters is {}; set error_if_nonfinite "
                "= false to clip anyway",
                norm_type, grads.size(), total);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    NoGradGuard no_grad;
    for (auto& g : grads)
      detail::visit("clip_grad_norm_", g, [&](const auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        auto& m = g.mutable_value<T>();
        const T c = static_cast<T>(coef);
        for (auto& v : m) v = v * c;
      });
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  if (!(clip_value >= 0.0)) throw Error("clip_grad_value_: invalid clip_value {} (must be >= 0)", clip_value);
  NoGradGuard no_grad;
  for (auto g : grads_of(params))
    detail::visit("clip_grad_value_", g, [&](const auto& a) {
      using T = typename std::decay_t<decltype(a)>::value_type;
      auto& m = g.mutable_value<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      for (auto& v : m) v = std::clamp(v, lo, hi);
    });
}

void max_norm_(const Tensor& weight, double max_norm) {
  if (!weight.defined()) throw Error("max_norm_: the weight is undefined");
  if (weight.dim() == 0)
    throw Error("max_norm_: weight of shape [] has no neurons; expected [out, ...] (a Linear or conv weight)");
  if (!(max_norm >= 0.0)) throw Error("max_norm_: invalid max_norm {} (must be >= 0)", max_norm);
  NoGradGuard no_grad;
  Tensor w = weight;
  detail::visit("max_norm_", weight, [&](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    auto& m = w.mutable_value<T>();
    const std::size_t rows = m.shape()[0];
    const std::size_t len = rows ? m.size() / rows : 0;
    for (std::size_t r = 0; r < rows; ++r) {
      T* x = m.data() + r * len;
      double sq = 0.0;
      for (std::size_t k = 0; k < len; ++k) sq += static_cast<double>(x[k]) * static_cast<double>(x[k]);
      const double norm = std::sqrt(sq);
      if (norm > max_norm) {
        const T scale = static_cast<T>(max_norm / norm);
        for (std::size_t k = 0; k < len; ++k) x[k] = x[k] * scale;
      }
    }
  });
}

// --- ExponentialMovingAverage ---------------------------------------------------------------------
namespace {
Tensor copy_of(const Tensor& t) {
  return detail::visit("ExponentialMovingAverage", t, [](const auto& a) { return Tensor(a); });
}
void assign(const Tensor& dst, const Tensor& src) {
  Tensor d = dst;
  detail::visit("ExponentialMovingAverage", src, [&](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    auto& m = d.mutable_value<T>();
    std::copy(a.begin(), a.end(), m.begin());
  });
}
std::string describe(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  return fmt::format("{} {}", shape_str(t.shape()), dtype_name(t.dtype()));
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
      using T = typename std::decay_t<decltype(p)>::value_type;
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

nn::NamedTensors ExponentialMovingAverage::state_dict() const {
  nn::NamedTensors out;
  out.emplace_back("num_updates", scalar(static_cast<double>(num_updates_), f64));
  for (std::size_t i = 0; i < shadow_.size(); ++i) out.emplace_back(fmt::format("shadow.{}", i), copy_of(shadow_[i]));
  return out;
}

void ExponentialMovingAverage::load_state_dict(const nn::NamedTensors& dict) {
  std::map<std::string, const Tensor*> keys;
  for (const auto& [k, t] : dict)
    if (!keys.emplace(k, &t).second) throw Error("ExponentialMovingAverage.load_state_dict: key '{}' appears twice", k);
  auto take = [&](const std::string& key) {
    auto it = keys.find(key);
    if (it == keys.end()) throw Error("ExponentialMovingAverage.load_state_dict: missing key '{}'", key);
    const Tensor* t = it->second;
    keys.erase(it);
    return t;
  };
  const Tensor* n = take("num_updates");
  if (!n->defined() || n->dim() != 0 || n->dtype() != f64)
    throw Error("ExponentialMovingAverage.load_state_dict: 'num_updates' is {}, expected a 0-d f64 tensor ([] f64)",
                describe(*n));
  const double updates = n->item();
  if (!(updates >= 0.0) || updates != std::floor(updates) || updates > 9.0e15)
    throw Error("ExponentialMovingAverage.load_state_dict: 'num_updates' is {}, not a count", updates);
  std::vector<Tensor> next;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string key = fmt::format("shadow.{}", i);
    const Tensor* t = take(key);
    if (!t->defined() || t->shape() != shadow_[i].shape() || t->dtype() != shadow_[i].dtype())
      throw Error("ExponentialMovingAverage.load_state_dict: '{}' is {} but parameter {} is {}", key, describe(*t), i,
                  describe(shadow_[i]));
    next.push_back(copy_of(*t));
  }
  if (!keys.empty())
    throw Error("ExponentialMovingAverage.load_state_dict: unexpected key '{}' (the average has {} parameters)",
                keys.begin()->first, params_.size());
  shadow_ = std::move(next);
  num_updates_ = static_cast<std::int64_t>(updates);
}

}  // namespace xgrad::optim
