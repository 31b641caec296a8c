#include "trace.hpp"

#include <algorithm>
#include <utility>

#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"
#include "dispatch.hpp"
#include "local_gradient.hpp"
#include "print.hpp"

namespace xgrad {

namespace detail {
namespace {
thread_local BackwardTracer* active = nullptr;
}
BackwardTracer* backward_tracer() { return active; }
BackwardTracer* set_backward_tracer(BackwardTracer* tracer) { return std::exchange(active, tracer); }
}  // namespace detail

TraceBackward::TraceBackward(BackwardTrace& trace) : previous_(detail::set_backward_tracer(&trace)) {}
TraceBackward::~TraceBackward() { detail::set_backward_tracer(previous_); }

namespace {
Tensor as_double(const Tensor& t) {  // a copy: the trace must not change when the tensor does
  return Tensor(detail::visit("trace", t, [](const auto& a) { return xt::xarray<double>(a); }));
}

std::string ordinal(std::size_t n) {
  const std::size_t last = n % 10, tens = n % 100;
  const char* suffix = (tens >= 11 && tens <= 13) ? "th"
                       : last == 1                ? "st"
                       : last == 2                ? "nd"
                       : last == 3                ? "rd"
                                                  : "th";
  return fmt::format("{}{}", n, suffix);
}
}  // namespace

void BackwardTrace::clear() {
  steps_.clear();
  leaves_.clear();
  root_label_.clear();
}

void BackwardTrace::begin(const std::vector<std::shared_ptr<TensorImpl>>& order, const std::vector<Tensor>& roots) {
  const detail::NodeLabels label(order);
  labels_.clear();
  uses_.clear();
  used_.clear();
  totals_.clear();
  roots_.clear();
  for (const auto& node : order) {
    labels_[node.get()] = label(Tensor(node));
    if (!node->op) leaves_.emplace_back(node.get(), labels_[node.get()]);
    for (const Tensor& in : node->inputs)
      if (in.requires_grad()) ++uses_[in.impl()];
  }
  for (const Tensor& r : roots) roots_.push_back(r.impl());
  if (!roots.empty()) root_label_ = labels_[roots.front().impl()];
}

void BackwardTrace::step(TensorImpl& node, const Tensor& y, const Tensor& dy, const std::vector<Tensor>& dx) {
  NoGradGuard no_grad;  // nothing the trace computes is recorded, even under create_graph
  const detail::NodeLabels constants({});
  auto label_of = [&](const Tensor& t) {
    const auto it = labels_.find(t.impl());
    return it != labels_.end() ? it->second : constants(t);
  };
  TraceStep s;
  s.node = &node;
  s.label = label_of(y);
  std::vector<std::string> inputs;
  for (const Tensor& in : node.inputs) inputs.push_back(label_of(in));
  s.call = fmt::format("{}({})", node.op, fmt::join(inputs, ", "));
  s.site = detail::site_of(node);
  s.value = as_double(y);
  s.dy = as_double(dy);
  s.seed = std::find(roots_.begin(), roots_.end(), &node) != roots_.end();

  // The local gradients' values: the op's backward once more, with dy = 1 (trace.hpp says when).
  const detail::LocalGradientText* text = detail::local_gradient_text(node.op);
  bool small = y.numel() <= max_full_;
  for (const Tensor& in : node.inputs) small = small && in.numel() <= max_full_;
  std::vector<Tensor> local(node.inputs.size());
  if (small && ((text && text->elementwise) || y.numel() == 1)) {
    try {
      const Tensor one = ones_like(dy);
      Backward again{y, one, BackwardInputs(node.inputs), local, false};
      node.backward(again);
    } catch (const std::exception&) {
      local.assign(node.inputs.size(), Tensor());  // shown without a value, as for a large tensor
    }
  }

  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& in = node.inputs[i];
    if (!in.requires_grad() || i >= dx.size() || !dx[i].defined()) continue;
    TraceEdge e;
    e.input = in.impl();
    e.label = inputs[i];
    e.formula = detail::local_gradient_formula(node.op, i, inputs, s.label);
    if (local[i].defined()) e.local = as_double(local[i]);
    const Tensor sent = dx[i].shape() == in.shape() ? dx[i] : sum_to(dx[i], in.shape());
    e.sent = as_double(sent);
    e.uses = std::max<std::size_t>(1, uses_[e.input]);
    e.use = ++used_[e.input];
    auto [it, fresh] = totals_.try_emplace(e.input, e.sent);
    if (!fresh) it->second = it->second + e.sent;
    e.total = it->second;
    s.edges.push_back(std::move(e));
  }
  steps_.push_back(std::move(s));
}

std::optional<std::size_t> BackwardTrace::step_of(const TensorImpl* t) const {
  for (std::size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].node == t) return i;
  return std::nullopt;
}

std::optional<Tensor> BackwardTrace::grad_after(const TensorImpl* t, std::size_t n) const {
  n = std::min(n, steps_.size());
  std::optional<Tensor> g;
  for (std::size_t i = 0; i < n; ++i) {
    if (steps_[i].node == t) return steps_[i].dy;
    for (const TraceEdge& e : steps_[i].edges)
      if (e.input == t) g = e.total;
  }
  return g;
}

std::string BackwardTrace::step_to_string(std::size_t i) const {
  const TraceStep& s = steps_.at(i);
  const std::size_t m = max_full_;
  std::string out = fmt::format("step {}: {} = {}   ({})\n", i + 1, s.label, s.call, s.site);
  out += fmt::format("  {} = {}   dy = d{}/d{} = {}{}\n", s.label, value_summary(s.value, m), root_label_, s.label,
                     value_summary(s.dy, m), s.seed ? " (the seed)" : "");
  for (const TraceEdge& e : s.edges) {
    const std::string local_name = fmt::format("d{}/d{}", s.label, e.label);
    std::string local = e.formula.empty() ? local_name : fmt::format("{} = {}", local_name, e.formula);
    if (e.local && value_summary(*e.local, m) != e.formula) local += fmt::format(" = {}", value_summary(*e.local, m));
    const bool all_small = e.local && s.dy.numel() <= m && e.local->numel() <= m && e.sent.numel() <= m;
    const std::string sent = all_small ? fmt::format("dy * local = {} * {} = {}", value_summary(s.dy, m),
                                                     value_summary(*e.local, m), value_summary(e.sent, m))
                                       : fmt::format("dy * local = {}", value_summary(e.sent, m));
    const bool reduced = e.local && e.local->shape() != e.sent.shape();
    out += fmt::format("  -> {}: local {}\n       sends {}{}\n", e.label, local, sent,
                       reduced ? fmt::format(", summed to {}'s shape", e.label) : "");
    if (e.uses > 1)
      out += fmt::format("       {}: {} of {} uses, total {}\n", e.label, ordinal(e.use), e.uses,
                         value_summary(e.total, m));
  }
  return out;
}

std::string BackwardTrace::leaves_to_string() const {
  std::vector<std::string> parts;
  for (const auto& [leaf, label] : leaves_)
    if (auto g = grad_after(leaf, steps_.size()))
      parts.push_back(fmt::format("{} = {}", label, value_summary(*g, max_full_)));
  return fmt::format("gradients of the leaves: {}\n", fmt::join(parts, ", "));
}

std::string BackwardTrace::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < steps_.size(); ++i) out += step_to_string(i) + "\n";
  return out + leaves_to_string();
}

}  // namespace xgrad
