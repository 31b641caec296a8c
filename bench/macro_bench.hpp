#pragma once
// Shared declarations of the conv / epoch / LSTM benchmarks (conv_bench, epoch_bench, lstm_bench).
// Neither xtensor nor torch is included here: the xgrad halves, the libtorch halves
// (*_torch.cpp, built only when find_package(Torch) succeeds) and the raw-OpenBLAS half
// (blas_threads.cpp) each live in their own translation units.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "timing.hpp"

namespace bench {

// blas_threads.cpp: raw OpenBLAS, through <cblas.h> (no xtensor-blas).
void blas_set_threads(int n);  // openblas_set_num_threads
int blas_get_threads();
// GFLOP/s of C = A B (A M x K, B K x N, row-major f32) with cblas_sgemm: median of `reps` runs.
double sgemm_gflops(int M, int K, int N, int reps);

// Peak resident set size of this process so far (VmHWM, kB).
long peak_rss_kb();
long current_rss_kb();  // VmRSS, kB
bool reset_peak_rss();  // sets VmHWM back to the current VmRSS (write "5" to /proc/self/clear_refs)

// conv2d forward + backward, x [N, C, H, W], w [O, C, k, k], stride 1: forward is building y and
// y.sum(), backward is backward() (grads of x and w). grad = sum of w.grad (to compare).
struct ConvShape {
  int n = 64, c = 16, h = 28, w = 28, o = 32, k = 3, pad = 1;
};

// One epoch (or its first max_batches batches) on a dataset of n examples of 1x28x28 pixels in
// the batch order `order` (batch b = order[b*batch .. (b+1)*batch)).
struct EpochConfig {
  std::string model;  // "mlp" (SGD momentum 0.9 lr 0.05) or "convnet" (Adam lr 1e-3)
  std::size_t batch = 64;
  std::size_t max_batches = 0;  // 0: the whole epoch
};
struct EpochResult {
  double seconds = 0;       // wall time of the batches run
  std::size_t batches = 0;  // batches run
  std::size_t batches_per_epoch = 0;
  double mean_loss = 0;  // mean training loss over those batches (sanity check)
};

// LSTM forward + backward: input x [T, N, I], loss = output.sum().
struct LstmShape {
  int input = 64, hidden = 128, seq = 50, batch = 32;
};

#ifdef XGRAD_BENCH_HAVE_TORCH
void torch_threads(int n);  // torch::set_num_threads (intra-op)
ChainRun torch_conv(const ConvShape& s);
// pixels: n x 784 bytes (read as byte / 255), taken over and freed once libtorch holds its data.
// bytes_data = false: one float tensor of the whole set, as torch::data::datasets::MNIST holds it
// (188 MB for Fashion-MNIST); true: a uint8 tensor, each batch converted (what xgrad's Dataset does).
EpochResult torch_epoch(const EpochConfig& cfg, std::vector<std::uint8_t>&& pixels, std::vector<std::int64_t>&& labels,
                        const std::vector<std::size_t>& order, bool bytes_data);
ChainRun torch_lstm(const LstmShape& s);
std::string torch_config();
#endif

}  // namespace bench
