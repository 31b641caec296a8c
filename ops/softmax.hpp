#pragma once
// softmax and log_softmax along an axis, computed stably (the maximum is subtracted first, so
// logits of 800 give finite results).
// Over an empty axis ([2,0] along -1) the result is just as empty, as in PyTorch; a 0-d tensor has no
// axis to normalize along and is an error.
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor softmax(const Tensor& x, long axis = -1, Site site = Site::current());
Tensor log_softmax(const Tensor& x, long axis = -1, Site site = Site::current());

}  // namespace xgrad
