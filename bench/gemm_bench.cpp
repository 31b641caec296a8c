// The machine's FMA limit per core and xgrad's f32 GEMMs against OpenBLAS's, one thread, in cache.
//
//   gemm_bench [repetitions = 7]
//
// First the peak: 12 independent FMA chains on 256-bit and on 512-bit vectors (what the core can do
// at most; OpenBLAS's kernels use 256-bit FMAs here, because the environment sets
// OPENBLAS_CORETYPE=Haswell). Then each GEMM of the main job's ConvNet, the MLP and an LSTM, plus
// large ones, through detail::gemm with xgrad's AVX-512 kernels (ops/gemm_avx512.cpp) and with them
// switched off (OpenBLAS): the median time of repeated calls, GFLOP/s, and the ratio.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <immintrin.h>

#include <xgrad/ops/blas.hpp>
#include <xgrad/ops/gemm_avx512.hpp>

namespace {

using xgrad::detail::GemmShape;
using Clock = std::chrono::steady_clock;

constexpr long kFmaIterations = 20'000'000;

double gflops(double seconds, int lanes) { return double(kFmaIterations) * 12 * lanes * 2 / seconds / 1e9; }

// 12 independent chains: more than an FMA's latency times the FMA units, so they never wait.
__attribute__((target("avx2,fma"))) double peak_256() {
  __m256 acc[12], x = _mm256_set1_ps(1e-9f);
  for (__m256& a : acc) a = x;
  const auto t0 = Clock::now();
  for (long i = 0; i < kFmaIterations; ++i) {
    for (__m256& a : acc) a = _mm256_fmadd_ps(x, x, a);
    asm volatile("" : "+x"(x));  // keeps the loop from being folded
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (__m256& a : acc) asm volatile("" : : "x"(a));
  return gflops(seconds, 8);
}

__attribute__((target("avx512f"))) double peak_512() {
  __m512 acc[12], x = _mm512_set1_ps(1e-9f);
  for (__m512& a : acc) a = x;
  const auto t0 = Clock::now();
  for (long i = 0; i < kFmaIterations; ++i) {
    for (__m512& a : acc) a = _mm512_fmadd_ps(x, x, a);
    asm volatile("" : "+v"(x));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (__m512& a : acc) asm volatile("" : : "v"(a));
  return gflops(seconds, 16);
}

double median_seconds(const GemmShape& s, int repetitions) {
  const std::size_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  std::vector<float> a(s.m * s.k, 0.5f), b(s.k * s.n, 0.25f), c(s.m * s.n);
  const int calls = std::max(1, int(1e8 / (2.0 * double(s.m * s.n * s.k))));
  std::vector<double> times;
  for (int r = 0; r < repetitions + 1; ++r) {  // the first run warms the caches up
    const auto t0 = Clock::now();
    for (int i = 0; i < calls; ++i) xgrad::detail::gemm(s, a.data(), lda, b.data(), ldb, c.data(), s.n, true);
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / calls);
  }
  times.erase(times.begin());
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 7;
  openblas_set_num_threads(1);  // xgrad's GEMM splits by OpenBLAS's thread count: one thread for both
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f");
  fmt::print("FMA peak, one core: 256-bit {:.0f} GFLOP/s, 512-bit {}\n", peak_256(),
             has512 ? fmt::format("{:.0f} GFLOP/s", peak_512()) : std::string("(no AVX-512)"));
  if (!xgrad::detail::avx512::enabled()) {
    fmt::print("this CPU does not run AVX-512: xgrad's GEMMs are OpenBLAS's here\n");
    return 0;
  }
  struct Case {
    const char* name;
    GemmShape shape;
  };
  const std::vector<Case> cases = {
      {"ConvNet conv2 Winograd, forward  M = U V", {false, false, 32, 224, 16}},
      {"ConvNet conv2 Winograd, dx       U^T dM", {true, false, 16, 224, 32}},
      {"ConvNet conv2 Winograd, dw       dM V^T", {false, true, 32, 16, 224}},
      {"ConvNet fc1 forward              x W^T", {false, true, 64, 128, 1568}},
      {"ConvNet fc1 dx                   dy W", {false, false, 64, 1568, 128}},
      {"ConvNet fc1 dW                   dy^T x", {true, false, 128, 1568, 64}},
      {"MLP fc1 forward                  x W^T", {false, true, 64, 256, 784}},
      {"LSTM gates, one step             h W^T", {false, true, 32, 512, 128}},
      {"square 1024                      A B", {false, false, 1024, 1024, 1024}},
      {"square 1024                      A B^T", {false, true, 1024, 1024, 1024}},
      {"long k                           A B^T", {false, true, 64, 64, 20000}},
  };
  fmt::print("{:<62} {:>22} {:>22} {:>7}\n", "GEMM [m,k] x [k,n]", "xgrad AVX-512", "OpenBLAS", "ratio");
  for (const Case& c : cases) {
    const double flop = 2.0 * double(c.shape.m * c.shape.n * c.shape.k);
    xgrad::detail::avx512::set_enabled(true);
    const double own = median_seconds(c.shape, repetitions);
    xgrad::detail::avx512::set_enabled(false);
    const double blas = median_seconds(c.shape, repetitions);
    xgrad::detail::avx512::set_enabled(true);
    const auto cell = [&](double t) { return fmt::format("{:9.2f} us {:5.0f} GF/s", t * 1e6, flop / t / 1e9); };
    fmt::print("{:<62} {:>22} {:>22} {:>7.2f}\n",
               fmt::format("{} [{},{}]x[{},{}]", c.name, c.shape.m, c.shape.k, c.shape.k, c.shape.n), cell(own),
               cell(blas), own / blas);
  }
}
