#pragma once
// A user-defined op, written as xgrad's own ops are (docs/custom_ops.md).
#include <xgrad/xgrad.hpp>

// swish(x) = x * sigmoid(x). Like every xgrad op it takes the caller's line as its last argument, so
// the tape, errors and gradcheck_tape name the line of model code that called it.
xgrad::Tensor swish(const xgrad::Tensor& x, xgrad::Site site = xgrad::Site::current());
