#pragma once
// xg::Size2: a (height, width) pair for the stride, padding and kernel arguments of the 2-D ops.
// One integer means the same value for both:  conv2d(x, w, b, 2, 1)  ==  conv2d(x, w, b, {2, 2}, {1, 1}).
#include <concepts>
#include <cstdint>
#include <utility>

namespace xgrad {

struct Size2 {
  std::int64_t h = 0, w = 0;

  template <std::integral I>
  Size2(I both) : h(static_cast<std::int64_t>(both)), w(static_cast<std::int64_t>(both)) {}
  template <std::integral I, std::integral J>
  Size2(I h, J w) : h(static_cast<std::int64_t>(h)), w(static_cast<std::int64_t>(w)) {}
  template <std::integral I, std::integral J>
  Size2(std::pair<I, J> hw) : Size2(hw.first, hw.second) {}

  friend bool operator==(const Size2&, const Size2&) = default;
};

}  // namespace xgrad
