// xgrad's f32 GEMM kernels for AVX-512 (see avx512.hpp for why). Two register-blocked kernels,
// both reading the operands where they lie, without packing:
//
//   rows kernel   C [i, j..j+48) += sum_k A[i,k] B[k, j..j+48)     for 8 rows i at once
//                 (B not transposed: a row of B is contiguous, three 16-float vectors; each A value
//                 is broadcast; 8 x 3 accumulators stay in registers for the whole k loop)
//   dots kernel   C [i, j] += sum_k A[i,k] B[j,k]                   for 4 x 4 (i, j) at once
//                 (B transposed: A's rows and B's rows are both contiguous along k, so each
//                 accumulator is 16 partial sums of one dot product, added up at the end)
//
// The loops around them block k (so that a panel of B stays in L1 while the rows of A stream past),
// and the rows or columns of C (so that the A or B rows a panel meets stay in L2). The edges of C
// are smaller instances of the same templates; the edge of a row of 16 goes through AVX-512's masked
// loads and stores, so nothing reads or writes past an operand.
#include "gemm_avx512.hpp"

#include <immintrin.h>

#include <algorithm>

#include <type_traits>

namespace xgrad::detail::avx512 {

namespace {

constexpr std::size_t kRows = 8, kVectors = 3, kWidth = 16 * kVectors;  // rows kernel: 8 x 48
constexpr std::size_t kRowsKc = 256, kRowsMc = 128;                     // rows kernel: k and row blocks
constexpr std::size_t kDots = 4;                                        // dots kernel: 4 x 4
constexpr std::size_t kDotsKc = 1024, kDotsNc = 64;                     // dots kernel: k and B-row blocks

// The sum of the 16 lanes: halves, then quarters, added in place. (The masked forms of the shuffles,
// with every lane selected: the unmasked ones and _mm512_reduce_add_ps expand to GCC 12 code that
// trips -Wuninitialized.)
XGRAD_AVX512 inline float sum_lanes(__m512 x) {
  const __m512 halves = _mm512_add_ps(x, _mm512_mask_shuffle_f32x4(x, 0xFFFF, x, x, 0x4E));
  const __m512 quarters = _mm512_add_ps(halves, _mm512_mask_shuffle_f32x4(halves, 0xFFFF, halves, halves, 0xB1));
  __m128 r = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, quarters, 0);
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// C [R rows, up to 16 V columns] (+)= A [R, k] B [k, ..]: A (i, p) at a[i * a_row + p * a_col], B's row
// p at b + p * ldb; `last` masks the columns of the last of the V vectors.
template <std::size_t R, std::size_t V>
XGRAD_AVX512 void rows_kernel(std::size_t k, const float* a, std::size_t a_row, std::size_t a_col, const float* b,
                              std::size_t ldb, float* c, std::size_t ldc, __mmask16 last, bool accumulate) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 3
    for (std::size_t v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::size_t p = 0; p < k; ++p) {
    const float* row = b + p * ldb;
    __m512 bv[V];
#pragma GCC unroll 3
    for (std::size_t v = 0; v < V; ++v)
      bv[v] = v + 1 < V ? _mm512_loadu_ps(row + 16 * v) : _mm512_maskz_loadu_ps(last, row + 16 * v);
    const float* ap = a + p * a_col;
#pragma GCC unroll 8
    for (std::size_t i = 0; i < R; ++i) {
      const __m512 ai = _mm512_set1_ps(ap[i * a_row]);
#pragma GCC unroll 3
      for (std::size_t v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 3
    for (std::size_t v = 0; v < V; ++v) {
      float* out = c + i * ldc + 16 * v;
      const __mmask16 m = v + 1 < V ? __mmask16(0xFFFF) : last;
      __m512 r = acc[i][v];
      if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, out));
      _mm512_mask_storeu_ps(out, m, r);
    }
}

// C = op(A) B with B not transposed.
void rows_gemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
               std::size_t ldc, bool accumulate) {
  const std::size_t a_row = s.ta ? 1 : lda, a_col = s.ta ? lda : 1;  // A (i, p) at a[i * a_row + p * a_col]
  for (std::size_t p0 = 0; p0 < s.k; p0 += kRowsKc) {
    const std::size_t kc = std::min<std::size_t>(kRowsKc, s.k - p0);
    const bool add = accumulate || p0 > 0;
    for (std::size_t i0 = 0; i0 < s.m; i0 += kRowsMc) {
      const std::size_t i_end = std::min<std::size_t>(s.m, i0 + kRowsMc);
      for (std::size_t j = 0; j < s.n; j += kWidth) {
        const std::size_t width = std::min<std::size_t>(kWidth, s.n - j), vectors = (width + 15) / 16;
        const __mmask16 last = lanes(width - 16 * (vectors - 1));
        for (std::size_t i = i0; i < i_end; i += kRows) {
          const std::size_t rows = std::min<std::size_t>(kRows, i_end - i);
          with_size<kVectors>(vectors, [&]<std::size_t V>() {
            with_size<kRows>(rows, [&]<std::size_t R>() {
              rows_kernel<R, V>(kc, a + i * a_row + p0 * a_col, a_row, a_col, b + p0 * ldb + j, ldb, c + i * ldc + j,
                                ldc, last, add);
            });
          });
        }
      }
    }
  }
}

// The sums of the 16 lanes of each of 4 x 4 vectors, lane 4 i + j holding acc[i][j]'s: pairs of
// vectors halved and added, then quartered, then twice within 128-bit lanes (45 shuffles and adds
// for 16 sums where one at a time takes about 7 each).
XGRAD_AVX512 inline __m512 sum_16(const __m512 (&acc)[4][4]) {
  // masked forms of the shuffles, every lane selected (see sum_lanes)
  const auto blocks = [](__m512 x, __m512 y, auto imm)
                          XGRAD_AVX512 { return _mm512_mask_shuffle_f32x4(x, 0xFFFF, x, y, decltype(imm)::value); };
  const auto within = [](__m512 x, __m512 y, auto imm)
                          XGRAD_AVX512 { return _mm512_mask_shuffle_ps(x, 0xFFFF, x, y, decltype(imm)::value); };
  using low_halves = std::integral_constant<int, 0x44>;   // x's halves 0, 1 and y's 0, 1 (in 128-bit blocks)
  using high_halves = std::integral_constant<int, 0xEE>;  // x's 2, 3 and y's 2, 3
  using even_blocks = std::integral_constant<int, 0x88>;  // blocks 0, 2 of x and of y; within a block: 0, 2, 0, 2
  using odd_blocks = std::integral_constant<int, 0xDD>;   // blocks 1, 3; within a block: 1, 3, 1, 3
  // v[k] = acc[k % 4][k / 4]: the order in which the steps below leave row i in quarter i
  __m512 half[8];  // half[q]: v[2q]'s 8 partial sums in its low half, v[2q + 1]'s in its high half
#pragma GCC unroll 8
  for (std::size_t q = 0; q < 8; ++q) {
    const __m512 x = acc[(2 * q) % 4][(2 * q) / 4], y = acc[(2 * q + 1) % 4][(2 * q + 1) / 4];
    half[q] = _mm512_add_ps(blocks(x, y, low_halves{}), blocks(x, y, high_halves{}));
  }
  __m512 quarter[4];  // quarter[q]: v[4q + b]'s 4 partial sums in block b
#pragma GCC unroll 4
  for (std::size_t q = 0; q < 4; ++q)
    quarter[q] = _mm512_add_ps(blocks(half[2 * q], half[2 * q + 1], even_blocks{}),
                               blocks(half[2 * q], half[2 * q + 1], odd_blocks{}));
  __m512 pair[2];  // pair[q], block b: v[8q + b]'s 2 partial sums, then v[8q + 4 + b]'s
#pragma GCC unroll 2
  for (std::size_t q = 0; q < 2; ++q)
    pair[q] = _mm512_add_ps(within(quarter[2 * q], quarter[2 * q + 1], even_blocks{}),
                            within(quarter[2 * q], quarter[2 * q + 1], odd_blocks{}));
  // block b: the sums of v[b], v[4 + b], v[8 + b], v[12 + b] = acc[b][0], acc[b][1], acc[b][2], acc[b][3]
  return _mm512_add_ps(within(pair[0], pair[1], even_blocks{}), within(pair[0], pair[1], odd_blocks{}));
}

// C [R, S] (+)= A [R, k] B [S, k]^T, rows of A lda apart and of B ldb apart, both contiguous along k.
template <std::size_t R, std::size_t S>
XGRAD_AVX512 void dots_kernel(std::size_t k, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
                              std::size_t ldc, bool accumulate) {
  __m512 acc[R][S];
#pragma GCC unroll 4
  for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (std::size_t j = 0; j < S; ++j) acc[i][j] = _mm512_setzero_ps();
  std::size_t p = 0;
  for (; p + 16 <= k; p += 16) {
    __m512 av[R], bv[S];
#pragma GCC unroll 4
    for (std::size_t i = 0; i < R; ++i) av[i] = _mm512_loadu_ps(a + i * lda + p);
#pragma GCC unroll 4
    for (std::size_t j = 0; j < S; ++j) bv[j] = _mm512_loadu_ps(b + j * ldb + p);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (std::size_t j = 0; j < S; ++j) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
  }
  if (p < k) {  // the last k % 16 terms (the other lanes read as zero)
    const __mmask16 m = lanes(k - p);
    __m512 av[R], bv[S];
#pragma GCC unroll 4
    for (std::size_t i = 0; i < R; ++i) av[i] = _mm512_maskz_loadu_ps(m, a + i * lda + p);
#pragma GCC unroll 4
    for (std::size_t j = 0; j < S; ++j) bv[j] = _mm512_maskz_loadu_ps(m, b + j * ldb + p);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (std::size_t j = 0; j < S; ++j) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
  }
  if constexpr (R == 4 && S == 4) {
    // A full block: the 16 sums in one vector, row i of C in its quarter i (sum_16, below)
    const __m512 sums = sum_16(acc);
#pragma GCC unroll 4
    for (std::size_t i = 0; i < 4; ++i) {
      __m128 row = _mm512_mask_extractf32x4_ps(_mm_setzero_ps(), 0xF, sums, int(i));
      if (accumulate) row = _mm_add_ps(row, _mm_loadu_ps(c + i * ldc));
      _mm_storeu_ps(c + i * ldc, row);
    }
    return;
  }
#pragma GCC unroll 4
  for (std::size_t i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (std::size_t j = 0; j < S; ++j) {
      const float sum = sum_lanes(acc[i][j]);
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + sum : sum;
    }
}

// C = A B^T with A not transposed.
void dots_gemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
               std::size_t ldc, bool accumulate) {
  for (std::size_t p0 = 0; p0 < s.k; p0 += kDotsKc) {
    const std::size_t kc = std::min<std::size_t>(kDotsKc, s.k - p0);
    const bool add = accumulate || p0 > 0;
    for (std::size_t j0 = 0; j0 < s.n; j0 += kDotsNc) {
      const std::size_t j_end = std::min<std::size_t>(s.n, j0 + kDotsNc);
      for (std::size_t i = 0; i < s.m; i += kDots) {
        const std::size_t rows = std::min<std::size_t>(kDots, s.m - i);
        for (std::size_t j = j0; j < j_end; j += kDots) {
          const std::size_t cols = std::min<std::size_t>(kDots, j_end - j);
          with_size<kDots>(rows, [&]<std::size_t R>() {
            with_size<kDots>(cols, [&]<std::size_t S>() {
              dots_kernel<R, S>(kc, a + i * lda + p0, lda, b + j * ldb + p0, ldb, c + i * ldc + j, ldc, add);
            });
          });
        }
      }
    }
  }
}

}  // namespace

bool handles(const GemmShape& s) { return !(s.ta && s.tb); }

void sgemm(const GemmShape& s, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
           std::size_t ldc, bool accumulate) {
  if (s.tb)
    dots_gemm(s, a, lda, b, ldb, c, ldc, accumulate);
  else
    rows_gemm(s, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace xgrad::detail::avx512
