#pragma once
// The backward pass: ordering the tape and applying the chain rule node by node.
#include <optional>
#include <vector>

#include "tensor.hpp"

namespace xgrad {

// The gradients of `outputs` with respect to `inputs`, returned instead of accumulated into grad()
// (torch::autograd::grad). grad_outputs are dL/doutput (may be empty when every output is a scalar);
// retain_graph defaults to create_graph; with create_graph the returned gradients have graphs and
// can be differentiated again. An input the outputs do not depend on is an Error naming it, unless
// allow_unused (then its gradient is an undefined Tensor).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

// Every tensor that requires grad and that the roots depend on, each after all of its inputs
// (so the reverse visits a node only once every use of it has sent its gradient).
std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::vector<Tensor>& roots);
std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root);

}  // namespace xgrad
