#include "models.hpp"

namespace trainer {

namespace nn = xgrad::nn;

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"softmax", "svm", "mlp", "convnet", "convnet-bn"};
  return names;
}

std::shared_ptr<nn::Sequential> make_model(const std::string& name) {
  auto net = std::make_shared<nn::Sequential>();
  if (name == "softmax" || name == "svm") {
    net->push_back(nn::Flatten());
    net->push_back(nn::Linear(784, 10));
  } else if (name == "mlp") {
    *net = nn::Sequential{nn::Flatten(),        nn::Linear(784, 256), nn::ReLU(),
                          nn::Linear(256, 128), nn::ReLU(),           nn::Linear(128, 10)};
  } else if (name == "convnet") {
    *net = nn::Sequential{nn::Conv2d(1, 16, 3, {.padding = 1}),
                          nn::ReLU(),
                          nn::MaxPool2d(2),
                          nn::Conv2d(16, 32, 3, {.padding = 1}),
                          nn::ReLU(),
                          nn::MaxPool2d(2),
                          nn::Flatten(),
                          nn::Linear(32 * 7 * 7, 128),
                          nn::ReLU(),
                          nn::Linear(128, 10)};
  } else if (name == "convnet-bn") {
    *net = nn::Sequential{nn::Conv2d(1, 16, 3, {.padding = 1, .bias = false}),
                          nn::BatchNorm2d(16),
                          nn::ReLU(),
                          nn::MaxPool2d(2),
                          nn::Conv2d(16, 32, 3, {.padding = 1, .bias = false}),
                          nn::BatchNorm2d(32),
                          nn::ReLU(),
                          nn::MaxPool2d(2),
                          nn::Flatten(),
                          nn::Linear(32 * 7 * 7, 128, false),
                          nn::BatchNorm1d(128),
                          nn::ReLU(),
                          nn::Dropout(0.3),  // drops 30% of units (p = drop probability; the notes' keep p = 0.7)
                          nn::Linear(128, 10)};
  } else {
    throw xgrad::Error("unknown model '{}' (known: {})", name, fmt::join(model_names(), ", "));
  }
  return net;
}

}  // namespace trainer
