// Pooling as raw loops over each [H,W] plane of x (the N*C planes are independent).
//   max:  y = x[switch],   dx[switch] += dy          (the switch: the window's first maximum)
//   avg:  y = mean(window), dx[window] += dy / (KH*KW)
#include "pool.hpp"

#include <algorithm>
#include <limits>

#include "../autograd/dispatch.hpp"
#include "../autograd/kinks.hpp"
#include "../autograd/threads.hpp"
#include "gather.hpp"

namespace xgrad {

namespace {

struct Pool {
  std::size_t planes, h, w, kh, kw, sh, sw, oh, ow;
  std::size_t in_plane() const { return h * w; }
  std::size_t out_plane() const { return oh * ow; }
};

Pool check(const char* op, const Tensor& x, Size2 kernel, Size2 stride) {
  if (!x.defined()) throw Error("{}: the input is undefined", op);
  const Shape s = x.shape();
  if (s.size() != 4) throw Error("{}: input {} is not 4-D [N,C,H,W]", op, shape_str(s));
  if (kernel.h < 1 || kernel.w < 1)
    throw Error("{}: kernel [{},{}] must be at least 1 (input {})", op, kernel.h, kernel.w, shape_str(s));
  if (stride.h < 1 || stride.w < 1)
    throw Error("{}: stride [{},{}] must be at least 1 (input {})", op, stride.h, stride.w, shape_str(s));
  Pool p{s[0] * s[1],           s[2], s[3], std::size_t(kernel.h), std::size_t(kernel.w), std::size_t(stride.h),
         std::size_t(stride.w), 0,    0};
  if (p.kh > p.h || p.kw > p.w)
    throw Error("{}: kernel [{},{}] is larger than the input {} (its H,W are [{},{}])", op, p.kh, p.kw, shape_str(s),
                p.h, p.w);
  if (p.in_plane() > std::numeric_limits<std::uint32_t>::max())
    throw Error("{}: input {} has more than 2^32 elements per plane", op, shape_str(s));
  p.oh = (p.h - p.kh) / p.sh + 1;
  p.ow = (p.w - p.kw) / p.sw + 1;
  return p;
}

// fn(q) for every plane q, split across xgrad's threads when there is enough to do (planes are
// independent and write disjoint parts of the output).
template <class F>
void for_planes(const Pool& p, F&& fn) {
  const std::size_t parts = p.planes * p.in_plane() < (std::size_t{1} << 16) ? 1 : detail::parallel_parts(p.planes);
  detail::parallel_for(p.planes, parts, [&](std::size_t, std::size_t begin, std::size_t end) {
    for (std::size_t q = begin; q < end; ++q) fn(q);
  });
}

Shape out_shape(const Tensor& x, const Pool& p) {
  const Shape s = x.shape();
  return {s[0], s[1], p.oh, p.ow};
}

}  // namespace

// y = the largest element of each window;   dy/dx = 1 at the switch, 0 elsewhere in the window
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Site site) {
  const Pool p = check("max_pool2d", x, kernel, stride);
  // switches[o] = offset inside its input plane of the maximum that output o took
  std::vector<std::uint32_t> switches(p.planes * p.out_plane());
  Tensor y = detail::visit("max_pool2d", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape(x, p));
    for_planes(p, [&](std::size_t q) {
      const T* src = a.data() + q * p.in_plane();
      T* dst = out.data() + q * p.out_plane();
      std::uint32_t* sw = switches.data() + q * p.out_plane();
      if (p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2) {  // the common 2x2/2 pool, branch-free
        for (std::size_t i = 0; i < p.oh; ++i) {
          const T* __restrict r0 = src + 2 * i * p.w;
          const T* __restrict r1 = r0 + p.w;
          T* __restrict out = dst + i * p.ow;
          std::uint32_t* __restrict at = sw + i * p.ow;
          const auto top = static_cast<std::uint32_t>(2 * i * p.w), below = static_cast<std::uint32_t>(p.w);
          for (std::size_t j = 0; j < p.ow; ++j) {
            // The same strict '>' chain as below, in row-major window order, written as selects
            // without branches: after a ReLU the comparisons are coin flips, and mispredicted
            // branches made this loop 2-4x slower than the vectorized masks GCC makes of it (docs/performance.md).
            const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
            // std::max(m, v) is (m < v) ? v : m, the strict '>' of the chain; masks pick the index
            const std::uint32_t mb = 0u - static_cast<std::uint32_t>(b > a);
            const T m1 = std::max(a, b);
            const std::uint32_t mc = 0u - static_cast<std::uint32_t>(c > m1);
            const T m2 = std::max(m1, c);
            const std::uint32_t md = 0u - static_cast<std::uint32_t>(d > m2);
            out[j] = std::max(m2, d);
            const std::uint32_t k = (md & (below + 1)) | (~md & ((mc & below) | (~mc & (mb & 1u))));
            at[j] = top + static_cast<std::uint32_t>(2 * j) + k;
          }
        }
        return;
      }
      for (std::size_t i = 0; i < p.oh; ++i)
        for (std::size_t j = 0; j < p.ow; ++j) {
          std::size_t best = i * p.sh * p.w + j * p.sw;  // the window's top-left element
          T m = src[best];
          for (std::size_t u = 0; u < p.kh; ++u) {
            const std::size_t row = (i * p.sh + u) * p.w + j * p.sw;
            for (std::size_t v = 0; v < p.kw; ++v)
              if (src[row + v] > m) {  // strict: a later equal value does not take over
                m = src[row + v];
                best = row + v;
              }
          }
          dst[i * p.ow + j] = m;
          sw[i * p.ow + j] = static_cast<std::uint32_t>(best);
        }
    });
    return Tensor(std::move(out));
  });
  if (kinks::recording()) {
    xt::xarray<double> branch = xt::xarray<double>::from_shape({switches.size()});
    std::copy(switches.begin(), switches.end(), branch.begin());
    kinks::note(Tensor(std::move(branch)));
  }
  return record(
      "max_pool2d", y, {x},
      [p, switches = std::move(switches), site](Backward& node) {
        if (node.create_graph) {  // the same routing as a recorded scatter_add (its gradient: a gather)
          auto at = std::make_shared<std::vector<std::size_t>>(switches.size());
          for (std::size_t o = 0; o < switches.size(); ++o) (*at)[o] = o / p.out_plane() * p.in_plane() + switches[o];
          node.dx[0] = detail::scatter_add_flat(node.dy, std::move(at), node.x.shape(0), site);
          return;
        }
        node.dx[0] = detail::visit("max_pool2d", node.dy, [&](const auto& d) {
          using T = value_t<decltype(d)>;
          xt::xarray<T> dx = xt::xarray<T>::from_shape(node.x.shape(0));
          for_planes(p, [&](std::size_t q) {
            const T* src = d.data() + q * p.out_plane();
            const std::uint32_t* sw = switches.data() + q * p.out_plane();
            T* dst = dx.data() + q * p.in_plane();
            std::fill(dst, dst + p.in_plane(), T(0));
            for (std::size_t o = 0; o < p.out_plane(); ++o) dst[sw[o]] += src[o];
          });
          return Tensor(std::move(dx));
        });
      },
      site);
}

Tensor max_pool2d(const Tensor& x, Size2 kernel, Site site) { return max_pool2d(x, kernel, kernel, site); }

namespace {
// avg_pool2d's gradient: each dy shared equally over its window, dx[window] += dy / (KH*KW). A
// recorded op whose own gradient is avg_pool2d again (the two maps are each other's transpose).
Tensor avg_pool2d_spread(const Tensor& dy, const Pool& p, const Shape& x_shape, Size2 kernel, Size2 stride, Site site) {
  const double scale = 1.0 / static_cast<double>(p.kh * p.kw);
  Tensor dx = detail::visit("avg_pool2d", dy, [&](const auto& d) {
    using T = value_t<decltype(d)>;
    xt::xarray<T> out = xt::zeros<T>(x_shape);
    for (std::size_t q = 0; q < p.planes; ++q) {
      const T* src = d.data() + q * p.out_plane();
      T* dst = out.data() + q * p.in_plane();
      for (std::size_t i = 0; i < p.oh; ++i)
        for (std::size_t j = 0; j < p.ow; ++j) {
          const T share = src[i * p.ow + j] * static_cast<T>(scale);
          for (std::size_t u = 0; u < p.kh; ++u) {
            T* row = dst + (i * p.sh + u) * p.w + j * p.sw;
            for (std::size_t v = 0; v < p.kw; ++v) row[v] += share;
          }
        }
    }
    return Tensor(std::move(out));
  });
  return record(
      "avg_pool2d_backward", dx, {dy},
      [kernel, stride, site](Backward& node) { node.dx[0] = avg_pool2d(node.dy, kernel, stride, site); }, site);
}
}  // namespace

// y = the mean of each window;   dy/dx = 1 / (KH*KW) for every element of the window
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Site site) {
  const Pool p = check("avg_pool2d", x, kernel, stride);
  const double scale = 1.0 / static_cast<double>(p.kh * p.kw);
  Tensor y = detail::visit("avg_pool2d", x, [&](const auto& a) {
    using T = value_t<decltype(a)>;
    xt::xarray<T> out = xt::xarray<T>::from_shape(out_shape(x, p));
    for (std::size_t q = 0; q < p.planes; ++q) {
      const T* src = a.data() + q * p.in_plane();
      T* dst = out.data() + q * p.out_plane();
      for (std::size_t i = 0; i < p.oh; ++i)
        for (std::size_t j = 0; j < p.ow; ++j) {
          T s = 0;
          for (std::size_t u = 0; u < p.kh; ++u) {
            const T* row = src + (i * p.sh + u) * p.w + j * p.sw;
            for (std::size_t v = 0; v < p.kw; ++v) s += row[v];
          }
          dst[i * p.ow + j] = s * static_cast<T>(scale);
        }
    }
    return Tensor(std::move(out));
  });
  return record(
      "avg_pool2d", y, {x},
      [p, kernel, stride, site](Backward& node) {
        node.dx[0] = avg_pool2d_spread(node.dy, p, node.x.shape(0), kernel, stride, site);
      },
      site);
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel, Site site) { return avg_pool2d(x, kernel, kernel, site); }

}  // namespace xgrad
