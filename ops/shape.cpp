// Shape ops. Values are copied into the new layout (xgrad has no views), so each op is a plain
// loop and each gradient is the inverse move.
#include "shape.hpp"

#include <algorithm>
#include <numeric>

#include "../autograd/allocation.hpp"
#include "broadcast.hpp"
#include "gather.hpp"
#include "loops.hpp"

namespace xgrad {

namespace {
std::size_t product(const Shape& s) { return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>()); }
using Split = detail::AxisSplit;
}  // namespace

// y = x with a new shape;   dx = dy with x's shape
Tensor reshape(const Tensor& x, const Shape& shape, Site site) {
  // A product that wraps around could equal x's count (0 for an empty x) and make a shape no loop can walk.
  detail::check_allocation("reshape", shape, x.dtype(),
                           [&] { return fmt::format("{} reshaped", shape_str(x.shape())); });
  if (product(shape) != x.numel())
    throw Error("reshape: {} ({} elements) cannot become {} ({} elements)", shape_str(x.shape()), x.numel(),
                shape_str(shape), product(shape));
  Tensor y = detail::visit("reshape", x, [&](const auto& a) {
    auto b = a;
    b.reshape(shape);
    return Tensor(std::move(b));
  });
  return record(
      "reshape", y, {x}, [](Backward& node) { node.dx[0] = reshape(node.dy, node.x.shape(0)); }, site);
}
Tensor Tensor::reshape(const Shape& shape, Site site) const { return xgrad::reshape(*this, shape, site); }

// y axis i = x axis axes[i];   dx = dy permuted back by the inverse permutation
Tensor permute(const Tensor& x, const std::vector<std::size_t>& axes, Site site) {
  const Shape from = x.shape();
  std::vector<std::size_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> identity(from.size());
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity)
    throw Error("permute: axes {} are not a permutation of the {} axes of {}", shape_str(axes), from.size(),
                shape_str(from));
  Shape to(from.size());
  detail::Strides contiguous = detail::broadcast_strides(from, from), read(from.size());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    to[i] = from[axes[i]];
    read[i] = contiguous[axes[i]];
  }
  Tensor y = detail::visit("permute", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(to);
    const std::size_t n = to.empty() ? 1 : to.back();
    const std::ptrdiff_t step = to.empty() ? 0 : read.back();
    detail::for_each_row(to, read, read, [&](std::ptrdiff_t offset, std::ptrdiff_t, std::size_t row) {
      T* dst = out.data() + row * n;
      const T* src = a.data() + offset;
      for (std::size_t j = 0; j < n; ++j) dst[j] = src[j * step];
    });
    return Tensor(std::move(out));
  });
  std::vector<std::size_t> inverse(axes.size());
  for (std::size_t i = 0; i < axes.size(); ++i) inverse[axes[i]] = i;
  return record(
      "permute", y, {x}, [inverse](Backward& node) { node.dx[0] = permute(node.dy, inverse); }, site);
}

Tensor transpose(const Tensor& x, Site site) {
  if (x.dim() != 2) throw Error("transpose: tensor of shape {} is not 2-D (use permute)", shape_str(x.shape()));
  return permute(x, {1, 0}, site);
}
Tensor Tensor::transpose(Site site) const { return xgrad::transpose(*this, site); }

Tensor flatten(const Tensor& x, std::size_t start_axis, Site site) {
  const Shape s = x.shape();
  if (start_axis >= std::max<std::size_t>(s.size(), 1))
    throw Error("flatten: start axis {} is out of range for a tensor of shape {}", start_axis, shape_str(s));
  Shape to(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(start_axis));
  to.push_back(product(Shape(s.begin() + static_cast<std::ptrdiff_t>(start_axis), s.end())));
  return reshape(x, to, site);
}

Tensor unsqueeze(const Tensor& x, long axis, Site site) {
  Shape s = x.shape();
  const std::size_t a = detail::normalize_axis("unsqueeze", axis, s.size() + 1, s);
  s.insert(s.begin() + static_cast<std::ptrdiff_t>(a), 1);
  return reshape(x, s, site);
}

Tensor squeeze(const Tensor& x, long axis, Site site) {
  Shape s = x.shape();
  const std::size_t a = detail::normalize_axis("squeeze", axis, s.size(), s);
  if (s[a] != 1) throw Error("squeeze: axis {} of shape {} has size {}, not 1", axis, shape_str(s), s[a]);
  s.erase(s.begin() + static_cast<std::ptrdiff_t>(a));
  return reshape(x, s, site);
}

// y = [x0, x1, ...] joined along axis;   dx_i = the slice of dy where x_i landed
Tensor concat(const std::vector<Tensor>& xs, long axis, Site site) {
  if (xs.empty()) throw Error("concat: no tensors given");
  const Shape first = xs[0].shape();
  const std::size_t a = detail::normalize_axis("concat", axis, first.size(), first);
  Shape to = first;
  to[a] = 0;
  for (const Tensor& t : xs) {
    Shape s = t.shape();
    Shape s_rest = s, first_rest = first;
    if (s.size() == first.size()) s_rest[a] = first_rest[a] = 0;
    if (s_rest != first_rest || t.dtype() != xs[0].dtype())
      throw Error("concat: {} {} and {} {} differ other than along axis {}", shape_str(first),
                  dtype_name(xs[0].dtype()), shape_str(s), dtype_name(t.dtype()), axis);
    to[a] += s[a];
  }
  // Repeating one tensor many times can ask for more than the machine has.
  detail::check_allocation("concat", to, xs[0].dtype(), [&] { return fmt::format("{} tensors joined", xs.size()); });
  const Split out = detail::split_around(to, a);
  Tensor y = detail::visit("concat", xs[0], [&](const auto& a0) {
    using Array = std::decay_t<decltype(a0)>;
    using T = typename Array::value_type;
    Array result = Array::from_shape(to);
    std::size_t at = 0;  // where along the axis the current input starts
    for (const Tensor& t : xs) {
      const Array& src = t.value<T>();
      const std::size_t n = t.shape()[a];  // not src.size() / (outer * inner): that is 0 / 0 when x is empty
      for (std::size_t o = 0; o < out.outer; ++o)
        std::copy_n(src.data() + o * n * out.inner, n * out.inner, result.data() + (o * out.n + at) * out.inner);
      at += n;
    }
    return Tensor(std::move(result));
  });
  return record(
      "concat", y, xs,
      [a](Backward& node) {
        std::size_t at = 0;
        for (std::size_t i = 0; i < node.x.size(); ++i) {
          const std::size_t n = node.x.shape(i)[a];
          if (node.needs(i)) node.dx[i] = narrow(node.dy, static_cast<long>(a), at, n);
          at += n;
        }
      },
      site);
}

Tensor stack(const std::vector<Tensor>& xs, long axis, Site site) {
  if (xs.empty()) throw Error("stack: no tensors given");
  // Checked here, or concat would report the unsqueezed shapes
  for (std::size_t i = 1; i < xs.size(); ++i)
    if (xs[i].shape() != xs[0].shape() || xs[i].dtype() != xs[0].dtype())
      throw Error("stack: tensor {} {} {} differs from tensor 0 {} {}; stacked tensors need one shape and dtype", i,
                  shape_str(xs[i].shape()), dtype_name(xs[i].dtype()), shape_str(xs[0].shape()),
                  dtype_name(xs[0].dtype()));
  Shape to = xs[0].shape();
  to.insert(to.begin() + static_cast<std::ptrdiff_t>(detail::normalize_axis("stack", axis, to.size() + 1, to)),
            xs.size());
  // before unsqueeze copies every input once more
  detail::check_allocation("stack", to, xs[0].dtype(), [&] { return fmt::format("{} tensors stacked", xs.size()); });
  std::vector<Tensor> lifted;
  for (const Tensor& t : xs) lifted.push_back(unsqueeze(t, axis, site));
  return concat(lifted, axis, site);
}

// y = x[start : start+length] along axis;   dx = dy padded with zeros back to x's shape
Tensor narrow(const Tensor& x, long axis, std::size_t start, std::size_t length, Site site) {
  const Shape s = x.shape();
  const std::size_t a = detail::normalize_axis("narrow", axis, s.size(), s);
  if (start > s[a] || length > s[a] - start) {  // not start + length > s[a], which can wrap around
    if (start + length < start)
      throw Error("narrow: [{}, {} + {}) is out of range for axis {} of shape {}", start, start, length, axis,
                  shape_str(s));
    throw Error("narrow: [{}, {}) is out of range for axis {} of shape {}", start, start + length, axis, shape_str(s));
  }
  Shape to = s;
  to[a] = length;
  const Split v = detail::split_around(s, a);
  Tensor y = detail::visit("narrow", x, [&](const auto& src) {
    using Array = std::decay_t<decltype(src)>;
    Array out = Array::from_shape(to);
    for (std::size_t o = 0; o < v.outer; ++o)
      std::copy_n(src.data() + (o * v.n + start) * v.inner, length * v.inner, out.data() + o * length * v.inner);
    return Tensor(std::move(out));
  });
  return record(
      "narrow", y, {x},
      [a, start, length](Backward& node) {
        const Shape full = node.x.shape(0);
        Shape before = full, after = full;
        before[a] = start;
        after[a] = full[a] - start - length;
        std::vector<Tensor> parts;
        if (start) parts.push_back(zeros(before, node.dy.dtype()));
        parts.push_back(node.dy);
        if (after[a]) parts.push_back(zeros(after, node.dy.dtype()));
        node.dx[0] = parts.size() == 1 ? node.dy : concat(parts, static_cast<long>(a));
      },
      site);
}

// y[..., j, ...] = x[..., indices[j], ...];   dx[..., indices[j], ...] += dy[..., j, ...]
Tensor index_select(const Tensor& x, long axis, const std::vector<std::int64_t>& indices, Site site) {
  const Shape s = x.shape();
  const std::size_t a = detail::normalize_axis("index_select", axis, s.size(), s);
  for (std::int64_t i : indices)
    if (i < 0 || static_cast<std::size_t>(i) >= s[a])
      throw Error("index_select: index {} is out of range for axis {} of shape {}", i, axis, shape_str(s));
  Shape to = s;
  to[a] = indices.size();
  detail::check_allocation("index_select", to, x.dtype(),
                           [&] { return fmt::format("{} indices into {}", indices.size(), shape_str(s)); });
  const Split v = detail::split_around(s, a);
  Tensor y = detail::visit("index_select", x, [&](const auto& src) {
    using Array = std::decay_t<decltype(src)>;
    Array out = Array::from_shape(to);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t j = 0; j < indices.size(); ++j)
        std::copy_n(src.data() + (o * v.n + static_cast<std::size_t>(indices[j])) * v.inner, v.inner,
                    out.data() + (o * indices.size() + j) * v.inner);
    return Tensor(std::move(out));
  });
  return record(
      "index_select", y, {x},
      [v, indices, site](Backward& node) {
        if (node.create_graph) {  // the same sums as a recorded scatter_add of every element of dy
          auto at = std::make_shared<std::vector<std::size_t>>();
          at->reserve(v.outer * indices.size() * v.inner);
          for (std::size_t o = 0; o < v.outer; ++o)
            for (std::int64_t k : indices)
              for (std::size_t i = 0; i < v.inner; ++i)
                at->push_back((o * v.n + static_cast<std::size_t>(k)) * v.inner + i);
          node.dx[0] = detail::scatter_add_flat(node.dy, std::move(at), node.x.shape(0), site);
          return;
        }
        node.dx[0] = detail::visit("index_select", node.dy, [&](const auto& d) {
          using Array = std::decay_t<decltype(d)>;
          Array dx = Array::from_shape(node.x.shape(0));
          dx.fill(0);
          for (std::size_t o = 0; o < v.outer; ++o)
            for (std::size_t j = 0; j < indices.size(); ++j) {
              auto* dst = dx.data() + (o * v.n + static_cast<std::size_t>(indices[j])) * v.inner;
              const auto* src = d.data() + (o * indices.size() + j) * v.inner;
              for (std::size_t i = 0; i < v.inner; ++i) dst[i] += src[i];
            }
          return Tensor(std::move(dx));
        });
      },
      site);
}

}  // namespace xgrad
