#include "sgd.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "../autograd/threads.hpp"

namespace xgrad::optim {

namespace {
template <class T>
void sgd_update(const SGDOptions& o, Tensor& param, const Tensor& grad, Optimizer::ParamState& s) {
  T* w_all = param.mutable_value<T>().data();
  const T* g_all = grad.value<T>().data();
  const T lr = static_cast<T>(o.lr), wd = static_cast<T>(o.weight_decay), mom = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1.0 - o.dampening);
  const bool decay = o.weight_decay != 0.0, nesterov = o.nesterov;
  bool first = false;
  T* b_all = o.momentum != 0.0 ? s.buffer<T>("momentum_buffer", param, 0.0, &first) : nullptr;
  // Each case is its own loop with no branch inside, so that it vectorizes (GCC checks the arrays for
  // overlap at run time: it ignores __restrict on local pointers).
  xgrad::detail::for_slices(param.numel(), [&](std::size_t begin, std::size_t end) {
    T* __restrict w = w_all;
    const T* __restrict g = g_all;
    T* __restrict b = b_all;
    auto grad_at = [&](std::size_t k) { return decay ? g[k] + wd * w[k] : g[k]; };
    if (!b) {
      for (std::size_t k = begin; k < end; ++k) w[k] = w[k] - lr * grad_at(k);
    } else if (first) {  // the buffer starts as the first gradient
      for (std::size_t k = begin; k < end; ++k) {
        const T d = grad_at(k);
        b[k] = d;
        w[k] = w[k] - lr * (nesterov ? d + mom * d : d);
      }
    } else if (nesterov) {
      for (std::size_t k = begin; k < end; ++k) {
        const T d = grad_at(k);
        b[k] = mom * b[k] + keep * d;
        w[k] = w[k] - lr * (d + mom * b[k]);
      }
    } else {
      for (std::size_t k = begin; k < end; ++k) {
        const T d = grad_at(k);
        b[k] = mom * b[k] + keep * d;
        w[k] = w[k] - lr * b[k];
      }
    }
  });
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
  xgrad::detail::with_dtype(w.dtype(), [&]<class T>() { sgd_update<T>(o, w, grad, s); });
}

std::vector<std::string> SGD::buffer_names(std::size_t group) const {
  if (options_[group].momentum != 0.0) return {"momentum_buffer"};
  return {};
}

}  // namespace xgrad::optim
