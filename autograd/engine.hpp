#pragma once
// The backward pass: ordering the tape and applying the chain rule node by node.
#include "tensor.hpp"

namespace xgrad {

// Every tensor that requires grad and that `root` depends on, each after all of its inputs
// (so the reverse visits a node only once every use of it has sent its gradient).
std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root);

}  // namespace xgrad
