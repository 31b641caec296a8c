#pragma once
// xgrad: a define-by-run reverse-mode autograd for C++20.
//   autograd/  the Tensor handle, the tape and backward(), gradcheck
//   ops/       the differentiable primitives, one family per file
#include "autograd/dtype.hpp"
#include "autograd/error.hpp"
#include "autograd/gradcheck.hpp"
#include "autograd/print.hpp"
#include "autograd/random.hpp"
#include "autograd/tensor.hpp"
#include "ops/arithmetic.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"
#include "ops/softmax.hpp"

namespace xg = xgrad;
