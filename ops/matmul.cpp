// matmul: C = A B.   dA = dC B^T,   dB = A^T dC   (each a GEMM with a transpose flag)
#include "matmul.hpp"

#include <cblas.h>

#include "../autograd/dispatch.hpp"
#include "shape.hpp"

namespace xgrad {

namespace {
void blas_gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.f, a, lda,
              b, ldb, 0.f, c, n);
}
void blas_gemm(bool ta, bool tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double* c) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda,
              b, ldb, 0.0, c, n);
}
}  // namespace

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
  if (k != kb)
    throw Error("matmul: {} x {}: inner dimensions {} and {} differ", shape_str(sa), shape_str(sb), k, kb);
  return visit2("matmul", a, b, [&](const auto& x, const auto& y) {
    using Array = std::decay_t<decltype(x)>;
    Array c = Array::from_shape(batched ? Shape{batch, m, n} : Shape{m, n});
    for (std::size_t i = 0; i < batch; ++i) {
      if (m == 0 || n == 0) break;
      if (k == 0) {
        c.fill(0);
        break;
      }
      blas_gemm(ta, tb, int(m), int(n), int(k), x.data() + i * ra * ca, int(ca), y.data() + i * rb * cb, int(cb),
                c.data() + i * m * n);
    }
    return Tensor(std::move(c));
  });
}
}  // namespace detail

Tensor matmul(const Tensor& a, const Tensor& b, Site site) {
  const Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 3 && sb.size() == 2) {  // a batch of rows times one matrix: one big GEMM
    if (sa[2] != sb[0])
      throw Error("matmul: {} x {}: inner dimensions {} and {} differ", shape_str(sa), shape_str(sb), sa[2], sb[0]);
    return reshape(matmul(reshape(a, {sa[0] * sa[1], sa[2]}, site), b, site), {sa[0], sa[1], sb[1]}, site);
  }
  return record("matmul", detail::gemm(a, false, b, false), {a, b}, [](Backward& g) {
    if (g.needs(0)) g.dx[0] = detail::gemm(g.dy, false, g.x[1], true);  // dA = dC B^T
    if (g.needs(1)) g.dx[1] = detail::gemm(g.x[0], true, g.dy, false);  // dB = A^T dC
  }, site);
}

}  // namespace xgrad
