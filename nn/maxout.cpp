#include "maxout.hpp"

#include "../ops/reduce.hpp"
#include "../ops/shape.hpp"

namespace xgrad::nn {

Maxout::Maxout(std::size_t in, std::size_t out, std::size_t pieces) : out_(out), pieces_(pieces) {
  if (pieces == 0) throw Error("Maxout: pieces must be positive");
  linear = register_module("linear", Linear(in, out * pieces));
}

Tensor Maxout::forward(const Tensor& x) {
  const Tensor z = (*linear)(x);  // [N, out * pieces]
  return max(reshape(z, {z.shape()[0], out_, pieces_}), 2);
}

std::string Maxout::describe() const {
  return fmt::format("Maxout(in={}, out={}, pieces={})", linear->weight.shape()[1], out_, pieces_);
}

}  // namespace xgrad::nn
