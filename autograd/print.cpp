#include "print.hpp"

#include <filesystem>
#include <sstream>
#include <unordered_map>

#include <xtensor/xio.hpp>

#include "dispatch.hpp"
#include "engine.hpp"

namespace xgrad {

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::ostringstream values;
  detail::visit("print", t, [&](const auto& a) { values << a; });
  std::string s = fmt::format("tensor({}, {}", values.str(), dtype_name(t.dtype()));
  if (t.requires_grad()) s += t.is_leaf() ? ", requires_grad" : fmt::format(", op={}", t.op());
  return s + ")";
}

std::string tape_to_string(const Tensor& root) {
  if (!root.requires_grad()) return "(empty tape: the tensor does not require grad)\n";
  std::unordered_map<const TensorImpl*, std::size_t> id;
  std::string out;
  for (const auto& node : topological_order(root)) {
    const std::size_t n = id.size();
    id[node.get()] = n;
    const Tensor t(node);
    if (t.is_leaf()) {
      out += fmt::format("#{} leaf {}\n", n, shape_str(t.shape()));
      continue;
    }
    std::vector<std::string> ins;
    for (const Tensor& in : node->inputs) {
      auto it = id.find(in.impl());
      ins.push_back(it == id.end() ? shape_str(in.shape()) : fmt::format("#{}{}", it->second, shape_str(in.shape())));
    }
    out += fmt::format("#{} {} {} -> {}   ({}:{}{}{})\n", n, node->op, fmt::join(ins, " x "), shape_str(t.shape()),
                       std::filesystem::path(node->site.file_name()).filename().string(), node->site.line(),
                       node->called_in ? fmt::format(" in {}", node->called_in->layer) : "",
                       node->once_differentiable ? ", once differentiable" : "");
  }
  return out;
}

}  // namespace xgrad
