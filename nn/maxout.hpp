#pragma once
// Maxout (Goodfellow et al., in the notes): each of `out` units is the max of `pieces` linear
// functions of the input, y_j = max_k (x W_jk^T + b_jk). ReLU is the special case max(w x + b, 0).
#include "linear.hpp"

namespace xgrad::nn {

class Maxout : public Module {
 public:
  Maxout(std::size_t in, std::size_t out, std::size_t pieces);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

  std::shared_ptr<Linear> linear;  // [out * pieces, in]: rows j*pieces ... j*pieces + pieces-1 feed unit j

 private:
  std::size_t out_, pieces_;
};

}  // namespace xgrad::nn
