// symmetric_eigen: xt::linalg::eigh (LAPACK dsyevd). This is the only data/ file that includes
// xtensor-blas's xlinalg, which cannot share a translation unit with OpenBLAS's <cblas.h>.
#include "eigen.hpp"

#include <cmath>

#include <xtensor-blas/xlinalg.hpp>

#include "../autograd/error.hpp"

namespace xgrad::data {

SymmetricEigen symmetric_eigen(const xt::xarray<double>& a) {
  if (a.dimension() != 2 || a.shape()[0] != a.shape()[1])
    throw Error("symmetric_eigen: {} is not a square matrix", shape_str(a.shape()));
  const std::size_t n = a.shape()[0];
  SymmetricEigen out{xt::xarray<double>::from_shape({n}), xt::xarray<double>::from_shape({n, n})};
  if (n == 0) return out;
  auto [w, v] = xt::linalg::eigh(a);  // ascending; v column-major, eigenvectors in columns
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t src = n - 1 - j;  // decreasing order
    out.values.data()[j] = w(src);
    double biggest = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (std::abs(v(i, src)) > std::abs(biggest)) biggest = v(i, src);
    const double sign = biggest < 0 ? -1.0 : 1.0;
    for (std::size_t i = 0; i < n; ++i) out.vectors.data()[i * n + j] = sign * v(i, src);
  }
  return out;
}

}  // namespace xgrad::data
