#pragma once
// pick: one entry per row, the differentiable "x[i, labels[i]]" of the classification losses
// (MXNet's pick; PyTorch writes it x.gather(1, labels.unsqueeze(1)).squeeze(1)).
#include <cstdint>
#include <string_view>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad {

// x [N,C], indices N values in [0, C) -> [N],  y[i] = x[i, indices[i]];
// dx = zeros with dy[i] at [i, indices[i]].
Tensor pick(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());

// Indices stored in a tensor of any shape (f32 or f64 holding whole numbers), flattened to integers;
// `op` names the caller and `what` the tensor ("labels", "indices") in the errors. Range checks are
// left to the caller, which knows the range.
std::vector<std::int64_t> integer_indices(const char* op, const Tensor& t, std::string_view what);
// The same for class labels, which must be 1-D (one class index per row).
std::vector<std::int64_t> class_indices(const char* op, const Tensor& labels);

}  // namespace xgrad
