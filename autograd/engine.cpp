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
#include <forward_list>
#include <unordered_map>
#include <unordered_set>

#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"
#include "anomaly.hpp"
#include "dispatch.hpp"
#include "hooks.hpp"
#include "trace.hpp"

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

// With create_graph, a dx that does not require grad although dy does was computed outside the tape
// (raw arrays): differentiating through it again would give silent zeros. dx = J^T dy depends on dy
// for every op, so this catches a raw local gradient as soon as a gradient with a graph reaches it.
void check_differentiable(const TensorImpl& node, const std::vector<Tensor>& dx) {
  for (std::size_t i = 0; i < dx.size(); ++i)
    if (dx[i].defined() && node.inputs[i].requires_grad() && !dx[i].requires_grad())
      throw BackwardError("backward with create_graph through {}: its local gradient for input {} was computed "
                          "outside the tape (from raw arrays), so second derivatives through it would be silently "
                          "zero; write it with recorded ops when node.create_graph is set, or declare it "
                          "Differentiability::once",
                          where(node), i);
}

// The gradient hooks of a tensor, in registration order; each may replace the gradient.
Tensor run_grad_hooks(const TensorImpl& t, Tensor grad) {
  for (const auto& hook : t.hooks->grad.snapshot())
    if (Tensor replaced = hook(grad); replaced.defined()) grad = std::move(replaced);
  return grad;
}

// A gradient stored on a leaf must not be shared with another tensor's gradient (add passes dy
// through to both inputs), or an in-place change to one (gradient clipping) would change both.
// A gradient with a graph (create_graph) is kept as it is: a copy would cut it from its graph.
Tensor owned(Tensor g) {
  if (g.impl_ptr().use_count() == 1 || g.requires_grad()) return g;
  return Tensor(std::make_shared<TensorImpl>(g.impl()->value));
}

// The tensor a graph edge delivers gradients to: itself, or for a stand-in the leaf it stands for
// (null once that leaf is gone: nobody can read its gradient any more). A raw pointer: the traversal
// order holds every target alive, and copying shared pointers per edge costs atomic operations.
TensorImpl* target_of(const Tensor& t) {
  TensorImpl* impl = t.impl();
  return impl && impl->is_stand_in ? impl->stands_for.lock().get() : impl;
}

// Where this pass collects x's gradient: grad() of an intermediate (cleared after use unless
// retained) or of a plain leaf; pass_grad for a hooked leaf and for everything in xg::grad.
Tensor& gradient_slot(TensorImpl& x, bool capturing) { return capturing || (!x.op && x.hooks) ? x.pass_grad : x.grad; }

void accumulate(TensorImpl& x, Tensor g, const TensorImpl& node, bool capturing) {
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
  Tensor& into = gradient_slot(x, capturing);
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

std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::vector<Tensor>& roots) {
  // Depth-first post-order with an explicit stack: a million-op chain must not recurse.
  const std::uint64_t mark = ++traversal_epoch;
  std::vector<std::shared_ptr<TensorImpl>> order;
  struct Frame {
    const std::shared_ptr<TensorImpl>* node;  // owned by the consumer's inputs (or `resolved`)
    std::size_t next_input;
  };
  std::vector<Frame> stack;
  std::forward_list<std::shared_ptr<TensorImpl>> resolved;  // the leaves stand-ins stand for (stable addresses)
  // The edge's target if it still needs visiting, else null.
  auto visit_target = [&](const std::shared_ptr<TensorImpl>& t) -> const std::shared_ptr<TensorImpl>* {
    if (!t) return nullptr;
    const std::shared_ptr<TensorImpl>* target = &t;
    if (t->is_stand_in) {
      std::shared_ptr<TensorImpl> leaf = t->stands_for.lock();
      if (!leaf || leaf->visit == mark) return nullptr;
      target = &resolved.emplace_front(std::move(leaf));
    }
    if (!(*target)->requires_grad || (*target)->visit == mark) return nullptr;
    (*target)->visit = mark;
    return target;
  };
  for (const Tensor& root : roots) {
    const std::shared_ptr<TensorImpl>* r = visit_target(root.impl_ptr());
    if (!r) continue;
    stack.push_back({r, 0});
    while (!stack.empty()) {
      Frame& top = stack.back();
      TensorImpl& node = **top.node;
      if (top.next_input < node.inputs.size()) {
        if (const auto* input = visit_target(node.inputs[top.next_input++].impl_ptr()))
          stack.push_back({input, 0});  // `top` is not used after this push
      } else {
        order.push_back(*top.node);
        stack.pop_back();
      }
    }
  }
  return order;
}

std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root) {
  return topological_order(std::vector<Tensor>{root});
}

namespace {

// The tensors xg::grad returns gradients for, and what it found.
struct Capture {
  std::unordered_map<const TensorImpl*, std::size_t> index;  // input -> position in `inputs`
  std::vector<Tensor> grads;
  // Nodes on a path to a captured input; the others are not run (their gradients are not asked for).
  std::unordered_set<const TensorImpl*> on_path;
};

// Marks every node of `order` (inputs first) from which a captured input can be reached.
void find_paths(const std::vector<std::shared_ptr<TensorImpl>>& order, Capture& capture) {
  for (const auto& node : order) {
    bool reaches = capture.index.contains(node.get());
    for (std::size_t i = 0; i < node->inputs.size() && !reaches; ++i) {
      const TensorImpl* input = target_of(node->inputs[i]);
      reaches = input && capture.on_path.contains(input);
    }
    if (reaches) capture.on_path.insert(node.get());
  }
}

// After a create_graph backward, a leaf's grad() holds a graph that may use the leaf itself
// (d(w^2)/dw = 2w): leaf -> grad -> graph -> leaf is a reference cycle, and a leaf dropped by the
// user would never be freed (PyTorch has this leak, pytorch#16744). Every edge of those graphs that
// points at such a leaf is moved to a stand-in: a leaf holding a copy of the value that passes its
// gradient on to the original through a weak pointer. The graphs compute the same values and
// gradients; the leaf's lifetime is its users' again.
void cut_leaf_cycles(const std::vector<std::shared_ptr<TensorImpl>>& leaves) {
  std::unordered_map<const TensorImpl*, Tensor> stand_in;  // leaf -> its stand-in, made when first needed
  std::vector<TensorImpl*> stack;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& leaf : leaves)
    if (leaf->grad.requires_grad()) stand_in.emplace(leaf.get(), Tensor());
  if (stand_in.empty()) return;
  for (const auto& leaf : leaves)
    if (leaf->grad.requires_grad() && seen.insert(leaf->grad.impl()).second) stack.push_back(leaf->grad.impl());
  while (!stack.empty()) {
    TensorImpl* node = stack.back();
    stack.pop_back();
    for (Tensor& input : node->inputs) {
      TensorImpl* in = input.impl();
      if (!in) continue;
      if (auto it = stand_in.find(in); it != stand_in.end()) {
        if (!it->second.defined()) {
          auto copy = std::make_shared<TensorImpl>(in->value);
          copy->requires_grad = true;
          copy->version = in->version;
          copy->stands_for = input.impl_ptr();
          copy->is_stand_in = true;
          it->second = Tensor(std::move(copy));
        }
        input = it->second;
      } else if (in->op && seen.insert(in).second) {
        stack.push_back(in);
      }
    }
  }
}

// With create_graph, the nodes a local gradient records are tagged with the node whose backward
// made them ("'mul' in the backward of 'tanh' at model.cpp:12"), so a tape printout or an error in a
// graph of gradients points at the line of model code, not only at a line inside ops/.
class BackwardOfScope {
 public:
  explicit BackwardOfScope(const TensorImpl& node) : previous_(detail::current_call()) {
    const std::string_view file = node.site.file_name();
    detail::set_current_call(std::make_shared<const CallFrame>(
        CallFrame{fmt::format("the backward of '{}' at {}:{}", node.op, file.substr(file.find_last_of('/') + 1),
                              node.site.line()),
                  node.site, node.called_in}));
  }
  ~BackwardOfScope() { detail::set_current_call(std::move(previous_)); }
  BackwardOfScope(const BackwardOfScope&) = delete;
  BackwardOfScope& operator=(const BackwardOfScope&) = delete;

 private:
  std::shared_ptr<const CallFrame> previous_;
};

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds, bool retain_graph,
                  bool create_graph, Capture* capture) {
  const std::vector<std::shared_ptr<TensorImpl>> order = topological_order(roots);
  if (capture) find_paths(order, *capture);
  const bool capturing = capture != nullptr;
  // The backward pass is recorded only with create_graph: then its gradients have graphs of their own.
  const bool was_recording = grad_mode::enabled();
  grad_mode::set_enabled(create_graph);
  struct RestoreMode {
    bool on;
    ~RestoreMode() { grad_mode::set_enabled(on); }
  } restore{was_recording};

  for (std::size_t r = 0; r < roots.size(); ++r) {
    TensorImpl& root = *target_of(roots[r]);
    Tensor& slot = gradient_slot(root, capturing);
    if (slot.defined())
      slot = slot + seeds[r];
    else
      slot = &slot == &root.grad ? owned(seeds[r]) : seeds[r];
  }

  const bool anomaly = is_anomaly_enabled();
  // Traced backward (autograd/trace.hpp): null unless a TraceBackward guard is active on this thread.
  detail::BackwardTracer* const tracer = detail::backward_tracer();
  if (tracer) tracer->begin(order, roots);
  std::vector<Tensor> dx;
  std::vector<std::shared_ptr<TensorImpl>> finished_leaves;  // for cut_leaf_cycles
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl& node = **it;
    if (capturing && !capture->on_path.contains(&node)) {  // a root no captured input is reached from
      node.pass_grad = Tensor();
      continue;
    }
    if (!node.op) {  // a leaf: every use of it has run, so its gradient for this backward is final
      if (capturing) {
        if (auto at = capture->index.find(&node); at != capture->index.end() && node.pass_grad.defined()) {
          Tensor g = std::move(node.pass_grad);
          capture->grads[at->second] = node.hooks ? run_grad_hooks(node, std::move(g)) : std::move(g);
        }
        node.pass_grad = Tensor();
        continue;
      }
      if (node.hooks) finish_hooked_leaf(*it);
      if (create_graph) finished_leaves.push_back(*it);
      continue;
    }
    if (node.graph_freed)
      throw Error("backward: {} was already back-propagated and its graph freed; pass retain_graph = true to "
                  "the first backward to go through it twice",
                  where(node));
    Tensor dy = capturing ? std::move(node.pass_grad) : node.grad;
    if (capturing) node.pass_grad = Tensor();
    if (dy.defined() && node.hooks) {
      dy = run_grad_hooks(node, std::move(dy));
      if (!capturing) node.grad = dy;
    }
    if (capturing) {
      if (auto at = capture->index.find(&node); at != capture->index.end()) capture->grads[at->second] = dy;
    } else if (!node.retains_grad) {
      node.grad = Tensor();  // intermediate gradients are not kept
    }
    if (dy.defined()) {
      if (create_graph && node.once_differentiable)
        throw BackwardError("backward with create_graph through {}: its local gradient is computed outside the tape "
                            "(declared Differentiability::once), so it cannot be differentiated again",
                            where(node));
      dx.assign(node.inputs.size(), Tensor());  // one buffer for all nodes: no allocation per node
      const Tensor y(*it);
      Backward step{y, dy, BackwardInputs(node.inputs), dx, create_graph};
      std::optional<BackwardOfScope> tag;
      if (create_graph) tag.emplace(node);
      try {
        node.backward(step);
        check_versions(node, step.x);
        if (create_graph && dy.requires_grad()) check_differentiable(node, dx);
        if (tracer) tracer->step(node, y, dy, dx);
        for (std::size_t i = 0; i < dx.size(); ++i) {
          if (!dx[i].defined() || !node.inputs[i].requires_grad()) continue;
          TensorImpl* target = target_of(node.inputs[i]);
          if (!target || (capturing && !capture->on_path.contains(target))) continue;
          if (anomaly) detail::check_backward_anomaly(node, i, dx[i]);
          accumulate(*target, std::move(dx[i]), node, capturing);
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
  if (create_graph && !capturing) cut_leaf_cycles(finished_leaves);
}

// dL/doutput for backward: the given one (checked against the output), or 1 for a scalar.
Tensor seed_for(const char* op, const Tensor& output, const Tensor& grad) {
  if (!grad.defined()) {
    if (output.numel() != 1)
      throw Error("{}: output of shape {} is not a scalar; pass dL/doutput as y.backward(grad)", op,
                  shape_str(output.shape()));
    return ones_like(output);
  }
  if (grad.shape() != output.shape() || grad.dtype() != output.dtype())
    throw Error("{}: gradient {} {} does not match the output {} {}", op, shape_str(grad.shape()),
                dtype_name(grad.dtype()), shape_str(output.shape()), dtype_name(output.dtype()));
  return grad;
}

void check_root(const char* op, const Tensor& t, std::string_view what) {
  if (!t.defined()) throw Error("{}: the {} is undefined", op, what);
  if (!t.requires_grad())
    throw Error("{}: the {} {} does not require grad (no input of the ops that made it had "
                "requires_grad_() set, or it was computed under NoGradGuard)",
                op, what, shape_str(t.shape()));
  if (t.impl()->graph_freed)
    throw Error("{}: the graph of {} was freed by an earlier backward; pass retain_graph = true to the "
                "first backward to go through it twice",
                op, where(*t.impl()));
}

}  // namespace

void Tensor::backward(const Tensor& grad, std::optional<bool> retain_graph, bool create_graph) const {
  check_root("backward", *this, "tensor");
  const Tensor seed = seed_for("backward", *this, grad);
  run_backward({*this}, {seed}, retain_graph.value_or(create_graph), create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, std::optional<bool> retain_graph, bool create_graph,
                         bool allow_unused) {
  if (outputs.empty()) throw Error("grad: no outputs given");
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw Error("grad: {} grad_outputs for {} outputs; pass one per output (or none for scalar outputs)",
                grad_outputs.size(), outputs.size());
  std::vector<Tensor> seeds;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    check_root("grad", outputs[i], fmt::format("output {}", i));
    seeds.push_back(seed_for("grad", outputs[i], grad_outputs.empty() ? Tensor() : grad_outputs[i]));
  }
  Capture capture;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw Error("grad: input {} is undefined", i);
    if (!inputs[i].requires_grad())
      throw Error("grad: input {} {} does not require grad, so no gradient flows to it", i,
                  shape_str(inputs[i].shape()));
    capture.index.emplace(inputs[i].impl(), i);
  }
  capture.grads.resize(inputs.size());
  run_backward(outputs, seeds, retain_graph.value_or(create_graph), create_graph, &capture);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (capture.grads[i].defined() || allow_unused) continue;
    throw Error("grad: input {} ({} {}, {}) is not used to compute the outputs; pass allow_unused = true to get "
                "an undefined tensor for it",
                i, shape_str(inputs[i].shape()), dtype_name(inputs[i].dtype()),
                inputs[i].is_leaf() ? std::string("a leaf") : where(*inputs[i].impl()));
  }
  return std::move(capture.grads);
}

}  // namespace xgrad
