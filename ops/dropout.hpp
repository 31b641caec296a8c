#pragma once
// Inverted dropout (the form the CS231n notes prefer): in training each element is zeroed with
// probability p and the survivors are scaled by 1 / (1 - p), so the expected value of every element
// is unchanged and evaluation needs no rescaling; with training == false it is the identity.
//
// p is the probability of DROPPING an element, as in PyTorch (torch.nn.functional.dropout). The notes
// use p for the probability of KEEPING a unit ("p = 0.5 # probability of keeping a unit active") and
// scale by 1 / p: their p is xgrad's 1 - p, so the notes' p = 0.8 is xg::dropout(x, 0.2).
#include "../autograd/tensor.hpp"

namespace xgrad {

// y = x * mask / (1 - p), mask[i] = 1 with probability 1 - p, drawn from xg::generator() (so
// xg::manual_seed makes it reproducible);   dx = dy * mask / (1 - p), the same mask.
// p (the drop probability) must lie in [0, 1). p == 0 or training == false returns x itself (no op is recorded).
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Site site = Site::current());

}  // namespace xgrad
