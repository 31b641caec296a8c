#pragma once
// Reductions (sum, mean, max, min) and their duals: expand (broadcast_to), whose gradient is a
// sum, and sum_to, whose gradient is an expand. The engine uses sum_to to bring a broadcast
// gradient back to its input's shape.
//
// Zero-size dimensions: a sum over an empty axis (or of an empty tensor) is 0, as in NumPy and
// PyTorch. mean, max, min and argmax over an empty axis (or of an empty tensor) raise xg::Error naming
// the op, the axis and the shape: PyTorch's max raises too, and where PyTorch's mean gives nan, xgrad
// stops at the empty batch instead of letting a nan loss train on. Reducing a non-empty axis of a
// tensor that is empty elsewhere ([0,3] along axis 1) gives the empty result ([0]).
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor sum(const Tensor& x, Site site = Site::current());  // all elements, a 0-d tensor
Tensor sum(const Tensor& x, long axis, bool keepdim = false, Site site = Site::current());
Tensor mean(const Tensor& x, Site site = Site::current());
Tensor mean(const Tensor& x, long axis, bool keepdim = false, Site site = Site::current());
// The largest element along an axis; the gradient goes to the first position holding it.
Tensor max(const Tensor& x, long axis, bool keepdim = false, Site site = Site::current());
Tensor max(const Tensor& x, Site site = Site::current());
Tensor min(const Tensor& x, long axis, bool keepdim = false, Site site = Site::current());
Tensor min(const Tensor& x, Site site = Site::current());
// Position along `axis` of the largest element of each line (not differentiable), row-major.
std::vector<std::size_t> argmax(const Tensor& x, long axis);

Tensor expand(const Tensor& x, const Shape& shape, Site site = Site::current());
Tensor sum_to(const Tensor& x, const Shape& shape, Site site = Site::current());

}  // namespace xgrad
