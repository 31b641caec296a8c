#pragma once
// Internal to ops/conv_winograd.cpp: the transforms of Winograd F(m x m, 3x3) for m = 2 and 4 (the
// matrices are in conv_winograd.cpp's opening comment), each on n tiles at once, stream i holding
// one value of every tile:
//   input:                  o = B^T d   (a -> a values; applied along rows, then along columns)
//   input_adjoint:          d = B o     (a -> a)
//   output:                 Y = A^T V A for whole tiles in one pass: the a*a values of tile t are
//                           v[k * step + t]; output row p of the tile goes to y_p[m t .. m t + m - 1],
//                           plus `add` (the bias)
//   output_adjoint:         v = A g     (m -> a) along an output row, read as g[m t + b]
//   output_adjoint_planar:  v = A g     (m -> a) with the m values in m planes
// They are functions with __restrict parameters because GCC honours restrict there (not on local
// pointers); without it these many streams are not vectorized.
#include <array>
#include <cstddef>

namespace xgrad::detail::winograd {

template <std::size_t m>
struct Tile;

template <>
struct Tile<2> {
  static constexpr std::size_t m = 2, a = 4;
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

  template <class T>
  static void input(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
                    T* __restrict o0, T* __restrict o1, T* __restrict o2, T* __restrict o3, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      o0[t] = d0[t] - d2[t];
      o1[t] = d1[t] + d2[t];
      o2[t] = d2[t] - d1[t];
      o3[t] = d1[t] - d3[t];
    }
  }
  template <class T>
  static void input_adjoint(const T* __restrict o0, const T* __restrict o1, const T* __restrict o2,
                            const T* __restrict o3, T* __restrict d0, T* __restrict d1, T* __restrict d2,
                            T* __restrict d3, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      d0[t] = o0[t];
      d1[t] = o1[t] - o2[t] + o3[t];
      d2[t] = o1[t] + o2[t] - o0[t];
      d3[t] = -o3[t];
    }
  }
  template <class T>
  static void output(const T* __restrict v, std::size_t step, T add, T* __restrict y0, T* __restrict y1,
                     std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      T z[2][4];  // A^T v: rows combined
      for (std::size_t j = 0; j < 4; ++j) {
        const T v0 = v[j * step + t], v1 = v[(4 + j) * step + t], v2 = v[(8 + j) * step + t],
                v3 = v[(12 + j) * step + t];
        z[0][j] = v0 + v1 + v2;
        z[1][j] = v1 - v2 - v3;
      }
      y0[2 * t] = z[0][0] + z[0][1] + z[0][2] + add;
      y0[2 * t + 1] = z[0][1] - z[0][2] - z[0][3] + add;
      y1[2 * t] = z[1][0] + z[1][1] + z[1][2] + add;
      y1[2 * t + 1] = z[1][1] - z[1][2] - z[1][3] + add;
    }
  }
  template <class T>
  static void output_adjoint(const T* __restrict g, T* __restrict v0, T* __restrict v1, T* __restrict v2,
                             T* __restrict v3, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      const T g0 = g[2 * t], g1 = g[2 * t + 1];
      v0[t] = g0;
      v1[t] = g0 + g1;
      v2[t] = g0 - g1;
      v3[t] = -g1;
    }
  }
  template <class T>
  static void output_adjoint_planar(const T* __restrict g0, const T* __restrict g1, T* __restrict v0, T* __restrict v1,
                                    T* __restrict v2, T* __restrict v3, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      v0[t] = g0[t];
      v1[t] = g0[t] + g1[t];
      v2[t] = g0[t] - g1[t];
      v3[t] = -g1[t];
    }
  }
};

template <>
struct Tile<4> {
  static constexpr std::size_t m = 4, a = 6;
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};

  template <class T>
  static void input(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2, const T* __restrict d3,
                    const T* __restrict d4, const T* __restrict d5, T* __restrict o0, T* __restrict o1,
                    T* __restrict o2, T* __restrict o3, T* __restrict o4, T* __restrict o5, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      const T p = d4[t] - 4 * d2[t], q = d3[t] - 4 * d1[t], r = d4[t] - d2[t], s = 2 * (d3[t] - d1[t]);
      o0[t] = 4 * d0[t] - 5 * d2[t] + d4[t];
      o1[t] = p + q;
      o2[t] = p - q;
      o3[t] = r + s;
      o4[t] = r - s;
      o5[t] = 4 * d1[t] - 5 * d3[t] + d5[t];
    }
  }
  template <class T>
  static void input_adjoint(const T* __restrict o0, const T* __restrict o1, const T* __restrict o2,
                            const T* __restrict o3, const T* __restrict o4, const T* __restrict o5, T* __restrict d0,
                            T* __restrict d1, T* __restrict d2, T* __restrict d3, T* __restrict d4, T* __restrict d5,
                            std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      const T s12 = o1[t] + o2[t], d12 = o2[t] - o1[t], s34 = o3[t] + o4[t], d34 = o3[t] - o4[t];
      d0[t] = 4 * o0[t];
      d1[t] = 4 * d12 - 2 * d34 + 4 * o5[t];
      d2[t] = -5 * o0[t] - 4 * s12 - s34;
      d3[t] = -d12 + 2 * d34 - 5 * o5[t];
      d4[t] = o0[t] + s12 + s34;
      d5[t] = o5[t];
    }
  }
  template <class T>
  static void output(const T* __restrict v, std::size_t step, T add, T* __restrict y0, T* __restrict y1,
                     T* __restrict y2, T* __restrict y3, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      T z[4][6];  // A^T v: rows combined
      for (std::size_t j = 0; j < 6; ++j) {
        const T v0 = v[j * step + t], v1 = v[(6 + j) * step + t], v2 = v[(12 + j) * step + t],
                v3 = v[(18 + j) * step + t], v4 = v[(24 + j) * step + t], v5 = v[(30 + j) * step + t];
        const T s12 = v1 + v2, d12 = v1 - v2, s34 = v3 + v4, d34 = v3 - v4;
        z[0][j] = v0 + s12 + s34;
        z[1][j] = d12 + 2 * d34;
        z[2][j] = s12 + 4 * s34;
        z[3][j] = d12 + 8 * d34 + v5;
      }
      T* y[4] = {y0, y1, y2, y3};
      for (std::size_t p = 0; p < 4; ++p) {  // (A^T v) A: columns combined, one output row each
        const T s12 = z[p][1] + z[p][2], d12 = z[p][1] - z[p][2], s34 = z[p][3] + z[p][4], d34 = z[p][3] - z[p][4];
        y[p][4 * t] = z[p][0] + s12 + s34 + add;
        y[p][4 * t + 1] = d12 + 2 * d34 + add;
        y[p][4 * t + 2] = s12 + 4 * s34 + add;
        y[p][4 * t + 3] = d12 + 8 * d34 + z[p][5] + add;
      }
    }
  }
  template <class T>
  static void output_adjoint(const T* __restrict g, T* __restrict v0, T* __restrict v1, T* __restrict v2,
                             T* __restrict v3, T* __restrict v4, T* __restrict v5, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      const T g0 = g[4 * t], g1 = g[4 * t + 1], g2 = g[4 * t + 2], g3 = g[4 * t + 3];
      const T e = g0 + g2, o = g1 + g3, e4 = g0 + 4 * g2, o4 = 2 * g1 + 8 * g3;
      v0[t] = g0;
      v1[t] = e + o;
      v2[t] = e - o;
      v3[t] = e4 + o4;
      v4[t] = e4 - o4;
      v5[t] = g3;
    }
  }
  template <class T>
  static void output_adjoint_planar(const T* __restrict g0, const T* __restrict g1, const T* __restrict g2,
                                    const T* __restrict g3, T* __restrict v0, T* __restrict v1, T* __restrict v2,
                                    T* __restrict v3, T* __restrict v4, T* __restrict v5, std::size_t n) {
    for (std::size_t t = 0; t < n; ++t) {
      const T e = g0[t] + g2[t], o = g1[t] + g3[t], e4 = g0[t] + 4 * g2[t], o4 = 2 * g1[t] + 8 * g3[t];
      v0[t] = g0[t];
      v1[t] = e + o;
      v2[t] = e - o;
      v3[t] = e4 + o4;
      v4[t] = e4 - o4;
      v5[t] = g3[t];
    }
  }
};

// The kernels above called with arrays of streams (the same calls for both tile sizes).
template <std::size_t m, class T, std::size_t a = m + 2>
void input_1d(const std::array<const T*, a>& d, const std::array<T*, a>& o, std::size_t n) {
  if constexpr (m == 2)
    Tile<2>::input(d[0], d[1], d[2], d[3], o[0], o[1], o[2], o[3], n);
  else
    Tile<4>::input(d[0], d[1], d[2], d[3], d[4], d[5], o[0], o[1], o[2], o[3], o[4], o[5], n);
}
template <std::size_t m, class T, std::size_t a = m + 2>
void input_adjoint_1d(const std::array<const T*, a>& o, const std::array<T*, a>& d, std::size_t n) {
  if constexpr (m == 2)
    Tile<2>::input_adjoint(o[0], o[1], o[2], o[3], d[0], d[1], d[2], d[3], n);
  else
    Tile<4>::input_adjoint(o[0], o[1], o[2], o[3], o[4], o[5], d[0], d[1], d[2], d[3], d[4], d[5], n);
}
// y = A^T v A for the tiles whose a*a values are v[k * step + t]: output row p of tile t at
// y[p][m t .. m t + m - 1]
template <std::size_t m, class T>
void output_tiles(const T* v, std::size_t step, T add, const std::array<T*, m>& y, std::size_t n) {
  if constexpr (m == 2)
    Tile<2>::output(v, step, add, y[0], y[1], n);
  else
    Tile<4>::output(v, step, add, y[0], y[1], y[2], y[3], n);
}
template <std::size_t m, class T, std::size_t a = m + 2>
void output_adjoint_1d(const T* g, const std::array<T*, a>& v, std::size_t n) {
  if constexpr (m == 2)
    Tile<2>::output_adjoint(g, v[0], v[1], v[2], v[3], n);
  else
    Tile<4>::output_adjoint(g, v[0], v[1], v[2], v[3], v[4], v[5], n);
}
template <std::size_t m, class T, std::size_t a = m + 2>
void output_adjoint_planar_1d(const std::array<const T*, m>& g, const std::array<T*, a>& v, std::size_t n) {
  if constexpr (m == 2)
    Tile<2>::output_adjoint_planar(g[0], g[1], v[0], v[1], v[2], v[3], n);
  else
    Tile<4>::output_adjoint_planar(g[0], g[1], g[2], g[3], v[0], v[1], v[2], v[3], v[4], v[5], n);
}

}  // namespace xgrad::detail::winograd
