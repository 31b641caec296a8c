#pragma once
// A whole LSTM layer (one direction) over a sequence as ONE op with a hand-written backward, the way
// cuDNN does it. Why it exists: speed. Built from the per-step composed ops (the reference,
// detail::lstm_sequence_composed below), the backward runs about 3 small GEMMs per step; here the work
// that does not depend on the recurrence is batched over all steps into big, well-shaped GEMMs:
//
//   forward:  P = X [T*N, I] W_ih^T + b                  (one GEMM for every step's input projection)
//             per step: gates_t = P_t + h_{t-1} W_hh^T   (one GEMM [N,H] x [H,4H]), then the gate math
//             in one vectorized loop
//   backward: per step only the recurrence: dh_{t-1} = dgates_t W_hh (one GEMM [N,4H] x [4H,H]);
//             then dW_ih = dG^T X, dX = dG W_ih, dW_hh = dG^T H_prev over all steps (one GEMM each)
//
// The composed form stays the reference and is what a create_graph backward (second order) runs:
// the backward then rebuilds the layer from recorded ops and differentiates that.
//
//   x [T, N, I], h0 and c0 [N, H], w_ih [4H, I], w_hh [4H, H], bias [4H] (= b_ih + b_hh) or undefined
//   returns Y [T, N, 2H]: Y[t, :, :H] = h_t and Y[t, :, H:] = c_t (a tape node has one output)
//
// Gates in PyTorch's order i, f, g, o. With reverse the steps run from t = T-1 down to 0 (the
// backward direction of a bidirectional layer); Y is still indexed by t.
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor lstm_sequence(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& bias, bool reverse = false, Site site = Site::current());

namespace detail {
// The same function from the composed per-step ops (linear, sigmoid, tanh, *, +), recorded op by op:
// the reference for tests and the create_graph path of lstm_sequence's backward. No shape checks.
Tensor lstm_sequence_composed(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                              const Tensor& w_hh, const Tensor& bias, bool reverse, Site site = Site::current());
}  // namespace detail

}  // namespace xgrad
