#pragma once
// Internal: gather and scatter_add by flat index, each the other's gradient. The local gradients
// that route dy through fixed positions (max's winner, max_pool2d's switches, pick, index_select)
// take this form when create_graph is on, so they can be differentiated to any order:
//   gather:       y.flat[j]  = x.flat[at[j]]        dx = scatter_add(dy, at)
//   scatter_add:  y.flat[at[j]] += x.flat[j]        dx = gather(dy, at)
#include <cstddef>
#include <memory>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad::detail {

using FlatIndices = std::shared_ptr<const std::vector<std::size_t>>;

// y of `shape` (as many elements as `at`); `op` is the name on the tape (pick records as "pick").
Tensor gather_flat(const Tensor& x, FlatIndices at, const Shape& shape, Site site, const char* op = "gather");
// y of `shape` (zeros where no index points), x with as many elements as `at`.
Tensor scatter_add_flat(const Tensor& x, FlatIndices at, const Shape& shape, Site site, const char* op = "scatter_add");

}  // namespace xgrad::detail
