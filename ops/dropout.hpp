#pragma once
// Inverted dropout (the CS231n notes' recommended form): in training each element is zeroed with
// probability p and the survivors are scaled by 1 / (1 - p), so the expected value of every element
// is unchanged and evaluation needs no rescaling; with training == false it is the identity.
#include "../autograd/tensor.hpp"

namespace xgrad {

// y = x * mask / (1 - p), mask[i] = 1 with probability 1 - p, drawn from xg::generator() (so
// xg::manual_seed makes it reproducible);   dx = dy * mask / (1 - p), the same mask.
// p must lie in [0, 1). p == 0 or training == false returns x itself (no op is recorded).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Site site = Site::current());

}  // namespace xgrad
