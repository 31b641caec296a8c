#pragma once
// Ops that move elements without changing them: reshape, transpose, permute, flatten, concat,
// stack, narrow and index_select. Each gradient moves dy back to where the elements came from.
#include <cstdint>

#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor reshape(const Tensor& x, const Shape& shape, Site site = Site::current());
Tensor transpose(const Tensor& x, Site site = Site::current());  // 2-D
Tensor permute(const Tensor& x, const std::vector<std::size_t>& axes, Site site = Site::current());
Tensor flatten(const Tensor& x, std::size_t start_axis = 1, Site site = Site::current());
Tensor unsqueeze(const Tensor& x, long axis, Site site = Site::current());
Tensor squeeze(const Tensor& x, long axis, Site site = Site::current());
Tensor concat(const std::vector<Tensor>& xs, long axis = 0, Site site = Site::current());
Tensor stack(const std::vector<Tensor>& xs, long axis = 0, Site site = Site::current());
// x[start : start + length] along axis
Tensor narrow(const Tensor& x, long axis, std::size_t start, std::size_t length, Site site = Site::current());
// The entries of x at `indices` along axis (rows, for axis 0); an index may repeat.
Tensor index_select(const Tensor& x, long axis, const std::vector<std::int64_t>& indices, Site site = Site::current());

}  // namespace xgrad
