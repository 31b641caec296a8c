#pragma once
// Weight penalties over a parameter list (e.g. net.parameters()), to add to the data loss:
//   loss = data_loss + lambda * xg::l2_penalty(params).
// Each returns a 0-d tensor; its gradient reaches every parameter through the tape.
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad {

// sum over every parameter element of |w|
Tensor l1_penalty(const std::vector<Tensor>& params, Site site = Site::current());
// sum of w^2, or with half == true the notes' 1/2 sum of w^2 (whose gradient is plain w)
Tensor l2_penalty(const std::vector<Tensor>& params, bool half = false, Site site = Site::current());
// elastic net:  l1 * sum |w| + l2 * sum w^2   (l2 * 1/2 sum w^2 with half == true)
Tensor elastic_net(const std::vector<Tensor>& params, double l1, double l2, bool half = false,
                   Site site = Site::current());

}  // namespace xgrad
