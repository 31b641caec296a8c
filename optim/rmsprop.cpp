#include "rmsprop.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"

namespace xgrad::optim {

namespace {
template <class T>
void rmsprop_update(const RMSPropOptions& o, Tensor& param, const Tensor& grad, Optimizer::ParamState& s) {
  T* w = param.mutable_value<T>().data();
  const T* g = grad.value<T>().data();
  const std::size_t n = param.numel();
  const T lr = static_cast<T>(o.lr), alpha = static_cast<T>(o.alpha), one_minus_alpha = static_cast<T>(1.0 - o.alpha);
  const T eps = static_cast<T>(o.eps), wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
  T* v = s.buffer<T>("square_avg", param);
  T* b = o.momentum > 0.0 ? s.buffer<T>("momentum_buffer", param) : nullptr;
  T* a = o.centered ? s.buffer<T>("grad_avg", param) : nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    T d = g[k];
    if (o.weight_decay != 0.0) d = d + wd * w[k];
    v[k] = alpha * v[k] + one_minus_alpha * d * d;
    T denom;
    if (a) {
      a[k] = alpha * a[k] + one_minus_alpha * d;
      denom = std::sqrt(v[k] - a[k] * a[k]) + eps;
    } else {
      denom = std::sqrt(v[k]) + eps;
    }
    if (b) {
      b[k] = mom * b[k] + d / denom;
      w[k] = w[k] - lr * b[k];
    } else {
      w[k] = w[k] - lr * (d / denom);
    }
  }
}

void check_nonnegative(const char* what, double v) {
  if (!(v >= 0.0) || !std::isfinite(v)) throw Error("RMSProp: invalid {} {} (must be finite and >= 0)", what, v);
}
}  // namespace

RMSProp::RMSProp(std::vector<Tensor> params, RMSPropOptions options)
    : RMSProp({ParamGroup<RMSPropOptions>{std::move(params), options}}) {}

RMSProp::RMSProp(std::vector<ParamGroup<RMSPropOptions>> groups) { init(std::move(groups)); }

void RMSProp::check_options(const RMSPropOptions& o) const {
  check_lr(name(), o.lr);
  if (!(o.alpha >= 0.0 && o.alpha <= 1.0)) throw Error("RMSProp: invalid alpha {} (must be in [0, 1])", o.alpha);
  check_nonnegative("eps", o.eps);
  check_nonnegative("weight_decay", o.weight_decay);
  check_nonnegative("momentum", o.momentum);
}

void RMSProp::update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& s) {
  const RMSPropOptions& o = options_[group];
  xgrad::detail::with_dtype(w.dtype(), [&]<class T>() { rmsprop_update<T>(o, w, grad, s); });
}

std::vector<std::string> RMSProp::buffer_names(std::size_t group) const {
  const RMSPropOptions& o = options_[group];
  std::vector<std::string> names{"square_avg"};
  if (o.momentum > 0.0) names.push_back("momentum_buffer");
  if (o.centered) names.push_back("grad_avg");
  return names;
}

}  // namespace xgrad::optim
