#pragma once
// Printing tensors and the recorded tape, through fmt.
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "tensor.hpp"

namespace xgrad {

class BackwardTrace;

// tensor([[1, 2], [3, 4]], f64, requires_grad)
std::string to_string(const Tensor& t);

// A value as the teaching views (tape printout, trace, drawing) show it: every element when there are
// at most `max_full` ("-12", "[0.3932, -0.5898]", "[[1, 2], [3, 4]]", 4 significant digits), else the
// shape and min/mean/max ("[100,784] min -0.98 mean 0.0012 max 1.1").
std::string value_summary(const Tensor& t, std::size_t max_full = 16);

struct TapeOptions {
  // After a backward, intermediate gradients are gone unless retain_grad() kept them; a trace of
  // that backward (autograd/trace.hpp) supplies them.
  const BackwardTrace* trace = nullptr;
  std::size_t max_full = 16;  // larger values print as shape and min/mean/max
};

// The tape behind `root`, one line per node in topological order (inputs first): its number and
// name, the op applied to its inputs' names, shape, value, gradient (once a backward has reached it
// and it was kept, or from options.trace), and the line that recorded it:
//   #2 q = add(x, y)   [1]  value 3  grad -4   (gates.cpp:12)
// Print it before backward, or after a backward with retain_graph: backward frees the graph.
std::string tape_to_string(const Tensor& root, const TapeOptions& options = {});

namespace detail {
// How the views name the tensors of one graph: the display name, else "#n" by position in the
// topological order (what tape_to_string numbers); a constant outside the graph by its value ("1")
// when it has one element, else "const[3,2]".
class NodeLabels {
 public:
  explicit NodeLabels(const std::vector<std::shared_ptr<TensorImpl>>& order);
  std::string operator()(const Tensor& t) const;
  std::string call(const TensorImpl& node) const;  // "add(x, y)"
  std::string number(const TensorImpl* t) const;   // "#3", or "" outside the graph

 private:
  std::unordered_map<const TensorImpl*, std::size_t> index_;
};
// "gates.cpp:12", with " in Linear(in=4, out=8) 'fc1'" for a node recorded inside a layer: file names
// only, so printouts do not depend on where the source or build directory is.
std::string site_of(const TensorImpl& node);
}  // namespace detail

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::Tensor> : fmt::formatter<std::string_view> {
  auto format(const xgrad::Tensor& t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(t), ctx);
  }
};
