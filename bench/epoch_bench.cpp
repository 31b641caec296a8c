// One training epoch on Fashion-MNIST, xgrad or libtorch (one framework per process, so that the
// peak RSS printed, and the one /usr/bin/time -f %M reports, belongs to that framework alone).
//
//   epoch_bench --framework xgrad|torch --model mlp|convnet [--threads N] [--batches B]
//               [--data DIR] [--torch-data float|bytes]
//
// mlp: 784-256-128-10 (ReLU), SGD lr 0.05 momentum 0.9. convnet: conv3x3(1->16,pad 1)-ReLU-
// maxpool2 - conv3x3(16->32,pad 1)-ReLU-maxpool2 - 1568-128-10, Adam lr 1e-3. Batch 64, cross
// entropy. Both frameworks see the same pixels (read by xgrad's IDX reader) in the same batch order:
// permutation(60000, seed 0, epoch 0), the order of xgrad's DataLoader {.shuffle = true, .seed = 0}.
// xgrad keeps them as its Dataset does, bytes converted per batch (47 MB); libtorch, with
// --torch-data float (the default), as torch::data::datasets::MNIST does, one float tensor
// (188 MB), or with --torch-data bytes like xgrad (a uint8 tensor, each batch converted). --batches B runs the first B
// batches only and scales the time to a full epoch. --threads N: xgrad sets OpenBLAS to N threads;
// libtorch sets torch::set_num_threads(N) and leaves OpenBLAS to OPENBLAS_NUM_THREADS (or its default). The time covers
// batch assembly, forward, backward and the optimizer step; not the data loading.
#include <cstdlib>
#include <cstring>
#include <string>

#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "macro_bench.hpp"
#include "models.hpp"

namespace bench {

EpochResult xgrad_epoch(const EpochConfig& cfg, const xg::data::Dataset& train) {
  xg::nn::Sequential net = model(cfg.model);
  const std::unique_ptr<xg::optim::Optimizer> opt = optimizer(cfg.model, net);
  xg::data::DataLoader loader(train, {.batch_size = cfg.batch, .shuffle = true, .seed = 0});
  EpochResult res;
  res.batches_per_epoch = loader.size();
  double loss_sum = 0;
  Stopwatch watch;
  for (auto& batch : loader) {
    if (cfg.max_batches && res.batches == cfg.max_batches) break;
    opt->zero_grad();
    xg::Tensor l = xg::cross_entropy(net(batch.images), batch.labels);
    l.backward();
    opt->step();
    loss_sum += l.item();
    ++res.batches;
  }
  res.seconds = watch.lap().wall_ns / 1e9;
  res.mean_loss = loss_sum / double(res.batches);
  return res;
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  std::string framework = "xgrad", data_dir = "/usr/share/datasets/fashion-mnist", torch_data = "float";
  EpochConfig cfg;
  cfg.model = "mlp";
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--framework")
      framework = v;
    else if (k == "--model")
      cfg.model = v;
    else if (k == "--threads")
      threads = std::atoi(v.c_str());
    else if (k == "--batches")
      cfg.max_batches = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--data")
      data_dir = v;
    else if (k == "--torch-data")
      torch_data = v;
    else {
      fmt::print(stderr, "usage: epoch_bench --framework xgrad|torch --model mlp|convnet [--threads N] [--batches B] "
                         "[--data DIR] [--torch-data float|bytes]\n");
      return 2;
    }
  }
  if ((framework != "xgrad" && framework != "torch") || (cfg.model != "mlp" && cfg.model != "convnet") ||
      (torch_data != "float" && torch_data != "bytes")) {
    fmt::print(stderr, "unknown framework, model or --torch-data\n");
    return 2;
  }
  xg::data::Dataset train = xg::data::load_mnist_dir(data_dir, "train");
  // Loading (gunzip + u8 -> f32) has its own transient peak, the same for both frameworks; the
  // peak that matters is the one during training, so it is reset here (the whole-process peak,
  // loading included, is what /usr/bin/time -f %M shows).
  const long load_peak = peak_rss_kb();
  const long rss_data = current_rss_kb();
  const bool reset = reset_peak_rss();
  EpochResult r;
  if (framework == "xgrad") {
    xg::set_num_threads(threads);  // OpenBLAS's and xgrad's own
    r = xgrad_epoch(cfg, train);
  } else {
#ifdef XGRAD_BENCH_HAVE_TORCH
    torch_threads(threads);  // intra-op (OpenMP); OpenBLAS's own pool is left to OPENBLAS_NUM_THREADS
    std::vector<std::size_t> order = xg::data::permutation(train.size(), 0, 0);
    std::vector<std::uint8_t> pixels(train.bytes().begin(), train.bytes().end());
    std::vector<std::int64_t> labels = train.labels();
    train = {};  // libtorch holds the data from here on
    r = torch_epoch(cfg, std::move(pixels), std::move(labels), order, torch_data == "bytes");
#else
    fmt::print(stderr, "libtorch was not found at configure time\n");
    return 2;
#endif
  }
  const double epoch_s = r.seconds * double(r.batches_per_epoch) / double(r.batches);
  // One machine-readable line for run_epoch_bench.sh, then nothing else on stdout.
  fmt::print("RESULT framework={} data={} model={} threads={} batches={}/{} seconds={:.3f} epoch_seconds={:.3f} "
             "ms_per_batch={:.3f} mean_loss={:.4f} load_peak_kb={} rss_after_data_kb={} train_peak_rss_kb={} "
             "OMP_NUM_THREADS={} "
             "OPENBLAS_NUM_THREADS={} openblas_threads={}\n",
             framework, framework == "torch" ? torch_data : "bytes", cfg.model, threads, r.batches, r.batches_per_epoch,
             r.seconds, epoch_s, r.seconds * 1e3 / double(r.batches), r.mean_loss, load_peak, rss_data,
             reset ? peak_rss_kb() : -1, std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "-",
             std::getenv("OPENBLAS_NUM_THREADS") ? std::getenv("OPENBLAS_NUM_THREADS") : "-", blas_get_threads());
  return 0;
}
