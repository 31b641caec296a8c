// Winograd F(m x m, 3x3) for conv2d, m = 2 or 4 (see conv_winograd.hpp for the algebra). An m x m
// output block comes from the a x a input block under it (a = m + 2); the transforms are separable,
// so each is a 1-D transform applied along the rows, then along the columns (the kernels:
// conv_winograd_tiles.hpp):
//
//   F(2x2, 3x3):  B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1  1  1  0]
//                       [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//                       [0 -1  1  0]        [1/2 -1/2  1/2]
//                       [0  1  0 -1]        [ 0    0    1 ]
//
//   F(4x4, 3x3):  B^T = [4  0 -5  0  1  0]   G = [ 1/4    0     0 ]   A^T = [1  1  1  1  1  0]
//                       [0 -4 -4  1  1  0]       [-1/6 -1/6  -1/6 ]         [0  1 -1  2 -2  0]
//                       [0  4 -4 -1  1  0]       [-1/6  1/6  -1/6 ]         [0  1  1  4  4  0]
//                       [0 -2 -1  2  1  0]       [1/24  1/12  1/6 ]         [0  1 -1  8 -8  1]
//                       [0  2 -1 -2  1  0]       [1/24 -1/12  1/6 ]
//                       [0  4  0 -5  0  1]       [  0     0     1 ]
//
// Layouts: a tile t is one m x m output block, numbered image by image, row by row. V [C][a*a][T] and
// M [F][a*a][T] hold the a*a transformed values k = a i + j of every tile: GEMM k reads and writes
// rows of T values (a*a T apart), and the a*a rows one transform reads or writes lie together. Images
// go through in chunks (images_per_chunk), so V and M stay in cache, and the chunks are split across
// xgrad's threads.
//
// Phase planes: the zero-padded input plane is split by row and column modulo m into m*m planes,
// Q[p][q] holding padded[m ti + p][m tj + q] at ti * W + tj (W = tiles per row + 1). Row r of tile t's
// input block is then phase plane r % m at t + (r / m) W, column c at + c / m: every transform below is
// one long loop over all the tiles of an image with fixed offsets, which vectorizes. (That is also why
// each tile row has one spare tile at its end, never read out: "the next tile" is always the next
// element; rows of 14 tiles did not vectorize well, the scalar remainder of each short loop costing
// more than its vector part.)
#include "conv_winograd.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "../autograd/threads.hpp"
#include "blas.hpp"
#include "conv_winograd_tiles.hpp"

namespace xgrad::detail::winograd {

bool applies(std::size_t kh, std::size_t kw, std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw) {
  return kh == 3 && kw == 3 && sh == 1 && sw == 1 && ph <= 2 && pw <= 2;
}

namespace {

// Splitting by phase: q[b][j] = src[m j + b], and back (with m = 2 only q0 and q1 are touched).
template <std::size_t m, class T>
void deinterleave(const T* __restrict src, T* __restrict q0, T* __restrict q1, T* __restrict q2, T* __restrict q3,
                  std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    q0[j] = src[m * j];
    q1[j] = src[m * j + 1];
    if constexpr (m == 4) {
      q2[j] = src[m * j + 2];
      q3[j] = src[m * j + 3];
    }
  }
}
template <std::size_t m, class T>
void interleave(const T* __restrict q0, const T* __restrict q1, const T* __restrict q2, const T* __restrict q3,
                T* __restrict dst, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    dst[m * j] = q0[j];
    dst[m * j + 1] = q1[j];
    if constexpr (m == 4) {
      dst[m * j + 2] = q2[j];
      dst[m * j + 3] = q3[j];
    }
  }
}

// out[u] = p[u] + s[u - shift] for u < n, where p has np values and s has ns (zero beyond): the
// adjoint of reading one plane at two offsets (the a - m = 2 last rows or columns of a tile are the
// first ones of the next).
template <class T>
void add_shifted(const T* __restrict p, std::size_t np, const T* __restrict s, std::size_t ns, std::size_t shift,
                 T* __restrict out, std::size_t n) {
  const std::size_t p_end = std::min(np, n), s_end = std::min(ns + shift, n);
  std::size_t u = 0;
  for (; u < std::min(shift, p_end); ++u) out[u] = p[u];
  for (; u < shift && u < n; ++u) out[u] = T(0);
  for (; u < std::min(p_end, s_end); ++u) out[u] = p[u] + s[u - shift];
  for (; u < p_end; ++u) out[u] = p[u];
  for (; u < s_end; ++u) out[u] = s[u - shift];
  for (; u < n; ++u) out[u] = T(0);
}

// A copy of a short row (tens of values) without a call: memmove's call and dispatch cost about as
// much as the copy itself at this length, and these copies run once per row of every plane.
template <class T>
void copy_row(const T* __restrict src, std::size_t n, T* __restrict dst) {
  constexpr std::size_t block = 32 / sizeof(T);
  std::size_t k = 0;
  for (; k + block <= n; k += block) std::memcpy(dst + k, src + k, 32);  // one vector move
  if (k + block / 2 <= n) {
    std::memcpy(dst + k, src + k, 16);
    k += block / 2;
  }
  for (; k < n; ++k) dst[k] = src[k];
}

// Asks for the planes of filter f (one per image of the chunk) ahead of their use: they are the
// layer's input or output, in memory rather than cache, and one plane is too short a stream for the
// hardware prefetcher to catch on before it ends. for_write: they will be written (saves the wait
// for ownership of each line).
template <bool for_write, class T>
void prefetch_planes(const T* first, std::size_t plane, std::size_t stride, std::size_t count) {
  for (std::size_t img = 0; img < count; ++img)
    for (std::size_t i = 0; i < plane; i += 64 / sizeof(T)) __builtin_prefetch(first + img * stride + i, for_write, 3);
}

// Tiles of an image: th x (tw + 1), and the phase planes' size: th + 1 rows of W (the last tile row
// reads one row further), plus one value (the spare tile reads one column further).
struct Tiles {
  std::size_t m, th, tw;
  std::size_t row() const { return tw + 1; }
  std::size_t per_image() const { return th * row(); }
  std::size_t phase_size() const { return (th + 1) * row() + 1; }
};
Tiles tiles_of(const Shape& s) { return {s.tile, (s.oh() + s.tile - 1) / s.tile, (s.ow() + s.tile - 1) / s.tile}; }

// Images per chunk: as many as keep a chunk's V and M (a*a (C + F) values per tile, counted at 4 bytes)
// within about 768 KB, so they stay in cache between the transforms and the GEMMs: 768 KiB / (16 * 48 * 4 B) = 256
// tiles with 2x2 tiles and 16 -> 32 channels, 768 KiB / (36 * 48 * 4 B) = 113 with 4x4 (measured best, 5-10%
// faster than twice that); at least one image.
std::size_t images_per_chunk(const Shape& s) {
  const std::size_t a = s.tile + 2, per_tile = a * a * (s.c + s.f) * sizeof(float);
  const std::size_t tiles = (std::size_t{768} << 10) / per_tile;
  return std::clamp<std::size_t>(tiles / std::max<std::size_t>(tiles_of(s).per_image(), 1), 1,
                                 std::max<std::size_t>(s.n, 1));
}

// U [a*a][F][C] = G g G^T for every filter g = w[f][c] (3x3), computed in double.
template <std::size_t m, class T>
std::vector<T> transform_filters(const T* w, std::size_t F, std::size_t C) {
  constexpr std::size_t a = m + 2;
  const auto& G = Tile<m>::G;
  std::vector<T> u(a * a * F * C);
  for (std::size_t f = 0; f < F; ++f)
    for (std::size_t c = 0; c < C; ++c) {
      const T* g = w + (f * C + c) * 9;
      double r[a][3] = {};  // G g
      for (std::size_t i = 0; i < a; ++i)
        for (std::size_t q = 0; q < 3; ++q)
          for (std::size_t p = 0; p < 3; ++p) r[i][q] += G[i][p] * double(g[3 * p + q]);
      for (std::size_t i = 0; i < a; ++i)  // (G g) G^T
        for (std::size_t j = 0; j < a; ++j)
          u[((a * i + j) * F + f) * C + c] = T(r[i][0] * G[j][0] + r[i][1] * G[j][1] + r[i][2] * G[j][2]);
    }
  return u;
}

// dw [F][C][3][3] += G^T dU G for dU [a*a][F][C].
template <std::size_t m, class T>
void add_filter_grad(const T* dU, std::size_t F, std::size_t C, T* dw) {
  constexpr std::size_t a = m + 2;
  const auto& G = Tile<m>::G;
  for (std::size_t f = 0; f < F; ++f)
    for (std::size_t c = 0; c < C; ++c) {
      double r[3][a] = {};  // G^T dU
      for (std::size_t p = 0; p < 3; ++p)
        for (std::size_t j = 0; j < a; ++j)
          for (std::size_t i = 0; i < a; ++i) r[p][j] += G[i][p] * double(dU[((a * i + j) * F + f) * C + c]);
      T* g = dw + (f * C + c) * 9;
      for (std::size_t p = 0; p < 3; ++p)  // (G^T dU) G
        for (std::size_t q = 0; q < 3; ++q) {
          double v = 0;
          for (std::size_t j = 0; j < a; ++j) v += r[p][j] * G[j][q];
          g[3 * p + q] += T(v);
        }
    }
}

// Per-thread scratch for the transforms of one chunk, cut into named parts.
template <class T>
struct Scratch {
  std::vector<T> buffer;
  // rows: a plane's rows grouped by row phase (m groups, m W wide): the padded input plane of one
  // image (th + 1 rows per group), or the output planes of the chunk's images (th rows per image).
  // phase: the m*m phase planes of one input plane. mid: the 1-D transforms' intermediate planes,
  // 2 a*a of them, each for all the chunk's tiles (+ 1: the spare tile's read one column further).
  T *rows, *phase, *mid;
  std::size_t m, rows_size, phase_size, mid_size;
  void prepare(const Tiles& tl, std::size_t count) {  // zeroed: where no image value lands stays zero
    m = tl.m;
    const std::size_t a = m + 2;
    rows_size = std::max(tl.th + 1, count * tl.th) * m * tl.row();
    phase_size = tl.phase_size();
    mid_size = count * tl.per_image() + 1;
    buffer.assign(m * rows_size + m * m * phase_size + 2 * a * a * mid_size, T(0));
    rows = buffer.data();
    phase = rows + m * rows_size;
    mid = phase + m * m * phase_size;
  }
  T* row_group(std::size_t p) { return rows + p * rows_size; }
  T* phase_plane(std::size_t p, std::size_t q) { return phase + (p * m + q) * phase_size; }
  T* mid_plane(std::size_t k) { return mid + k * mid_size; }
};

// V [C][a*a][T] = B^T d B for the tiles of `count` images starting at x (one image is C*H*W).
template <std::size_t m, class T>
void transform_input(const Shape& s, const Tiles& tl, const T* x, std::size_t count, T* V, Scratch<T>& sc) {
  constexpr std::size_t a = m + 2;
  const std::size_t W = tl.row(), L = tl.per_image(), T_all = count * L, width = m * W;
  sc.prepare(tl, count);
  for (std::size_t c = 0; c < s.c; ++c) {
    if (c + 1 < s.c) prefetch_planes<false>(x + (c + 1) * s.h * s.w, s.h * s.w, s.c * s.h * s.w, count);
    for (std::size_t img = 0; img < count; ++img) {
      const T* plane = x + (img * s.c + c) * s.h * s.w;
      for (std::size_t r = 0; r < s.h; ++r) {  // padded row u goes to row u / m of row group u % m
        const std::size_t u = r + s.ph;
        copy_row(plane + r * s.w, s.w, sc.row_group(u % m) + (u / m) * width + s.pw);
      }
      for (std::size_t p = 0; p < m; ++p)
        deinterleave<m>(sc.row_group(p), sc.phase_plane(p, 0), sc.phase_plane(p, 1), sc.phase_plane(p, 2 % m),
                        sc.phase_plane(p, 3 % m), (tl.th + 1) * W);
      // B^T d: S[i][q] (mid plane i m + q, this image's tiles at img L) from rows r = phase plane
      // (r % m, q) at + (r / m) W. Its value L + 1 (read by the spare tile only) is overwritten by
      // the next image's first.
      for (std::size_t q = 0; q < m; ++q) {
        std::array<const T*, a> d;
        std::array<T*, a> o;
        for (std::size_t r = 0; r < a; ++r) d[r] = sc.phase_plane(r % m, q) + (r / m) * W;
        for (std::size_t i = 0; i < a; ++i) o[i] = sc.mid_plane(i * m + q) + img * L;
        input_1d<m>(d, o, L + 1);
      }
    }
    // (B^T d) B, all the chunk's tiles at once: column col of S[i] is S[i][col % m] at + col / m
    for (std::size_t i = 0; i < a; ++i) {
      std::array<const T*, a> d;
      std::array<T*, a> o;
      for (std::size_t col = 0; col < a; ++col) d[col] = sc.mid_plane(i * m + col % m) + col / m;
      for (std::size_t j = 0; j < a; ++j) o[j] = V + (c * a * a + a * i + j) * T_all;
      input_1d<m>(d, o, T_all);
    }
  }
}

// dx = the adjoint of transform_input: from dV [C][a*a][T] of `count` images back to their planes,
// B dV B^T per tile, the overlapping blocks added up.
template <std::size_t m, class T>
void transform_input_adjoint(const Shape& s, const Tiles& tl, const T* dV, std::size_t count, T* dx, Scratch<T>& sc) {
  constexpr std::size_t a = m + 2;
  const std::size_t W = tl.row(), L = tl.per_image(), T_all = count * L, width = m * W, P = (tl.th + 1) * W;
  sc.prepare(tl, count);
  auto per_col = [&](std::size_t k) { return sc.mid_plane(k); };            // a*a planes: after B on the columns
  auto per_phase = [&](std::size_t k) { return sc.mid_plane(a * a + k); };  // a*m planes: the shifts added
  auto per_row = per_col;  // a*m planes, per image: after B on the rows (the column planes are done by then)
  for (std::size_t c = 0; c < s.c; ++c) {
    if (c + 1 < s.c) prefetch_planes<true>(dx + (c + 1) * s.h * s.w, s.h * s.w, s.c * s.h * s.w, count);
    // columns, all the chunk's tiles at once: d(S[i]) at column col, then column q and (for q < 2)
    // column m + q are S[i][q] at + 0 and + 1. A spare tile's dV is zero, so nothing crosses from
    // one tile row (or image) into the next.
    for (std::size_t i = 0; i < a; ++i) {
      std::array<const T*, a> o;
      std::array<T*, a> d;
      for (std::size_t j = 0; j < a; ++j) o[j] = dV + (c * a * a + a * i + j) * T_all;
      for (std::size_t col = 0; col < a; ++col) d[col] = per_col(i * a + col);
      input_adjoint_1d<m>(o, d, T_all);
      for (std::size_t q = 0; q < m; ++q)
        add_shifted(per_col(i * a + q), T_all, per_col(i * a + q + m), q + m < a ? T_all : 0, 1, per_phase(i * m + q),
                    T_all);
    }
    for (std::size_t img = 0; img < count; ++img) {
      for (std::size_t q = 0; q < m; ++q) {  // rows: d(phase plane (r % m, q)) from row r, r = 0 .. a-1
        std::array<const T*, a> o;
        std::array<T*, a> d;
        for (std::size_t i = 0; i < a; ++i) o[i] = per_phase(i * m + q) + img * L;
        for (std::size_t r = 0; r < a; ++r) d[r] = per_row(r * m + q);
        input_adjoint_1d<m>(o, d, L);
        for (std::size_t p = 0; p < m; ++p)  // row p and (for p < 2) row m + p read phase plane p at + W
          add_shifted(per_row(p * m + q), L, per_row((p + m) * m + q), p + m < a ? L : 0, W, sc.phase_plane(p, q), P);
      }
      for (std::size_t p = 0; p < m; ++p)
        interleave<m>(sc.phase_plane(p, 0), sc.phase_plane(p, 1), sc.phase_plane(p, 2 % m), sc.phase_plane(p, 3 % m),
                      sc.row_group(p), P);
      T* plane = dx + (img * s.c + c) * s.h * s.w;
      for (std::size_t r = 0; r < s.h; ++r) {
        const std::size_t u = r + s.ph;
        copy_row(sc.row_group(u % m) + (u / m) * width + s.pw, s.w, plane + r * s.w);
      }
    }
  }
}

// y = A^T M A (+ bias) for the tiles of `count` images, the outputs that fall inside [OH, OW].
template <std::size_t m, class T>
void transform_output(const Shape& s, const Tiles& tl, const T* M, const T* bias, std::size_t count, T* y,
                      Scratch<T>& sc) {
  constexpr std::size_t a = m + 2;
  const std::size_t T_all = count * tl.per_image(), oh = s.oh(), ow = s.ow(), width = m * tl.row();
  sc.prepare(tl, count);
  for (std::size_t f = 0; f < s.f; ++f) {
    if (f + 1 < s.f) prefetch_planes<true>(y + (f + 1) * oh * ow, oh * ow, s.f * oh * ow, count);
    std::array<T*, m> rows;  // output rows m ti + p of all the chunk's tiles
    for (std::size_t p = 0; p < m; ++p) rows[p] = sc.row_group(p);
    output_tiles<m>(M + f * a * a * T_all, T_all, bias ? bias[f] : T(0), rows, T_all);
    for (std::size_t img = 0; img < count; ++img) {
      T* plane = y + (img * s.f + f) * oh * ow;
      for (std::size_t o = 0; o < oh; ++o)
        copy_row(sc.row_group(o % m) + (img * tl.th + o / m) * width, ow, plane + o * ow);
    }
  }
}

// dM [F][a*a][T] = A dY A^T for the tiles of `count` images (dY outside [OH, OW], and at the spare
// tiles, is zero).
template <std::size_t m, class T>
void transform_output_grad(const Shape& s, const Tiles& tl, const T* dy, std::size_t count, T* dM, Scratch<T>& sc) {
  constexpr std::size_t a = m + 2;
  const std::size_t T_all = count * tl.per_image(), oh = s.oh(), ow = s.ow(), width = m * tl.row();
  sc.prepare(tl, count);
  for (std::size_t f = 0; f < s.f; ++f) {
    if (f + 1 < s.f) prefetch_planes<false>(dy + (f + 1) * oh * ow, oh * ow, s.f * oh * ow, count);
    for (std::size_t img = 0; img < count; ++img) {
      const T* plane = dy + (img * s.f + f) * oh * ow;
      for (std::size_t o = 0; o < oh; ++o)
        copy_row(plane + o * ow, ow, sc.row_group(o % m) + (img * tl.th + o / m) * width);
    }
    for (std::size_t p = 0; p < m; ++p) {  // A along the columns of output row phase p: H[p][j]
      std::array<T*, a> v;
      for (std::size_t j = 0; j < a; ++j) v[j] = sc.mid_plane(p * a + j);
      output_adjoint_1d<m>(sc.row_group(p), v, T_all);
    }
    for (std::size_t j = 0; j < a; ++j) {  // then along the rows
      std::array<const T*, m> g;
      std::array<T*, a> v;
      for (std::size_t p = 0; p < m; ++p) g[p] = sc.mid_plane(p * a + j);
      for (std::size_t i = 0; i < a; ++i) v[i] = dM + (f * a * a + a * i + j) * T_all;
      output_adjoint_planar_1d<m>(g, v, T_all);
    }
  }
}

// Images go in fixed chunks [k * size, (k + 1) * size) and threads take runs of whole chunks, so the
// forward and the backward cut the batch the same way.
struct Chunks {
  std::size_t size, count, parts;  // images per chunk, chunks, threads to use
};
Chunks chunks_of(const Shape& s) {
  const std::size_t size = images_per_chunk(s), count = (s.n + size - 1) / size, a = s.tile + 2;
  const double macs = double(s.n) * double(tiles_of(s).per_image()) * double(a * a) * double(s.c) * double(s.f);
  return {size, count, macs < 1e6 ? 1 : parallel_parts(count)};
}
template <class F>
void for_each_chunk(const Shape& s, const Chunks& ch, F&& fn) {  // fn(part, n0, images), part < ch.parts
  parallel_for(ch.count, ch.parts, [&](std::size_t part, std::size_t first, std::size_t last) {
    for (std::size_t k = first; k < last; ++k) fn(part, k * ch.size, std::min(ch.size, s.n - k * ch.size));
  });
}

template <std::size_t m, class T>
void forward_tiles(const Shape& s, const T* x, const T* w, const T* bias, T* y) {
  constexpr std::size_t a = m + 2;
  const Tiles tl = tiles_of(s);
  const std::size_t image = s.c * s.h * s.w, out_image = s.f * s.oh() * s.ow();
  const Chunks ch = chunks_of(s);
  const std::vector<T> U = transform_filters<m>(w, s.f, s.c);
  std::vector<std::vector<T>> V(ch.parts), M(ch.parts);  // one of each per thread
  std::vector<Scratch<T>> scratch(ch.parts);
  for_each_chunk(s, ch, [&](std::size_t part, std::size_t n0, std::size_t count) {
    const std::size_t T_all = count * tl.per_image();
    if (M[part].empty()) {
      M[part].resize(a * a * s.f * ch.size * tl.per_image());
      V[part].resize(a * a * s.c * ch.size * tl.per_image());
    }
    T* v = V[part].data();
    transform_input<m>(s, tl, x + n0 * image, count, v, scratch[part]);
    for (std::size_t k = 0; k < a * a; ++k)  // M[k] [F, T] = U[k] [F, C] V[k] [C, T]
      gemm({false, false, s.f, T_all, s.c}, U.data() + k * s.f * s.c, s.c, v + k * T_all, a * a * T_all,
           M[part].data() + k * T_all, a * a * T_all);
    transform_output<m>(s, tl, M[part].data(), bias, count, y + n0 * out_image, scratch[part]);
  });
}

template <std::size_t m, class T>
void backward_tiles(const Shape& s, const T* x, const T* w, const T* dy, T* dx, T* dw) {
  constexpr std::size_t a = m + 2;
  const Tiles tl = tiles_of(s);
  const std::size_t image = s.c * s.h * s.w, out_image = s.f * s.oh() * s.ow();
  const Chunks ch = chunks_of(s);
  const std::size_t tiles = ch.size * tl.per_image();
  const std::vector<T> U = dx ? transform_filters<m>(w, s.f, s.c) : std::vector<T>();
  // dU [a*a][F][C], one per part, summed after
  std::vector<std::vector<T>> dU(dw ? ch.parts : 0, std::vector<T>(a * a * s.f * s.c, T(0)));
  std::vector<std::vector<T>> V(ch.parts), dM(ch.parts);  // one of each per thread
  std::vector<Scratch<T>> scratch(ch.parts);
  for_each_chunk(s, ch, [&](std::size_t part, std::size_t n0, std::size_t count) {
    const std::size_t T_all = count * tl.per_image();
    if (dM[part].empty()) {
      dM[part].resize(a * a * s.f * tiles);
      V[part].resize(a * a * s.c * tiles);
    }
    transform_output_grad<m>(s, tl, dy + n0 * out_image, count, dM[part].data(), scratch[part]);
    if (dw) {
      // V again rather than kept from the forward: keeping it (2.25x x for 4x4 tiles, 4x for 2x2) and
      // reading it back from memory measured 5-10% slower than transforming x again, in cache.
      T* v = V[part].data();
      transform_input<m>(s, tl, x + n0 * image, count, v, scratch[part]);
      for (std::size_t k = 0; k < a * a; ++k)  // dU[k] [F, C] += dM[k] [F, T] V[k]^T [T, C]
        gemm({false, true, s.f, s.c, T_all}, dM[part].data() + k * T_all, a * a * T_all, v + k * T_all, a * a * T_all,
             dU[part].data() + k * s.f * s.c, s.c, /*accumulate=*/true);
    }
    if (dx) {                                  // dV goes where V was (dU is done with it)
      for (std::size_t k = 0; k < a * a; ++k)  // dV[k] [C, T] = U[k]^T [C, F] dM[k] [F, T]
        gemm({true, false, s.c, T_all, s.f}, U.data() + k * s.f * s.c, s.c, dM[part].data() + k * T_all, a * a * T_all,
             V[part].data() + k * T_all, a * a * T_all);
      transform_input_adjoint<m>(s, tl, V[part].data(), count, dx + n0 * image, scratch[part]);
    }
  });
  if (dw) {
    std::fill(dw, dw + s.f * s.c * 9, T(0));
    for (const auto& partial : dU) add_filter_grad<m>(partial.data(), s.f, s.c, dw);
  }
}

}  // namespace

template <class T>
void forward(const Shape& s, const T* x, const T* w, const T* bias, T* y) {
  if (s.tile == 4)
    forward_tiles<4>(s, x, w, bias, y);
  else
    forward_tiles<2>(s, x, w, bias, y);
}

template <class T>
void backward(const Shape& s, const T* x, const T* w, const T* dy, T* dx, T* dw) {
  if (s.tile == 4)
    backward_tiles<4>(s, x, w, dy, dx, dw);
  else
    backward_tiles<2>(s, x, w, dy, dx, dw);
}

template void forward<float>(const Shape&, const float*, const float*, const float*, float*);
template void forward<double>(const Shape&, const double*, const double*, const double*, double*);
template void backward<float>(const Shape&, const float*, const float*, const float*, float*, float*);
template void backward<double>(const Shape&, const double*, const double*, const double*, double*, double*);

}  // namespace xgrad::detail::winograd
