// LSTM forward + backward, xgrad vs libtorch, 1 thread.
//
//   lstm_bench [repetitions = 5]
//
// One layer, input 64, hidden 128, sequence 50, batch 32, f32, x [T, N, I] (not batch-first), zero
// initial states, loss = output.sum(); backward gives the grads of x and of the weights. Each
// library runs in its own forked child: warm-up runs for 0.5 s, then the repetitions; medians in ms.
#include <cstdlib>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "macro_bench.hpp"

namespace bench {

ChainRun xgrad_lstm(xg::nn::LSTM& lstm, const LstmShape& s) {
  ChainRun run;
  lstm.zero_grad();
  xg::Tensor x = xg::randn({std::size_t(s.seq), std::size_t(s.batch), std::size_t(s.input)}).requires_grad_();
  Stopwatch watch;
  xg::Tensor l = xg::sum(lstm.run(x).output);
  run.forward = watch.lap();
  run.value = l.item();
  watch.restart();
  l.backward();
  run.backward = watch.lap();
  run.grad = xg::sum(x.grad()).item();
  return run;
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const LstmShape s;
  fmt::print("LSTM fwd+bwd: input {} hidden {} seq {} batch {}, 1 layer, f32, 1 thread; median of {} runs (wall ms)\n",
             s.input, s.hidden, s.seq, s.batch, reps);
  auto med = [](const std::vector<ChainRun>& runs, int part) {
    std::vector<double> v;
    for (auto& r : runs)
      v.push_back((part == 0   ? r.forward.wall_ns
                   : part == 1 ? r.backward.wall_ns
                               : r.forward.wall_ns + r.backward.wall_ns) /
                  1e6);
    return median(v);
  };
  const auto xg_runs = in_child_process([&] {
    blas_set_threads(1);
    xg::nn::LSTM lstm(std::size_t(s.input), std::size_t(s.hidden));
    return warm_up_and_repeat(reps, [&] { return xgrad_lstm(lstm, s); });
  });
  fmt::print("{:<10} {:>9} {:>9} {:>9}\n", "", "fwd ms", "bwd ms", "total ms");
  fmt::print("{:<10} {:>9.2f} {:>9.2f} {:>9.2f}\n", "xgrad", med(xg_runs, 0), med(xg_runs, 1), med(xg_runs, 2));
#ifdef XGRAD_BENCH_HAVE_TORCH
  const auto torch_runs = in_child_process([&] {
    torch_threads(1);
    blas_set_threads(1);
    return warm_up_and_repeat(reps, [&] { return torch_lstm(s); });
  });
  fmt::print("{:<10} {:>9.2f} {:>9.2f} {:>9.2f}\n", "libtorch", med(torch_runs, 0), med(torch_runs, 1),
             med(torch_runs, 2));
  fmt::print("{:<10} {:>9.2f} {:>9.2f} {:>9.2f}\n", "xg/torch", med(xg_runs, 0) / med(torch_runs, 0),
             med(xg_runs, 1) / med(torch_runs, 1), med(xg_runs, 2) / med(torch_runs, 2));
#else
  fmt::print("(libtorch was not found at configure time: no comparison)\n");
#endif
  return 0;
}
