// GEMM through OpenBLAS, split across xgrad's threads for medium sizes.
//
// Why split here: OpenBLAS's own threaded GEMM mallocs a large job table on every call, which
// page-faults on every medium GEMM (figures in docs/performance.md, "Threads"). Splitting C into
// blocks computed by single-threaded calls on xgrad's pool avoids it. Large GEMMs (above about
// 200 MFLOP) still go to OpenBLAS's own threads, which share the packed panels between threads.
// This TU includes <cblas.h>, so it must not include xtensor-blas.
#include "blas.hpp"

#include <cblas.h>
#include <algorithm>
#include <limits>
#include <type_traits>

#include "../autograd/error.hpp"
#include "../autograd/threads.hpp"
#include "gemm_avx512.hpp"

namespace xgrad::detail {

namespace {

void call(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, int(s.m), int(s.n),
              int(s.k), 1.f, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void call(const GemmShape& s, const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c, std::size_t ldc) {
  cblas_dgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, int(s.m), int(s.n),
              int(s.k), 1.0, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// One single-threaded GEMM: xgrad's AVX-512 kernels for f32 where the CPU runs them
// (gemm_avx512.hpp), OpenBLAS otherwise.
template <class T>
void call(bool own, const GemmShape& s, const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
          std::size_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    if (own) return avx512::sgemm(s, a, lda, b, ldb, c, ldc, beta != 0.f);
  call(s, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
bool own_kernels(const GemmShape& s) {
  if constexpr (std::is_same_v<T, float>)
    return avx512::enabled() && avx512::handles(s);
  else
    return false;
}

constexpr double kSplitFrom = 1e6, kSplitUpTo = 2e8;  // FLOPs
constexpr std::size_t kAlign = 16;                    // block edges on multiples of 16 rows/columns

// OpenBLAS takes sizes and leading dimensions as 32-bit ints: a larger one would wrap to a negative size.
void check_fits_int(const GemmShape& s, std::size_t lda, std::size_t ldb, std::size_t ldc) {
  constexpr std::size_t limit = std::numeric_limits<int>::max();
  if (std::max({s.m, s.n, s.k, lda, ldb, ldc}) > limit)
    throw Error("matmul: a GEMM of [{},{}] x [{},{}] has a dimension above {}, the largest OpenBLAS accepts", s.m, s.k,
                s.k, s.n, limit);
}

template <class T>
void gemm_impl(const GemmShape& s, const T* a, std::size_t lda, const T* b, std::size_t ldb, T* c, std::size_t ldc,
               bool accumulate) {
  if (s.m == 0 || s.n == 0) return;
  check_fits_int(s, lda, ldb, ldc);
  if (s.k == 0) {
    if (!accumulate)
      for (std::size_t i = 0; i < s.m; ++i) std::fill_n(c + i * ldc, s.n, T(0));
    return;
  }
  lda = std::max<std::size_t>(lda, 1), ldb = std::max<std::size_t>(ldb, 1), ldc = std::max<std::size_t>(ldc, 1);
  const T beta = accumulate ? T(1) : T(0);
  const bool own = own_kernels<T>(s);
  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  const bool split_rows = s.m >= s.n;  // split the longer side of C into blocks of whole rows or columns
  const std::size_t units = ((split_rows ? s.m : s.n) + kAlign - 1) / kAlign;
  // (xgrad's own kernels are single-threaded: every GEMM above kSplitFrom is split)
  const std::size_t parts = flops < kSplitFrom || (flops > kSplitUpTo && !own) ? 1 : parallel_parts(units);
  if (parts <= 1) {
    call(own, s, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  parallel_for(units, parts, [&](std::size_t, std::size_t begin, std::size_t end) {
    const std::size_t total = split_rows ? s.m : s.n;
    const std::size_t lo = std::min(begin * kAlign, total), hi = std::min(end * kAlign, total);
    if (lo == hi) return;
    GemmShape part = s;
    if (split_rows) {  // rows lo..hi of C = rows lo..hi of op(A), times op(B)
      part.m = hi - lo;
      call(own, part, s.ta ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
    } else {  // columns lo..hi of C = op(A) times columns lo..hi of op(B)
      part.n = hi - lo;
      call(own, part, a, lda, s.tb ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
    }
  });
}

}  // namespace

void gemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
          std::size_t ldc, bool accumulate) {
  gemm_impl(s, a, lda, b, ldb, c, ldc, accumulate);
}
void gemm(const GemmShape& s, const double* a, std::size_t lda, const double* b, std::size_t ldb, double* c,
          std::size_t ldc, bool accumulate) {
  gemm_impl(s, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace xgrad::detail
