#include "local_gradient.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace xgrad::detail {

namespace {
// Named fmt arguments fill the labels in; the formulas are those written beside each op in ops/.
const std::array<std::pair<std::string_view, LocalGradientText>, 27> table{{
    {"add", {true, {"1", "1"}}},
    {"sub", {true, {"1", "-1"}}},
    {"mul", {true, {"{b}", "{a}"}}},
    {"div", {true, {"1/{b}", "-{a}/{b}^2"}}},
    {"neg", {true, {"-1"}}},
    {"exp", {true, {"exp({a}) = {y}"}}},
    {"log", {true, {"1/{a}"}}},
    {"sqrt", {true, {"1/(2 sqrt({a}))"}}},
    {"abs", {true, {"sign({a})"}}},
    {"pow", {true, {"p {a}^(p-1)"}}},
    {"tanh", {true, {"1 - {y}^2"}}},
    {"sigmoid", {true, {"{y} (1 - {y})"}}},
    {"relu", {true, {"1 if {a} > 0, else 0"}}},
    {"maximum", {true, {"1 if {a} > {b}, else 0", "1 if {b} > {a}, else 0"}}},
    {"minimum", {true, {"1 if {a} < {b}, else 0", "1 if {b} < {a}, else 0"}}},
    {"to", {true, {"1"}}},
    {"dropout", {true, {"mask / (1 - p)"}}},
    {"sum", {false, {"1 for every element"}}},
    {"sum_to", {false, {"1 for every element"}}},
    {"expand", {false, {"1, summed over the copies"}}},
    {"reshape", {false, {"1, dy reshaped back"}}},
    {"matmul", {false, {"dy @ {b}^T", "{a}^T @ dy"}}},
    {"linear", {false, {"dy @ W", "dy^T @ {a}", "1, summed over the rows"}}},
    {"narrow", {false, {"1 at the elements it kept, else 0"}}},
    {"max", {false, {"1 at the largest element, else 0"}}},
    {"softmax", {false, {"{y} (dy - sum(dy {y}))"}}},
    {"log_softmax", {false, {"dy - softmax sum(dy)"}}},
}};
}  // namespace

const LocalGradientText* local_gradient_text(std::string_view op) {
  for (const auto& [name, text] : table)
    if (name == op) return &text;
  return nullptr;
}

std::string local_gradient_formula(std::string_view op, std::size_t input, const std::vector<std::string>& inputs,
                                   const std::string& output) {
  const LocalGradientText* text = local_gradient_text(op);
  if (!text || input >= text->formula.size()) return "";
  const std::string a = inputs.empty() ? "" : inputs[0];
  const std::string b = inputs.size() > 1 ? inputs[1] : "";
  return fmt::format(fmt::runtime(text->formula[input]), fmt::arg("a", a), fmt::arg("b", b), fmt::arg("y", output));
}

}  // namespace xgrad::detail
