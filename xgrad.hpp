#pragma once
// xgrad: a define-by-run reverse-mode autograd for C++20.
//   autograd/  the Tensor handle, the tape and backward(); xg::grad, jacobian, hessian, hvp
//   ops/       the differentiable primitives, one family per file
//   nn/        modules (layers) composed from ops, initialization, checkpoints
//   optim/     optimizers, learning-rate schedules, gradient clipping
//   testing/   gradcheck, gradcheck_tape and gradgradcheck, for checking gradients in tests (doctest macros:
//              <xgrad/testing.hpp>, included separately)
// Included separately, since they bring xtensor's headers with them (this header names no xtensor type,
// so that model code compiles fast):
//   <xgrad/xtensor.hpp>  tensors from and to xt::xarray (Tensor(array), value<T>(), mutable_value<T>())
//   <xgrad/data.hpp>     data/: datasets, the IDX reader, the DataLoader, transforms (arrays of examples)
#include "autograd/anomaly.hpp"
#include "autograd/dot.hpp"
#include "autograd/dtype.hpp"
#include "autograd/engine.hpp"
#include "autograd/error.hpp"
#include "autograd/expect_grad.hpp"
#include "autograd/functional.hpp"
#include "autograd/hooks.hpp"
#include "autograd/print.hpp"
#include "autograd/random.hpp"
#include "autograd/tensor.hpp"
#include "autograd/threads.hpp"
#include "autograd/trace.hpp"
#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/checkpoint.hpp"
#include "nn/checkpoint_optim.hpp"
#include "nn/conv.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/flatten.hpp"
#include "nn/flow_report.hpp"
#include "nn/init.hpp"
#include "nn/linear.hpp"
#include "nn/maxout.hpp"
#include "nn/module.hpp"
#include "nn/pooling.hpp"
#include "nn/rnn.hpp"
#include "nn/rnn_cell.hpp"
#include "nn/sequential.hpp"
#include "ops/arithmetic.hpp"
#include "ops/conv.hpp"
#include "ops/dropout.hpp"
#include "ops/elementwise.hpp"
#include "ops/loss.hpp"
#include "ops/lstm_sequence.hpp"
#include "ops/matmul.hpp"
#include "ops/normalization.hpp"
#include "ops/pick.hpp"
#include "ops/pool.hpp"
#include "ops/reduce.hpp"
#include "ops/regularization.hpp"
#include "ops/shape.hpp"
#include "ops/size2.hpp"
#include "ops/softmax.hpp"
#include "optim/adagrad.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/ema.hpp"
#include "optim/lbfgs.hpp"
#include "optim/optimizer.hpp"
#include "optim/rmsprop.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "testing/gradcheck.hpp"
#include "testing/gradcheck_tape.hpp"
#include "testing/gradgradcheck.hpp"

namespace xg = xgrad;
