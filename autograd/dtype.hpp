#pragma once
#include <string_view>

namespace xgrad {

// f32 is the training dtype and the default; f64 is for gradient checks.
enum class DType { f32, f64 };
inline constexpr DType f32 = DType::f32;
inline constexpr DType f64 = DType::f64;

constexpr std::string_view dtype_name(DType d) { return d == DType::f32 ? "f32" : "f64"; }

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}

}  // namespace xgrad
