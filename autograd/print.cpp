#include "print.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <xtensor/xio.hpp>

#include "dispatch.hpp"
#include "engine.hpp"
#include "trace.hpp"

namespace xgrad {

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::ostringstream values;
  detail::visit("print", t, [&](const auto& a) { values << a; });
  std::string s = fmt::format("tensor({}, {}", values.str(), dtype_name(t.dtype()));
  if (t.requires_grad()) s += t.is_leaf() ? ", requires_grad" : fmt::format(", op={}", t.op());
  return s + ")";
}

namespace {
// 4 significant digits are what a learner compares with a hand computation; -0 prints as 0.
std::string number(double v) { return fmt::format("{:.4g}", v == 0.0 ? 0.0 : v); }

// Row-major nested brackets, one level per dimension.
std::string nested(const double* data, const std::vector<std::size_t>& shape, std::size_t dim) {
  if (dim == shape.size()) return number(*data);
  std::size_t stride = 1;
  for (std::size_t d = dim + 1; d < shape.size(); ++d) stride *= shape[d];
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < shape[dim]; ++i) parts.push_back(nested(data + i * stride, shape, dim + 1));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}
}  // namespace

std::string value_summary(const Tensor& t, std::size_t max_full) {
  if (!t.defined()) return "undefined";
  const std::vector<double> values = t.to_vector();
  const Shape shape = t.shape();
  if (values.size() == 1) return number(values[0]);
  if (values.size() <= max_full) return nested(values.data(), shape, 0);
  if (values.empty()) return fmt::format("{} (empty)", shape_str(shape));
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  double mean = 0.0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  return fmt::format("{} min {} mean {} max {}", shape_str(shape), number(*lo), number(mean), number(*hi));
}

namespace detail {

NodeLabels::NodeLabels(const std::vector<std::shared_ptr<TensorImpl>>& order) {
  for (std::size_t i = 0; i < order.size(); ++i) index_.emplace(order[i].get(), i);
}

std::string NodeLabels::number(const TensorImpl* t) const {
  const auto it = index_.find(t);
  return it == index_.end() ? std::string() : fmt::format("#{}", it->second);
}

std::string NodeLabels::operator()(const Tensor& t) const {
  if (!t.name().empty()) return std::string(t.name());
  if (std::string n = number(t.impl()); !n.empty()) return n;
  if (t.defined() && t.numel() == 1) return value_summary(t);
  return t.defined() ? fmt::format("const{}", shape_str(t.shape())) : "undefined";
}

std::string NodeLabels::call(const TensorImpl& node) const {
  std::vector<std::string> args;
  for (const Tensor& in : node.inputs) args.push_back((*this)(in));
  return fmt::format("{}({})", node.op ? node.op : "leaf", fmt::join(args, ", "));
}

std::string site_of(const TensorImpl& node) {
  std::string s =
      fmt::format("{}:{}", std::filesystem::path(node.site.file_name()).filename().string(), node.site.line());
  if (node.called_in) s += fmt::format(" in {}", node.called_in->layer);
  return s;
}

}  // namespace detail

std::string tape_to_string(const Tensor& root, const TapeOptions& options) {
  if (!root.requires_grad()) return "(empty tape: the tensor does not require grad)\n";
  const auto order = topological_order(root);
  const detail::NodeLabels label(order);
  // The left part ("#2 q = add(x, y)") padded to one width, so shapes and values line up.
  std::vector<std::string> heads;
  std::size_t width = 0;
  for (const auto& node : order) {
    const Tensor t(node);
    const std::string number = label.number(node.get());
    std::string head = t.name().empty() ? number : fmt::format("{} {}", number, t.name());
    head += t.is_leaf() ? " leaf" : fmt::format("{} {}", t.name().empty() ? "" : " =", label.call(*node));
    width = std::max(width, head.size());
    heads.push_back(std::move(head));
  }
  std::vector<std::string> values;
  std::size_t value_width = 0;
  for (const auto& node : order) {
    values.push_back(value_summary(Tensor(node), options.max_full));
    value_width = std::max(value_width, values.back().size());
  }
  std::string out;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const TensorImpl& node = *order[i];
    const Tensor t(order[i]);
    std::string grad;
    if (t.grad().defined())
      grad = value_summary(t.grad(), options.max_full);
    else if (options.trace)
      if (auto g = options.trace->grad_after(&node, options.trace->steps().size()))
        grad = value_summary(*g, options.max_full);
    std::string line =
        fmt::format("{:<{}}  {:<6} value {:<{}}", heads[i], width, shape_str(t.shape()), values[i], value_width);
    if (!grad.empty()) line += fmt::format("  grad {}", grad);
    while (line.back() == ' ') line.pop_back();
    if (!t.is_leaf())
      line += fmt::format("   ({}{})", detail::site_of(node), node.once_differentiable ? ", once differentiable" : "");
    if (!t.is_leaf() && node.graph_freed && i + 1 == order.size() && order.size() == 1)
      line += "   [graph freed by backward: pass retain_graph = true to print it afterwards]";
    out += line + "\n";
  }
  return out;
}

}  // namespace xgrad
