// Where one training step goes, op by op: the forward and backward time of every op of the main
// job's ConvNet (or the MLP), the optimizer step and the batch assembly, next to each part's FLOP
// floor at a given FMA speed (issue 17: "a per-op profile of one step next to the FLOP floor").
//
//   step_profile [--model convnet|mlp] [--steps 60] [--threads 1] [--gflops G] [--data DIR]
//
// G defaults to the core's FMA peak that bench/gemm_bench measures here: 260 GFLOP/s with 512-bit
// FMAs on a CPU that runs xgrad's AVX-512 kernels, 130 with 256-bit ones otherwise.
//
// Forward: a record observer sees every node right after its op ran, so the time since the
// previous node is that op's. Backward: a backward tracer sees every node right after its
// local-gradient function ran, so the time since the previous one is that node's backward (with the
// previous node's gradient accumulation). Both hooks cost one clock read per node. The first 20
// steps warm up and are not counted. FLOPs are the direct convolution's and the GEMMs' (2 per
// multiply-add), whatever algorithm runs (Winograd needs fewer).
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>

#include <xgrad/autograd/tensor_impl.hpp>
#include <xgrad/data.hpp>
#include <xgrad/ops/avx512.hpp>
#include <xgrad/xgrad.hpp>

#include "models.hpp"

namespace {
namespace xd = xg::data;
namespace nn = xg::nn;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point& last) {
  const auto now = Clock::now();
  const double ms = std::chrono::duration<double, std::milli>(now - last).count();
  last = now;
  return ms;
}

struct OpCost {
  double forward_ms = 0, backward_ms = 0, forward_flop = 0, backward_flop = 0;
  std::size_t calls = 0;
};

// FLOPs of a node's forward, and how many of its two GEMM operands need a gradient (each costs
// one more GEMM of the same size in backward).
double forward_flop(const xg::Tensor& out) {
  const auto& in = out.impl()->inputs;
  const std::string op = std::string(out.op());
  if (op == "conv2d" && in.size() >= 2) {
    const xg::Shape w = in[1].shape();  // [O, C, KH, KW]
    return 2.0 * double(out.numel()) * double(w[1] * w[2] * w[3]);
  }
  if ((op == "linear" || op == "matmul") && in.size() >= 2) {
    const xg::Shape x = in[0].shape();
    return 2.0 * double(out.numel()) * double(x.back());
  }
  return 0;
}

// One row per op and output shape: the two conv2d layers are two rows.
std::string key(std::string_view op, const xg::Shape& out) { return fmt::format("{} -> {}", op, xg::shape_str(out)); }

class Profile final : public xg::detail::RecordObserver, public xg::detail::BackwardTracer {
 public:
  std::map<std::string, OpCost> ops;
  bool counting = false;
  Clock::time_point last;

  void recorded(xg::Tensor& out) override {
    const double ms = ms_since(last);
    if (!counting) return;
    OpCost& c = ops[key(out.op(), out.shape())];
    c.forward_ms += ms;
    ++c.calls;
    const double f = forward_flop(out);
    c.forward_flop += f;
    std::size_t grads = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(2, out.impl()->inputs.size()); ++i)
      grads += out.impl()->inputs[i].requires_grad();
    c.backward_flop += f * double(grads);
  }
  void begin(const std::vector<std::shared_ptr<xg::TensorImpl>>&, const std::vector<xg::Tensor>&) override {
    last = Clock::now();
  }
  void step(xg::TensorImpl& node, const xg::Tensor& y, const xg::Tensor&, const std::vector<xg::Tensor>&) override {
    const double ms = ms_since(last);
    if (counting) ops[key(node.op ? node.op : "(leaf)", y.shape())].backward_ms += ms;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = "convnet", data_dir = xd::default_mnist_dir;
  int steps = 60, threads = 1;
  double gflops = xgrad::detail::avx512::enabled() ? 260 : 130;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      model = v;
    else if (k == "--steps")
      steps = std::atoi(v.c_str());
    else if (k == "--threads")
      threads = std::atoi(v.c_str());
    else if (k == "--gflops")
      gflops = std::atof(v.c_str());
    else if (k == "--data")
      data_dir = v;
    else
      return fmt::print(stderr, "unknown option {}\n", k), 2;
  }
  const int warm_up = 20;
  if ((model != "convnet" && model != "mlp") || steps <= warm_up || threads < 1 || gflops <= 0)
    return fmt::print(stderr, "usage: step_profile [--model convnet|mlp] [--steps >20] [--threads N] [--gflops G]\n"),
           2;
  xg::set_num_threads(threads);
  xg::manual_seed(0);
  const xd::Dataset train = xd::load_mnist_dir(data_dir, xd::Split::train);
  nn::Sequential net = bench::model(model);
  const std::unique_ptr<xg::optim::Optimizer> opt = bench::optimizer(model, net);
  xd::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 0});

  Profile profile;
  xg::detail::set_record_observer(&profile);
  xg::detail::set_backward_tracer(&profile);
  double data_ms = 0, optimizer_ms = 0, leaves_ms = 0, step_ms = 0;
  int step = 0;
  auto it = loader.begin();
  Clock::time_point data_start = Clock::now();
  for (; it != loader.end() && step < steps; ++step) {
    const xd::Batch& batch = *it;
    const bool counting = step >= warm_up;
    profile.counting = counting;
    Clock::time_point t = Clock::now();
    if (counting) data_ms += std::chrono::duration<double, std::milli>(t - data_start).count();
    const Clock::time_point step_start = t;
    opt->zero_grad();
    profile.last = Clock::now();
    xg::Tensor loss = xg::cross_entropy(net(batch.images), batch.labels);
    loss.backward();
    const double tail = ms_since(profile.last);  // the last nodes' gradients landing in the leaves
    t = Clock::now();
    opt->step();
    const double opt_ms = ms_since(t);
    if (counting) {
      leaves_ms += tail;
      optimizer_ms += opt_ms;
      step_ms += std::chrono::duration<double, std::milli>(Clock::now() - step_start).count();
    }
    data_start = Clock::now();
    ++it;
  }
  xg::detail::set_record_observer(nullptr);
  xg::detail::set_backward_tracer(nullptr);
  const double n = double(step - warm_up);

  fmt::print("step_profile: {} batch 64, {} thread(s), {} steps after {} warm-up; ms per step; floor = FLOPs at {} "
             "GFLOP/s\n",
             model, threads, step - warm_up, warm_up, gflops);
  fmt::print("{:<30} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "part", "calls", "fwd ms", "bwd ms", "total",
             "GFLOP", "floor ms", "GFLOP/s");
  double total_ms = 0, total_flop = 0;
  auto row = [&](const std::string& name, double calls, double f, double b, double flop) {
    total_ms += f + b;
    total_flop += flop;
    const std::string fl = flop > 0 ? fmt::format("{:.4f}", flop / 1e9) : "-";
    const std::string floor = flop > 0 ? fmt::format("{:.3f}", flop / (gflops * 1e6)) : "-";
    const std::string rate = flop > 0 ? fmt::format("{:.1f}", flop / ((f + b) * 1e6)) : "-";
    fmt::print("{:<30} {:>6.0f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9} {:>9} {:>9}\n", name, calls, f, b, f + b, fl, floor,
               rate);
  };
  for (const auto& [op, c] : profile.ops)
    row(op, double(c.calls) / n, c.forward_ms / n, c.backward_ms / n, (c.forward_flop + c.backward_flop) / n);
  row("(grads into leaves)", 0, 0, leaves_ms / n, 0);
  row("optimizer step", 1, optimizer_ms / n, 0, 0);
  row("batch assembly", 1, data_ms / n, 0, 0);
  fmt::print("{:<30} {:>6} {:>9} {:>9} {:>9.3f} {:>9.4f} {:>9.3f} {:>9.1f}\n", "sum of parts", "", "", "", total_ms,
             total_flop / 1e9, total_flop / (gflops * 1e6), total_flop / (total_ms * 1e6));
  fmt::print("{:<30} {:>6} {:>9} {:>9} {:>9.3f}   (x 938 batches = {:.2f} s per epoch, plus batch assembly)\n",
             "step (zero_grad..step)", "", "", "", step_ms / n, step_ms / n * 938 / 1000);
  return 0;
}
