#include "clip.hpp"

#include <algorithm>
#include <cmath>

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
    norms.push_back(
        detail::visit("clip_grad_norm_", g, [&](const auto& a) { return norm_of(a.data(), a.size(), norm_type); }));
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
        using T = value_t<decltype(a)>;
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
      using T = value_t<decltype(a)>;
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
    using T = value_t<decltype(a)>;
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

}  // namespace xgrad::optim
