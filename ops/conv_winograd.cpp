// Winograd F(2x2, 3x3) for conv2d (see conv_winograd.hpp for the algebra). The matrices:
//
//   B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
//         [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
//         [0 -1  1  0]         [1/2 -1/2  1/2]
//         [0  1  0 -1]         [ 0    0    1 ]
//
// Layouts: a tile t is one 2x2 output block, numbered image by image, row by row. V [16][C][T] and
// M [16][F][T] hold the 16 transformed values k = 4 i + j of every tile, so each GEMM reads and
// writes contiguous rows. Images go through in chunks of about 256 tiles, so V and M stay in cache,
// and the chunks are split across xgrad's threads.
#include "conv_winograd.hpp"

#include <algorithm>
#include <vector>

#include "../autograd/threads.hpp"
#include "blas.hpp"

namespace xgrad::detail::winograd {

bool applies(std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph <= 2 && pw <= 2;
}

namespace {

// Tiles are numbered row by row with one spare tile at the end of every row (tw + 1 per row, the spare
// one's values unused): then "the next column of 2x2 blocks" is always the next array element, and
// every transform below is one long loop over all the tiles of an image, which vectorizes; rows of
// 14 tiles did not (the scalar remainder of each short loop cost more than its vector part).
struct Tiles {
  std::size_t th, tw;  // tiles per image, down and across
  std::size_t row() const { return tw + 1; }
  std::size_t per_image() const { return th * row(); }
};
Tiles tiles_of(const Shape& s) { return {(s.oh() + 1) / 2, (s.ow() + 1) / 2}; }

// Images per chunk: about 256 tiles (V and M for 16 -> 32 channels then take 0.8 MB together).
std::size_t images_per_chunk(const Shape& s) {
  return std::clamp<std::size_t>(256 / std::max<std::size_t>(tiles_of(s).per_image(), 1), 1, std::max<std::size_t>(s.n, 1));
}

// U [16][F][C] = G g G^T for every filter g = w[f][c] (3x3).
template <class T>
std::vector<T> transform_filters(const T* w, std::size_t F, std::size_t C) {
  std::vector<T> u(16 * F * C);
  const T h = T(0.5);
  for (std::size_t f = 0; f < F; ++f)
    for (std::size_t c = 0; c < C; ++c) {
      const T* g = w + (f * C + c) * 9;
      T r[4][3];  // G g: rows combined
      for (std::size_t q = 0; q < 3; ++q) {
        r[0][q] = g[q];
        r[1][q] = h * (g[q] + g[3 + q] + g[6 + q]);
        r[2][q] = h * (g[q] - g[3 + q] + g[6 + q]);
        r[3][q] = g[6 + q];
      }
      for (std::size_t i = 0; i < 4; ++i) {  // (G g) G^T: columns combined
        const T v[4] = {r[i][0], h * (r[i][0] + r[i][1] + r[i][2]), h * (r[i][0] - r[i][1] + r[i][2]), r[i][2]};
        for (std::size_t j = 0; j < 4; ++j) u[((4 * i + j) * F + f) * C + c] = v[j];
      }
    }
  return u;
}

// The inner loops, as functions: GCC honours __restrict on parameters (not on local pointers), and
// without it the many streams below are not vectorized.
template <class T>
void rows_BtD(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
              T* __restrict s0, T* __restrict s1, T* __restrict s2, T* __restrict s3, std::size_t n) {
  for (std::size_t m = 0; m < n; ++m) {
    s0[m] = d0[m] - d2[m];
    s1[m] = d1[m] + d2[m];
    s2[m] = d2[m] - d1[m];
    s3[m] = d1[m] - d3[m];
  }
}
// columns 2tj .. 2tj+3 of a row are e[tj] o[tj] e[tj+1] o[tj+1]
template <class T>
void cols_B(const T* __restrict e, const T* __restrict o, T* __restrict v0, T* __restrict v1, T* __restrict v2,
            T* __restrict v3, std::size_t n) {
  for (std::size_t tj = 0; tj < n; ++tj) {
    v0[tj] = e[tj] - e[tj + 1];
    v1[tj] = o[tj] + e[tj + 1];
    v2[tj] = e[tj + 1] - o[tj];
    v3[tj] = o[tj] - o[tj + 1];
  }
}
// The 2x2 outputs A^T m A (+ add) of every tile in one pass: value k of tile t is m[k * step + t]; the
// top row of each block goes to top[2t], top[2t + 1], the bottom row to bottom[2t], bottom[2t + 1].
template <class T>
void output_tiles(const T* __restrict m, std::size_t step, T add, T* __restrict top, T* __restrict bottom,
                  std::size_t n) {
  for (std::size_t t = 0; t < n; ++t) {
    T v[16];
    for (std::size_t k = 0; k < 16; ++k) v[k] = m[k * step + t];
    const T z00 = v[0] + v[4] + v[8], z01 = v[1] + v[5] + v[9], z02 = v[2] + v[6] + v[10], z03 = v[3] + v[7] + v[11];
    const T z10 = v[4] - v[8] - v[12], z11 = v[5] - v[9] - v[13], z12 = v[6] - v[10] - v[14],
            z13 = v[7] - v[11] - v[15];
    top[2 * t] = z00 + z01 + z02 + add;
    top[2 * t + 1] = z01 - z02 - z03 + add;
    bottom[2 * t] = z10 + z11 + z12 + add;
    bottom[2 * t + 1] = z11 - z12 - z13 + add;
  }
}
// row[2t] = l[t], row[2t + 1] = r[t]
template <class T>
void interleave(const T* __restrict l, const T* __restrict r, T* __restrict row, std::size_t pairs) {
  for (std::size_t t = 0; t < pairs; ++t) {
    row[2 * t] = l[t];
    row[2 * t + 1] = r[t];
  }
}

// (A dY) A^T for one row i of A dY, whose two columns are r0 and r1: v = r0, r0 + r1, r0 - r1, -r1
template <class T>
void cols_At(const T* __restrict r0, const T* __restrict r1, T* __restrict v0, T* __restrict v1, T* __restrict v2,
             T* __restrict v3, std::size_t n) {
  for (std::size_t tj = 0; tj < n; ++tj) {
    v0[tj] = r0[tj];
    v1[tj] = r0[tj] + r1[tj];
    v2[tj] = r0[tj] - r1[tj];
    v3[tj] = -r1[tj];
  }
}
template <class T>
void add_sub(const T* __restrict a, const T* __restrict b, T* __restrict sum, T* __restrict diff, T* __restrict neg,
             std::size_t n) {
  for (std::size_t tj = 0; tj < n; ++tj) {
    sum[tj] = a[tj] + b[tj];
    diff[tj] = a[tj] - b[tj];
    neg[tj] = -b[tj];
  }
}

// a[m] = src[2m], b[m] = src[2m + 1]
template <class T>
void deinterleave(const T* __restrict src, T* __restrict a, T* __restrict b, std::size_t pairs) {
  for (std::size_t m = 0; m < pairs; ++m) {
    a[m] = src[2 * m];
    b[m] = src[2 * m + 1];
  }
}

// The adjoint of cols_B: from dv0..dv3 of every tile to d(e), d(o) (tile t - 1 feeds columns t too;
// the spare tile ending each row has dv = 0, so nothing leaks from one tile row into the next).
template <class T>
void cols_B_adjoint(const T* __restrict dv0, const T* __restrict dv1, const T* __restrict dv2,
                    const T* __restrict dv3, T* __restrict de, T* __restrict dO, std::size_t n) {
  de[0] = dv0[0];
  dO[0] = dv1[0] - dv2[0] + dv3[0];
  for (std::size_t t = 1; t < n; ++t) {
    de[t] = dv0[t] - dv0[t - 1] + dv1[t - 1] + dv2[t - 1];
    dO[t] = dv1[t] - dv2[t] + dv3[t] - dv3[t - 1];
  }
}
// The adjoint of rows_BtD: from ds0..ds3 (n values) to d(E), d(O) (n + half values; row ti + 1 of the
// quarters also feeds tile row ti).
template <class T>
void rows_BtD_adjoint(const T* __restrict ds0, const T* __restrict ds1, const T* __restrict ds2,
                      const T* __restrict ds3, T* __restrict dE, T* __restrict dO, std::size_t n, std::size_t half) {
  for (std::size_t j = 0; j < half; ++j) {
    dE[j] = ds0[j];
    dO[j] = ds1[j] - ds2[j] + ds3[j];
  }
  for (std::size_t j = half; j < n; ++j) {
    dE[j] = ds0[j] - ds0[j - half] + ds1[j - half] + ds2[j - half];
    dO[j] = ds1[j] - ds2[j] + ds3[j] - ds3[j - half];
  }
  for (std::size_t j = n; j < n + half; ++j) {
    dE[j] = -ds0[j - half] + ds1[j - half] + ds2[j - half];
    dO[j] = -ds3[j - half];
  }
}

// The zero-padded input plane split by the parity of its rows and columns: quarter[pr][pc] row q
// holds padded row 2q + pr at padded columns pc, 2 + pc, 4 + pc, ... (th + 1 rows of tw + 1). The
// padded rows are first laid out whole (2 (tw + 1) wide, even rows and odd rows apart), so that the
// column split is one long loop per row parity.
template <class T>
void split_plane(const Shape& s, const Tiles& tl, const T* plane, T* quarter, T* padded) {
  const std::size_t half = tl.row(), size = (tl.th + 1) * half, width = 2 * half;
  std::fill(padded, padded + 2 * size * 2, T(0));  // even rows, then odd rows: (th + 1) x width each
  for (std::size_t r = 0; r < s.h; ++r) {
    const std::size_t u = r + s.ph;  // padded row
    std::copy_n(plane + r * s.w, s.w, padded + (u % 2) * 2 * size + (u / 2) * width + s.pw);
  }
  for (std::size_t pr = 0; pr < 2; ++pr)
    deinterleave(padded + pr * 2 * size, quarter + (2 * pr) * size, quarter + (2 * pr + 1) * size, size);
}

// The inverse of split_plane: the input plane's values back out of the quarters (padding dropped).
template <class T>
void join_plane(const Shape& s, const Tiles& tl, const T* quarter, T* plane, T* padded) {
  const std::size_t half = tl.row(), size = (tl.th + 1) * half, width = 2 * half;
  for (std::size_t pr = 0; pr < 2; ++pr)
    interleave(quarter + (2 * pr) * size, quarter + (2 * pr + 1) * size, padded + pr * 2 * size, size);
  for (std::size_t r = 0; r < s.h; ++r) {
    const std::size_t u = r + s.ph;
    std::copy_n(padded + (u % 2) * 2 * size + (u / 2) * width + s.pw, s.w, plane + r * s.w);
  }
}

// V [16][C][T] = B^T d B for the tiles of `count` images starting at x (one image is C*H*W).
template <class T>
void transform_input(const Shape& s, const Tiles& tl, const T* x, std::size_t count, T* V, std::vector<T>& scratch) {
  const std::size_t T_all = count * tl.per_image(), half = tl.row(), L = tl.per_image(), size = (tl.th + 1) * half;
  scratch.assign(8 * size + 8 * (L + 1), T(0));
  T* quarter = scratch.data();
  T* padded = quarter + 4 * size;
  T* comb = padded + 4 * size;  // B^T d, rows i = 0..3 at even columns, then at odd columns; L + 1 each
  for (std::size_t img = 0; img < count; ++img)
    for (std::size_t c = 0; c < s.c; ++c) {
      split_plane(s, tl, x + (img * s.c + c) * s.h * s.w, quarter, padded);
      for (std::size_t pc = 0; pc < 2; ++pc) {  // B^T d: padded rows 2ti .. 2ti+3 are E[ti] O[ti] E[ti+1] O[ti+1]
        const T* E = quarter + pc * size;
        const T* O = quarter + (2 + pc) * size;
        T* out = comb + 4 * pc * (L + 1);
        rows_BtD(E, O, E + half, O + half, out, out + (L + 1), out + 2 * (L + 1), out + 3 * (L + 1), L);
      }
      for (std::size_t i = 0; i < 4; ++i)  // (B^T d) B: columns 2tj .. 2tj+3 are e[t] o[t] e[t+1] o[t+1]
        cols_B(comb + i * (L + 1), comb + (4 + i) * (L + 1), V + ((4 * i + 0) * s.c + c) * T_all + img * L,
               V + ((4 * i + 1) * s.c + c) * T_all + img * L, V + ((4 * i + 2) * s.c + c) * T_all + img * L,
               V + ((4 * i + 3) * s.c + c) * T_all + img * L, L);
    }
}

// dx = the adjoint of transform_input: from dV [16][C][T] of `count` images back to their planes,
// B dV B^T per tile, the overlapping 4x4 blocks added up.
template <class T>
void transform_input_adjoint(const Shape& s, const Tiles& tl, const T* dV, std::size_t count, T* dx,
                             std::vector<T>& scratch) {
  const std::size_t T_all = count * tl.per_image(), half = tl.row(), L = tl.per_image(), size = (tl.th + 1) * half;
  scratch.resize(8 * size + 8 * L);
  T* quarter = scratch.data();
  T* padded = quarter + 4 * size;
  T* comb = padded + 4 * size;  // d(B^T d): rows i = 0..3 at even columns, then at odd columns
  for (std::size_t img = 0; img < count; ++img)
    for (std::size_t c = 0; c < s.c; ++c) {
      for (std::size_t i = 0; i < 4; ++i) {
        const T* v = dV + c * T_all + img * L;  // + k * C * T_all for value k
        const std::size_t step = s.c * T_all;
        cols_B_adjoint(v + (4 * i) * step, v + (4 * i + 1) * step, v + (4 * i + 2) * step, v + (4 * i + 3) * step,
                       comb + i * L, comb + (4 + i) * L, L);
      }
      for (std::size_t pc = 0; pc < 2; ++pc) {
        const T* ds = comb + 4 * pc * L;
        rows_BtD_adjoint(ds, ds + L, ds + 2 * L, ds + 3 * L, quarter + pc * size, quarter + (2 + pc) * size, L, half);
      }
      join_plane(s, tl, quarter, dx + (img * s.c + c) * s.h * s.w, padded);
    }
}

// y = A^T M A (+ bias) for the tiles of `count` images, the outputs that fall inside [OH, OW].
template <class T>
void transform_output(const Shape& s, const Tiles& tl, const T* M, const T* bias, std::size_t count, T* y,
                      std::vector<T>& rows) {
  const std::size_t T_all = count * tl.per_image(), oh = s.oh(), ow = s.ow(), half = tl.row(), L = tl.per_image();
  rows.resize(4 * L);  // output rows 2ti (top) and 2ti + 1 (bottom) of every tile row, 2 (tw + 1) wide
  T* top = rows.data();
  T* bottom = rows.data() + 2 * L;
  const std::size_t step = s.f * T_all;  // from value k of a tile to value k + 1
  for (std::size_t img = 0; img < count; ++img)
    for (std::size_t f = 0; f < s.f; ++f) {
      output_tiles(M + f * T_all + img * L, step, bias ? bias[f] : T(0), top, bottom, L);
      T* plane = y + (img * s.f + f) * oh * ow;
      for (std::size_t ti = 0; ti < tl.th; ++ti) {
        std::copy_n(top + 2 * ti * half, ow, plane + 2 * ti * ow);
        if (2 * ti + 1 < oh) std::copy_n(bottom + 2 * ti * half, ow, plane + (2 * ti + 1) * ow);
      }
    }
}

// dM [16][F][T] = A dY A^T for the tiles of `count` images (dY outside [OH, OW], and at the spare
// tiles, is zero).
template <class T>
void transform_output_grad(const Shape& s, const Tiles& tl, const T* dy, std::size_t count, T* dM,
                           std::vector<T>& g) {
  const std::size_t T_all = count * tl.per_image(), oh = s.oh(), ow = s.ow(), half = tl.row(), L = tl.per_image();
  // g: the tile's dY rows 0 and 1, each at even then odd columns; then r = A dY rows 1..3 likewise
  g.resize(10 * L);
  for (std::size_t img = 0; img < count; ++img)
    for (std::size_t f = 0; f < s.f; ++f) {
      const T* plane = dy + (img * s.f + f) * oh * ow;
      std::fill(g.begin(), g.begin() + 4 * L, T(0));
      for (std::size_t a = 0; a < 2; ++a)
        for (std::size_t ti = 0; ti < tl.th && 2 * ti + a < oh; ++ti) {
          const T* row = plane + (2 * ti + a) * ow;
          T* even = g.data() + (2 * a) * L + ti * half;
          T* odd = g.data() + (2 * a + 1) * L + ti * half;
          deinterleave(row, even, odd, ow / 2);
          if (ow % 2) even[ow / 2] = row[ow - 1];
        }
      // A dY: rows r0 = g0, r1 = g0 + g1, r2 = g0 - g1, r3 = -g1; then (A dY) A^T on the columns alike
      const T* g0e = g.data();
      const T* g0o = g.data() + L;
      const T* g1e = g.data() + 2 * L;
      const T* g1o = g.data() + 3 * L;
      T* r = g.data() + 4 * L;
      add_sub(g0e, g1e, r, r + L, r + 2 * L, L);
      add_sub(g0o, g1o, r + 3 * L, r + 4 * L, r + 5 * L, L);
      const T* row_even[4] = {g0e, r, r + L, r + 2 * L};
      const T* row_odd[4] = {g0o, r + 3 * L, r + 4 * L, r + 5 * L};
      auto out = [&](std::size_t k) { return dM + (k * s.f + f) * T_all + img * L; };
      for (std::size_t i = 0; i < 4; ++i)
        cols_At(row_even[i], row_odd[i], out(4 * i), out(4 * i + 1), out(4 * i + 2), out(4 * i + 3), L);
    }
}

// dw [F][C][3][3] += G^T dU G for dU [16][F][C].
template <class T>
void add_filter_grad(const T* dU, std::size_t F, std::size_t C, T* dw) {
  const T h = T(0.5);
  for (std::size_t f = 0; f < F; ++f)
    for (std::size_t c = 0; c < C; ++c) {
      T u[4][4];
      for (std::size_t k = 0; k < 16; ++k) u[k / 4][k % 4] = dU[(k * F + f) * C + c];
      T r[3][4];  // G^T dU: rows combined
      for (std::size_t j = 0; j < 4; ++j) {
        r[0][j] = u[0][j] + h * (u[1][j] + u[2][j]);
        r[1][j] = h * (u[1][j] - u[2][j]);
        r[2][j] = h * (u[1][j] + u[2][j]) + u[3][j];
      }
      T* g = dw + (f * C + c) * 9;
      for (std::size_t p = 0; p < 3; ++p) {  // (G^T dU) G: columns combined
        g[3 * p + 0] += r[p][0] + h * (r[p][1] + r[p][2]);
        g[3 * p + 1] += h * (r[p][1] - r[p][2]);
        g[3 * p + 2] += h * (r[p][1] + r[p][2]) + r[p][3];
      }
    }
}

// Images go in fixed chunks [k * size, (k + 1) * size) and threads take runs of whole chunks, so the
// forward and the backward cut the batch the same way (the backward reuses the forward's V).
struct Chunks {
  std::size_t size, count, parts;  // images per chunk, chunks, threads to use
};
Chunks chunks_of(const Shape& s) {
  const std::size_t size = images_per_chunk(s), count = (s.n + size - 1) / size;
  const double macs = double(s.n) * double(tiles_of(s).per_image()) * 16.0 * double(s.c) * double(s.f);
  return {size, count, macs < 1e6 ? 1 : parallel_parts(count)};
}
template <class F>
void for_each_chunk(const Shape& s, const Chunks& ch, F&& fn) {  // fn(part, n0, images), part < ch.parts
  parallel_for(ch.count, ch.parts, [&](std::size_t part, std::size_t first, std::size_t last) {
    for (std::size_t k = first; k < last; ++k) fn(part, k * ch.size, std::min(ch.size, s.n - k * ch.size));
  });
}

}  // namespace

std::size_t kept_input_size(const Shape& s) { return 16 * s.c * s.n * tiles_of(s).per_image(); }

template <class T>
void forward(const Shape& s, const T* x, const T* w, const T* bias, T* y, T* keep) {
  const Tiles tl = tiles_of(s);
  const std::size_t image = s.c * s.h * s.w, out_image = s.f * s.oh() * s.ow();
  const Chunks ch = chunks_of(s);
  const std::vector<T> U = transform_filters(w, s.f, s.c);
  std::vector<std::vector<T>> V(ch.parts), M(ch.parts), scratch(ch.parts);  // one of each per thread
  for_each_chunk(s, ch, [&](std::size_t part, std::size_t n0, std::size_t count) {
    const std::size_t T_all = count * tl.per_image();
    if (M[part].empty()) {
      M[part].resize(16 * s.f * ch.size * tl.per_image());
      if (!keep) V[part].resize(16 * s.c * ch.size * tl.per_image());
    }
    // V of this chunk: in the kept buffer (block at image n0) or in this thread's scratch
    T* v = keep ? keep + 16 * s.c * n0 * tl.per_image() : V[part].data();
    transform_input(s, tl, x + n0 * image, count, v, scratch[part]);
    for (std::size_t k = 0; k < 16; ++k)  // M[k] [F, T] = U[k] [F, C] V[k] [C, T]
      gemm({false, false, s.f, T_all, s.c}, U.data() + k * s.f * s.c, s.c, v + k * s.c * T_all, T_all,
           M[part].data() + k * s.f * T_all, T_all);
    transform_output(s, tl, M[part].data(), bias, count, y + n0 * out_image, scratch[part]);
  });
}

template <class T>
void backward(const Shape& s, const T* x, const T* w, const T* dy, const T* kept, T* dx, T* dw) {
  const Tiles tl = tiles_of(s);
  const std::size_t image = s.c * s.h * s.w, out_image = s.f * s.oh() * s.ow();
  const Chunks ch = chunks_of(s);
  const std::size_t tiles = ch.size * tl.per_image();
  const std::vector<T> U = dx ? transform_filters(w, s.f, s.c) : std::vector<T>();
  // dU [16][F][C], one per part, summed after
  std::vector<std::vector<T>> dU(dw ? ch.parts : 0, std::vector<T>(16 * s.f * s.c, T(0)));
  std::vector<std::vector<T>> V(ch.parts), dM(ch.parts), scratch(ch.parts);  // one of each per thread
  for_each_chunk(s, ch, [&](std::size_t part, std::size_t n0, std::size_t count) {
    const std::size_t T_all = count * tl.per_image();
    if (dM[part].empty()) {
      dM[part].resize(16 * s.f * tiles);
      V[part].resize(16 * s.c * tiles);
    }
    transform_output_grad(s, tl, dy + n0 * out_image, count, dM[part].data(), scratch[part]);
    if (dw) {
      const T* v = kept ? kept + 16 * s.c * n0 * tl.per_image() : V[part].data();
      if (!kept) transform_input(s, tl, x + n0 * image, count, V[part].data(), scratch[part]);
      for (std::size_t k = 0; k < 16; ++k)  // dU[k] [F, C] += dM[k] [F, T] V[k]^T [T, C]
        gemm({false, true, s.f, s.c, T_all}, dM[part].data() + k * s.f * T_all, T_all, v + k * s.c * T_all, T_all,
             dU[part].data() + k * s.f * s.c, s.c, /*accumulate=*/true);
    }
    if (dx) {
      for (std::size_t k = 0; k < 16; ++k)  // dV[k] [C, T] = U[k]^T [C, F] dM[k] [F, T]
        gemm({true, false, s.c, T_all, s.f}, U.data() + k * s.f * s.c, s.c, dM[part].data() + k * s.f * T_all, T_all,
             V[part].data() + k * s.c * T_all, T_all);
      transform_input_adjoint(s, tl, V[part].data(), count, dx + n0 * image, scratch[part]);
    }
  });
  if (dw) {
    std::fill(dw, dw + s.f * s.c * 9, T(0));
    for (const auto& partial : dU) add_filter_grad(partial.data(), s.f, s.c, dw);
  }
}

template void forward<float>(const Shape&, const float*, const float*, const float*, float*, float*);
template void forward<double>(const Shape&, const double*, const double*, const double*, double*, double*);
template void backward<float>(const Shape&, const float*, const float*, const float*, const float*, float*, float*);
template void backward<double>(const Shape&, const double*, const double*, const double*, const double*, double*,
                               double*);

}  // namespace xgrad::detail::winograd
