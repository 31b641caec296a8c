#include "flow_report.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <variant>

#include "../autograd/tensor_impl.hpp"
#include "activation.hpp"

namespace xgrad::nn {

struct FlowMonitor::State {
  FlowOptions options;
  std::vector<LayerCapture> captures;
  std::map<std::string, std::size_t> calls;  // per layer name, in the current forward
};

namespace {

// Calls f(value) for every element, as a double, whatever the dtype.
template <class F>
void for_each_value(const Tensor& t, F&& f) {
  std::visit(
      [&](const auto& a) {
        for (const auto v : a) f(double(v));
      },
      t.impl()->value);
}

double mean_abs(const Tensor& t) {
  double sum = 0;
  for_each_value(t, [&](double v) { sum += std::abs(v); });
  return t.numel() ? sum / double(t.numel()) : 0.0;
}

// Population standard deviation (over every element), by two passes for accuracy.
double stddev(const Tensor& t) {
  const double n = double(t.numel());
  if (n == 0) return 0;
  double mean = 0, sq = 0;
  for_each_value(t, [&](double v) { mean += v; });
  mean /= n;
  for_each_value(t, [&](double v) { sq += (v - mean) * (v - mean); });
  return std::sqrt(sq / n);
}

template <class Pred>
double share(const Tensor& t, Pred&& pred) {
  std::size_t count = 0;
  for_each_value(t, [&](double v) { count += pred(v); });
  return t.numel() ? double(count) / double(t.numel()) : 0.0;
}

// Units are all axes but the first (the batch): a unit is dead when it is 0 for every example.
double dead_unit_share(const Tensor& y) {
  const Shape s = y.shape();
  if (s.size() < 2 || y.numel() == 0) return share(y, [](double v) { return v == 0; });
  const std::size_t units = y.numel() / s[0];
  std::vector<char> alive(units, 0);
  std::size_t i = 0;
  for_each_value(y, [&](double v) {
    if (v != 0) alive[i % units] = 1;
    ++i;
  });
  return double(std::count(alive.begin(), alive.end(), 0)) / double(units);
}

LayerCapture::Kind kind_of(const Module& m) {
  if (dynamic_cast<const ReLU*>(&m)) return LayerCapture::Kind::relu;
  if (dynamic_cast<const Tanh*>(&m)) return LayerCapture::Kind::tanh;
  if (dynamic_cast<const Sigmoid*>(&m)) return LayerCapture::Kind::sigmoid;
  return LayerCapture::Kind::other;
}

// Leaf modules (no children) with their dotted names, in registration order.
void leaves(Module& m, const std::string& name, std::vector<std::pair<std::string, Module*>>& out) {
  const auto children = m.named_children();
  if (children.empty()) {
    out.emplace_back(name.empty() ? m.describe() : name, &m);
    return;
  }
  for (const auto& [child_name, child] : children)
    if (child) leaves(*child, name.empty() ? child_name : name + "." + child_name, out);
}

std::string cell(const std::optional<double>& v, const char* format) {
  return v ? fmt::format(fmt::runtime(format), *v) : std::string("-");
}

}  // namespace

LayerFlow layer_flow(const LayerCapture& c, const FlowOptions& options) {
  LayerFlow f;
  f.name = c.name;
  f.describe = c.describe;
  if (!c.output.defined()) return f;
  f.shape = c.output.shape();
  f.act_mean_abs = mean_abs(c.output);
  f.act_std = stddev(c.output);
  if (c.grad_output.defined()) f.grad_output_mean_abs = mean_abs(c.grad_output);
  if (c.grad_input.defined()) f.grad_input_mean_abs = mean_abs(c.grad_input);
  if (f.grad_output_mean_abs && f.grad_input_mean_abs && *f.grad_output_mean_abs > 0)
    f.gain = *f.grad_input_mean_abs / *f.grad_output_mean_abs;
  switch (c.kind) {
    case LayerCapture::Kind::relu:
      f.zero_local_grad = share(c.input, [](double x) { return x <= 0; });
      f.dead_units = dead_unit_share(c.output);
      break;
    case LayerCapture::Kind::tanh:
      f.saturated = share(c.output, [&](double y) { return std::abs(y) > options.tanh_limit; });
      break;
    case LayerCapture::Kind::sigmoid:
      f.saturated =
          share(c.output, [&](double y) { return y > options.sigmoid_limit || y < 1 - options.sigmoid_limit; });
      break;
    case LayerCapture::Kind::other:
      break;
  }
  return f;
}

FlowMonitor::FlowMonitor(Module& model, FlowOptions options) : state_(std::make_shared<State>()) {
  if (!(options.tanh_limit > 0 && options.tanh_limit < 1) ||
      !(options.sigmoid_limit > 0.5 && options.sigmoid_limit < 1))
    throw Error("FlowMonitor: tanh_limit {} must be in (0, 1) and sigmoid_limit {} in (0.5, 1)", options.tanh_limit,
                options.sigmoid_limit);
  state_->options = options;
  // A new forward of the model starts a new record.
  handles_.push_back(model.register_forward_pre_hook([weak = std::weak_ptr<State>(state_)](Module&, const Tensor&) {
    if (auto s = weak.lock()) {
      s->captures.clear();
      s->calls.clear();
    }
  }));
  std::vector<std::pair<std::string, Module*>> layers;
  leaves(model, "", layers);
  for (auto& [name, layer] : layers) {
    const LayerCapture::Kind kind = kind_of(*layer);
    handles_.push_back(layer->register_forward_hook(
        [weak = std::weak_ptr<State>(state_), name = name, kind](Module& m, const Tensor& x, const Tensor& y) {
          auto s = weak.lock();
          if (!s) return;
          const std::size_t call = ++s->calls[name];
          LayerCapture c;
          c.name = call == 1 ? name : fmt::format("{}#{}", name, call);
          c.describe = m.describe();
          c.kind = kind;
          c.input = x.detach();
          c.output = y.detach();
          const std::size_t index = s->captures.size();
          s->captures.push_back(std::move(c));
          // The hooks hold the state weakly and the row by index, never a tensor (no reference cycle).
          auto keep = [weak, index](Tensor LayerCapture::*field) {
            return [weak, index, field](const Tensor& g) {
              auto st = weak.lock();
              if (st && index < st->captures.size()) st->captures[index].*field = g.detach();
            };
          };
          if (y.requires_grad()) Tensor(y).register_hook(keep(&LayerCapture::grad_output));
          if (x.requires_grad()) Tensor(x).register_hook(keep(&LayerCapture::grad_input));
        }));
  }
}

FlowMonitor::~FlowMonitor() {
  for (auto& h : handles_) h.remove();
}

const std::vector<LayerCapture>& FlowMonitor::captures() const { return state_->captures; }

void FlowMonitor::clear() {
  state_->captures.clear();
  state_->calls.clear();
}

FlowReport FlowMonitor::report() const {
  FlowReport r;
  r.options = state_->options;
  for (const auto& c : state_->captures) r.layers.push_back(layer_flow(c, state_->options));
  return r;
}

std::string to_string(const FlowReport& r) {
  std::size_t width = 5;
  auto label = [](const LayerFlow& f) { return fmt::format("{}: {}", f.name, f.describe); };
  for (const auto& f : r.layers) width = std::max(width, label(f).size());
  std::string out = fmt::format("{:<{}}  {:>14}  {:>9} {:>9}  {:>9} {:>9} {:>7}  {:>6} {:>6} {:>6}\n", "layer", width,
                                "output", "|y|", "std(y)", "|dL/dy|", "|dL/dx|", "gain", "zero", "dead", "sat");
  for (const auto& f : r.layers)
    out += fmt::format("{:<{}}  {:>14}  {:>9.3e} {:>9.3e}  {:>9} {:>9} {:>7}  {:>6} {:>6} {:>6}\n", label(f), width,
                       shape_str(f.shape), f.act_mean_abs, f.act_std, cell(f.grad_output_mean_abs, "{:.3e}"),
                       cell(f.grad_input_mean_abs, "{:.3e}"), cell(f.gain, "{:.3f}"),
                       cell(f.zero_local_grad ? std::optional(100 * *f.zero_local_grad) : std::nullopt, "{:.1f}%"),
                       cell(f.dead_units ? std::optional(100 * *f.dead_units) : std::nullopt, "{:.1f}%"),
                       cell(f.saturated ? std::optional(100 * *f.saturated) : std::nullopt, "{:.1f}%"));
  out += fmt::
      format("means over the batch; gain = |dL/dx| / |dL/dy|; zero: ReLU inputs <= 0 (local gradient 0); dead: ReLU "
             "units 0 for every example; sat: |tanh| > {} or sigmoid outside [{:.2g}, {}]\n",
             r.options.tanh_limit, 1 - r.options.sigmoid_limit, r.options.sigmoid_limit);
  return out;
}

}  // namespace xgrad::nn
