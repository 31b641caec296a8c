#include "expect_grad.hpp"

#include <cmath>

#include "dispatch.hpp"
#include "print.hpp"

namespace xgrad {

namespace {
std::string file_line(const Site& s) {
  const std::string_view file = s.file_name();
  return fmt::format("{}:{}", file.substr(file.find_last_of('/') + 1), s.line());
}
}  // namespace

void expect_grad(const Tensor& t, const Tensor& hand, double rtol, double atol, Site site) {
  if (!t.defined() || !hand.defined())
    throw Error("expect_grad at {}: the tensor or the hand value is undefined", file_line(site));
  const std::string name = t.name().empty() ? std::string("the tensor") : std::string(t.name());
  const std::string recorded = t.is_leaf() ? "a leaf" : fmt::format("recorded at {}", detail::site_of(*t.impl()));
  if (!t.grad().defined())
    throw Error("expect_grad at {}: {} ({}) has no gradient to compare with: no backward reached it yet, or it is "
                "an intermediate whose gradient was not kept (call .retain_grad() on it before backward)",
                file_line(site), name, recorded);
  if (hand.shape() != t.shape())
    throw Error("expect_grad at {}: the hand-derived gradient of {} has shape {} but {} has shape {}", file_line(site),
                name, shape_str(hand.shape()), name, shape_str(t.shape()));
  auto as_double = [](const Tensor& x) {
    return detail::visit("expect_grad", x, [](const auto& a) { return xt::xarray<double>(a); });
  };
  const xt::xarray<double> tape = as_double(t.grad()), mine = as_double(hand);
  std::size_t wrong = 0, first = tape.size();
  for (std::size_t k = 0; k < tape.size(); ++k) {
    const double a = mine.flat(k), b = tape.flat(k);
    if (!(std::abs(a - b) <= atol + rtol * std::abs(b))) {
      if (first == tape.size()) first = k;
      ++wrong;
    }
  }
  if (wrong == 0) return;
  // The multi-index of the first mismatch, row-major.
  std::vector<std::size_t> at(tape.dimension());
  for (std::size_t d = tape.dimension(), rest = first; d-- > 0;) {
    at[d] = rest % tape.shape()[d];
    rest /= tape.shape()[d];
  }
  const double a = mine.flat(first), b = tape.flat(first);
  throw Error("expect_grad at {}: the hand-derived gradient of {} ({}) differs from the tape's: {} of {} elements; "
              "first at [{}]: hand {:.6g}, tape {:.6g}, hand / tape = {}\n  hand: {}\n  tape: {}",
              file_line(site), name, recorded, wrong, tape.size(), fmt::join(at, ","), a, b,
              b != 0.0 ? fmt::format("{:.4g}", a / b) : std::string("(tape is 0)"), value_summary(Tensor(mine)),
              value_summary(Tensor(tape)));
}

}  // namespace xgrad
