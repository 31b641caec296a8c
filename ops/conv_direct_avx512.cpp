// conv2d's direct route (see conv_direct_avx512.hpp): the forward and weight-gradient kernels, and
// their drivers over images and blocks of filters.
#include "conv_direct_avx512.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace xgrad::detail::avx512 {

namespace {

constexpr std::size_t kForwardFilters = 8;  // forward: 8 filters x 32 columns = 16 accumulators
constexpr std::size_t kGradFilters = 2;     // weight gradient: 2 filters x 9 taps + 2 bias sums

// The lanes l whose input column j0 + l + dj - 1 lies inside [0, w): the others are padding.
inline __mmask16 tap_lanes(std::size_t j0, std::size_t dj, std::size_t w) {
  const std::ptrdiff_t first = std::ptrdiff_t(j0 + dj) - 1, end = std::ptrdiff_t(w) - first;
  const std::size_t lo = first < 0 ? std::size_t(-first) : 0,
                    hi = end <= 0 ? 0 : std::min<std::size_t>(16, std::size_t(end));
  return hi <= lo ? __mmask16(0) : __mmask16(lanes(hi) & ~lanes(lo));
}

// One image, FB filters: y [f][i][j] = bias[f] + the sum over c, di, dj of w[f][c][di][dj] times
// x[c][i + di - 1][j + dj - 1], 32 columns of one row at a time (two vectors per filter).
template <std::size_t FB>
XGRAD_AVX512 void forward_filters(const DirectConv& s, const float* x, const float* w, const float* bias, float* y) {
  const std::size_t plane = s.h * s.w;
  for (std::size_t j0 = 0; j0 < s.w; j0 += 32) {
    const std::size_t cols = std::min<std::size_t>(32, s.w - j0);
    // the valid lanes of each shifted load, per vector and tap column
    const __mmask16 m[2][3] = {{tap_lanes(j0, 0, s.w), tap_lanes(j0, 1, s.w), tap_lanes(j0, 2, s.w)},
                               {tap_lanes(j0 + 16, 0, s.w), tap_lanes(j0 + 16, 1, s.w), tap_lanes(j0 + 16, 2, s.w)}};
    const std::uintptr_t left = reinterpret_cast<std::uintptr_t>(x) + j0 * sizeof(float) - sizeof(float);
    for (std::size_t i = 0; i < s.h; ++i) {
      __m512 acc[FB][2];
#pragma GCC unroll 8
      for (std::size_t f = 0; f < FB; ++f) acc[f][0] = acc[f][1] = bias ? _mm512_set1_ps(bias[f]) : _mm512_setzero_ps();
      for (std::size_t c = 0; c < s.c; ++c)
#pragma GCC unroll 3
        for (std::size_t di = 0; di < 3; ++di) {
          if (i + di < 1 || i + di > s.h) continue;  // row i + di - 1 is padding
          // column j0 + dj - 1 of row i + di - 1: masked-off lanes are not read, so the address one
          // before the row (j0 = 0, dj = 0) is never touched
          const float* at = reinterpret_cast<const float*>(left + (c * plane + (i + di - 1) * s.w) * sizeof(float));
#pragma GCC unroll 3
          for (std::size_t dj = 0; dj < 3; ++dj) {
            const __m512 x0 = _mm512_maskz_loadu_ps(m[0][dj], at + dj),
                         x1 = _mm512_maskz_loadu_ps(m[1][dj], at + dj + 16);
            const float* tap = w + c * 9 + di * 3 + dj;
#pragma GCC unroll 8
            for (std::size_t f = 0; f < FB; ++f) {
              const __m512 wv = _mm512_set1_ps(tap[f * s.c * 9]);
              acc[f][0] = _mm512_fmadd_ps(wv, x0, acc[f][0]);
              acc[f][1] = _mm512_fmadd_ps(wv, x1, acc[f][1]);
            }
          }
        }
#pragma GCC unroll 8
      for (std::size_t f = 0; f < FB; ++f) {
        float* out = y + f * plane + i * s.w + j0;
        _mm512_mask_storeu_ps(out, lanes(cols), acc[f][0]);
        if (cols > 16) _mm512_mask_storeu_ps(out + 16, lanes(cols - 16), acc[f][1]);
      }
    }
  }
}

// One image, FB filters from f0, input channel c: the products of dy with the input under each of
// the 9 taps (and, with bias, dy itself), over all positions, added lane by lane into sums [FB][10][16]
// (in double: a lane then adds at most one image's terms in float). Images go through one at a
// time and filters inside them, so dy is read once, in order.
template <std::size_t FB>
XGRAD_AVX512 void grad_image(const DirectConv& s, const float* x, const float* dy, bool bias, double* sums) {
  const std::size_t plane = s.h * s.w;
  __m512 acc[FB][10];
#pragma GCC unroll 2
  for (std::size_t f = 0; f < FB; ++f)
#pragma GCC unroll 10
    for (std::size_t t = 0; t < 10; ++t) acc[f][t] = _mm512_setzero_ps();
  for (std::size_t j0 = 0; j0 < s.w; j0 += 16) {
    const __mmask16 out = lanes(s.w - j0), m0 = tap_lanes(j0, 0, s.w), m1 = tap_lanes(j0, 1, s.w),
                    m2 = tap_lanes(j0, 2, s.w);
    const std::uintptr_t left = reinterpret_cast<std::uintptr_t>(x) + j0 * sizeof(float) - sizeof(float);
    for (std::size_t i = 0; i < s.h; ++i) {
      __m512 xs[9];
#pragma GCC unroll 3
      for (std::size_t di = 0; di < 3; ++di) {
        if (i + di < 1 || i + di > s.h) {  // row i + di - 1 is padding
          xs[3 * di] = xs[3 * di + 1] = xs[3 * di + 2] = _mm512_setzero_ps();
          continue;
        }
        const float* at = reinterpret_cast<const float*>(left + (i + di - 1) * s.w * sizeof(float));
        xs[3 * di] = _mm512_maskz_loadu_ps(m0, at);
        xs[3 * di + 1] = _mm512_maskz_loadu_ps(m1, at + 1);
        xs[3 * di + 2] = _mm512_maskz_loadu_ps(m2, at + 2);
      }
#pragma GCC unroll 2
      for (std::size_t f = 0; f < FB; ++f) {
        const __m512 g = _mm512_maskz_loadu_ps(out, dy + f * plane + i * s.w + j0);
#pragma GCC unroll 9
        for (std::size_t t = 0; t < 9; ++t) acc[f][t] = _mm512_fmadd_ps(g, xs[t], acc[f][t]);
        if (bias) acc[f][9] = _mm512_add_ps(acc[f][9], g);
      }
    }
  }
#pragma GCC unroll 2
  for (std::size_t f = 0; f < FB; ++f)
    for (std::size_t t = 0; t < 10; ++t) {
      double* lane = sums + (f * 10 + t) * 16;
      // (the masked forms, every lane selected: the unmasked ones trip GCC 12's -Wuninitialized)
      const __m256 low = _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, acc[f][t], 0),
                   high = _mm512_mask_extractf32x8_ps(_mm256_setzero_ps(), 0xFF, acc[f][t], 1);
      const __m512d zero = _mm512_setzero_pd();
      _mm512_storeu_pd(lane, _mm512_add_pd(_mm512_loadu_pd(lane), _mm512_mask_cvtps_pd(zero, 0xFF, low)));
      _mm512_storeu_pd(lane + 8, _mm512_add_pd(_mm512_loadu_pd(lane + 8), _mm512_mask_cvtps_pd(zero, 0xFF, high)));
    }
}

}  // namespace

bool direct_conv_applies(std::size_t c, std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph,
                         std::size_t pw) {
  return c >= 1 && c <= 2 && kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph == 1 && pw == 1;
}

void direct_conv_forward(const DirectConv& s, std::size_t first, std::size_t last, const float* x, const float* w,
                         const float* bias, float* y) {
  const std::size_t plane = s.h * s.w;
  for (std::size_t n = first; n < last; ++n)
    for (std::size_t f0 = 0; f0 < s.f; f0 += kForwardFilters) {
      const std::size_t count = std::min<std::size_t>(kForwardFilters, s.f - f0);
      with_size<kForwardFilters>(count, [&]<std::size_t FB>() {
        forward_filters<FB>(s, x + n * s.c * plane, w + f0 * s.c * 9, bias ? bias + f0 : nullptr,
                            y + (n * s.f + f0) * plane);
      });
    }
}

void direct_conv_weight_grad(const DirectConv& s, std::size_t first, std::size_t last, const float* x, const float* dy,
                             float* dw, float* db) {
  const std::size_t plane = s.h * s.w, per_filter = s.c * 10 * 16;
  std::vector<double> lane_sums(s.f * per_filter, 0.0);  // [F][C][10][16]: 9 taps and the bias, per lane
  double* sums = lane_sums.data();
  for (std::size_t n = first; n < last; ++n)
    for (std::size_t c = 0; c < s.c; ++c)
      for (std::size_t f0 = 0; f0 < s.f; f0 += kGradFilters) {
        const bool bias = db != nullptr && c == 0;  // dy's sums once, with the first channel
        const float* xc = x + (n * s.c + c) * plane;
        const float* d = dy + (n * s.f + f0) * plane;
        // sums [F][C][10][16]: filter f0's block of FB filters is FB consecutive [10][16] blocks only
        // when C = 1, so each filter's block is passed on its own when C > 1
        if (s.c == 1 && f0 + kGradFilters <= s.f) {
          grad_image<kGradFilters>(s, xc, d, bias, sums + f0 * per_filter);
          continue;
        }
        for (std::size_t f = f0; f < std::min(s.f, f0 + kGradFilters); ++f)
          grad_image<1>(s, xc, d + (f - f0) * plane, bias, sums + (f * s.c + c) * 10 * 16);
      }
  for (std::size_t f = 0; f < s.f; ++f)
    for (std::size_t c = 0; c < s.c; ++c) {
      const double* lanes_of = sums + (f * s.c + c) * 10 * 16;
      for (std::size_t t = 0; t < 10; ++t) {
        double sum = 0;
        for (std::size_t l = 0; l < 16; ++l) sum += lanes_of[t * 16 + l];
        if (t < 9) dw[(f * s.c + c) * 9 + t] = float(sum);
        if (t == 9 && c == 0 && db != nullptr) db[f] = float(sum);
      }
    }
}

}  // namespace xgrad::detail::avx512
