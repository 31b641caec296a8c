#include "anomaly.hpp"

#include <cmath>
#include <deque>
#include <unordered_set>

#include "dispatch.hpp"

namespace xgrad::detail {

namespace {
// The flat index of the first NaN or Inf, or npos.
std::size_t first_nonfinite(const Value& v) {
  return std::visit(
      [](const auto& a) {
        const auto* p = a.data();
        for (std::size_t i = 0, n = a.size(); i < n; ++i)
          if (!std::isfinite(p[i])) return i;
        return std::string::npos;
      },
      v);
}

// "nan", "inf" or "-inf" (a NaN's sign bit says nothing, so it is not printed).
std::string value_at(const Value& v, std::size_t flat) {
  const double x = std::visit([&](const auto& a) { return static_cast<double>(a.data()[flat]); }, v);
  return std::isnan(x) ? "nan" : fmt::format("{}", x);
}
Shape shape_of(const Value& v) {
  return std::visit([](const auto& a) { return to_shape(a.shape()); }, v);
}
}  // namespace

std::string recording_chain(const TensorImpl& node, std::size_t max_lines) {
  std::string out;
  std::deque<const TensorImpl*> queue;
  std::unordered_set<const TensorImpl*> seen{&node};
  for (const Tensor& x : node.inputs)
    if (x.defined() && seen.insert(x.impl()).second) queue.push_back(x.impl());
  std::size_t lines = 0, leaves = 0;
  while (!queue.empty()) {
    const TensorImpl* n = queue.front();
    queue.pop_front();
    if (!n->op) {
      ++leaves;
      continue;
    }
    if (lines == max_lines) {
      out += "\n    ...";
      break;
    }
    out += fmt::format("\n    {}", describe_node(*n));
    ++lines;
    for (const Tensor& x : n->inputs)
      if (x.defined() && seen.insert(x.impl()).second) queue.push_back(x.impl());
  }
  if (lines == 0) return "\n  its inputs are leaves (tensors you created)";
  return "\n  fed by (nearest first):" + out;
}

void check_forward_anomaly(const TensorImpl& node) {
  const std::size_t at = first_nonfinite(node.value);
  if (at == std::string::npos) return;
  const Shape shape = shape_of(node.value);
  throw Error("anomaly: {} produced {} at element {} of its output {}{}", describe_node(node), value_at(node.value, at),
              shape_str(unravel(at, shape)), shape_str(shape), recording_chain(node));
}

void check_backward_anomaly(const TensorImpl& node, std::size_t input, const Tensor& dx) {
  const Value& v = dx.impl()->value;
  const std::size_t at = first_nonfinite(v);
  if (at == std::string::npos) return;
  const Shape shape = shape_of(v);
  throw BackwardError("anomaly: backward of {} produced {} at element {} of the gradient {} of its input {}{}",
                      describe_node(node), value_at(v, at), shape_str(unravel(at, shape)), shape_str(shape), input,
                      recording_chain(node));
}

}  // namespace xgrad::detail
