// A rank that raises an error mid-step, while the other waits in synchronize(): the uncaught
// exception reaches xg::dist's terminate handler, which prints it and calls MPI_Abort, and mpirun
// ends every rank. expect_failure.cmake checks the exit code, the message and the time.
#include <xgrad/distributed/distributed.hpp>
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;

int main(int argc, char** argv) {
  xg::dist::init(argc, argv);
  xg::manual_seed(1);
  xg::nn::Sequential net{xg::nn::Linear(8, 16), xg::nn::ReLU(), xg::nn::Linear(16, 2)};
  xg::dist::DataParallel ddp(net);
  xg::optim::SGD opt(net.parameters(), {.lr = 0.1});
  const std::size_t failing = xg::dist::world_size() - 1;
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    xg::cross_entropy(net(xg::randn({4, 8})), std::vector<std::int64_t>{0, 1, 0, 1}).backward();
    if (step == 2 && xg::dist::rank() == failing)
      throw xg::Error("injected failure on rank {} at step {}", failing, step);
    ddp.synchronize();
    opt.step();
  }
  return 0;
}
