#pragma once
// Derivatives of a whole function, as torch.autograd.functional computes them: vector-Jacobian and
// Jacobian-vector products, full Jacobians and Hessians, and Hessian-vector products. Each is a few
// calls of xg::grad (autograd/engine.hpp); the second-order ones differentiate a gradient recorded
// with create_graph. docs/autograd.md, section 11, has examples.
//
// For f: R^{shape_x} -> R^{shape_y} with Jacobian J (dy/dx, one row per element of y):
//
//   vjp(f, x, v)      v^T J, of x's shape (v of y's shape): one backward, the gradient of <f, v>
//   jvp(f, x, v)      J v, of y's shape (v of x's shape), by the double-vjp trick: g(u) = J^T u is
//                     linear in u, so d<g(u), v>/du = J v. Two backwards, the second through the first.
//   jacobian(f, x)    J, of shape shape_y + shape_x: one backward per element of y
//   hessian(f, x)     for a scalar f, the Jacobian of its gradient, of shape shape_x + shape_x
//   hvp(f, x, v)      H v without forming H: the gradient of <grad f, v>; two backwards, at most a
//                     few times the cost of one gradient whatever the size of x (H is symmetric for
//                     a twice continuously differentiable f, so this is also torch's vhp)
//
// Inputs are used as torch uses them: f is evaluated on copies that require grad (x.detach()
// .requires_grad_()), with recording on even inside a NoGradGuard, so the caller's tensors need not
// require grad and keep no graph. The results carry no graph unless create_graph; then they (and the
// returned output) are differentiable, also with respect to the caller's tensors that require grad.
// A part of the output that does not depend on an input has derivative zero there (a zero tensor,
// never an undefined one). f32 and f64 both work; v must have the dtype of what it pairs with.
//
// f is a std::function, so a lambda must spell its parameter type (`const xg::Tensor&` or
// `const std::vector<xg::Tensor>&`): with `auto` the overloads below would be ambiguous.
#include <functional>
#include <vector>

#include "tensor.hpp"

namespace xgrad {

using TensorFn = std::function<Tensor(const Tensor&)>;                                 // one input
using TensorsFn = std::function<Tensor(const std::vector<Tensor>&)>;                   // several inputs
using MultiOutputFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;  // several outputs

// Each result holds f's output too, as torch returns (output, derivative): the forward is run anyway.
struct VjpResult {
  Tensor output;
  Tensor vjp;  // v^T J, of x's shape
};
struct VjpsResult {
  Tensor output;
  std::vector<Tensor> vjp;  // one per input, of its shape
};
struct JvpResult {
  Tensor output;
  Tensor jvp;  // J v, of the output's shape (the sum of J_i v_i over the inputs)
};
struct HvpResult {
  Tensor output;
  Tensor hvp;  // H v, of x's shape
};
struct HvpsResult {
  Tensor output;
  std::vector<Tensor> hvp;  // (H v)_i = sum_j H[i][j] v_j, one per input
};

// v may be left undefined when f's output has a single element (then v = 1, the gradient).
VjpResult vjp(const TensorFn& f, const Tensor& x, const Tensor& v = {}, bool create_graph = false);
VjpsResult vjp(const TensorsFn& f, const std::vector<Tensor>& inputs, const Tensor& v = {}, bool create_graph = false);

// v may be left undefined (for several inputs: empty) when every input has a single element (v = 1).
JvpResult jvp(const TensorFn& f, const Tensor& x, const Tensor& v = {}, bool create_graph = false);
JvpResult jvp(const TensorsFn& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v = {},
              bool create_graph = false);

// J of shape y.shape + x.shape; for several inputs one block per input, J[j] = dy/dx_j; for several
// outputs J[i][j] = dy_i/dx_j, of shape y_i.shape + x_j.shape.
Tensor jacobian(const TensorFn& f, const Tensor& x, bool create_graph = false);
std::vector<Tensor> jacobian(const TensorsFn& f, const std::vector<Tensor>& inputs, bool create_graph = false);
std::vector<std::vector<Tensor>> jacobian(const MultiOutputFn& f, const std::vector<Tensor>& inputs,
                                          bool create_graph = false);

// f must return a single element. H of shape x.shape + x.shape; for several inputs the blocks
// H[i][j] = d2f/dx_i dx_j, of shape x_i.shape + x_j.shape (H[j][i] is H[i][j] transposed).
Tensor hessian(const TensorFn& f, const Tensor& x, bool create_graph = false);
std::vector<std::vector<Tensor>> hessian(const TensorsFn& f, const std::vector<Tensor>& inputs,
                                         bool create_graph = false);

// f must return a single element; v has x's shape (one v per input).
HvpResult hvp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph = false);
HvpsResult hvp(const TensorsFn& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v,
               bool create_graph = false);

}  // namespace xgrad
