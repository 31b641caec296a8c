// What a Hessian-vector product costs next to one gradient: xg::hvp (autograd/functional.hpp) of a
// 2-layer tanh MLP's loss with respect to all its parameters, against xg::grad of the same loss.
//
//   hvp_cost [batch = 64] [repetitions = 21] [loss = cross_entropy|tanh]
//
// The model is 784 -> 128 (tanh) -> 10, f32, and the loss cross_entropy(logits, labels) (or, with
// `tanh`, mean(tanh(logits)), for an engine whose cross_entropy cannot be differentiated twice).
// "gradient" is a forward and a backward; "hvp" is a forward, a backward recorded with create_graph
// and a backward through that, all of it inside xg::hvp. After a 0.5 s warm-up each is timed
// `repetitions` times, interleaved; the medians and their ratio are printed on the wall clock and on
// the thread's CPU clock. Run with OPENBLAS_NUM_THREADS=1 (idle OpenBLAS threads spin on the other core).
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "timing.hpp"

namespace {

struct Problem {
  xg::Tensor x;
  std::vector<std::int64_t> labels;
  std::vector<xg::Tensor> params;  // W1 [784,128], b1 [128], W2 [128,10], b2 [10]
  std::vector<xg::Tensor> v;       // a direction per parameter, for the hvp
  bool cross_entropy = true;

  xg::Tensor loss(const std::vector<xg::Tensor>& p) const {
    const xg::Tensor h = xg::tanh(xg::matmul(x, p[0]) + p[1]);
    const xg::Tensor logits = xg::matmul(h, p[2]) + p[3];
    return cross_entropy ? xg::cross_entropy(logits, labels) : xg::mean(xg::tanh(logits));
  }
};

Problem make_problem(std::size_t batch, bool cross_entropy) {
  xg::manual_seed(0);
  Problem p;
  p.cross_entropy = cross_entropy;
  p.x = xg::randn({batch, 784});
  std::mt19937_64 rng(1);
  for (std::size_t i = 0; i < batch; ++i) p.labels.push_back(static_cast<std::int64_t>(rng() % 10));
  p.params = {xg::randn({784, 128}) * 0.05, xg::zeros({128}), xg::randn({128, 10}) * 0.1, xg::zeros({10})};
  for (const xg::Tensor& t : p.params) p.v.push_back(xg::randn(t.shape()));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t batch = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 21;
  const std::string loss_name = argc > 3 ? argv[3] : "cross_entropy";
  if (loss_name != "cross_entropy" && loss_name != "tanh") {
    fmt::print(stderr, "hvp_cost: loss must be cross_entropy or tanh, not '{}'\n", loss_name);
    return 2;
  }
  const Problem problem = make_problem(batch, loss_name == "cross_entropy");
  const xg::TensorsFn f = [&](const std::vector<xg::Tensor>& p) { return problem.loss(p); };

  std::vector<xg::Tensor> leaves;
  for (const xg::Tensor& t : problem.params) leaves.push_back(t.detach().requires_grad_());
  double checksum = 0;
  auto gradient = [&] {
    const std::vector<xg::Tensor> g = xg::grad({problem.loss(leaves)}, leaves);
    checksum += g[0].value<float>()(0);
  };
  auto hvp = [&] {
    const xg::HvpsResult r = xg::hvp(f, problem.params, problem.v);
    checksum += r.hvp[0].value<float>()(0);
  };

  bench::warm_up([&] {
    gradient();
    hvp();
  });
  std::vector<double> grad_wall, grad_cpu, hvp_wall, hvp_cpu;
  bench::Stopwatch watch;
  for (int r = 0; r < reps; ++r) {
    watch.restart();
    gradient();
    const bench::Duration g = watch.lap();
    hvp();
    const bench::Duration h = watch.lap();
    grad_wall.push_back(g.wall_ns);
    grad_cpu.push_back(g.cpu_ns);
    hvp_wall.push_back(h.wall_ns);
    hvp_cpu.push_back(h.cpu_ns);
  }
  const double gw = bench::median(grad_wall), gc = bench::median(grad_cpu);
  const double hw = bench::median(hvp_wall), hc = bench::median(hvp_cpu);
  fmt::print("2-layer tanh MLP 784-128-10, batch {}, f32, loss {}; medians of {} runs\n", batch, loss_name, reps);
  fmt::print("{:<10} {:>12} {:>12}\n", "", "wall ms", "cpu ms");
  fmt::print("{:<10} {:>12.3f} {:>12.3f}\n", "gradient", gw / 1e6, gc / 1e6);
  fmt::print("{:<10} {:>12.3f} {:>12.3f}\n", "hvp", hw / 1e6, hc / 1e6);
  fmt::print("{:<10} {:>12.2f} {:>12.2f}\n", "hvp/grad", hw / gw, hc / gc);
  fmt::print("(checksum {:.6g})\n", checksum);
}
