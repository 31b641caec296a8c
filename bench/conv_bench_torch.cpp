// The libtorch half of conv_bench (own TU: torch's headers never meet xtensor's).
#include <torch/torch.h>

#include "macro_bench.hpp"

namespace bench {

void torch_threads(int n) { torch::set_num_threads(n); }

std::string torch_config() {
  return fmt::format("libtorch {}: intra-op threads {} (set per run below)", TORCH_VERSION, torch::get_num_threads());
}

ChainRun torch_conv(const ConvShape& s) {
  ChainRun run;
  torch::Tensor x = torch::randn({s.n, s.c, s.h, s.w}).requires_grad_(true);
  torch::Tensor w = (torch::randn({s.o, s.c, s.k, s.k}) * 0.1).requires_grad_(true);
  Stopwatch watch;
  torch::Tensor y = torch::conv2d(x, w, {}, 1, s.pad);
  torch::Tensor l = y.sum();
  run.forward = watch.lap();
  run.value = l.item<double>();
  watch.restart();
  l.backward();
  run.backward = watch.lap();
  run.grad = w.grad().sum().item<double>();
  return run;
}

}  // namespace bench
