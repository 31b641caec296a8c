// matmul: C = A B.   dA = dC B^T,   dB = A^T dC   (each a GEMM with a transpose flag)
#include "matmul.hpp"

#include "../autograd/allocation.hpp"
#include "../autograd/dispatch.hpp"
#include "arithmetic.hpp"
#include "blas.hpp"
#include "reduce.hpp"
#include "shape.hpp"

namespace xgrad {

namespace detail {
Tensor gemm(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Shape sa = a.shape(), sb = b.shape();
  const bool batched = sa.size() == 3;
  if (!((sa.size() == 2 && sb.size() == 2) || (sa.size() == 3 && sb.size() == 3)))
    throw Error("matmul: {} x {}: expected two 2-D or two 3-D tensors", shape_str(sa), shape_str(sb));
  const std::size_t batch = batched ? sa[0] : 1;
  if (batched && sb[0] != batch)
    throw Error("matmul: {} x {}: batch sizes {} and {} differ", shape_str(sa), shape_str(sb), sa[0], sb[0]);
  const std::size_t ra = sa[sa.size() - 2], ca = sa.back(), rb = sb[sb.size() - 2], cb = sb.back();
  const std::size_t m = ta ? ca : ra, k = ta ? ra : ca, kb = tb ? cb : rb, n = tb ? rb : cb;
  if (k != kb) throw Error("matmul: {} x {}: inner dimensions {} and {} differ", shape_str(sa), shape_str(sb), k, kb);
  const Shape out = batched ? Shape{batch, m, n} : Shape{m, n};
  check_allocation("matmul", out, a.dtype(), [&] {
    return fmt::format("{}{} x {}{}", shape_str(sa), ta ? "^T" : "", shape_str(sb), tb ? "^T" : "");
  });
  return visit2("matmul", a, b, [&](const auto& x, const auto& y) {
    using Array = std::decay_t<decltype(x)>;
    Array c = Array::from_shape(out);
    for (std::size_t i = 0; i < batch; ++i)
      gemm({ta, tb, m, n, k}, x.data() + i * ra * ca, ca, y.data() + i * rb * cb, cb, c.data() + i * m * n, n);
    return Tensor(std::move(c));
  });
}

// C = op(A) op(B) recorded as "matmul": the local gradients of matmul and linear are GEMMs of this
// form, and recording them (which happens only when create_graph is on) makes them differentiable:
//   dA = dC op(B)^T   (transposed back when A was read transposed),   dB = op(A)^T dC   (likewise)
Tensor gemm_recorded(const Tensor& a, bool ta, const Tensor& b, bool tb, Site site) {
  return record(
      "matmul", gemm(a, ta, b, tb), {a, b},
      [ta, tb, site](Backward& node) {
        const Tensor &A = node.x[0], &B = node.x[1], &dC = node.dy;
        if (node.needs(0))
          node.dx[0] = ta ? gemm_recorded(B, tb, dC, true, site) : gemm_recorded(dC, false, B, !tb, site);
        if (node.needs(1))
          node.dx[1] = tb ? gemm_recorded(dC, true, A, ta, site) : gemm_recorded(A, !ta, dC, false, site);
      },
      site);
}
}  // namespace detail

Tensor matmul(const Tensor& a, const Tensor& b, Site site) {
  detail::checked_value("matmul", a);
  detail::checked_value("matmul", b);
  const Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 3 && sb.size() == 2) {  // a batch of rows times one matrix: one big GEMM
    if (sa[2] != sb[0])
      throw Error("matmul: {} x {}: inner dimensions {} and {} differ", shape_str(sa), shape_str(sb), sa[2], sb[0]);
    // checked with the shapes the caller passed, before the reshape hides them
    detail::check_allocation("matmul", {sa[0], sa[1], sb[1]}, a.dtype(),
                             [&] { return fmt::format("{} x {}", shape_str(sa), shape_str(sb)); });
    return reshape(matmul(reshape(a, {sa[0] * sa[1], sa[2]}, site), b, site), {sa[0], sa[1], sb[1]}, site);
  }
  return record(
      "matmul", detail::gemm(a, false, b, false), {a, b},
      [site](Backward& node) {
        if (node.needs(0)) node.dx[0] = detail::gemm_recorded(node.dy, false, node.x[1], true, site);  // dA = dC B^T
        if (node.needs(1)) node.dx[1] = detail::gemm_recorded(node.x[0], true, node.dy, false, site);  // dB = A^T dC
      },
      site);
}

// y = x W^T (+ b);   dx = dy W,   dW = dy^T x,   db = sum of dy over the rows
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Site site) {
  detail::checked_value("linear", x);
  detail::checked_value("linear", w);
  const Shape sx = x.shape(), sw = w.shape();
  if (sw.size() != 2) throw Error("linear: weight {} is not 2-D [out, in]", shape_str(sw));
  if (sx.empty() || sx.back() != sw[1])
    throw Error("linear: input {} x weight {}: the weight [out, in] expects {} input features, the input has {}",
                shape_str(sx), shape_str(sw), sw[1], sx.empty() ? 0 : sx.back());
  if (b.defined() && b.shape() != Shape{sw[0]})
    throw Error("linear: bias {} does not match weight {} (expected [{}])", shape_str(b.shape()), shape_str(sw), sw[0]);
  // Checked here so the message names linear, not the matmul or add inside it.
  if (w.dtype() != x.dtype())
    throw Error("linear: input {} is {} but weight {} is {}", shape_str(sx), dtype_name(x.dtype()), shape_str(sw),
                dtype_name(w.dtype()));
  if (b.defined() && b.dtype() != x.dtype())
    throw Error("linear: bias {} is {} but input {} is {}", shape_str(b.shape()), dtype_name(b.dtype()), shape_str(sx),
                dtype_name(x.dtype()));
  Shape out(sx.begin(), sx.end() - 1);
  out.push_back(sw[0]);
  detail::check_allocation("linear", out, x.dtype(),
                           [&] { return fmt::format("input {} x weight {}", shape_str(sx), shape_str(sw)); });
  if (sx.size() != 2) {  // [..., in]: one GEMM over all leading positions
    // rows from the leading dimensions, not numel() / in, which divides by zero when in is 0
    std::size_t rows = 1;
    for (std::size_t d = 0; d + 1 < sx.size(); ++d) rows *= sx[d];
    return reshape(linear(reshape(x, {rows, sx.back()}, site), w, b, site), out, site);
  }
  Tensor y = detail::gemm(x, false, w, true);
  if (b.defined()) {
    NoGradGuard no_grad;  // the bias add is part of this node, not a node of its own
    y = y + b;
  }
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  return record(
      "linear", y, std::move(inputs),
      [site](Backward& node) {
        if (node.needs(0)) node.dx[0] = detail::gemm_recorded(node.dy, false, node.x[1], false, site);  // dx = dy W
        if (node.needs(1)) node.dx[1] = detail::gemm_recorded(node.dy, true, node.x[0], false, site);   // dW = dy^T x
        if (node.x.size() > 2 && node.needs(2)) node.dx[2] = sum(node.dy, 0);  // db = column sums of dy
      },
      site);
}

}  // namespace xgrad
