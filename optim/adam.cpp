#include "adam.hpp"

#include <algorithm>
#include <cmath>

#include "../autograd/dispatch.hpp"
#include "../autograd/threads.hpp"

namespace xgrad::optim {

namespace {
struct AdamConfig {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, decoupled;
};

template <class T>
struct AdamConstants {
  T step_size, bc2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, wd, decay;
};

// The update of n elements. Parameters, not local pointers, carry __restrict (GCC ignores it on locals);
// the decay flags are loop-invariant and GCC unswitches them.
template <class T, bool AmsGrad>
void adam_kernel(const AdamConstants<T>& k, bool coupled, bool decoupled, T* __restrict w, const T* __restrict g,
                 T* __restrict m, T* __restrict v, T* __restrict vmax, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const T p = decoupled ? w[i] * k.decay : w[i];
    const T d = coupled ? g[i] + k.wd * p : g[i];
    m[i] = k.beta1 * m[i] + k.one_minus_beta1 * d;
    v[i] = k.beta2 * v[i] + k.one_minus_beta2 * d * d;
    T second = v[i];
    if constexpr (AmsGrad) second = vmax[i] = std::max(vmax[i], v[i]);
    const T denom = std::sqrt(second) / k.bc2_sqrt + k.eps;
    w[i] = p - k.step_size * (m[i] / denom);
  }
}

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
  const bool coupled = o.weight_decay != 0.0 && !o.decoupled, decoupled = o.weight_decay != 0.0 && o.decoupled;
  const AdamConstants<T> k{step_size, bc2_sqrt, beta1, beta2, one_minus_beta1, one_minus_beta2, eps, wd, decay};
  xgrad::detail::for_slices(n, [&](std::size_t begin, std::size_t end) {
    // one branch-free loop per case, so that each vectorizes
    if (vmax_all)
      adam_kernel<T, true>(k, coupled, decoupled, w_all + begin, g_all + begin, m_all + begin, v_all + begin,
                           vmax_all + begin, end - begin);
    else
      adam_kernel<T, false>(k, coupled, decoupled, w_all + begin, g_all + begin, m_all + begin, v_all + begin, nullptr,
                            end - begin);
  });
}

void check_adam(const char* who, double lr, std::pair<double, double> betas, double eps, double weight_decay) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw Error("{}: invalid learning rate {} (must be finite and >= 0)", who, lr);
  if (!(betas.first >= 0.0 && betas.first < 1.0))
    throw Error("{}: invalid beta1 {} (betas.first must be in [0, 1))", who, betas.first);
  if (!(betas.second >= 0.0 && betas.second < 1.0))
    throw Error("{}: invalid beta2 {} (betas.second must be in [0, 1))", who, betas.second);
  if (!(eps >= 0.0) || !std::isfinite(eps)) throw Error("{}: invalid eps {} (must be finite and >= 0)", who, eps);
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay))
    throw Error("{}: invalid weight_decay {} (must be finite and >= 0)", who, weight_decay);
}

void run(const AdamConfig& c, Tensor& w, const Tensor& grad, Optimizer::ParamState& s) {
  xgrad::detail::with_dtype(w.dtype(), [&]<class T>() { adam_update<T>(c, w, grad, s); });
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
