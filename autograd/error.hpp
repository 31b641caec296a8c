#pragma once
// xg::Error: the one exception type xgrad throws for bad input. Messages name the op and the shapes.
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace xgrad {

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  template <class... Args>
  explicit Error(fmt::format_string<Args...> format, Args&&... args)
      : std::runtime_error(fmt::format(format, std::forward<Args>(args)...)) {}
};

// An error raised while back-propagating through a node, already naming the node's op and line.
// The engine wraps any other exception from a node's backward in one of these, exactly once.
struct BackwardError : Error {
  using Error::Error;
};

// Shapes print as [3,4] in every message, a scalar as [].
template <class Shape>
std::string shape_str(const Shape& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

}  // namespace xgrad
