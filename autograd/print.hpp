#pragma once
// Printing tensors and the recorded tape, through fmt.
#include <string>

#include <fmt/format.h>

#include "tensor.hpp"

namespace xgrad {

// tensor([[1, 2], [3, 4]], f64, requires_grad)
std::string to_string(const Tensor& t);

// The tape behind `root`, one line per node in the order backward visits them in reverse:
//   #3 mul [2,3] x [2,3] -> [2,3]   (model.cpp:42)
std::string tape_to_string(const Tensor& root);

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const xgrad::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(t), ctx);
  }
};
