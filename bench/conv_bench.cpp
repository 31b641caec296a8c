// conv2d forward + backward, xgrad vs libtorch, plus raw OpenBLAS sgemm GFLOP/s for reference.
//
//   conv_bench [repetitions = 5] [threads = "1,2"]      (or BENCH_THREADS=1,2)
//
// x [64, 16, 28, 28], w [32, 16, 3, 3], padding 1, f32, no bias; loss = y.sum(); backward gives
// the grads of x and w. FLOPs counted: forward 2*N*O*H*W*C*k*k, backward twice that (dx and dw),
// so fwd+bwd = 3x forward. Each library runs in its own forked child (warm-up runs for 0.5 s, then the
// repetitions); xgrad's thread count is OpenBLAS's, libtorch's is torch::set_num_threads.
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "macro_bench.hpp"

namespace bench {

ChainRun xgrad_conv(const ConvShape& s) {
  ChainRun run;
  xg::Tensor x = xg::randn({std::size_t(s.n), std::size_t(s.c), std::size_t(s.h), std::size_t(s.w)}).requires_grad_();
  xg::Tensor w =
      (xg::randn({std::size_t(s.o), std::size_t(s.c), std::size_t(s.k), std::size_t(s.k)}) * 0.1).requires_grad_();
  Stopwatch watch;
  xg::Tensor y = xg::conv2d(x, w, {}, 1, std::size_t(s.pad));
  xg::Tensor l = xg::sum(y);
  run.forward = watch.lap();
  run.value = l.item();
  watch.restart();
  l.backward();
  run.backward = watch.lap();
  run.grad = xg::sum(w.grad()).item();
  return run;
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  std::string threads_arg = argc > 2 ? argv[2] : (std::getenv("BENCH_THREADS") ? std::getenv("BENCH_THREADS") : "1,2");
  std::vector<int> threads;
  {
    std::stringstream ss(threads_arg);
    for (std::string t; std::getline(ss, t, ',');) threads.push_back(std::atoi(t.c_str()));
  }
  const ConvShape s;
  const double conv_gflop = 2.0 * s.n * s.o * s.h * s.w * s.c * s.k * s.k / 1e9;  // forward
  const double total_gflop = 3 * conv_gflop;
  fmt::print("conv2d fwd+bwd: x [{},{},{},{}] w [{},{},{},{}] pad {} f32; fwd {:.3f} GFLOP, fwd+bwd {:.3f} GFLOP; "
             "median of {} runs (wall ms)\n",
             s.n, s.c, s.h, s.w, s.o, s.c, s.k, s.k, s.pad, conv_gflop, total_gflop, reps);
#ifdef XGRAD_BENCH_HAVE_TORCH
  fmt::print("{}\n", torch_config());
#endif
  for (int t : threads) {
    fmt::print("\n--- {} thread(s) ---\n", t);
    const int M = s.o, K = s.c * s.k * s.k, N = s.n * s.h * s.w;
    std::vector<ChainRun> g;
    const auto gemm = in_child_process([&] {
      blas_set_threads(t);
      ChainRun a, b;
      a.value = sgemm_gflops(M, K, N, reps);
      b.value = sgemm_gflops(512, 512, 512, reps);
      return std::vector<ChainRun>{a, b};
    });
    fmt::print("OpenBLAS sgemm (openblas threads {}): im2col-shaped M={} K={} N={}: {:.1f} GFLOP/s; 512^3: {:.1f} "
               "GFLOP/s\n",
               t, M, K, N, gemm[0].value, gemm[1].value);
    const auto xg_runs = in_child_process([&] {
      blas_set_threads(t);
      return warm_up_and_repeat(reps, [&] { return xgrad_conv(s); });
    });
    auto med = [](const std::vector<ChainRun>& runs, Duration ChainRun::*part) {
      std::vector<double> v;
      for (auto& r : runs) v.push_back((r.*part).wall_ns / 1e6);
      return median(v);
    };
    auto med_total = [](const std::vector<ChainRun>& runs) {
      std::vector<double> v;
      for (auto& r : runs) v.push_back((r.forward.wall_ns + r.backward.wall_ns) / 1e6);
      return median(v);
    };
    fmt::print("{:<10} {:>9} {:>9} {:>9} {:>11} {:>11}\n", "", "fwd ms", "bwd ms", "total ms", "fwd GFLOP/s",
               "tot GFLOP/s");
    auto row = [&](const char* name, const std::vector<ChainRun>& r) {
      fmt::print("{:<10} {:>9.2f} {:>9.2f} {:>9.2f} {:>11.1f} {:>11.1f}\n", name, med(r, &ChainRun::forward),
                 med(r, &ChainRun::backward), med_total(r), conv_gflop / med(r, &ChainRun::forward) * 1e3,
                 total_gflop / med_total(r) * 1e3);
    };
    row("xgrad", xg_runs);
#ifdef XGRAD_BENCH_HAVE_TORCH
    const auto torch_runs = in_child_process([&] {
      torch_threads(t);
      blas_set_threads(t);
      return warm_up_and_repeat(reps, [&] { return torch_conv(s); });
    });
    row("libtorch", torch_runs);
    fmt::print("{:<10} {:>9.2f} {:>9.2f} {:>9.2f}\n", "xg/torch",
               med(xg_runs, &ChainRun::forward) / med(torch_runs, &ChainRun::forward),
               med(xg_runs, &ChainRun::backward) / med(torch_runs, &ChainRun::backward),
               med_total(xg_runs) / med_total(torch_runs));
    fmt::print("(sanity: sum(dw) xgrad {:.4g}, libtorch {:.4g}; each library draws its own random x and w)\n",
               xg_runs.back().grad, torch_runs.back().grad);
#else
    fmt::print("(libtorch was not found at configure time: no comparison)\n");
#endif
  }
  return 0;
}
