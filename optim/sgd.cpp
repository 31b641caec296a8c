#include "sgd.hpp"

#include <cmath>

namespace xgrad::optim {

namespace {
template <class T>
void sgd_update(const SGDOptions& o, Tensor& param, const Tensor& grad, Optimizer::ParamState& s) {
  T* w = param.mutable_value<T>().data();
  const T* g = grad.value<T>().data();
  const std::size_t n = param.numel();
  const T lr = static_cast<T>(o.lr), wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1.0 - o.dampening);
  bool first = false;
  T* b = o.momentum != 0.0 ? s.buffer<T>("momentum_buffer", param, 0.0, &first) : nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    T d = g[k];
    if (o.weight_decay != 0.0) d = d + wd * w[k];
    if (b) {
      b[k] = first ? d : mom * b[k] + keep * d;
      d = o.nesterov ? d + mom * b[k] : b[k];
    }
    w[k] = w[k] - lr * d;
  }
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions options) : SGD({ParamGroup<SGDOptions>{std::move(params), options}}) {}

SGD::SGD(std::vector<ParamGroup<SGDOptions>> groups) { init(std::move(groups)); }

void SGD::check_options(const SGDOptions& o) const {
  check_lr(name(), o.lr);
  if (!(o.momentum >= 0.0) || !std::isfinite(o.momentum))
    throw Error("SGD: invalid momentum {} (must be finite and >= 0)", o.momentum);
  if (!std::isfinite(o.dampening)) throw Error("SGD: invalid dampening {}", o.dampening);
  if (!(o.weight_decay >= 0.0) || !std::isfinite(o.weight_decay))
    throw Error("SGD: invalid weight_decay {} (must be finite and >= 0)", o.weight_decay);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    throw Error("SGD: nesterov momentum requires momentum > 0 and dampening 0 (got momentum {}, dampening {})",
                o.momentum, o.dampening);
}

void SGD::update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& s) {
  const SGDOptions& o = options_[group];
  if (w.dtype() == f32)
    sgd_update<float>(o, w, grad, s);
  else
    sgd_update<double>(o, w, grad, s);
}

std::vector<std::string> SGD::buffer_names(std::size_t group) const {
  if (options_[group].momentum != 0.0) return {"momentum_buffer"};
  return {};
}

}  // namespace xgrad::optim
