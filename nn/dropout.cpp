#include "dropout.hpp"

#include "../ops/dropout.hpp"

namespace xgrad::nn {

Dropout::Dropout(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw Error("Dropout: p = {} is outside [0, 1)", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training()); }
std::string Dropout::describe() const { return fmt::format("Dropout(p={})", p_); }

}  // namespace xgrad::nn
