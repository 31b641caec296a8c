#pragma once
// The models the trainer knows, by name. All take [N, 1, 28, 28] images and give [N, 10] scores.
#include <memory>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace trainer {

// "softmax" and "svm" (a linear classifier on raw pixels; they differ only in the loss),
// "mlp" (784-256-128-10), "convnet" (conv 3x3 16 - relu - pool - conv 3x3 32 - relu - pool -
// linear 128 - linear 10) and "convnet-bn" (the same with BatchNorm after each conv and the
// hidden linear layer, and Dropout(0.3) before the last layer: it drops 30% of the units, i.e. the
// notes' keep probability p = 0.7; xgrad's p is PyTorch's drop probability).
std::shared_ptr<xgrad::nn::Sequential> make_model(const std::string& name);
const std::vector<std::string>& model_names();

}  // namespace trainer
