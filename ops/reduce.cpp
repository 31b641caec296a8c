// Reductions as raw loops over x seen as [outer, n, inner], n being the reduced axis.
#include "reduce.hpp"

#include <algorithm>

#include "../autograd/allocation.hpp"
#include "../autograd/kinks.hpp"
#include "../autograd/threads.hpp"
#include "arithmetic.hpp"
#include "broadcast.hpp"
#include "gather.hpp"
#include "loops.hpp"
#include "shape.hpp"

namespace xgrad {

namespace {
// x seen as [outer, n, inner] around the reduced axis, and the result's shape without / with it as 1.
struct AxisView : detail::AxisSplit {
  Shape reduced, kept;
};
AxisView split_at(const char* op, const Shape& shape, long axis) {
  const std::size_t a = detail::normalize_axis(op, axis, shape.size(), shape);
  AxisView v;
  static_cast<detail::AxisSplit&>(v) = detail::split_around(shape, a);
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d != a) v.reduced.push_back(shape[d]);
    v.kept.push_back(d == a ? 1 : shape[d]);
  }
  return v;
}
}  // namespace

// y = sum_i x_i;   dy/dx_i = 1: the gradient is dy copied to every element
Tensor sum(const Tensor& x, Site site) {
  Tensor y = detail::visit("sum", x, [](const auto& a) {
    using T = value_t<decltype(a)>;
    // a large tensor is summed in one slice per thread; the slices' sums are added in order, so the
    // result depends only on the thread count
    const std::size_t n = a.size(), parts = n < (std::size_t{1} << 18) ? 1 : detail::parallel_parts(n);
    std::vector<double> partial(parts, 0.0);
    detail::parallel_for(n, parts, [&](std::size_t part, std::size_t begin, std::size_t end) {
      partial[part] = detail::sum_in_double(a.data() + begin, end - begin);
    });
    double total = 0;
    for (double p : partial) total += p;
    return scalar(total, dtype_of<T>());
  });
  return record(
      "sum", y, {x}, [](Backward& node) { node.dx[0] = expand(node.dy, node.x.shape(0)); }, site);
}

Tensor sum(const Tensor& x, long axis, bool keepdim, Site site) {
  const AxisView v = split_at("sum", x.shape(), axis);
  // Only a sum over an empty axis makes more elements than x has (zeros), e.g. [2^40, 0] -> [2^40].
  if (v.n == 0) detail::check_allocation("sum", keepdim ? v.kept : v.reduced, x.dtype());
  Tensor y = detail::visit("sum", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::zeros<T>(keepdim ? v.kept : v.reduced);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t k = 0; k < v.n; ++k) {
        const T* src = a.data() + (o * v.n + k) * v.inner;
        T* dst = out.data() + o * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) dst[i] += src[i];
      }
    return Tensor(std::move(out));
  });
  return record(
      "sum", y, {x}, [kept = v.kept](Backward& node) { node.dx[0] = expand(reshape(node.dy, kept), node.x.shape(0)); },
      site);
}

// mean = sum / n, composed from the two ops above
Tensor mean(const Tensor& x, Site site) {
  if (x.numel() == 0) throw Error("mean: tensor of shape {} is empty", shape_str(x.shape()));
  return mul(sum(x, site), scalar(1.0 / static_cast<double>(x.numel()), x.dtype()), site);
}
Tensor mean(const Tensor& x, long axis, bool keepdim, Site site) {
  const AxisView v = split_at("mean", x.shape(), axis);
  if (v.n == 0) throw Error("mean: axis {} of shape {} is empty", axis, shape_str(x.shape()));
  return mul(sum(x, axis, keepdim, site), scalar(1.0 / static_cast<double>(v.n), x.dtype()), site);
}

namespace {
// Flat indices into x of the first largest element of each [outer, :, inner] line. An empty axis has
// no largest element: an error, as in PyTorch (even when there are no lines either).
std::vector<std::size_t> arg_best(const char* op, const Tensor& x, long axis, const AxisView& v) {
  if (v.n == 0) throw Error("{}: axis {} of shape {} is empty", op, axis, shape_str(x.shape()));
  return detail::visit(op, x, [&](const auto& a) {
    std::vector<std::size_t> at(v.outer * v.inner);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t i = 0; i < v.inner; ++i) {
        std::size_t best = o * v.n * v.inner + i;
        for (std::size_t k = 1; k < v.n; ++k) {
          const std::size_t j = (o * v.n + k) * v.inner + i;
          if (a.data()[j] > a.data()[best]) best = j;
        }
        at[o * v.inner + i] = best;
      }
    return at;
  });
}

void check_not_empty(const char* op, const Tensor& x) {
  if (x.numel() == 0) throw Error("{}: tensor of shape {} is empty", op, shape_str(x.shape()));
}

// y = max_k x_k;   dy/dx_k = 1 for the (first) winner k, 0 for the others: dx scatters dy to the
// winners, a recorded op (so max is differentiable to any order). `op` names the caller
// (max or min) in errors.
Tensor max_along(const char* op, const Tensor& x, long axis, bool keepdim, Site site) {
  const AxisView v = split_at(op, x.shape(), axis);
  const auto winner = std::make_shared<const std::vector<std::size_t>>(arg_best(op, x, axis, v));
  Tensor y = detail::visit("max", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(keepdim ? v.kept : v.reduced);
    for (std::size_t j = 0; j < winner->size(); ++j) out.data()[j] = a.data()[(*winner)[j]];
    return Tensor(std::move(out));
  });
  if (kinks::recording()) {
    xt::xarray<double> w = xt::xarray<double>::from_shape({winner->size()});
    std::copy(winner->begin(), winner->end(), w.begin());
    kinks::note(Tensor(std::move(w)));
  }
  return record(
      "max", y, {x},
      [winner, site](Backward& node) { node.dx[0] = detail::scatter_add_flat(node.dy, winner, node.x.shape(0), site); },
      site);
}
}  // namespace

Tensor max(const Tensor& x, long axis, bool keepdim, Site site) { return max_along("max", x, axis, keepdim, site); }
Tensor max(const Tensor& x, Site site) {
  check_not_empty("max", x);
  return max_along("max", reshape(x, {x.numel()}, site), 0, false, site);
}
// min x = -max(-x)
Tensor min(const Tensor& x, long axis, bool keepdim, Site site) {
  return neg(max_along("min", neg(x, site), axis, keepdim, site), site);
}
Tensor min(const Tensor& x, Site site) {
  check_not_empty("min", x);
  return neg(max_along("min", reshape(neg(x, site), {x.numel()}, site), 0, false, site), site);
}

std::vector<std::size_t> argmax(const Tensor& x, long axis) {
  const AxisView v = split_at("argmax", x.shape(), axis);
  std::vector<std::size_t> at = arg_best("argmax", x, axis, v);
  for (auto& j : at) j = (j / v.inner) % v.n;  // flat index -> position along the axis
  return at;
}

// y = x broadcast to `shape`;   the gradient sums dy back over the broadcast axes
Tensor expand(const Tensor& x, const Shape& shape, Site site) {
  const Shape from = x.shape();
  if (detail::broadcast_shapes("expand", from, shape) != shape)
    throw Error("expand: {} cannot be broadcast to {}", shape_str(from), shape_str(shape));
  detail::check_allocation("expand", shape, x.dtype(), [&] { return fmt::format("{} expanded", shape_str(from)); });
  Tensor y = detail::visit("expand", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(shape);
    const detail::Strides sa = detail::broadcast_strides(from, shape), none(shape.size(), 0);
    const std::size_t n = shape.empty() ? 1 : shape.back();
    const std::ptrdiff_t step = shape.empty() ? 0 : sa.back();
    if (a.size() == 1) {  // the common case (the gradient of a sum): one value everywhere
      const T value = a.data()[0];
      detail::for_slices(out.size(), [&](std::size_t begin, std::size_t end) {
        std::fill(out.data() + begin, out.data() + end, value);
      });
      return Tensor(std::move(out));
    }
    detail::for_each_row(shape, sa, none, [&](std::ptrdiff_t oa, std::ptrdiff_t, std::size_t row) {
      if (step == 0)
        std::fill_n(out.data() + row * n, n, a.data()[oa]);
      else
        for (std::size_t j = 0; j < n; ++j) out.data()[row * n + j] = a.data()[oa + j * step];
    });
    return Tensor(std::move(out));
  });
  return record(
      "expand", y, {x}, [](Backward& node) { node.dx[0] = sum_to(node.dy, node.x.shape(0)); }, site);
}

// y = x summed down to `shape` (undoing a broadcast);   the gradient expands dy back
Tensor sum_to(const Tensor& x, const Shape& shape, Site site) {
  const Shape from = x.shape();
  if (detail::broadcast_shapes("sum_to", shape, from) != from)
    throw Error("sum_to: {} cannot be summed to {} (it is not a broadcast of it)", shape_str(from), shape_str(shape));
  Tensor y = detail::visit("sum_to", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::zeros<T>(shape);
    const detail::Strides so = detail::broadcast_strides(shape, from), none(from.size(), 0);
    const std::size_t n = from.empty() ? 1 : from.back();
    const std::ptrdiff_t step = from.empty() ? 0 : so.back();
    detail::for_each_row(from, so, none, [&](std::ptrdiff_t oo, std::ptrdiff_t, std::size_t row) {
      const T* src = a.data() + row * n;
      T* dst = out.data() + oo;
      if (step == 0) {
        T s = 0;
        for (std::size_t j = 0; j < n; ++j) s += src[j];
        *dst += s;
      } else {
        for (std::size_t j = 0; j < n; ++j) dst[j * step] += src[j];
      }
    });
    return Tensor(std::move(out));
  });
  return record(
      "sum_to", y, {x}, [](Backward& node) { node.dx[0] = expand(node.dy, node.x.shape(0)); }, site);
}

}  // namespace xgrad
