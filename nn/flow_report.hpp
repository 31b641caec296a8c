#pragma once
// xg::nn::FlowMonitor: how activations and gradients flow through a model, layer by layer. This is the
// notes' "babysitting the learning process" made visible: whether the signal dies or explodes with
// depth (initialization), how many ReLUs are dead ("monitor the fraction of 'dead' units") and how
// many tanh/sigmoid units are saturated ("saturated neurons kill the gradients").
//
//   xg::nn::FlowMonitor monitor(model);  // hooks every leaf layer of the model
//   xg::Tensor loss = xg::cross_entropy(model(x), labels);
//   loss.backward();
//   fmt::print("{}", monitor.report());
//
// How: a forward hook on every leaf module (one without children: Linear, ReLU, Conv2d, ...) keeps
// the layer's input x and output y, and registers tensor hooks on both, which keep dL/dy and dL/dx
// when backward reaches them (autograd/hooks.hpp). So ops a model calls outside a module (a bare
// xg::relu in forward) are not seen, only modules. Each forward of the monitored model starts a new
// record; a layer called twice in one forward gives two rows ("cell", "cell#2").
//
// Per row (means over every element of the batch):
//   |y|       mean |activation|, the layer's output; std(y) its standard deviation
//   |dL/dy|   mean |gradient| arriving at the output from the layers above
//   |dL/dx|   mean |gradient| the layer sends down to its input
//   gain      |dL/dx| / |dL/dy|: < 1 the gradient shrinks passing the layer, > 1 it grows
//   zero      ReLU: share of elements whose local gradient is 0 (x <= 0; relu'(0) = 0 in xgrad)
//   dead      ReLU: share of units (all axes but the batch axis) that are 0 for every example:
//             a unit dead for a whole batch gets no gradient at all from it
//   saturated Tanh: share of |y| > tanh_limit (0.99, where tanh' = 1 - y^2 < 0.02);
//             Sigmoid: share of y < 1 - sigmoid_limit or y > sigmoid_limit (0.99; sigmoid' =
//             y (1 - y) < 0.0099 there)
// A column that does not apply (no gradient reached the input, e.g. the data; no ReLU) is "-".
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "module.hpp"

namespace xgrad::nn {

struct FlowOptions {
  double tanh_limit = 0.99;     // |tanh| above it counts as saturated
  double sigmoid_limit = 0.99;  // sigmoid above it, or below 1 - it, counts as saturated
};

// One layer call of the last forward: what it computed and, after backward, what flowed back.
struct LayerCapture {
  std::string name;      // dotted path in the model ("0", "features.3"), "#2" for a second call
  std::string describe;  // "Linear(in=784, out=100)", "ReLU"
  enum class Kind { other, relu, tanh, sigmoid } kind = Kind::other;
  Tensor input, output;            // detached values
  Tensor grad_input, grad_output;  // dL/dx and dL/dy, undefined until backward reaches them
};

struct LayerFlow {
  std::string name, describe;
  Shape shape;  // of the output
  double act_mean_abs = 0, act_std = 0;
  std::optional<double> grad_output_mean_abs, grad_input_mean_abs, gain;
  std::optional<double> zero_local_grad, dead_units, saturated;  // shares in [0, 1]
};

struct FlowReport {
  std::vector<LayerFlow> layers;
  FlowOptions options;
};
std::string to_string(const FlowReport& report);

// Summary statistics of one capture (what report() computes per row).
LayerFlow layer_flow(const LayerCapture& capture, const FlowOptions& options = {});

class FlowMonitor {
 public:
  explicit FlowMonitor(Module& model, FlowOptions options = {});
  ~FlowMonitor();  // removes its module hooks; tensor hooks left on live tensors then do nothing
  FlowMonitor(const FlowMonitor&) = delete;
  FlowMonitor& operator=(const FlowMonitor&) = delete;

  // The layer calls of the last forward, in call order, with their gradients once backward ran.
  const std::vector<LayerCapture>& captures() const;
  FlowReport report() const;
  void clear();  // forget the captures (the next forward starts a new record anyway)

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::vector<HookHandle> handles_;
};

}  // namespace xgrad::nn

template <>
struct fmt::formatter<xgrad::nn::FlowReport> : fmt::formatter<std::string_view> {
  auto format(const xgrad::nn::FlowReport& r, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::nn::to_string(r), ctx);
  }
};
