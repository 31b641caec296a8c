#pragma once
// Internal to ops/: two loop shapes that several ops share.
#include <cstddef>

#include "../autograd/tensor.hpp"

namespace xgrad::detail {

// A tensor seen as [outer, n, inner] around one axis: the sizes before it, its own size, and the
// sizes after it. Reductions, softmax and concatenation walk their axis this way.
struct AxisSplit {
  std::size_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit split_around(const Shape& s, std::size_t axis) {
  AxisSplit v;
  for (std::size_t d = 0; d < s.size(); ++d) {
    if (d < axis) v.outer *= s[d];
    if (d > axis) v.inner *= s[d];
  }
  v.n = s[axis];
  return v;
}

// The sum of n values, accumulated in double (a float sum of a million terms drifts) over 8
// independent lanes: one running total is a chain of dependent additions, 4 cycles each; 8 lanes
// vectorize and overlap.
template <class T>
double sum_in_double(const T* x, std::size_t n) {
  double lane[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t j = 0; j < 8; ++j) lane[j] += static_cast<double>(x[i + j]);
  double s = 0;
  for (; i < n; ++i) s += static_cast<double>(x[i]);
  for (double l : lane) s += l;
  return s;
}

}  // namespace xgrad::detail
