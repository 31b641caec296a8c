#pragma once
// softmax and log_softmax along an axis, computed stably (the maximum is subtracted first, so
// logits of 800 give finite results).
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor softmax(const Tensor& x, long axis = -1, Site site = Site::current());
Tensor log_softmax(const Tensor& x, long axis = -1, Site site = Site::current());

}  // namespace xgrad
