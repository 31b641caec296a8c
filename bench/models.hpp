#pragma once
// The two models the epoch-level benchmarks train (epoch_bench, step_profile, dist_bench): the trainer's own
// (examples/train/models.cpp, compiled into bench's targets), so a benchmark measures what the main job trains.
// mlp: 784-256-128-10 (ReLU), SGD lr 0.05 momentum 0.9. convnet: the main job's ConvNet, conv3x3(1->16, pad 1)-
// ReLU-maxpool2 - conv3x3(16->32, pad 1)-ReLU-maxpool2 - 1568-128-10, Adam lr 1e-3.
#include <memory>
#include <string>

#include <xgrad/xgrad.hpp>

#include "../examples/train/models.hpp"

namespace bench {

inline xg::nn::Sequential model(const std::string& name) { return std::move(*trainer::make_model(name)); }

inline std::unique_ptr<xg::optim::Optimizer> optimizer(const std::string& name, xg::nn::Module& net) {
  if (name == "mlp")
    return std::make_unique<xg::optim::SGD>(net.parameters(), xg::optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  return std::make_unique<xg::optim::Adam>(net.parameters(), xg::optim::AdamOptions{.lr = 1e-3});
}

}  // namespace bench
