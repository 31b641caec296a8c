// The libtorch half of per_op_overhead: the same chain as per_op_overhead.cpp, in its own
// translation unit so torch's headers never meet xtensor's (and compile with their own flags).
#include <torch/torch.h>

#include "per_op_overhead.hpp"

namespace bench {

void torch_setup() {
  torch::set_num_threads(1);
  at::set_num_interop_threads(1);  // only allowed once, before any inter-op work starts
}

ChainRun torch_chain(std::size_t n_ops) {
  ChainRun run;
  const double c = chain_constant;
  torch::Tensor leaf = torch::full({1}, chain_start, torch::kFloat32).requires_grad_(true);

  Stopwatch watch;
  torch::Tensor x = leaf;
  for (std::size_t i = 0; i < n_ops; i += 2) {
    x = x * c;
    x = x + c;
  }
  run.forward = watch.lap();
  run.value = x.item<double>();

  watch.restart();
  x.backward();  // x has one element: seeded with 1, as xgrad does; runs on this thread (CPU graph)
  run.backward = watch.lap();

  // backward() releases what the nodes saved, but the nodes themselves live until the last
  // tensor that points into the graph goes away.
  x = torch::Tensor();
  run.free = watch.lap();

  run.grad = leaf.grad().item<double>();
  return run;
}

}  // namespace bench
