#pragma once
// Embedding(num_embeddings, embedding_dim): a lookup table of trainable rows. y = weight[indices];
// the gradient of weight is dy scattered back into the rows that were used (summed where an index
// repeats; unused rows get 0). weight [num_embeddings, embedding_dim] ~ N(0, 1), as in PyTorch.
//
//   xg::nn::Embedding emb(vocab, 32);
//   auto e = emb(ids);          // ids: a Tensor of whole numbers of any shape S -> [S..., 32]
//   auto r = emb.lookup({3, 1, 3});  // [3, 32]
#include <cstdint>
#include <vector>

#include "module.hpp"

namespace xgrad::nn {

class Embedding : public Module {
 public:
  Embedding(std::size_t num_embeddings, std::size_t embedding_dim);
  // indices: an f32 or f64 tensor holding whole numbers in [0, num_embeddings), any shape S;
  // returns [S..., embedding_dim]. indices carry no gradient.
  Tensor forward(const Tensor& indices) override;
  // indices as integers: [indices.size(), embedding_dim].
  Tensor lookup(const std::vector<std::int64_t>& indices);
  std::string describe() const override;

  std::size_t num_embeddings() const { return num_; }
  std::size_t embedding_dim() const { return dim_; }

  Tensor weight;

 private:
  std::size_t num_, dim_;
};

}  // namespace xgrad::nn
