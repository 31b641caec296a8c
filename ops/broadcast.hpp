#pragma once
// Internal: NumPy broadcasting as raw loops. A broadcast operand is read with stride 0 along the
// axes it is stretched over, so no expanded copy is ever made; the innermost axis runs as a tight
// loop the compiler can vectorize (same shape, or one side constant along it).
#include <cstddef>
#include <vector>

#include "../autograd/allocation.hpp"
#include "../autograd/dispatch.hpp"

namespace xgrad::detail {

using Strides = std::vector<std::ptrdiff_t>;

// The broadcast result shape of a and b, or an Error naming op and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Element strides of a row-major array of `shape` read as if broadcast to `out` (right-aligned,
// 0 along axes that are missing or of size 1). `shape` must broadcast to `out`.
Strides broadcast_strides(const Shape& shape, const Shape& out);

// Visits `out` row by row (the last axis is a row): body(offset_a, offset_b, row_index), where the
// offsets advance by the strides sa and sb of the two operands over every axis but the last.
template <class Body>
void for_each_row(const Shape& out, const Strides& sa, const Strides& sb, Body&& body) {
  const std::size_t rank = out.size();
  if (rank == 0) {
    body(std::ptrdiff_t{0}, std::ptrdiff_t{0}, std::size_t{0});
    return;
  }
  std::size_t rows = 1;
  for (std::size_t d = 0; d + 1 < rank; ++d) rows *= out[d];
  if (rows == 0 || out.back() == 0) return;
  std::vector<std::size_t> index(rank, 0);
  std::ptrdiff_t oa = 0, ob = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    body(oa, ob, r);
    for (std::size_t d = rank - 1; d-- > 0;) {  // odometer over the outer axes
      if (++index[d] < out[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * static_cast<std::ptrdiff_t>(out[d] - 1);
      ob -= sb[d] * static_cast<std::ptrdiff_t>(out[d] - 1);
      index[d] = 0;
    }
  }
}

// out = f(a, b) elementwise with broadcasting.
template <class R, class T, class F>
xt::xarray<R> map2(const char* op, const xt::xarray<T>& a, const xt::xarray<T>& b, F f) {
  if (a.shape() == b.shape()) {
    xt::xarray<R> out = xt::xarray<R>::from_shape(a.shape());
    const T* pa = a.data();
    const T* pb = b.data();
    R* po = out.data();
    for (std::size_t i = 0, n = a.size(); i < n; ++i) po[i] = f(pa[i], pb[i]);
    return out;
  }
  // One operand is a single element (x * 2.0 makes a 0-d constant) of no higher rank than the
  // other: the result has the other's shape. Handled here because it is the most common broadcast
  // and the general path below allocates up to eight small vectors (shapes, strides, an odometer
  // index), which for a small tensor cost more than the arithmetic.
  if (b.size() == 1 && b.dimension() <= a.dimension()) {
    xt::xarray<R> out = xt::xarray<R>::from_shape(a.shape());
    const T* pa = a.data();
    const T s = b.data()[0];
    R* po = out.data();
    for (std::size_t i = 0, n = a.size(); i < n; ++i) po[i] = f(pa[i], s);
    return out;
  }
  if (a.size() == 1 && a.dimension() <= b.dimension()) {
    xt::xarray<R> out = xt::xarray<R>::from_shape(b.shape());
    const T s = a.data()[0];
    const T* pb = b.data();
    R* po = out.data();
    for (std::size_t i = 0, n = b.size(); i < n; ++i) po[i] = f(s, pb[i]);
    return out;
  }
  const Shape shape = broadcast_shapes(op, to_shape(a.shape()), to_shape(b.shape()));
  // The one path where the result can be far larger than both operands ([N,1] with [1,N]).
  check_allocation(op, shape, dtype_of<R>(), [&] {
    return fmt::format("{} and {}", shape_str(to_shape(a.shape())), shape_str(to_shape(b.shape())));
  });
  const Strides sa = broadcast_strides(to_shape(a.shape()), shape), sb = broadcast_strides(to_shape(b.shape()), shape);
  xt::xarray<R> out = xt::xarray<R>::from_shape(shape);
  const std::size_t n = shape.empty() ? 1 : shape.back();
  const std::ptrdiff_t ia = shape.empty() ? 0 : sa.back(), ib = shape.empty() ? 0 : sb.back();
  for_each_row(shape, sa, sb, [&](std::ptrdiff_t oa, std::ptrdiff_t ob, std::size_t row) {
    const T* pa = a.data() + oa;
    const T* pb = b.data() + ob;
    R* po = out.data() + row * n;
    if (ia == 1 && ib == 1) {
      for (std::size_t j = 0; j < n; ++j) po[j] = f(pa[j], pb[j]);
    } else if (ia == 1 && ib == 0) {
      const T s = *pb;
      for (std::size_t j = 0; j < n; ++j) po[j] = f(pa[j], s);
    } else if (ia == 0 && ib == 1) {
      const T s = *pa;
      for (std::size_t j = 0; j < n; ++j) po[j] = f(s, pb[j]);
    } else {
      for (std::size_t j = 0; j < n; ++j) po[j] = f(pa[j * ia], pb[j * ib]);
    }
  });
  return out;
}

}  // namespace xgrad::detail
