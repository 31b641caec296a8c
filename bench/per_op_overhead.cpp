// Per-op overhead: the time one tiny op costs on the tape, forward and backward, for xgrad and,
// when libtorch was found at configure time, for libtorch in the same run (one thread each).
//
//   per_op_overhead [n_ops = 200000] [repetitions = 7] [both|xgrad|torch]
//
// (`xgrad` or `torch` runs one side only, for profiling one library at a time.) Each library
// runs in a forked child process of its own, so neither inherits the other's heap: one untimed
// warm-up run, then the timed repetitions. The tables show their medians in ns per op, on the
// wall clock and on the thread's CPU clock. BENCH_VERBOSE=1 also prints every run; BENCH_ANOMALY=1 runs
// xgrad with anomaly mode on (every op's output and gradient checked for NaN/Inf).
#include <cstdlib>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "per_op_overhead.hpp"
#include "timing.hpp"

namespace bench {

ChainRun xgrad_chain(std::size_t n_ops) {
  ChainRun run;
  const double c = chain_constant;
  xg::Tensor leaf = xg::full({1}, chain_start, xg::f32).requires_grad_();

  Stopwatch watch;
  xg::Tensor x = leaf;
  for (std::size_t i = 0; i < n_ops; i += 2) {
    x = x * c;
    x = x + c;
  }
  run.forward = watch.lap();
  run.value = x.item();

  watch.restart();
  x.backward();  // frees the graph as it goes (retain_graph = false)
  run.backward = watch.lap();

  x = xg::Tensor();  // nothing left to free: backward did it
  run.free = watch.lap();

  run.grad = leaf.grad().item();
  return run;
}

void print_runs(const char* name, const std::vector<ChainRun>& runs, std::size_t n_ops) {
  const double n = static_cast<double>(n_ops);
  for (const auto& r : runs)
    fmt::print("  {:<8} wall fwd {:7.1f} bwd {:7.1f} free {:6.1f} | cpu fwd {:7.1f} bwd {:7.1f} free {:6.1f}\n", name,
               r.forward.wall_ns / n, r.backward.wall_ns / n, r.free.wall_ns / n, r.forward.cpu_ns / n,
               r.backward.cpu_ns / n, r.free.cpu_ns / n);
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  const std::size_t n_ops = argc > 1 ? std::strtoull(argv[1], nullptr, 10) / 2 * 2 : 200000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 7;
  const std::string which = argc > 3 ? argv[3] : "both";
  if (const char* anomaly = std::getenv("BENCH_ANOMALY"); anomaly && std::string(anomaly) == "1")
    xg::set_detect_anomaly(true);
  if (n_ops == 0 || reps < 1 || (which != "both" && which != "xgrad" && which != "torch")) {
    fmt::print(stderr, "usage: per_op_overhead [n_ops >= 2] [repetitions >= 1] [both|xgrad|torch]\n");
    return 2;
  }
  const bool run_xgrad = which != "torch";
#ifdef XGRAD_BENCH_HAVE_TORCH
  const bool run_torch = which != "xgrad";
#else
  const bool run_torch = false;
#endif

  if (!std::getenv("OPENBLAS_NUM_THREADS"))  // OpenBLAS starts its worker threads when it is loaded
    fmt::print("(OPENBLAS_NUM_THREADS is unset: OpenBLAS's idle worker threads may take the other core)\n");
  fmt::print("per-op overhead: chain of {} one-element f32 ops (x = x * {c}; x = x + {c}), 1 thread, "
             "median of {} runs\n",
             n_ops, reps, fmt::arg("c", chain_constant));
  std::vector<ChainRun> xg_runs, torch_runs;
  if (run_xgrad)
    xg_runs = in_child_process([&] { return warm_up_and_repeat(reps, [&] { return xgrad_chain(n_ops); }); });
#ifdef XGRAD_BENCH_HAVE_TORCH
  if (run_torch)
    torch_runs = in_child_process([&] {
      torch_setup();
      return warm_up_and_repeat(reps, [&] { return torch_chain(n_ops); });
    });
#endif

  if (run_xgrad) fmt::print("xgrad:    value {:.6g}, d/dleaf {:.6g}\n", xg_runs.back().value, xg_runs.back().grad);
  if (run_torch)
    fmt::print("libtorch: value {:.6g}, d/dleaf {:.6g}\n", torch_runs.back().value, torch_runs.back().grad);
  if (std::getenv("BENCH_VERBOSE")) {
    print_runs("xgrad", xg_runs, n_ops);
    print_runs("libtorch", torch_runs, n_ops);
  }
  for (auto [title, clock] :
       {std::pair{"wall clock", &Duration::wall_ns}, std::pair{"thread CPU time", &Duration::cpu_ns}}) {
    fmt::print("\nns per op, {}:\n", title);
    print_header();
    const PerOp xg_p = run_xgrad ? per_op_medians(xg_runs, n_ops, clock) : PerOp{};
    const PerOp torch_p = run_torch ? per_op_medians(torch_runs, n_ops, clock) : PerOp{};
    if (run_xgrad) print_row("xgrad", xg_p);
    if (run_torch) print_row("libtorch", torch_p);
    if (run_xgrad && run_torch) print_ratio("xg/torch", xg_p, torch_p);
  }
#ifndef XGRAD_BENCH_HAVE_TORCH
  fmt::print("(libtorch was not found at configure time: no comparison)\n");
#endif
  return 0;
}
