#include "broadcast.hpp"

namespace xgrad::detail {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {  // align from the right, as NumPy does
    const std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error("{}: shapes {} and {} cannot be broadcast together (axis {}: {} vs {})", op, shape_str(a),
                  shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Shape& out) {
  Strides strides(out.size(), 0);
  std::ptrdiff_t step = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    const std::size_t o = i + (out.size() - shape.size());
    strides[o] = shape[i] == 1 ? 0 : step;
    step *= static_cast<std::ptrdiff_t>(shape[i]);
  }
  return strides;
}

}  // namespace xgrad::detail
