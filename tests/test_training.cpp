// End to end: real data through the loader, a model, a loss, an optimizer. Training must drive
// the loss down, and a tiny subset must be overfit to 100% (the notes' sanity check).
#include <filesystem>

#include <doctest/doctest.h>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;

namespace {
// Fashion-MNIST when installed, else a synthetic 10-class problem of the same shape.
xg::data::Dataset training_images(std::size_t n) {
  if (std::filesystem::exists(xg::data::default_mnist_dir))
    return xg::data::load_mnist_dir(xg::data::default_mnist_dir, "train").subset(0, n);
  xg::manual_seed(0);
  xt::xarray<float> images = xg::rand({n, 1, 28, 28}).value<float>();
  std::vector<std::int64_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    labels[i] = std::int64_t(i % 10);
    for (std::size_t p = 0; p < 28; ++p) images(i, 0, labels[i], p) += 2.f;  // a class-specific row
  }
  return xg::data::Dataset(std::move(images), std::move(labels));
}

double train_epoch(nn::Module& net, xg::optim::Optimizer& opt, xg::data::DataLoader& loader) {
  double total = 0;
  std::size_t seen = 0;
  for (auto& batch : loader) {
    opt.zero_grad();
    auto loss = xg::cross_entropy(net(batch.images), batch.labels);
    loss.backward();
    opt.step();
    total += loss.item() * double(batch.size());
    seen += batch.size();
  }
  return total / double(seen);
}

double accuracy(nn::Module& net, const xg::data::Dataset& data) {
  xg::NoGradGuard no_grad;
  net.eval();
  xg::data::DataLoader loader(data, {.batch_size = 256, .shuffle = false});
  std::size_t correct = 0;
  for (auto& batch : loader) {
    const auto predicted = xg::argmax(net(batch.images), 1);
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += std::int64_t(predicted[i]) == batch.labels[i];
  }
  net.train();
  return double(correct) / double(data.size());
}
}  // namespace

TEST_CASE("a short run of an MLP on 2000 images drives the training loss down") {
  const auto data = training_images(2000);
  xg::manual_seed(1);
  nn::Sequential net{nn::Flatten(), nn::Linear(784, 64), nn::ReLU(), nn::Linear(64, 10)};
  xg::optim::Adam opt(net.parameters(), {.lr = 2e-3});
  xg::data::DataLoader loader(data, {.batch_size = 64, .seed = 1});
  const double first = train_epoch(net, opt, loader);
  double last = first;
  for (int e = 0; e < 3; ++e) last = train_epoch(net, opt, loader);
  MESSAGE("epoch-average loss " << first << " -> " << last);
  CHECK(last < 0.7 * first);
  CHECK(accuracy(net, data) > 0.8);
}

TEST_CASE("a small ConvNet overfits 50 examples to 100 percent training accuracy") {
  const auto tiny = training_images(50);
  xg::manual_seed(2);
  nn::Sequential net{nn::Conv2d(1, 8, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(8 * 14 * 14, 10)};
  xg::optim::Adam opt(net.parameters(), {.lr = 3e-3});
  xg::data::DataLoader loader(tiny, {.batch_size = 25, .seed = 2});
  double loss = 0;
  for (int e = 0; e < 40; ++e) loss = train_epoch(net, opt, loader);
  MESSAGE("loss after 40 epochs " << loss);
  CHECK(accuracy(net, tiny) == 1.0);
  CHECK(loss < 0.05);
}
