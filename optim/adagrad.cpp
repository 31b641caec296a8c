#include "adagrad.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"

namespace xgrad::optim {

namespace {
template <class T>
void adagrad_update(const AdaGradOptions& o, Tensor& param, const Tensor& grad, Optimizer::ParamState& s) {
  T* w = param.mutable_value<T>().data();
  const T* g = grad.value<T>().data();
  const std::size_t n = param.numel();
  const T clr = static_cast<T>(o.lr / (1.0 + static_cast<double>(s.step - 1) * o.lr_decay));
  const T wd = static_cast<T>(o.weight_decay), eps = static_cast<T>(o.eps);
  T* sum = s.buffer<T>("sum", param, o.initial_accumulator_value);
  for (std::size_t k = 0; k < n; ++k) {
    T d = g[k];
    if (o.weight_decay != 0.0) d = d + wd * w[k];
    sum[k] = sum[k] + d * d;
    w[k] = w[k] - clr * (d / (std::sqrt(sum[k]) + eps));
  }
}

void check_nonnegative(const char* what, double v) {
  if (!(v >= 0.0) || !std::isfinite(v)) throw Error("AdaGrad: invalid {} {} (must be finite and >= 0)", what, v);
}
}  // namespace

AdaGrad::AdaGrad(std::vector<Tensor> params, AdaGradOptions options)
    : AdaGrad({ParamGroup<AdaGradOptions>{std::move(params), options}}) {}

AdaGrad::AdaGrad(std::vector<ParamGroup<AdaGradOptions>> groups) { init(std::move(groups)); }

void AdaGrad::check_options(const AdaGradOptions& o) const {
  check_lr(name(), o.lr);
  check_nonnegative("lr_decay", o.lr_decay);
  check_nonnegative("weight_decay", o.weight_decay);
  check_nonnegative("initial_accumulator_value", o.initial_accumulator_value);
  check_nonnegative("eps", o.eps);
}

void AdaGrad::update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& s) {
  const AdaGradOptions& o = options_[group];
  xgrad::detail::with_dtype(w.dtype(), [&]<class T>() { adagrad_update<T>(o, w, grad, s); });
}

std::vector<std::string> AdaGrad::buffer_names(std::size_t) const { return {"sum"}; }

}  // namespace xgrad::optim
