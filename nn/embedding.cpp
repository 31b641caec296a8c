#include "embedding.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "../ops/pick.hpp"
#include "../ops/shape.hpp"
#include "init.hpp"

namespace xgrad::nn {

Embedding::Embedding(std::size_t num_embeddings, std::size_t embedding_dim)
    : num_(num_embeddings), dim_(embedding_dim) {
  if (num_embeddings == 0 || embedding_dim == 0)
    throw Error("Embedding: num_embeddings and embedding_dim must be positive, got {} and {}", num_embeddings,
                embedding_dim);
  weight = register_parameter("weight", zeros({num_embeddings, embedding_dim}));
  init::normal_(weight);
}

// index_select along axis 0: its gradient adds each row of dy into the row it was read from.
Tensor Embedding::lookup(const std::vector<std::int64_t>& indices) {
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || static_cast<std::size_t>(indices[i]) >= num_)
      throw Error("Embedding: index {} at position {} is out of range [0, {}) (weight {})", indices[i], i, num_,
                  shape_str(weight.shape()));
  return index_select(weight, 0, indices);
}

Tensor Embedding::forward(const Tensor& indices) {
  if (!indices.defined()) throw Error("Embedding: the indices are undefined");
  const Shape s = indices.shape();
  const std::vector<std::int64_t> ids = integer_indices("Embedding", indices, "indices");
  Shape to = s;
  to.push_back(dim_);
  return reshape(lookup(ids), to);
}

std::string Embedding::describe() const { return fmt::format("Embedding({}, {})", num_, dim_); }

}  // namespace xgrad::nn
