#include "sequential.hpp"

namespace xgrad::nn {

void Sequential::push_back(std::shared_ptr<Module> module) {
  if (!module) throw Error("Sequential::push_back: null module");
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(module)));
}

Module& Sequential::operator[](std::size_t i) {
  if (i >= layers_.size()) throw Error("Sequential: index {} is out of range for {} layers", i, layers_.size());
  return *layers_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& layer : layers_) y = (*layer)(y);
  return y;
}

}  // namespace xgrad::nn
