#pragma once
// Shared by the optimizer tests (tests/test_optim.cpp, test_lbfgs.cpp), which work on f64 tensors: their
// values as a vector (throws unless the tensor is f64), and a copy that shares no storage with the original.
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace f64_tensors {

inline std::vector<double> values(const xgrad::Tensor& t) {
  const auto& a = t.value<double>();
  return std::vector<double>(a.begin(), a.end());
}

inline xgrad::Tensor deep_copy(const xgrad::Tensor& t) {
  xgrad::Tensor c(xt::xarray<double>(t.value<double>()));
  c.requires_grad_(t.requires_grad());
  return c;
}

}  // namespace f64_tensors
