// gather and scatter_add by flat index: two raw loops, each recorded with the other as its gradient.
#include "gather.hpp"

#include "../autograd/dispatch.hpp"

namespace xgrad::detail {

// y.flat[j] = x.flat[at[j]];   dx = scatter_add(dy, at) into x's shape
Tensor gather_flat(const Tensor& x, FlatIndices at, const Shape& shape, Site site, const char* op) {
  Tensor y = visit(op, x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(shape);
    const std::vector<std::size_t>& idx = *at;
    for (std::size_t j = 0; j < idx.size(); ++j) out.data()[j] = a.data()[idx[j]];
    return Tensor(std::move(out));
  });
  return record(
      op, y, {x}, [at, site](Backward& node) { node.dx[0] = scatter_add_flat(node.dy, at, node.x.shape(0), site); },
      site);
}

// y.flat[at[j]] += x.flat[j] (zeros elsewhere);   dx = gather(dy, at) into x's shape
Tensor scatter_add_flat(const Tensor& x, FlatIndices at, const Shape& shape, Site site, const char* op) {
  Tensor y = visit(op, x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::zeros<T>(shape);
    const std::vector<std::size_t>& idx = *at;
    for (std::size_t j = 0; j < idx.size(); ++j) out.data()[idx[j]] += a.data()[j];
    return Tensor(std::move(out));
  });
  return record(
      op, y, {x}, [at, site](Backward& node) { node.dx[0] = gather_flat(node.dy, at, node.x.shape(0), site); }, site);
}

}  // namespace xgrad::detail
