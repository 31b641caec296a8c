#pragma once
// Internal: runs a kernel on a tensor's array as float or double, so each op is written once.
#include "tensor_impl.hpp"

namespace xgrad {
// The element type of an array (or of a reference to one): `using T = value_t<decltype(a)>;`.
template <class A>
using value_t = typename std::decay_t<A>::value_type;
}  // namespace xgrad

namespace xgrad::detail {

inline const Value& checked_value(const char* op, const Tensor& t) {
  if (!t.defined())
    throw Error("{}: the tensor is undefined (a default-constructed xg::Tensor, or the grad() of a tensor no "
                "gradient reached)",
                op);
  return t.impl()->value;
}

// f(array) with the tensor's xt::xarray<float> or xt::xarray<double>.
template <class F>
decltype(auto) visit(const char* op, const Tensor& t, F&& f) {
  return std::visit(std::forward<F>(f), checked_value(op, t));
}

// f(a, b) with two arrays of one dtype; mixing f32 and f64 is an error, as in PyTorch's autograd.
template <class F>
decltype(auto) visit2(const char* op, const Tensor& a, const Tensor& b, F&& f) {
  checked_value(op, a);
  checked_value(op, b);
  if (a.dtype() != b.dtype())
    throw Error("{}: {} {} and {} {}: dtypes differ (convert one with .to())", op, shape_str(a.shape()),
                dtype_name(a.dtype()), shape_str(b.shape()), dtype_name(b.dtype()));
  if (a.dtype() == f32) return f(a.value<float>(), b.value<float>());
  return f(a.value<double>(), b.value<double>());
}

// f.template operator()<T>() with T = float or double by dtype, for code that works on raw pointers
// rather than on a tensor's array (the optimizers' steps): `with_dtype(d, [&]<class T>() { ... });`.
template <class F>
decltype(auto) with_dtype(DType dtype, F&& f) {
  if (dtype == f32) return f.template operator()<float>();
  return f.template operator()<double>();
}

// Converts an xtensor shape (svector) to xg::Shape.
template <class S>
Shape to_shape(const S& s) {
  return Shape(s.begin(), s.end());
}

// The multi-index of flat (row-major) position `flat` in `shape`: for messages that name an element.
inline Shape unravel(std::size_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

std::size_t normalize_axis(const char* op, long axis, std::size_t rank, const Shape& shape);

}  // namespace xgrad::detail
