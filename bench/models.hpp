#pragma once
// The two models the epoch-level benchmarks train (epoch_bench, step_profile, dist_bench), defined once.
// mlp: 784-256-128-10 (ReLU), SGD lr 0.05 momentum 0.9. convnet: the main job's ConvNet
// (examples/train/models.cpp): conv3x3(1->16, pad 1)-ReLU-maxpool2 - conv3x3(16->32, pad 1)-ReLU-maxpool2 -
// 1568-128-10, Adam lr 1e-3.
#include <memory>
#include <string>

#include <xgrad/xgrad.hpp>

namespace bench {

inline xg::nn::Sequential model(const std::string& name) {
  namespace nn = xg::nn;
  if (name == "mlp")
    return nn::Sequential{nn::Flatten(),        nn::Linear(784, 256), nn::ReLU(),
                          nn::Linear(256, 128), nn::ReLU(),           nn::Linear(128, 10)};
  return nn::Sequential{nn::Conv2d(1, 16, 3, {.padding = 1}),
                        nn::ReLU(),
                        nn::MaxPool2d(2),
                        nn::Conv2d(16, 32, 3, {.padding = 1}),
                        nn::ReLU(),
                        nn::MaxPool2d(2),
                        nn::Flatten(),
                        nn::Linear(32 * 7 * 7, 128),
                        nn::ReLU(),
                        nn::Linear(128, 10)};
}

inline std::unique_ptr<xg::optim::Optimizer> optimizer(const std::string& name, xg::nn::Module& net) {
  if (name == "mlp")
    return std::make_unique<xg::optim::SGD>(net.parameters(), xg::optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  return std::make_unique<xg::optim::Adam>(net.parameters(), xg::optim::AdamOptions{.lr = 1e-3});
}

}  // namespace bench
