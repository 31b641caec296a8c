// backward(): walk the tape in reverse topological order and apply the chain rule.
//
//   dL/dx  +=  (local gradient of the node)  applied to  dL/dy
//
// Each node's local-gradient function (written beside its op in ops/) turns dy into dx for its
// inputs; this file only orders the nodes, sums the contributions of a tensor used several times,
// reduces broadcast gradients back to the input's shape, and frees the graph afterwards.
#include "engine.hpp"

#include <algorithm>
#include <atomic>

#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"
#include "dispatch.hpp"

namespace xgrad {

namespace {
std::atomic<std::uint64_t> traversal_epoch{0};

std::string where(const TensorImpl& node) {
  return fmt::format("'{}' recorded at {}:{}", node.op, node.site.file_name(), node.site.line());
}

// A gradient stored on a leaf must not be shared with another tensor's gradient (add passes dy
// through to both inputs), or an in-place change to one (gradient clipping) would change both.
Tensor owned(Tensor g) {
  if (g.impl_ptr().use_count() == 1) return g;
  return Tensor(std::make_shared<TensorImpl>(g.impl()->value));
}

void accumulate(TensorImpl& x, Tensor g, const TensorImpl& node) {
  const DType x_dtype = x.value.index() == 0 ? f32 : f64;
  if (g.dtype() != x_dtype)
    throw BackwardError("backward of {}: gradient is {} but the input is {}", where(node), dtype_name(g.dtype()),
                dtype_name(x_dtype));
  // Compared in place: building two Shape vectors for every input of every node is a measurable
  // part of backward on small tensors, and the shapes almost always match.
  const bool same_shape = std::visit(
      [](const auto& a, const auto& b) { return std::ranges::equal(a.shape(), b.shape()); }, x.value, g.impl()->value);
  if (!same_shape) g = sum_to(g, std::visit([](const auto& a) { return detail::to_shape(a.shape()); }, x.value));
  if (!x.grad.defined())
    x.grad = x.op ? std::move(g) : owned(std::move(g));
  else
    x.grad = x.grad + g;
}
}  // namespace

std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root) {
  // Depth-first post-order with an explicit stack: a million-op chain must not recurse.
  const std::uint64_t mark = ++traversal_epoch;
  std::vector<std::shared_ptr<TensorImpl>> order;
  struct Frame {
    const std::shared_ptr<TensorImpl>* node;
    std::size_t next_input;
  };
  std::vector<Frame> stack{{&root.impl_ptr(), 0}};
  root.impl()->visit = mark;
  while (!stack.empty()) {
    Frame& top = stack.back();
    TensorImpl& node = **top.node;
    if (top.next_input < node.inputs.size()) {
      const auto& input = node.inputs[top.next_input++].impl_ptr();
      if (input && input->requires_grad && input->visit != mark) {
        input->visit = mark;
        stack.push_back({&input, 0});  // `top` is not used after this push
      }
    } else {
      order.push_back(*top.node);
      stack.pop_back();
    }
  }
  return order;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  if (!defined()) throw Error("backward: the tensor is undefined");
  if (!requires_grad())
    throw Error("backward: the tensor {} does not require grad (no input of the ops that made it had "
                "requires_grad_() set, or it was computed under NoGradGuard)",
                shape_str(shape()));
  if (impl_->graph_freed)
    throw Error("backward: the graph of {} was freed by an earlier backward; pass retain_graph = true to the "
                "first backward to go through it twice",
                where(*impl_));
  Tensor seed = grad;
  if (!seed.defined()) {
    if (numel() != 1)
      throw Error("backward: output of shape {} is not a scalar; pass dL/doutput as y.backward(grad)",
                  shape_str(shape()));
    seed = ones_like(*this);
  } else if (seed.shape() != shape() || seed.dtype() != dtype()) {
    throw Error("backward: gradient {} {} does not match the output {} {}", shape_str(seed.shape()),
                dtype_name(seed.dtype()), shape_str(shape()), dtype_name(dtype()));
  }

  const std::vector<std::shared_ptr<TensorImpl>> order = topological_order(*this);
  NoGradGuard no_grad;  // the backward pass itself is not recorded
  impl_->grad = impl_->grad.defined() ? impl_->grad + seed : owned(seed);

  std::vector<Tensor> dx;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl& node = **it;
    if (!node.op) continue;  // a leaf: its grad is final
    if (node.graph_freed)
      throw Error("backward: {} was already back-propagated and its graph freed; pass retain_graph = true to "
                  "the first backward to go through it twice",
                  where(node));
    Tensor dy = node.grad;
    if (!node.retains_grad) node.grad = Tensor();  // intermediate gradients are not kept
    if (dy.defined()) {
      dx.assign(node.inputs.size(), Tensor());  // one buffer for all nodes: no allocation per node
      const Tensor y(*it);
      Backward step{y, dy, node.inputs, dx};
      try {
        node.backward(step);
        for (std::size_t i = 0; i < dx.size(); ++i)
          if (dx[i].defined() && node.inputs[i].requires_grad())
            accumulate(*node.inputs[i].impl(), std::move(dx[i]), node);
      } catch (const BackwardError&) {
        throw;
      } catch (const std::exception& e) {
        throw BackwardError("backward of {}: {}", where(node), e.what());
      }
    }
    if (!retain_graph) {
      node.backward = nullptr;
      node.inputs.clear();  // `order` still holds every node, so nothing is destroyed recursively here
      node.graph_freed = true;
    }
  }
}

}  // namespace xgrad
