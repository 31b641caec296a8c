// dropout: the mask is kept as bytes (1 = kept) beside the scale; backward multiplies by it again.
#include "dropout.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "../autograd/random.hpp"
#include "arithmetic.hpp"

namespace xgrad {

// y = x * keep / (1 - p);   dy/dx = keep / (1 - p)
Tensor dropout(const Tensor& x, double p, bool training, Site site) {
  if (!x.defined()) throw Error("dropout: the input is undefined");
  if (!(p >= 0.0 && p < 1.0))
    throw Error("dropout: p = {} is outside [0, 1) (input {}); p is the probability of zeroing an element", p,
                shape_str(x.shape()));
  if (!training || p == 0.0) return x;
  const double scale = 1.0 / (1.0 - p);
  // keep[i] = (u >= p) for u uniform on [0, 1): the same mask for f32 and f64 under one seed.
  std::vector<std::uint8_t> keep(x.numel());
  auto& rng = generator();
  for (auto& k : keep) k = uniform01(rng) >= p;
  auto apply = [](const Tensor& t, const std::vector<std::uint8_t>& mask, double s) {
    return detail::visit("dropout", t, [&](const auto& a) {
      using T = value_t<decltype(a)>;
      xt::xarray<T> out = xt::xarray<T>::from_shape(a.shape());
      const T ts = static_cast<T>(s);
      for (std::size_t i = 0, n = a.size(); i < n; ++i) out.data()[i] = mask[i] ? a.data()[i] * ts : T(0);
      return Tensor(std::move(out));
    });
  };
  Tensor y = apply(x, keep, scale);
  return record(
      "dropout", y, {x},
      [keep = std::move(keep), scale, apply](Backward& node) {
        if (node.create_graph)  // dy times the mask as a constant tensor: a recorded product
          node.dx[0] = node.dy * apply(ones_like(node.dy), keep, scale);
        else
          node.dx[0] = apply(node.dy, keep, scale);
      },
      site);
}

}  // namespace xgrad
