// The libtorch half of epoch_bench (own TU: torch's headers never meet xtensor's).
#include <torch/torch.h>

#include "macro_bench.hpp"

namespace bench {

EpochResult torch_epoch(const EpochConfig& cfg, std::vector<std::uint8_t>&& pixels, std::vector<std::int64_t>&& labels,
                        const std::vector<std::size_t>& order, bool bytes_data) {
  namespace nn = torch::nn;
  const auto N = static_cast<std::int64_t>(labels.size());
  // libtorch's own copies of the data; the byte vector is freed after.
  const torch::Tensor bytes = torch::from_blob(pixels.data(), {N, 1, 28, 28}, torch::kUInt8);
  const torch::Tensor all_x = bytes_data ? bytes.clone() : bytes.to(torch::kFloat32).div_(255);
  const torch::Tensor all_y = torch::from_blob(labels.data(), {N}, torch::kInt64).clone();
  std::vector<std::uint8_t>().swap(pixels);
  std::vector<std::int64_t>().swap(labels);
  std::vector<std::int64_t> order64(order.begin(), order.end());
  const torch::Tensor perm = torch::from_blob(order64.data(), {N}, torch::kInt64);

  nn::Sequential net;
  if (cfg.model == "mlp")
    net = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128), nn::ReLU(),
                         nn::Linear(128, 10));
  else
    net = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 16, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                         nn::Conv2d(nn::Conv2dOptions(16, 32, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                         nn::Flatten(), nn::Linear(32 * 7 * 7, 128), nn::ReLU(), nn::Linear(128, 10));
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (cfg.model == "mlp")
    opt = std::make_unique<torch::optim::SGD>(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  else
    opt = std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(1e-3));

  EpochResult res;
  const auto B = static_cast<std::int64_t>(cfg.batch);
  res.batches_per_epoch = static_cast<std::size_t>((N + B - 1) / B);
  double loss_sum = 0;
  Stopwatch watch;
  for (std::int64_t start = 0; start < N; start += B) {
    if (cfg.max_batches && res.batches == cfg.max_batches) break;
    const torch::Tensor idx = perm.slice(0, start, std::min(start + B, N));
    torch::Tensor x = all_x.index_select(0, idx);
    if (bytes_data) x = x.to(torch::kFloat32).div_(255);
    const torch::Tensor y = all_y.index_select(0, idx);
    opt->zero_grad();
    torch::Tensor l = torch::nn::functional::cross_entropy(net->forward(x), y);
    l.backward();
    opt->step();
    loss_sum += l.item<double>();
    ++res.batches;
  }
  res.seconds = watch.lap().wall_ns / 1e9;
  res.mean_loss = loss_sum / double(res.batches);
  return res;
}

}  // namespace bench
