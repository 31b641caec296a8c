#pragma once
// The local gradient of an op in words, for the teaching views (autograd/trace.hpp, dot.hpp): a
// table from op name to the formula of d(output)/d(input i), kept here rather than in every op so the
// ops stay as they are. An op missing from the table is shown without a formula.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad::detail {

struct LocalGradientText {
  // Elementwise: output element k depends on input element k only (after broadcasting), so running
  // the op's backward with dy = 1 gives the local derivatives themselves, one per element.
  bool elementwise = false;
  // Per input; "{a}", "{b}" stand for the inputs' labels and "{y}" for the output's.
  std::vector<std::string_view> formula;
};

const LocalGradientText* local_gradient_text(std::string_view op);

// The formula of d y / d input i with the labels filled in ("z" for d(q*z)/dq), or "" when unknown.
std::string local_gradient_formula(std::string_view op, std::size_t input, const std::vector<std::string>& inputs,
                                   const std::string& output);

}  // namespace xgrad::detail
