#pragma once
// <xgrad/xtensor.hpp>: xgrad's tensors as xtensor arrays, in and out.
//
//   xg::Tensor x(xt::xarray<double>{{1, 2}, {3, 4}});   // wrap an array (or any xtensor expression)
//   const xt::xarray<double>& v = x.value<double>();     // read the value in place
//   w.mutable_value<float>() *= 0.5f;                    // write it outside the tape (bumps its version)
//
// <xgrad/xgrad.hpp> names no xtensor type, so that programs that only build models compile fast;
// a translation unit that passes arrays in or out includes this header as well. xgrad stores values
// as xt::xarray<T> with xtensor's default settings (std::allocator, row major), and nothing about
// xtensor is imposed on the program: no -march and no XTENSOR_USE_XSIMD (which would make
// xt::xarray a different type from the one xgrad was built with; checked below).
#include <memory>
#include <type_traits>
#include <utility>

#include <xtensor/xarray.hpp>

#include "autograd/dtype.hpp"
#include "autograd/tensor.hpp"

static_assert(std::is_same_v<xt::xarray<float>::allocator_type, std::allocator<float>>,
              "xgrad stores xt::xarray<T> with xtensor's default std::allocator; this translation unit changes "
              "xtensor's default allocator (XTENSOR_USE_XSIMD or XTENSOR_DEFAULT_ALLOCATOR), which makes "
              "xt::xarray a different type: compile it without that definition");

namespace xgrad {

namespace detail {
template <>
struct XtensorArray_include_xgrad_xtensor_hpp<float> {
  using type = xt::xarray<float>;
};
template <>
struct XtensorArray_include_xgrad_xtensor_hpp<double> {
  using type = xt::xarray<double>;
};

// The library's side (autograd/tensor.cpp): a new leaf holding the array; t's array if t holds T, else
// null; the error for a value<T>() that does not match the tensor.
std::shared_ptr<TensorImpl> make_leaf(xt::xarray<float> value);
std::shared_ptr<TensorImpl> make_leaf(xt::xarray<double> value);
template <class T>
const xt::xarray<T>* array_if(const TensorImpl* impl);
[[noreturn]] void throw_value_dtype(const Tensor& t, DType wanted);
}  // namespace detail

template <detail::XtensorExpression E>
Tensor::Tensor(E&& array) {
  using T = typename std::remove_cvref_t<E>::value_type;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "xg::Tensor holds float or double values: convert the array first (xt::cast<double>(a))");
  impl_ = detail::make_leaf(xt::xarray<T>(std::forward<E>(array)));
}

template <class T>
const detail::Array<T>& Tensor::value() const& {
  if (const xt::xarray<T>* a = detail::array_if<T>(impl_.get())) return *a;
  detail::throw_value_dtype(*this, dtype_of<T>());
}
template <class T>
detail::Array<T> Tensor::value() const&& {
  return static_cast<const Tensor&>(*this).value<T>();
}
template <class T>
detail::Array<T>& Tensor::mutable_value() & {
  auto& v = const_cast<xt::xarray<T>&>(std::as_const(*this).value<T>());
  bump_version();  // the caller is about to write: nodes that read the old value must not run
  return v;
}

}  // namespace xgrad
