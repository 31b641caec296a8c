#pragma once
// Internal to ops/: an elementwise function over raw arrays, written once for xsimd batches. The
// library calls xsimd itself rather than switching on XTENSOR_USE_XSIMD, which would change
// xt::xarray's type for every program that shares arrays with xgrad (CMakeLists.txt).
#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace xgrad::detail::simd {

// out[0..n) = f(in[0..n)) (in may be out): whole batches straight from `in`, then the last few
// elements through one padded batch, so every element gets the same arithmetic wherever it sits.
template <class T, class F>
void transform(const T* in, T* out, std::size_t n, F f) {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t lanes = Batch::size;
  const std::size_t whole = n - n % lanes;
  for (std::size_t i = 0; i < whole; i += lanes) f(Batch::load_unaligned(in + i)).store_unaligned(out + i);
  if (whole < n) {
    alignas(64) T tail[lanes] = {};
    std::copy(in + whole, in + n, tail);
    f(Batch::load_unaligned(tail)).store_unaligned(tail);
    std::copy(tail, tail + (n - whole), out + whole);
  }
}

// 1 / (1 + e^-x), the sigmoid op's forward and the LSTM's gates alike.
template <class Batch>
Batch sigmoid(Batch x) {
  return Batch(1) / (Batch(1) + xsimd::exp(-x));
}

}  // namespace xgrad::detail::simd
