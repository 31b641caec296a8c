#pragma once
// Traced backward: every step of one backward pass recorded with its numbers, so a learner sees the
// chain rule applied node by node (docs/autograd.md, section 7):
//
//   xg::BackwardTrace trace;
//   {
//     xg::TraceBackward guard(trace);  // every backward on this thread, while the guard lives
//     f.backward();
//   }
//   fmt::print("{}", trace.to_string());
//
// A step is one node of the tape, in the order backward runs them: its op, inputs and line of model
// code, the upstream gradient dy = dL/dnode, and for each input that needs a gradient the local
// gradient d node/d input (its formula from autograd/local_gradient.hpp, and its value where it has
// one: see below), the contribution dy * local sent to the input, and, when the input is used more
// than once, which use this is and the total so far ("x: 2nd of 3 uses, total 5").
//
// The local gradient's value is what the op's own local-gradient function returns when run again
// with dy = 1: for an elementwise op that is the derivative of each output element with respect to
// its input element, and for an op with a one-element output it is the gradient row itself. For
// other ops (matmul, reshape, ...) only the formula is shown: their local gradient is a Jacobian that
// is not a tensor of the input's shape. Values with more than max_full elements print as shape and
// min/mean/max.
//
// The trace copies every value and gradient it shows: it is meant for graphs of teaching size.
// Hooks may replace a gradient; dy is the gradient after the node's hooks ran, and the contributions
// are what the local-gradient functions returned.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor.hpp"

namespace xgrad {

namespace detail {
// What the engine calls while a TraceBackward guard is active on its thread (autograd/engine.cpp).
class BackwardTracer {
 public:
  virtual void begin(const std::vector<std::shared_ptr<TensorImpl>>& order, const std::vector<Tensor>& roots) = 0;
  // After node's local-gradient function filled dx, before the contributions are added in.
  virtual void step(TensorImpl& node, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& dx) = 0;

 protected:
  ~BackwardTracer() = default;
};
BackwardTracer* backward_tracer();  // the tracer installed on this thread, or null
// Installs `tracer` on this thread (null removes it) and returns the previous one: for tools other than
// BackwardTrace, such as bench/step_profile's per-op timer.
BackwardTracer* set_backward_tracer(BackwardTracer* tracer);
}  // namespace detail

// One input's share of a step.
struct TraceEdge {
  const TensorImpl* input = nullptr;  // identity only: the tensor may be gone by the time it is read
  std::string label;                  // "x", or "#3" when unnamed
  std::string formula;                // "z" for d(q*z)/dq; "" when the op has no formula
  std::optional<Tensor> local;        // the local gradient's value (f64), where it has one (above)
  Tensor sent;                        // dy * local, in the input's shape (f64)
  std::size_t use = 1, uses = 1;      // this is use number `use` of the `uses` uses of the input
  Tensor total;                       // the input's gradient so far in this backward (f64)
};

struct TraceStep {
  const TensorImpl* node = nullptr;  // identity only
  std::string label;                 // "f"
  std::string call;                  // "mul(q, z)"
  std::string site;                  // "backprop_gates.cpp:31"
  Tensor value;                      // the node's value (f64 copies, like every tensor here)
  Tensor dy;                         // dL/dnode
  bool seed = false;                 // a root of the backward: dy is the seed
  std::vector<TraceEdge> edges;
};

class BackwardTrace : public detail::BackwardTracer {
 public:
  explicit BackwardTrace(std::size_t max_full = 16) : max_full_(max_full) {}

  const std::vector<TraceStep>& steps() const { return steps_; }
  // One block per step, then the gradients of the leaves.
  std::string to_string() const;
  std::string step_to_string(std::size_t i) const;
  std::string leaves_to_string() const;  // "gradients of the leaves: x = -4, y = -4, z = 3"
  // The gradient of t known once the first n steps have run: dL/dt if t's own step is among them,
  // else the sum of the contributions it has received so far; nullopt when nothing reached it yet.
  std::optional<Tensor> grad_after(const TensorImpl* t, std::size_t n) const;
  // The step that ran t, if any.
  std::optional<std::size_t> step_of(const TensorImpl* t) const;
  void clear();

 private:
  void begin(const std::vector<std::shared_ptr<TensorImpl>>& order, const std::vector<Tensor>& roots) override;
  void step(TensorImpl& node, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& dx) override;

  std::size_t max_full_;
  std::vector<TraceStep> steps_;
  std::string root_label_;
  std::vector<std::pair<const TensorImpl*, std::string>> leaves_;  // in topological order
  // State of the backward being recorded.
  std::unordered_map<const TensorImpl*, std::string> labels_;
  std::unordered_map<const TensorImpl*, std::size_t> uses_, used_;
  std::unordered_map<const TensorImpl*, Tensor> totals_;
  std::vector<const TensorImpl*> roots_;
};

// Installs `trace` as this thread's backward tracer for its scope (the previous one comes back after).
class TraceBackward {
 public:
  explicit TraceBackward(BackwardTrace& trace);
  ~TraceBackward();
  TraceBackward(const TraceBackward&) = delete;
  TraceBackward& operator=(const TraceBackward&) = delete;

 private:
  detail::BackwardTracer* previous_;
};

}  // namespace xgrad
