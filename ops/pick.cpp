// pick as a gather by flat index; its gradient scatters dy back to the picked positions.
#include "pick.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "gather.hpp"

namespace xgrad {

// y[i] = x[i, k_i];   dy/dx[i, j] = 1 if j == k_i, else 0
Tensor pick(const Tensor& x, const std::vector<std::int64_t>& indices, Site site) {
  if (!x.defined()) throw Error("pick: the input is undefined");
  const Shape s = x.shape();
  if (s.size() != 2) throw Error("pick: input {} is not 2-D [N,C]", shape_str(s));
  if (indices.size() != s[0])
    throw Error("pick: {} indices for input {} with {} rows", indices.size(), shape_str(s), s[0]);
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || static_cast<std::size_t>(indices[i]) >= s[1])
      throw Error("pick: index {} at position {} is out of range for input {} ({} columns)", indices[i], i,
                  shape_str(s), s[1]);
  // as flat positions i * C + indices[i]: a gather, whose gradient is the scatter_add of dy
  auto at = std::make_shared<std::vector<std::size_t>>(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) (*at)[i] = i * s[1] + static_cast<std::size_t>(indices[i]);
  return detail::gather_flat(x, std::move(at), {s[0]}, site, "pick");
}

std::vector<std::int64_t> integer_indices(const char* op, const Tensor& t, std::string_view what) {
  if (!t.defined()) throw Error("{}: the {} are undefined", op, what);
  return detail::visit(op, t, [&](const auto& a) {
    std::vector<std::int64_t> out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double v = static_cast<double>(a.data()[i]);
      if (!(std::floor(v) == v) || std::abs(v) > 9.0e15)
        throw Error("{}: {} {} hold {} at flat position {}, not a whole number", op, what, shape_str(t.shape()), v, i);
      out[i] = static_cast<std::int64_t>(v);
    }
    return out;
  });
}

std::vector<std::int64_t> class_indices(const char* op, const Tensor& labels) {
  if (labels.defined() && labels.dim() != 1)
    throw Error("{}: labels {} must be 1-D, one class index per row", op, shape_str(labels.shape()));
  return integer_indices(op, labels, "labels");
}

}  // namespace xgrad
