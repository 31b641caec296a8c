// conv2d as a matrix product (the CS231n notes' "implementation as matrix multiplication"):
//
//   cols = im2col(x)       [C*KH*KW, n*OH*OW]   one column per output position of n images
//   Y    = W cols          [F, n*OH*OW]         W is w seen as [F, C*KH*KW]
//   y    = Y as [n,F,OH,OW] + b
//
// and its backward, with dY = dy as [F, n*OH*OW]:
//   dW^T += cols dY^T      (GEMM; the transposed form is the faster shape for BLAS)
//   dcols = W^T dY         (GEMM),   dx = col2im(dcols)   (the sum of every patch's gradient)
//   db    = sum of dy over n, i, j
//
// The batch goes through in chunks of n images sized so the column buffer stays in cache (see
// images_per_chunk); backward rebuilds the columns chunk by chunk instead of keeping a
// C*KH*KW-times-larger copy of x alive on the tape. With more than one thread, each thread takes
// a contiguous run of images with its own column buffer (and its own dW, summed at the end).
//
// im2col and col2im are raw loops: for every (channel, kernel row, kernel column) and every output
// row, one contiguous run of output columns reads the input row with the stride; the zero padding
// is the part of the run outside [lo, hi), computed once, so the inner loop has no bounds checks.
#include "conv.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../autograd/allocation.hpp"
#include "../autograd/dispatch.hpp"
#include "../autograd/threads.hpp"
#include "blas.hpp"
#include "conv_direct_avx512.hpp"
#include "conv_winograd.hpp"
#include "loops.hpp"
#include "reduce.hpp"
#include "shape.hpp"

namespace xgrad {

namespace {

struct Geometry {
  std::size_t n, c, h, w;  // input
  std::size_t f, kh, kw;   // weight
  std::size_t sh, sw, ph, pw;
  std::size_t oh, ow;                               // output
  std::size_t plane() const { return oh * ow; }     // P: output positions per image
  std::size_t rows() const { return c * kh * kw; }  // K: the GEMM's inner dimension
  std::size_t cols() const { return n * oh * ow; }  // N*P: columns of the batched GEMM
};

// The output indices j in [0, out) whose input index j*s - p + k lies inside [0, size): [lo, hi).
struct Range {
  std::size_t lo, hi;
};
Range valid(std::size_t size, std::size_t out, std::size_t s, std::size_t p, std::size_t k) {
  const auto S = static_cast<std::ptrdiff_t>(s);
  const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(p) - static_cast<std::ptrdiff_t>(k);  // j*s >= first
  const std::ptrdiff_t last = static_cast<std::ptrdiff_t>(size) - 1 + first;                     // j*s <= last
  const std::size_t lo = first > 0 ? static_cast<std::size_t>((first + S - 1) / S) : 0;
  const std::size_t hi = last < 0 ? 0 : std::min(out, static_cast<std::size_t>(last / S) + 1);
  return {std::min(lo, hi), hi};
}

struct Ranges {
  std::vector<Range> row, col;  // per kernel row i / kernel column j: the output rows / columns that read x
  explicit Ranges(const Geometry& g) : row(g.kh), col(g.kw) {
    for (std::size_t i = 0; i < g.kh; ++i) row[i] = valid(g.h, g.oh, g.sh, g.ph, i);
    for (std::size_t j = 0; j < g.kw; ++j) col[j] = valid(g.w, g.ow, g.sw, g.pw, j);
  }
};

// x offset (inside its [H,W] plane) of output position (oi, 0) for kernel tap (i, j); only the
// columns [lo, hi) of the run are read, and those lie inside the plane.
inline std::ptrdiff_t tap_offset(const Geometry& g, std::size_t oi, std::size_t i, std::size_t j) {
  return (static_cast<std::ptrdiff_t>(oi * g.sh + i) - static_cast<std::ptrdiff_t>(g.ph)) *
             static_cast<std::ptrdiff_t>(g.w) +
         static_cast<std::ptrdiff_t>(j) - static_cast<std::ptrdiff_t>(g.pw);
}

// cols [C*KH*KW, N*OH*OW] from x [N,C,H,W]; padding reads as zero. Row (c,i,j) of cols holds, for
// every image n, the OH*OW values tap (i,j) of channel c sees, as one contiguous block.
//
// Stride 1 with the output as wide as the input (the "same" padding of a 3x3/pad 1 layer) is the
// common case and has a shortcut: block (i, j) is then the input plane shifted by one offset, so
// everything from its first to its last valid element is a single contiguous copy; the entries
// that wrapped around a row edge are the padding and are zeroed after.
template <class T>
bool is_shifted_plane(const Geometry& g) {
  return g.sh == 1 && g.sw == 1 && g.ow == g.w;
}

// The block-index range [begin, end) from tap (i, j)'s first to one past its last valid element
// (empty when the tap only sees padding), and the offset that maps a block index to the plane.
struct Span {
  std::size_t begin = 0, end = 0;
  std::ptrdiff_t shift = 0;
};
Span shifted_span(const Geometry& g, const Ranges& r, std::size_t i, std::size_t j) {
  const Range rows = r.row[i], cols = r.col[j];
  if (rows.lo == rows.hi || cols.lo == cols.hi) return {};
  return {rows.lo * g.ow + cols.lo, (rows.hi - 1) * g.ow + cols.hi, tap_offset(g, 0, i, j)};
}

// Zeroes the entries of block rows [rows.lo, rows.hi) outside the valid columns [cols.lo, cols.hi).
template <class T>
void zero_wrapped(const Geometry& g, const Range& rows, const Range& cols, T* block) {
  for (std::size_t oi = rows.lo; oi < rows.hi; ++oi) {
    std::fill(block + oi * g.ow, block + oi * g.ow + cols.lo, T(0));
    std::fill(block + oi * g.ow + cols.hi, block + (oi + 1) * g.ow, T(0));
  }
}

template <class T>
void im2col(const Geometry& g, const T* __restrict x, T* __restrict cols) {
  const Ranges r(g);
  const std::size_t P = g.plane(), NP = g.cols(), ow = g.ow, sw = g.sw;
  const bool shifted = is_shifted_plane<T>(g);
  for (std::size_t c = 0; c < g.c; ++c)
    for (std::size_t n = 0; n < g.n; ++n) {
      const T* __restrict plane = x + (n * g.c + c) * g.h * g.w;
      for (std::size_t i = 0; i < g.kh; ++i)
        for (std::size_t j = 0; j < g.kw; ++j) {
          T* __restrict block = cols + ((c * g.kh + i) * g.kw + j) * NP + n * P;
          if (shifted) {
            const Span s = shifted_span(g, r, i, j);
            std::fill(block, block + s.begin, T(0));
            std::copy(plane + (static_cast<std::ptrdiff_t>(s.begin) + s.shift),
                      plane + (static_cast<std::ptrdiff_t>(s.end) + s.shift), block + s.begin);
            std::fill(block + s.end, block + P, T(0));
            if (s.end > s.begin) zero_wrapped(g, r.row[i], r.col[j], block);
            continue;
          }
          const std::size_t lo = r.col[j].lo, hi = r.col[j].hi;
          for (std::size_t oi = 0; oi < g.oh; ++oi) {
            T* __restrict d = block + oi * ow;
            if (oi < r.row[i].lo || oi >= r.row[i].hi) {
              for (std::size_t k = 0; k < ow; ++k) d[k] = T(0);
              continue;
            }
            for (std::size_t k = 0; k < lo; ++k) d[k] = T(0);
            const T* __restrict s = plane + tap_offset(g, oi, i, j) + static_cast<std::ptrdiff_t>(lo * sw);
            if (sw == 1)
              for (std::size_t k = 0; k < hi - lo; ++k) d[lo + k] = s[k];
            else
              for (std::size_t k = 0; k < hi - lo; ++k) d[lo + k] = s[k * sw];
            for (std::size_t k = hi; k < ow; ++k) d[k] = T(0);
          }
        }
    }
}

// dx [N,C,H,W] += the columns scattered back to where im2col read them (padding is dropped): the
// exact adjoint of im2col, with the same loops. The columns are left all zero, so the next chunk's
// GEMM can accumulate into them (beta = 1) instead of OpenBLAS clearing them in a pass of its own;
// the shortcut zeroes the padding entries first and then adds each block's valid span to the plane
// in one contiguous pass.
template <class T>
void col2im_and_clear(const Geometry& g, T* __restrict cols, T* __restrict dx) {
  const Ranges r(g);
  const std::size_t P = g.plane(), NP = g.cols(), ow = g.ow, sw = g.sw;
  const bool shifted = is_shifted_plane<T>(g);
  for (std::size_t c = 0; c < g.c; ++c)
    for (std::size_t n = 0; n < g.n; ++n) {
      T* __restrict plane = dx + (n * g.c + c) * g.h * g.w;
      for (std::size_t i = 0; i < g.kh; ++i)
        for (std::size_t j = 0; j < g.kw; ++j) {
          T* __restrict block = cols + ((c * g.kh + i) * g.kw + j) * NP + n * P;
          if (shifted) {
            const Span s = shifted_span(g, r, i, j);
            if (s.end == s.begin) continue;
            zero_wrapped(g, r.row[i], r.col[j], block);
            T* __restrict to = plane + (static_cast<std::ptrdiff_t>(s.begin) + s.shift);
            const T* from = block + s.begin;
            for (std::size_t k = 0, len = s.end - s.begin; k < len; ++k) to[k] += from[k];
            std::fill(block, block + P, T(0));
            continue;
          }
          const std::size_t lo = r.col[j].lo, hi = r.col[j].hi;
          for (std::size_t oi = r.row[i].lo; oi < r.row[i].hi; ++oi) {
            const T* __restrict d = block + oi * ow + lo;
            T* __restrict s = plane + tap_offset(g, oi, i, j) + static_cast<std::ptrdiff_t>(lo * sw);
            if (sw == 1)
              for (std::size_t k = 0; k < hi - lo; ++k) s[k] += d[k];
            else
              for (std::size_t k = 0; k < hi - lo; ++k) s[k * sw] += d[k];
          }
          std::fill(block, block + P, T(0));
        }
    }
}

std::string pair_str(std::size_t h, std::size_t w) { return fmt::format("[{},{}]", h, w); }

Geometry check(const Tensor& x, const Tensor& w, const Tensor& b, Size2 stride, Size2 padding) {
  if (!x.defined()) throw Error("conv2d: the input is undefined");
  if (!w.defined()) throw Error("conv2d: the weight is undefined");
  const Shape sx = x.shape(), sw = w.shape();
  if (sx.size() != 4) throw Error("conv2d: input {} is not 4-D [N,C,H,W]", shape_str(sx));
  if (sw.size() != 4) throw Error("conv2d: weight {} is not 4-D [F,C,KH,KW]", shape_str(sw));
  if (x.dtype() != w.dtype())
    throw Error("conv2d: input {} is {} but weight {} is {} (convert one with .to())", shape_str(sx),
                dtype_name(x.dtype()), shape_str(sw), dtype_name(w.dtype()));
  if (sx[1] != sw[1])
    throw Error("conv2d: input {} has {} channels but weight {} expects {}", shape_str(sx), sx[1], shape_str(sw),
                sw[1]);
  if (b.defined()) {
    if (b.shape() != Shape{sw[0]})
      throw Error("conv2d: bias {} does not match weight {}: expected [{}], one per filter", shape_str(b.shape()),
                  shape_str(sw), sw[0]);
    if (b.dtype() != x.dtype())
      throw Error("conv2d: bias {} is {} but input {} is {}", shape_str(b.shape()), dtype_name(b.dtype()),
                  shape_str(sx), dtype_name(x.dtype()));
  }
  if (stride.h < 1 || stride.w < 1)
    throw Error("conv2d: stride [{},{}] must be at least 1 (input {}, weight {})", stride.h, stride.w, shape_str(sx),
                shape_str(sw));
  if (padding.h < 0 || padding.w < 0)
    throw Error("conv2d: padding [{},{}] must not be negative (input {}, weight {})", padding.h, padding.w,
                shape_str(sx), shape_str(sw));
  // Beyond any real layer, and bounded so that H + 2 padding and the offsets computed from them stay
  // far from wrapping around.
  constexpr std::int64_t limit = std::numeric_limits<std::int32_t>::max();
  if (stride.h > limit || stride.w > limit)
    throw Error("conv2d: stride [{},{}] is beyond {} (input {}, weight {})", stride.h, stride.w, limit, shape_str(sx),
                shape_str(sw));
  if (padding.h > limit || padding.w > limit)
    throw Error("conv2d: padding [{},{}] is beyond {} (input {}, weight {})", padding.h, padding.w, limit,
                shape_str(sx), shape_str(sw));
  if (sw[2] == 0 || sw[3] == 0) throw Error("conv2d: weight {} has an empty kernel", shape_str(sw));
  Geometry g{sx[0],
             sx[1],
             sx[2],
             sx[3],
             sw[0],
             sw[2],
             sw[3],
             std::size_t(stride.h),
             std::size_t(stride.w),
             std::size_t(padding.h),
             std::size_t(padding.w),
             0,
             0};
  const std::size_t hp = g.h + 2 * g.ph, wp = g.w + 2 * g.pw;
  if (g.kh > hp || g.kw > wp)
    throw Error("conv2d: kernel {} of weight {} is larger than the padded input {} (input {}, padding [{},{}])",
                pair_str(g.kh, g.kw), shape_str(sw), pair_str(hp, wp), shape_str(sx), g.ph, g.pw);
  g.oh = (hp - g.kh) / g.sh + 1;
  g.ow = (wp - g.kw) / g.sw + 1;
  detail::check_allocation("conv2d", {g.n, g.f, g.oh, g.ow}, x.dtype(), [&] {
    return fmt::format("input {} and weight {} with stride [{},{}] and padding [{},{}]", shape_str(sx), shape_str(sw),
                       g.sh, g.sw, g.ph, g.pw);
  });
  return g;
}

// Images per GEMM: enough output positions for an efficient GEMM (about 1024 columns), few enough
// that the column buffer stays in cache (2-3x faster than one GEMM over the batch: docs/performance.md).
std::size_t images_per_chunk(const Geometry& g) {
  return std::clamp<std::size_t>(1024 / std::max<std::size_t>(g.plane(), 1), 1, std::max<std::size_t>(g.n, 1));
}

// Threads split the batch into contiguous runs of images (see autograd/threads.hpp); a layer too
// small to pay for waking a thread (about 10 us) runs on the caller alone.
std::size_t parts_for(const Geometry& g) {
  const double macs = double(g.n) * double(g.plane()) * double(g.rows()) * double(g.f);
  return macs < 2e6 ? 1 : detail::parallel_parts(g.n);
}

// Runs fn(n0, count) over the images of [first, last) in chunks of images_per_chunk.
template <class F>
void for_each_chunk(const Geometry& g, std::size_t first, std::size_t last, F&& fn) {
  const std::size_t chunk = images_per_chunk(g);
  for (std::size_t n0 = first; n0 < last; n0 += chunk) fn(n0, std::min(chunk, last - n0));
}

std::atomic<ConvAlgorithm> chosen_algorithm{ConvAlgorithm::automatic};

// The Winograd tile for this layer (see ConvAlgorithm), 0 for im2col.
std::size_t winograd_tile(const Geometry& g) {
  const bool applies = detail::winograd::applies(g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
  const ConvAlgorithm chosen = chosen_algorithm.load();
  switch (chosen) {
    case ConvAlgorithm::im2col:
      return 0;
    // Winograd's transforms cost per input and output channel, so its savings grow with C; 4x4 tiles
    // save more multiplications but waste more of a tile at the edge of a small output. The rule
    // below follows the measurements in docs/performance.md ("Choosing the conv2d algorithm"): with
    // xgrad's AVX-512 GEMMs im2col's GEMM is twice as fast, and yet 2x2 tiles win from 4 channels and
    // 4x4 outputs on (their GEMMs get the same speed-up); with OpenBLAS's, from 8 channels and 12x12.
    case ConvAlgorithm::automatic: {
      const bool wide = detail::avx512::enabled();
      const std::size_t min_c = wide ? 4 : 8, min_out = wide ? 4 : 12;
      if (!applies || g.c < min_c || g.oh < min_out || g.ow < min_out) return 0;
      return g.oh >= 16 && g.ow >= 16 ? 4 : 2;
    }
    case ConvAlgorithm::winograd_2x2:
    case ConvAlgorithm::winograd_4x4:
      break;
  }
  if (!applies)
    throw Error("conv2d: the Winograd algorithm (set_conv_algorithm) needs a 3x3 kernel, stride 1 and padding at "
                "most 2; this layer has kernel [{},{}], stride [{},{}], padding [{},{}]",
                g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
  return chosen == ConvAlgorithm::winograd_4x4 ? 4 : 2;
}

detail::winograd::Shape winograd_shape(const Geometry& g, std::size_t tile) {
  return {g.n, g.c, g.h, g.w, g.f, g.ph, g.pw, tile};
}

template <class T>
Tensor bias_grad(const Geometry& g, const T* dy) {  // db[f] = sum of dy over n and the positions
  const std::size_t P = g.plane(), F = g.f;
  std::vector<double> sums(F, 0.0);
  for (std::size_t i = 0; i < g.n * F; ++i) sums[i % F] += detail::sum_in_double(dy + i * P, P);
  xt::xarray<T> db = xt::xarray<T>::from_shape({F});
  std::copy(sums.begin(), sums.end(), db.begin());
  return Tensor(std::move(db));
}

// The inputs conv2d records: x, w and the bias when there is one.
std::vector<Tensor> conv_inputs(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  return inputs;
}

// The im2col backward: dx = col2im(W^T dY) and/or dW = dY cols^T for the whole batch (px is read
// only for dW, pw only for dx).
template <class T>
void conv_grads(const Geometry& g, const T* px, const T* pw, const T* dy, xt::xarray<T>* dx_out,
                xt::xarray<T>* dw_out) {
  const std::size_t P = g.plane(), K = g.rows(), F = g.f, image = g.c * g.h * g.w;
  const bool need_x = dx_out != nullptr, need_w = dw_out != nullptr;
  // dW^T [K, F] (the faster GEMM shape: K long, F short), one per part, summed after
  const std::size_t parts = parts_for(g);
  std::vector<std::vector<T>> dwt(need_w ? parts : 0, std::vector<T>(K * F, T(0)));
  xt::xarray<T> dx = need_x ? xt::xarray<T>::from_shape({g.n, g.c, g.h, g.w}) : xt::xarray<T>();
  detail::parallel_for(g.n, parts, [&](std::size_t part_index, std::size_t first, std::size_t last) {
    const std::size_t chunk = images_per_chunk(g);
    std::vector<T> dymat(chunk > 1 ? F * chunk * P : 0), cols(need_w ? K * chunk * P : 0);
    std::vector<T> dcols(need_x ? K * chunk * P : 0, T(0));  // kept zero by col2im_and_clear
    if (need_x) std::fill(dx.data() + first * image, dx.data() + last * image, T(0));
    for_each_chunk(g, first, last, [&](std::size_t n0, std::size_t count) {
      Geometry part = g;
      part.n = count;
      const std::size_t cn = count * P;
      // dY for this chunk as [F, cn]: image n0's block of dy itself when the chunk is one image
      const T* d = dy + n0 * F * P;
      if (count > 1) {
        for (std::size_t i = 0; i < count; ++i)
          for (std::size_t f = 0; f < F; ++f) std::copy_n(d + (i * F + f) * P, P, dymat.data() + f * cn + i * P);
        d = dymat.data();
      }
      if (need_w) {  // dW^T += cols dY^T   (cols rebuilt here rather than kept from the forward)
        im2col(part, px + n0 * image, cols.data());
        detail::gemm({false, true, K, F, cn}, cols.data(), cn, d, cn, dwt[part_index].data(), F,
                     /*accumulate=*/true);
      }
      if (need_x) {  // dcols = W^T dY, then dx += col2im(dcols)
        detail::gemm({true, false, K, cn, F}, pw, K, d, cn, dcols.data(), cn, /*accumulate=*/true);
        col2im_and_clear(part, dcols.data(), dx.data() + n0 * image);
      }
    });
  });
  if (need_w) {
    xt::xarray<T> dw = xt::xarray<T>::from_shape({F, g.c, g.kh, g.kw});
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t f = 0; f < F; ++f) {
        T sum = 0;
        for (const auto& partial : dwt) sum += partial[k * F + f];
        dw.data()[f * K + k] = sum;
      }
    *dw_out = std::move(dw);
  }
  if (need_x) *dx_out = std::move(dx);
}

Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, const Geometry& g, Site site);
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& dy, const Geometry& g, Site site);

// conv2d with the geometry's stride and padding and no bias (the gradients below are convolutions).
Tensor conv2d_like(const Tensor& x, const Tensor& w, const Geometry& g, Site site) {
  return conv2d(x, w, {}, Size2(g.sh, g.sw), Size2(g.ph, g.pw), site);
}

// dx of conv2d as a recorded op of (dy, w), for create_graph: a transposed convolution. It is
// bilinear, so its gradients are the two other maps: d(dy) = conv2d(G, w), dw = weight_grad(G, dy).
Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, const Geometry& g, Site site) {
  Tensor dx = detail::visit2("conv2d", dy, w, [&](const auto& d, const auto& wa) {
    using T = value_t<decltype(d)>;
    xt::xarray<T> out;
    conv_grads<T>(g, nullptr, wa.data(), d.data(), &out, nullptr);
    return Tensor(std::move(out));
  });
  return record(
      "conv2d_input_grad", dx, {dy, w},
      [g, site](Backward& node) {
        if (node.needs(0)) node.dx[0] = conv2d_like(node.dy, node.x[1], g, site);
        if (node.needs(1)) node.dx[1] = conv2d_weight_grad(node.dy, node.x[0], g, site);
      },
      site);
}

// dw of conv2d as a recorded op of (x, dy), for create_graph: a correlation of x with dy. Its
// gradients: dx = input_grad(dy, G), d(dy) = conv2d(x, G).
Tensor conv2d_weight_grad(const Tensor& x, const Tensor& dy, const Geometry& g, Site site) {
  Tensor dw = detail::visit2("conv2d", x, dy, [&](const auto& xa, const auto& d) {
    using T = value_t<decltype(d)>;
    xt::xarray<T> out;
    conv_grads<T>(g, xa.data(), nullptr, d.data(), nullptr, &out);
    return Tensor(std::move(out));
  });
  return record(
      "conv2d_weight_grad", dw, {x, dy},
      [g, site](Backward& node) {
        if (node.needs(0)) node.dx[0] = conv2d_input_grad(node.x[1], node.dy, g, site);
        if (node.needs(1)) node.dx[1] = conv2d_like(node.x[0], node.dy, g, site);
      },
      site);
}

// conv2d's local gradients as the recorded ops above (create_graph), whichever algorithm ran forward.
void conv2d_backward_recorded(Backward& node, const Geometry& g, Site site) {
  if (node.x.size() == 3 && node.needs(2))  // db = sum of dy over n, i, j
    node.dx[2] = reshape(sum(sum(sum(node.dy, 0, false, site), 1, false, site), 1, false, site), {g.f}, site);
  if (node.needs(0)) node.dx[0] = conv2d_input_grad(node.dy, node.x[1], g, site);
  if (node.needs(1)) node.dx[1] = conv2d_weight_grad(node.x[0], node.dy, g, site);
}

// The Winograd route: forward and backward in ops/conv_winograd.cpp (the backward transforms x again
// for w's gradient, like the im2col path rebuilds its columns).
template <class T>
Tensor conv2d_winograd(const Geometry& g, std::size_t tile, const Tensor& x, const Tensor& w, const Tensor& b,
                       Site site) {
  const detail::winograd::Shape s = winograd_shape(g, tile);
  xt::xarray<T> y = xt::xarray<T>::from_shape({g.n, g.f, g.oh, g.ow});
  detail::winograd::forward(s, x.value<T>().data(), w.value<T>().data(),
                            b.defined() ? b.value<T>().data() : static_cast<const T*>(nullptr), y.data());
  return record(
      "conv2d", Tensor(std::move(y)), conv_inputs(x, w, b),
      [g, s, site](Backward& node) {
        if (node.create_graph) return conv2d_backward_recorded(node, g, site);
        const T* dy = node.dy.value<T>().data();
        if (node.x.size() == 3 && node.needs(2)) node.dx[2] = bias_grad(g, dy);
        xt::xarray<T> dw = node.needs(1) ? xt::xarray<T>::from_shape({g.f, g.c, g.kh, g.kw}) : xt::xarray<T>();
        xt::xarray<T> dx = node.needs(0) ? xt::xarray<T>::from_shape({g.n, g.c, g.h, g.w}) : xt::xarray<T>();
        detail::winograd::backward(s, node.x[0].value<T>().data(), node.x[1].value<T>().data(), dy,
                                   node.needs(0) ? dx.data() : static_cast<T*>(nullptr),
                                   node.needs(1) ? dw.data() : static_cast<T*>(nullptr));
        if (node.needs(1)) node.dx[1] = Tensor(std::move(dw));
        if (node.needs(0)) node.dx[0] = Tensor(std::move(dx));
      },
      site);
}

// The direct route for 3x3 "same" layers with 1 or 2 input channels on AVX-512 CPUs
// (conv_direct_avx512.hpp): forward and the weight and bias gradients; dx, when x needs one, by
// the im2col backward (the first layer's input usually needs none).
bool uses_direct(const Geometry& g) {
  return chosen_algorithm.load() == ConvAlgorithm::automatic && detail::avx512::enabled() &&
         detail::avx512::direct_conv_applies(g.c, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
}

Tensor conv2d_direct(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& b, Site site) {
  const detail::avx512::DirectConv s{g.n, g.c, g.h, g.w, g.f};
  const float* bias = b.defined() ? b.value<float>().data() : nullptr;
  const float *px = x.value<float>().data(), *pw = w.value<float>().data();
  xt::xarray<float> y = xt::xarray<float>::from_shape({g.n, g.f, g.oh, g.ow});
  detail::parallel_for(g.n, parts_for(g), [&](std::size_t, std::size_t first, std::size_t last) {
    detail::avx512::direct_conv_forward(s, first, last, px, pw, bias, y.data());
  });
  return record(
      "conv2d", Tensor(std::move(y)), conv_inputs(x, w, b),
      [g, s, site](Backward& node) {
        if (node.create_graph) return conv2d_backward_recorded(node, g, site);
        const float* dy = node.dy.value<float>().data();
        const bool need_w = node.needs(1), need_b = node.x.size() == 3 && node.needs(2);
        if (need_w) {  // dw and db in one pass over dy: per thread [dw | db], added in part order
          const std::size_t parts = parts_for(g), nw = g.f * g.c * 9;
          std::vector<std::vector<float>> partial(parts, std::vector<float>(nw + g.f));
          const float* x = node.x[0].value<float>().data();
          detail::parallel_for(g.n, parts, [&](std::size_t part, std::size_t first, std::size_t last) {
            float* out = partial[part].data();
            detail::avx512::direct_conv_weight_grad(s, first, last, x, dy, out, need_b ? out + nw : nullptr);
          });
          xt::xarray<float> dw = xt::zeros<float>({g.f, g.c, g.kh, g.kw}), db = xt::zeros<float>({g.f});
          for (const std::vector<float>& p : partial) {
            for (std::size_t i = 0; i < nw; ++i) dw.data()[i] += p[i];
            for (std::size_t i = 0; i < g.f; ++i) db.data()[i] += p[nw + i];
          }
          node.dx[1] = Tensor(std::move(dw));
          if (need_b) node.dx[2] = Tensor(std::move(db));
        } else if (need_b) {
          node.dx[2] = bias_grad(g, dy);
        }
        if (node.needs(0)) {
          xt::xarray<float> dx;
          conv_grads<float>(g, nullptr, node.x[1].value<float>().data(), dy, &dx, nullptr);
          node.dx[0] = Tensor(std::move(dx));
        }
      },
      site);
}

template <class T>
Tensor conv2d_typed(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& b, Site site) {
  if (const std::size_t tile = winograd_tile(g)) return conv2d_winograd<T>(g, tile, x, w, b, site);
  if constexpr (std::is_same_v<T, float>)
    if (uses_direct(g)) return conv2d_direct(g, x, w, b, site);
  const std::size_t P = g.plane(), K = g.rows(), F = g.f, image = g.c * g.h * g.w;
  const T* px = x.value<T>().data();
  const T* pw = w.value<T>().data();
  const T* bias = b.defined() ? b.value<T>().data() : nullptr;

  xt::xarray<T> y = xt::xarray<T>::from_shape({g.n, F, g.oh, g.ow});
  detail::parallel_for(g.n, parts_for(g), [&](std::size_t, std::size_t first, std::size_t last) {
    const std::size_t chunk = images_per_chunk(g);
    std::vector<T> cols(K * chunk * P), ymat(chunk > 1 ? F * chunk * P : 0);
    for_each_chunk(g, first, last, [&](std::size_t n0, std::size_t count) {
      Geometry part = g;
      part.n = count;
      const std::size_t cn = count * P;  // columns in this chunk
      im2col(part, px + n0 * image, cols.data());
      T* out = y.data() + n0 * F * P;
      if (count == 1) {  // Y = W cols is already image n0's [F, P] block of y
        detail::gemm({false, false, F, P, K}, pw, K, cols.data(), P, out, P);
      } else {  // Y [F, count * P], then scattered to [count, F, P]
        detail::gemm({false, false, F, cn, K}, pw, K, cols.data(), cn, ymat.data(), cn);
        for (std::size_t i = 0; i < count; ++i)
          for (std::size_t f = 0; f < F; ++f) std::copy_n(ymat.data() + f * cn + i * P, P, out + (i * F + f) * P);
      }
      if (bias)  // while the chunk is still in cache
        for (std::size_t i = 0; i < count * F; ++i) {
          T* row = out + i * P;
          const T add = bias[i % F];
          for (std::size_t p = 0; p < P; ++p) row[p] += add;
        }
    });
  });

  return record(
      "conv2d", Tensor(std::move(y)), conv_inputs(x, w, b),
      [g, site](Backward& node) {
        if (node.create_graph) return conv2d_backward_recorded(node, g, site);
        const T* dy = node.dy.value<T>().data();
        const bool need_x = node.needs(0), need_w = node.needs(1), need_b = node.x.size() == 3 && node.needs(2);
        if (need_b) node.dx[2] = bias_grad(g, dy);
        if (!need_x && !need_w) return;
        xt::xarray<T> dx, dw;
        conv_grads<T>(g, need_w ? node.x[0].value<T>().data() : nullptr, need_x ? node.x[1].value<T>().data() : nullptr,
                      dy, need_x ? &dx : nullptr, need_w ? &dw : nullptr);
        if (need_w) node.dx[1] = Tensor(std::move(dw));
        if (need_x) node.dx[0] = Tensor(std::move(dx));
      },
      site);
}

}  // namespace

void set_conv_algorithm(ConvAlgorithm algorithm) { chosen_algorithm.store(algorithm); }
ConvAlgorithm conv_algorithm() { return chosen_algorithm.load(); }

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Size2 stride, Size2 padding, Site site) {
  const Geometry g = check(x, w, b, stride, padding);
  return x.dtype() == f32 ? conv2d_typed<float>(g, x, w, b, site) : conv2d_typed<double>(g, x, w, b, site);
}

}  // namespace xgrad
