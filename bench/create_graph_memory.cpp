// create_graph_memory: does a loop of second-order gradients hold its memory? Each iteration takes a
// gradient with create_graph (once through backward() into a fresh leaf's grad(), once through
// xg::grad), differentiates it again, and drops everything. Prints resident memory after a warm-up
// and every tenth of the run; the growth after warm-up is the figure (docs/autograd.md, section 10).
//
//   create_graph_memory [iterations = 100000]
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include <xgrad/xgrad.hpp>

namespace xg = xgrad;

namespace {
double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

void iteration() {
  auto w = xg::randn({6, 6}, xg::f64).requires_grad_();
  const auto x = xg::randn({4, 6}, xg::f64);
  auto loss = xg::sum(xg::tanh(xg::matmul(x, w)));
  loss.backward({}, std::nullopt, /*create_graph=*/true);  // w.grad() has a graph that reads w
  auto penalty = xg::sum(w.grad() * w.grad());
  auto g2 = xg::grad({penalty}, {w}, {}, /*retain_graph=*/true);
  auto g = xg::grad({xg::sum(xg::relu(xg::matmul(x, w)) * xg::matmul(x, w))}, {w}, {}, std::nullopt, true);
  auto gg = xg::grad({xg::sum(g[0] * g[0])}, {w});
  if (!gg[0].defined() || !g2[0].defined()) std::abort();
}
}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::stol(argv[1]) : 100000;
  if (n < 10) {
    fmt::print(stderr, "usage: create_graph_memory [iterations >= 10]\n");
    return 2;
  }
  const long warm_up = n / 20;
  for (long i = 0; i < warm_up; ++i) iteration();
  const double start = resident_mb();
  fmt::print("after {} warm-up iterations: resident {:.2f} MB\n", warm_up, start);
  double peak = start;
  for (long i = 1; i <= n; ++i) {
    iteration();
    if (i % (n / 10) == 0) {
      const double now = resident_mb();
      peak = std::max(peak, now);
      fmt::print("{:>8} iterations: resident {:.2f} MB ({:+.2f} MB)\n", i, now, now - start);
    }
  }
  fmt::print("RESULT iterations={} growth_mb={:.2f} peak_growth_mb={:.2f}\n", n, resident_mb() - start, peak - start);
}
