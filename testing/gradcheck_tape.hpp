#pragma once
// xg::gradcheck_tape: checks every node of a recorded computation on its own. gradcheck says that
// the gradient of the whole function is wrong; this says which gate is: each node's local gradient
// (its backward function, called directly) is compared with centered differences of that op alone,
// taken on the node's actual inputs, and the first wrong node is named with its op and line:
//   node 4 'my_swish' (model.cpp:31): relative error 0.41 at input 0 [2,3]: analytic 1.2 numeric 0.85
//
// Nodes do not keep their forward function, so the differences come from replays of f: f runs again
// with an observer that overwrites, as each node is recorded, the value of node k's input with the
// first run's value +-h at one element, and captures node k's output. f must therefore be
// deterministic given the random generator's state and build the same tape on every call
// (docs/autograd.md, section 6).
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradcheck.hpp"

namespace xgrad {

struct GradcheckTapeOptions {
  double h = 1e-6;               // the finite-difference step
  double tolerance = 1e-6;       // a node passes when its largest relative error is at most this
  double min_scale = 1e-3;       // gradients smaller than this are compared absolutely (see gradcheck)
  std::size_t max_elements = 0;  // check at most this many elements per node input (0: all), chosen at random
  std::uint64_t seed = 0;        // for that choice and for each node's output projection
};

// One node of the tape and how its local gradient compared.
struct GradcheckTapeNode {
  std::size_t index = 0;  // position in creation order (the order f recorded the nodes)
  std::string op;
  Site site;
  bool ok = true;
  double max_rel_error = 0;
  std::size_t checked = 0;              // elements compared (kink crossings not included)
  GradcheckElement worst;               // `input` is the node's input number
  std::vector<GradcheckElement> kinks;  // elements whose difference crossed a kink of this op
  std::string skipped;                  // why the node was not checked ("" when it was)
  std::string error;                    // a backward that threw or gave a dx of the wrong dtype or shape
};

struct GradcheckTapeReport {
  bool ok = false;
  std::vector<GradcheckTapeNode> nodes;            // every node f recorded, in creation order
  const GradcheckTapeNode* first_failure() const;  // the earliest failing node, or null
};

// f maps the inputs (f64 leaves) to a tensor, as for gradcheck. Every node f records is checked
// with respect to each of its inputs that requires grad; nodes with an f32 input or output are
// listed as skipped (finite differences need f64).
GradcheckTapeReport gradcheck_tape(const GradcheckFn& f, std::vector<Tensor> inputs,
                                   const GradcheckTapeOptions& options = {});

// "node 4 'my_swish' (model.cpp:31)"
std::string describe(const GradcheckTapeNode& node);
// The verdict line (the first failure, or the largest error when all passed), then one line per node.
std::string to_string(const GradcheckTapeReport& report);

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::GradcheckTapeReport> : fmt::formatter<std::string_view> {
  auto format(const xgrad::GradcheckTapeReport& r, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(r), ctx);
  }
};
