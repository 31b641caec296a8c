// Batch normalization, twice: composed from primitives (the tape derives its gradient) and fused
// (one op, raw per-channel loops, the simplified backward). x is seen as [N, C, S], S = H*W (1 for [N,D]).
#include "normalization.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "arithmetic.hpp"
#include "elementwise.hpp"
#include "reduce.hpp"
#include "shape.hpp"

namespace xgrad {

namespace {

struct Layout {
  std::size_t n = 1, c = 1, s = 1;
  Shape stat;                                        // [1, C, 1, ...]: the statistics shaped to broadcast against x
  std::size_t per_channel() const { return n * s; }  // m
};

Layout check(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
             const Tensor& running_var, bool training) {
  if (!x.defined()) throw Error("{}: the input is undefined", op);
  const Shape sx = x.shape();
  if (sx.size() < 2) throw Error("{}: input {} must be [N,D] or [N,C,H,W]", op, shape_str(sx));
  Layout L;
  L.n = sx[0];
  L.c = sx[1];
  for (std::size_t d = 2; d < sx.size(); ++d) L.s *= sx[d];
  L.stat = Shape(sx.size(), 1);
  L.stat[1] = L.c;
  auto check_param = [&](const Tensor& t, const char* name) {
    if (!t.defined()) return;
    if (t.shape() != Shape{L.c})
      throw Error("{}: {} {} does not match input {}: expected [{}], one per channel", op, name, shape_str(t.shape()),
                  shape_str(sx), L.c);
    if (t.dtype() != x.dtype())
      throw Error("{}: {} {} is {} but input {} is {}", op, name, shape_str(t.shape()), dtype_name(t.dtype()),
                  shape_str(sx), dtype_name(x.dtype()));
  };
  check_param(gamma, "gamma");
  check_param(beta, "beta");
  check_param(running_mean, "running_mean");
  check_param(running_var, "running_var");
  if (running_mean.defined() != running_var.defined())
    throw Error("{}: pass both running_mean and running_var or neither (input {})", op, shape_str(sx));
  if (training && L.per_channel() < 2)
    throw Error("{}: input {} has {} value per channel; training needs more than 1 to estimate a variance", op,
                shape_str(sx), L.per_channel());
  if (!training && !running_mean.defined())
    throw Error("{}: eval mode normalizes with running_mean and running_var, and they are undefined (input {})", op,
                shape_str(sx));
  return L;
}

// running = (1 - momentum) running + momentum batch, with the unbiased batch variance.
void update_running(const Tensor& running_mean, const Tensor& running_var, const std::vector<double>& mean,
                    const std::vector<double>& biased_var, std::size_t m, double momentum) {
  if (!running_mean.defined()) return;
  const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);
  Tensor rm = running_mean, rv = running_var;  // handles: the update is seen by the caller's tensors
  auto update = [&](auto t) {
    using T = decltype(t);
    T* pm = rm.mutable_value<T>().data();
    T* pv = rv.mutable_value<T>().data();
    for (std::size_t c = 0; c < mean.size(); ++c) {
      pm[c] = static_cast<T>((1 - momentum) * pm[c] + momentum * mean[c]);
      pv[c] = static_cast<T>((1 - momentum) * pv[c] + momentum * biased_var[c] * unbias);
    }
  };
  if (rm.dtype() == f32)
    update(float{});
  else
    update(double{});
}

std::vector<double> to_doubles(const Tensor& t) {
  return detail::visit("batch_norm", t, [](const auto& a) { return std::vector<double>(a.begin(), a.end()); });
}

// The mean over every axis but 1, kept as [1, C, 1, ...].
Tensor channel_mean(const Tensor& t, Site site) {
  Tensor r = mean(t, 0, true, site);
  for (std::size_t d = 2; d < t.dim(); ++d) r = mean(r, static_cast<long>(d), true, site);
  return r;
}

// The sum over every axis but 1, as [C] (a gradient of gamma or beta).
Tensor channel_sum(const Tensor& t, Site site) {
  Tensor r = sum(t, 0, true, site);
  for (std::size_t d = 2; d < t.dim(); ++d) r = sum(r, static_cast<long>(d), true, site);
  return reshape(r, {t.shape()[1]}, site);
}

// Per-channel values as a constant [1, C, 1, ...] tensor in x's dtype.
Tensor channel_constant(const std::vector<double>& v, const Layout& L, DType dtype) {
  Tensor t = tensor(v, dtype);
  return reshape(t, L.stat);
}

}  // namespace

// Composed:  mean_B = mean(x),  xc = x - mean_B,  var_B = mean(xc^2),  xhat = xc / sqrt(var_B + eps),
//            y = xhat * gamma + beta;   every step is a recorded primitive, so backward needs nothing here.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps, Site site) {
  const Layout L = check("batch_norm", x, gamma, beta, running_mean, running_var, training);
  const Tensor e = scalar(eps, x.dtype());
  Tensor xhat;
  if (training) {
    const Tensor mu = channel_mean(x, site);
    const Tensor xc = sub(x, mu, site);
    const Tensor var = channel_mean(mul(xc, xc, site), site);
    xhat = div(xc, sqrt(add(var, e, site), site), site);
    update_running(running_mean, running_var, to_doubles(mu), to_doubles(var), L.per_channel(), momentum);
  } else {
    xhat = div(sub(x, reshape(running_mean, L.stat, site), site),
               sqrt(add(reshape(running_var, L.stat, site), e, site), site), site);
  }
  Tensor y = xhat;
  if (gamma.defined()) y = mul(y, reshape(gamma, L.stat, site), site);
  if (beta.defined()) y = add(y, reshape(beta, L.stat, site), site);
  return y;
}

// Fused: statistics and normalization in per-channel loops (double accumulators), one tape node.
Tensor batch_norm_fused(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, Site site) {
  const Layout L = check("batch_norm_fused", x, gamma, beta, running_mean, running_var, training);
  const std::size_t m = L.per_channel();
  std::vector<double> mean(L.c), inv_std(L.c);  // the statistics used, and 1 / sqrt(var + eps)

  Tensor y = detail::visit("batch_norm_fused", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    const T* px = a.data();
    if (training) {
      std::vector<double> var(L.c);
      for (std::size_t c = 0; c < L.c; ++c) {
        double s = 0;
        for (std::size_t n = 0; n < L.n; ++n) {
          const T* row = px + (n * L.c + c) * L.s;
          for (std::size_t i = 0; i < L.s; ++i) s += row[i];
        }
        const double mu = s / static_cast<double>(m);
        double v = 0;
        for (std::size_t n = 0; n < L.n; ++n) {
          const T* row = px + (n * L.c + c) * L.s;
          for (std::size_t i = 0; i < L.s; ++i) v += (row[i] - mu) * (row[i] - mu);
        }
        mean[c] = mu;
        var[c] = v / static_cast<double>(m);
        inv_std[c] = 1.0 / std::sqrt(var[c] + eps);
      }
      update_running(running_mean, running_var, mean, var, m, momentum);
    } else {
      const T* rm = running_mean.value<T>().data();
      const T* rv = running_var.value<T>().data();
      for (std::size_t c = 0; c < L.c; ++c) {
        mean[c] = rm[c];
        inv_std[c] = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      }
    }
    const T* pg = gamma.defined() ? gamma.value<T>().data() : nullptr;
    const T* pb = beta.defined() ? beta.value<T>().data() : nullptr;
    xt::xarray<T> out = xt::xarray<T>::from_shape(a.shape());
    for (std::size_t n = 0; n < L.n; ++n)
      for (std::size_t c = 0; c < L.c; ++c) {
        // y = (x - mean) * inv_std * gamma + beta = x * scale + shift
        const double scale = inv_std[c] * (pg ? pg[c] : 1.0);
        const double shift = (pb ? pb[c] : 0.0) - mean[c] * scale;
        const T* src = px + (n * L.c + c) * L.s;
        T* dst = out.data() + (n * L.c + c) * L.s;
        for (std::size_t i = 0; i < L.s; ++i) dst[i] = static_cast<T>(src[i] * scale + shift);
      }
    return Tensor(std::move(out));
  });

  std::vector<Tensor> inputs{x};
  const std::size_t gi = gamma.defined() ? inputs.size() : 0;
  if (gamma.defined()) inputs.push_back(gamma);
  const std::size_t bi = beta.defined() ? inputs.size() : 0;
  if (beta.defined()) inputs.push_back(beta);
  return record(
      "batch_norm_fused", y, std::move(inputs),
      [L, m, training, gi, bi, eps, site, mean = std::move(mean), inv_std = std::move(inv_std)](Backward& node) {
        if (node.create_graph) {
          // The formulas below as recorded ops. In training the statistics are functions of x, so
          // they are recomputed as ops too: the second derivative flows through them.
          const Tensor& x = node.x[0];
          const Tensor& dy = node.dy;
          Tensor xhat, k;
          if (training) {
            const Tensor xc = sub(x, channel_mean(x, site), site);
            k = pow(add(channel_mean(mul(xc, xc, site), site), scalar(eps, x.dtype()), site), -0.5, site);
            xhat = mul(xc, k, site);
          } else {
            k = channel_constant(inv_std, L, x.dtype());
            xhat = mul(sub(x, channel_constant(mean, L, x.dtype()), site), k, site);
          }
          if (gi) k = mul(k, reshape(node.x[gi], L.stat, site), site);
          if (node.needs(0))
            node.dx[0] = training ? mul(k,
                                        sub(sub(dy, channel_mean(dy, site), site),
                                            mul(xhat, channel_mean(mul(dy, xhat, site), site), site), site),
                                        site)
                                  : mul(k, dy, site);
          if (gi && node.needs(gi)) node.dx[gi] = channel_sum(mul(dy, xhat, site), site);
          if (bi && node.needs(bi)) node.dx[bi] = channel_sum(dy, site);
          return;
        }
        detail::visit("batch_norm_fused", node.dy, [&](const auto& dya) {
          using T = value_t<decltype(dya)>;
          const T* dy = dya.data();
          const T* px = node.x[0].value<T>().data();
          const T* pg = gi ? node.x[gi].value<T>().data() : nullptr;
          // per channel: dbeta = sum(dy), dgamma = sum(dy * xhat)
          std::vector<double> dbeta(L.c, 0.0), dgamma(L.c, 0.0);
          for (std::size_t n = 0; n < L.n; ++n)
            for (std::size_t c = 0; c < L.c; ++c) {
              const T* d = dy + (n * L.c + c) * L.s;
              const T* xr = px + (n * L.c + c) * L.s;
              double sb = 0, sg = 0;
              for (std::size_t i = 0; i < L.s; ++i) {
                sb += d[i];
                sg += d[i] * (xr[i] - mean[c]) * inv_std[c];
              }
              dbeta[c] += sb;
              dgamma[c] += sg;
            }
          if (node.needs(0)) {
            xt::xarray<T> dx = xt::xarray<T>::from_shape(dya.shape());
            const double md = static_cast<double>(m);
            for (std::size_t n = 0; n < L.n; ++n)
              for (std::size_t c = 0; c < L.c; ++c) {
                const double k = (pg ? pg[c] : 1.0) * inv_std[c];
                const T* d = dy + (n * L.c + c) * L.s;
                const T* xr = px + (n * L.c + c) * L.s;
                T* out = dx.data() + (n * L.c + c) * L.s;
                if (training) {  // dx = gamma inv_std / m * (m dy - dbeta - xhat dgamma)
                  for (std::size_t i = 0; i < L.s; ++i) {
                    const double xhat = (xr[i] - mean[c]) * inv_std[c];
                    out[i] = static_cast<T>(k / md * (md * d[i] - dbeta[c] - xhat * dgamma[c]));
                  }
                } else {  // dx = gamma inv_std dy
                  for (std::size_t i = 0; i < L.s; ++i) out[i] = static_cast<T>(k * d[i]);
                }
              }
            node.dx[0] = Tensor(std::move(dx));
          }
          auto to_tensor = [&](const std::vector<double>& v) {
            xt::xarray<T> t = xt::xarray<T>::from_shape({v.size()});
            std::copy(v.begin(), v.end(), t.begin());
            return Tensor(std::move(t));
          };
          if (gi && node.needs(gi)) node.dx[gi] = to_tensor(dgamma);
          if (bi && node.needs(bi)) node.dx[bi] = to_tensor(dbeta);
        });
      },
      site);
}

}  // namespace xgrad
