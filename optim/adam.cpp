#include "adam.hpp"

#include <algorithm>
#include <cmath>

#include "../autograd/threads.hpp"

namespace xgrad::optim {

namespace {
struct AdamConfig {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;
};

template <class T>
void adam_update(const AdamConfig& o, Tensor& param, const Tensor& grad, Optimizer::ParamState& s) {
  T* w_all = param.mutable_value<T>().data();
  const T* g_all = grad.value<T>().data();
  const std::size_t n = param.numel();
  const double t = static_cast<double>(s.step);
  const double bias_correction1 = 1.0 - std::pow(o.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(o.beta2, t);
  const T step_size = static_cast<T>(o.lr / bias_correction1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T beta1 = static_cast<T>(o.beta1), beta2 = static_cast<T>(o.beta2);
  const T one_minus_beta1 = static_cast<T>(1.0 - o.beta1), one_minus_beta2 = static_cast<T>(1.0 - o.beta2);
  const T eps = static_cast<T>(o.eps), wd = static_cast<T>(o.weight_decay);
  const T decay = static_cast<T>(1.0 - o.lr * o.weight_decay);
  T* m_all = s.buffer<T>("exp_avg", param);
  T* v_all = s.buffer<T>("exp_avg_sq", param);
  T* vmax_all = o.amsgrad ? s.buffer<T>("max_exp_avg_sq", param) : nullptr;
  const bool coupled_decay = o.weight_decay != 0.0 && !o.decoupled, decoupled_decay = o.weight_decay != 0.0 && o.decoupled;
  xgrad::detail::for_slices(n, [&](std::size_t begin, std::size_t end) {
    T* __restrict w = w_all;
    const T* __restrict g = g_all;
    T* __restrict m = m_all;
    T* __restrict v = v_all;
    T* __restrict vmax = vmax_all;
    for (std::size_t k = begin; k < end; ++k) {
      T d = g[k];
      if (decoupled_decay) w[k] = w[k] * decay;
      if (coupled_decay) d = d + wd * w[k];
      m[k] = beta1 * m[k] + one_minus_beta1 * d;
      v[k] = beta2 * v[k] + one_minus_beta2 * d * d;
      T second = v[k];
      if (vmax) second = vmax[k] = std::max(vmax[k], v[k]);
      const T denom = std::sqrt(second) / bc2_sqrt + eps;
      w[k] = w[k] - step_size * (m[k] / denom);
    }
  });
}

void check_adam(const char* who, double lr, std::pair<double, double> betas, double eps, double weight_decay) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) throw Error("{}: invalid learning rate {} (must be finite and >= 0)", who, lr);
  if (!(betas.first >= 0.0 && betas.first < 1.0))
    throw Error("{}: invalid beta1 {} (betas.first must be in [0, 1))", who, betas.first);
  if (!(betas.second >= 0.0 && betas.second < 1.0))
    throw Error("{}: invalid beta2 {} (betas.second must be in [0, 1))", who, betas.second);
  if (!(eps >= 0.0) || !std::isfinite(eps)) throw Error("{}: invalid eps {} (must be finite and >= 0)", who, eps);
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay))
    throw Error("{}: invalid weight_decay {} (must be finite and >= 0)", who, weight_decay);
}

void run(const AdamConfig& c, Tensor& w, const Tensor& grad, Optimizer::ParamState& s) {
  if (w.dtype() == f32)
    adam_update<float>(c, w, grad, s);
  else
    adam_update<double>(c, w, grad, s);
}

std::vector<std::string> adam_buffers(bool amsgrad) {
  if (amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}
}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam({ParamGroup<AdamOptions>{std::move(params), options}}) {}
Adam::Adam(std::vector<ParamGroup<AdamOptions>> groups) { init(std::move(groups)); }
void Adam::check_options(const AdamOptions& o) const { check_adam("Adam", o.lr, o.betas, o.eps, o.weight_decay); }
void Adam::update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& s) {
  const AdamOptions& o = options_[group];
  run({o.lr, o.betas.first, o.betas.second, o.eps, o.weight_decay, o.amsgrad, false}, w, grad, s);
}
std::vector<std::string> Adam::buffer_names(std::size_t group) const { return adam_buffers(options_[group].amsgrad); }

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW({ParamGroup<AdamWOptions>{std::move(params), options}}) {}
AdamW::AdamW(std::vector<ParamGroup<AdamWOptions>> groups) { init(std::move(groups)); }
void AdamW::check_options(const AdamWOptions& o) const { check_adam("AdamW", o.lr, o.betas, o.eps, o.weight_decay); }
void AdamW::update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& s) {
  const AdamWOptions& o = options_[group];
  run({o.lr, o.betas.first, o.betas.second, o.eps, o.weight_decay, o.amsgrad, true}, w, grad, s);
}
std::vector<std::string> AdamW::buffer_names(std::size_t group) const { return adam_buffers(options_[group].amsgrad); }

}  // namespace xgrad::optim
