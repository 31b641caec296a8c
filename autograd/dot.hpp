#pragma once
// The recorded graph drawn with Graphviz (docs/autograd.md, section 7): one box per tensor (name,
// shape, value, gradient) and one ellipse per op, edges from the inputs through the op to its output,
// each input edge labelled with the local gradient. `dot` is Debian's graphviz package.
//
//   f.backward({}, true);                 // keep the graph: backward frees it otherwise
//   xg::render(f, "graph.svg");           // or fmt::print("{}", xg::to_dot(f));
//
// Without a trace, a gradient is shown where grad() holds one (leaves, retain_grad()) and the edges
// carry the local gradient's formula. With a trace of the backward (autograd/trace.hpp), every
// tensor's gradient is shown and the edges carry the local gradient's value where it has one; with
// `steps` set, only what the first `steps` steps of backward knew, and the node of the last of them
// highlighted (examples/backprop_stepper draws one picture per step this way).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tensor.hpp"

namespace xgrad {

class BackwardTrace;

struct DotOptions {
  const BackwardTrace* trace = nullptr;
  std::optional<std::size_t> steps = std::nullopt;  // show the state after this many steps of the trace
  std::size_t max_full = 16;                        // larger values print as shape and min/mean/max
  bool edge_labels = true;
  std::string title = {};
};

std::string to_dot(const Tensor& root, const DotOptions& options = {});

// Runs Graphviz's `dot` on to_dot(root, options) and writes `path`; the format comes from its
// extension (.svg, .png or .pdf). An xg::Error says so when dot is not installed or fails.
void render(const Tensor& root, const std::string& path, const DotOptions& options = {});

// Runs `dot -T<format>` on DOT text and returns what it prints (an SVG document for "svg").
std::string run_dot(const std::string& dot_text, std::string_view format);

// Whether Graphviz's `dot` is on PATH.
bool have_dot();

}  // namespace xgrad
