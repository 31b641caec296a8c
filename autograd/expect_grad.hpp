#pragma once
// Checking a hand derivation against the tape, one intermediate at a time: a learner who derived
// dL/dy3 on paper writes it as a tensor and asks whether the tape agrees.
//
//   auto y3 = (xg::matmul(W2, y2) + b2).name("y3").retain_grad();   // keep its gradient
//   ...
//   f.backward();
//   xg::expect_grad(y3, 2.0 * y4 * (1.0 - y4 * y4));                 // throws on the first mismatch
//
// Checked in the order backward computes them (the output's side first), the first check that
// throws names the step of the derivation that is wrong: its tensor, the line that recorded it, the
// line of the check, the first element that differs and the ratio hand / tape there (a wrong
// constant factor shows as a round ratio).
#include "tensor.hpp"

namespace xgrad {

// Throws xg::Error unless |hand - tape| <= atol + rtol |tape| for every element, where tape is
// t.grad() (a leaf's gradient, or an intermediate's kept by retain_grad()).
void expect_grad(const Tensor& t, const Tensor& hand, double rtol = 1e-6, double atol = 1e-9,
                 Site site = Site::current());

}  // namespace xgrad
