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
#include "anomaly.hpp"
#include "dispatch.hpp"
#include "hooks.hpp"

namespace xgrad {

namespace {
std::atomic<std::uint64_t> traversal_epoch{0};

std::string where(const TensorImpl& node) { return detail::describe_node(node); }

// The classic silent bug: forward, optimizer.step() (which writes the weights in place), backward.
// A node's local gradient would then read the new weights. Every input the backward read, and the
// output, must still have the version they had when the node was recorded.
void check_versions(const TensorImpl& node, const BackwardInputs& x) {
  auto fail = [&](std::string what, const TensorImpl& t, std::uint32_t expected) {
    throw BackwardError("backward of {}: {} {} was modified in place after it was recorded (version {}, expected {}); "
                        "an "
                        "optimizer step or another in-place write between the forward and this backward changed it",
                        where(node), what,
                        shape_str(std::visit([](const auto& a) { return detail::to_shape(a.shape()); }, t.value)),
                        t.version, expected);
  };
  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    const TensorImpl* in = node.inputs[i].impl();
    if (in && x.was_read(i) && in->version != node.input_version(i))
      fail(fmt::format("its input {}", i), *in, node.input_version(i));
  }
  if (node.version != node.recorded_version) fail("its output", node, node.recorded_version);
}

// The gradient hooks of a tensor, in registration order; each may replace the gradient.
Tensor run_grad_hooks(const TensorImpl& t, Tensor grad) {
  for (const auto& hook : t.hooks->grad.snapshot())
    if (Tensor replaced = hook(grad); replaced.defined()) grad = std::move(replaced);
  return grad;
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
  const bool same_shape =
      std::visit([](const auto& a, const auto& b) { return std::ranges::equal(a.shape(), b.shape()); }, x.value,
                 g.impl()->value);
  if (!same_shape) g = sum_to(g, std::visit([](const auto& a) { return detail::to_shape(a.shape()); }, x.value));
  // A hooked leaf collects this backward's contributions apart from grad(): its hooks see their sum.
  Tensor& into = !x.op && x.hooks ? x.pass_grad : x.grad;
  if (!into.defined())
    into = x.op ? std::move(g) : owned(std::move(g));
  else
    into = into + g;
}

// A hooked leaf is complete: hooks on this backward's gradient, add it to grad(), post-accumulate hooks.
void finish_hooked_leaf(const std::shared_ptr<TensorImpl>& impl) {
  TensorImpl& leaf = *impl;
  if (!leaf.pass_grad.defined()) return;
  Tensor g = run_grad_hooks(leaf, std::move(leaf.pass_grad));
  leaf.pass_grad = Tensor();
  leaf.grad = leaf.grad.defined() ? leaf.grad + g : owned(std::move(g));
  const Tensor handle(impl);
  for (const auto& hook : leaf.hooks->post_accumulate.snapshot()) hook(handle);
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
  if (impl_->op || !impl_->hooks)
    impl_->grad = impl_->grad.defined() ? impl_->grad + seed : owned(seed);
  else
    impl_->pass_grad = seed;  // a hooked leaf as the root: its hooks see the seed

  const bool anomaly = is_anomaly_enabled();
  std::vector<Tensor> dx;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl& node = **it;
    if (!node.op) {  // a leaf: every use of it has run, so its grad for this backward is final
      if (node.hooks) finish_hooked_leaf(*it);
      continue;
    }
    if (node.graph_freed)
      throw Error("backward: {} was already back-propagated and its graph freed; pass retain_graph = true to "
                  "the first backward to go through it twice",
                  where(node));
    Tensor dy = node.grad;
    if (dy.defined() && node.hooks) {
      dy = run_grad_hooks(node, std::move(dy));
      node.grad = dy;
    }
    if (!node.retains_grad) node.grad = Tensor();  // intermediate gradients are not kept
    if (dy.defined()) {
      dx.assign(node.inputs.size(), Tensor());  // one buffer for all nodes: no allocation per node
      const Tensor y(*it);
      Backward step{y, dy, BackwardInputs(node.inputs), dx};
      try {
        node.backward(step);
        check_versions(node, step.x);
        for (std::size_t i = 0; i < dx.size(); ++i)
          if (dx[i].defined() && node.inputs[i].requires_grad()) {
            if (anomaly) detail::check_backward_anomaly(node, i, dx[i]);
            accumulate(*node.inputs[i].impl(), std::move(dx[i]), node);
          }
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
