#pragma once
// pick: one entry per row, the differentiable "x[i, labels[i]]" of the classification losses
// (MXNet's pick; PyTorch writes it x.gather(1, labels.unsqueeze(1)).squeeze(1)).
#include <cstdint>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad {

// x [N,C], indices N values in [0, C) -> [N],  y[i] = x[i, indices[i]];
// dx = zeros with dy[i] at [i, indices[i]].
Tensor pick(const Tensor& x, const std::vector<std::int64_t>& indices, Site site = Site::current());

// Class indices stored in a tensor (f32 or f64 holding whole numbers, 1-D of length n) as integers;
// `op` names the caller in the errors. Range checks are left to the caller, which knows C.
std::vector<std::int64_t> class_indices(const char* op, const Tensor& labels);

}  // namespace xgrad
