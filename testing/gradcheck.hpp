#pragma once
// xg::gradcheck: compares the gradients backward() computes with centered finite differences,
//   numeric = (f(x + h) - f(x - h)) / 2h,   error = |a - n| / max(|a|, |n|)
// as the CS231n notes prescribe. Needs f64 inputs. Elements where x+h and x-h fall on different
// sides of a kink (relu, abs, max...) are reported as "kink crossed" instead of as failures.
//
// Fast mode (options.fast, PyTorch's fast_gradcheck): instead of one difference per element, a few
// random projections u^T J v per input are compared, 2 evaluations of f each whatever the input's
// size. A wrong Jacobian passes only if u^T (J_wrong - J) v = 0, which has probability 0 for random
// u and v; but the report names no element: rerun the full check on a smaller input to find it.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../autograd/tensor.hpp"

namespace xgrad {

struct GradcheckOptions {
  double h = 1e-6;          // the finite-difference step
  double tolerance = 1e-6;  // ok when the largest relative error is at most this
  // Gradients smaller than this are compared absolutely: error = |a - n| / min_scale. A centered
  // difference in f64 carries ~1e-10 of rounding noise, so the relative error of a gradient of
  // 1e-9 means nothing; with 1e-3 that noise reads as ~1e-7, and any real error above ~1e-9 shows.
  double min_scale = 1e-3;
  std::size_t max_elements = 0;  // check at most this many elements per input (0: all), chosen at random
  std::uint64_t seed = 0;        // for that choice and for the projection of a non-scalar f
  bool fast = false;             // compare random projections u^T J v instead of every element
  std::size_t directions = 3;    // fast mode: random unit directions v per input
};

struct GradcheckElement {
  std::size_t input = 0;      // which input
  Shape index;                // position inside it (empty in fast mode)
  std::size_t direction = 0;  // fast mode: which random direction v of that input
  double analytic = 0, numeric = 0, rel_error = 0;
};

struct GradcheckReport {
  bool ok = false;
  bool fast = false;  // made in fast mode: "elements" are random directions
  double max_rel_error = 0;
  std::size_t checked = 0;              // elements compared (kink crossings not included)
  GradcheckElement worst;               // the element with the largest relative error
  std::vector<GradcheckElement> kinks;  // elements whose difference crossed a kink
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// f maps the inputs to a tensor; a non-scalar output is reduced to sum(f * r) with a fixed random
// r. Every input that requires grad is checked. The global random generator is restored before
// each evaluation of f, so dropout draws the same mask every time.
GradcheckReport gradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options = {});

std::string to_string(const GradcheckReport& report);

}  // namespace xgrad

template <>
struct fmt::formatter<xgrad::GradcheckReport> : fmt::formatter<std::string_view> {
  auto format(const xgrad::GradcheckReport& r, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(xgrad::to_string(r), ctx);
  }
};
