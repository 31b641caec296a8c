// Raw OpenBLAS for the benchmarks: thread count and an sgemm GFLOP/s reference. Uses <cblas.h>
// only, never xtensor-blas.
#include <cblas.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "macro_bench.hpp"

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace bench {

void blas_set_threads(int n) { openblas_set_num_threads(n); }
int blas_get_threads() { return openblas_get_num_threads(); }

double sgemm_gflops(int M, int K, int N, int reps) {
  std::vector<float> a(std::size_t(M) * K), b(std::size_t(K) * N), c(std::size_t(M) * N);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i % 7) * 0.1f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f;
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, a.data(), K, b.data(), N, 0.f, c.data(), N);
  };
  warm_up(run);
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    Stopwatch w;
    run();
    t.push_back(w.lap().wall_ns);
  }
  return 2.0 * M * K * double(N) / median(t);  // flop per ns = GFLOP/s
}

static long status_kb(const char* key) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  const std::size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0) std::sscanf(line + n, "%ld", &kb);
  std::fclose(f);
  return kb;
}
long peak_rss_kb() { return status_kb("VmHWM:"); }
long current_rss_kb() { return status_kb("VmRSS:"); }
bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");  // "5" resets VmHWM to VmRSS (Linux >= 4.0)
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace bench
