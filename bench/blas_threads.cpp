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
  auto run = [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, a.data(), K, b.data(), N, 0.f, c.data(), N); };
  run();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    Stopwatch w;
    run();
    t.push_back(w.lap().wall_ns);
  }
  return 2.0 * M * K * double(N) / median(t);  // flop per ns = GFLOP/s
}

long peak_rss_kb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) std::sscanf(line + 6, "%ld", &kb);
  std::fclose(f);
  return kb;
}

}  // namespace bench
