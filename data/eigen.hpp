#pragma once
// Eigendecomposition of a real symmetric matrix (LAPACK syevd through xtensor-blas, in its own
// translation unit so no other file needs xlinalg).
#include "../xtensor.hpp"

namespace xgrad::data {

struct SymmetricEigen {
  xt::xarray<double> values;   // [n], decreasing
  xt::xarray<double> vectors;  // [n, n], column j is the unit eigenvector of values[j]; its largest
                               // component (by magnitude) is made positive so the result is unique
};

SymmetricEigen symmetric_eigen(const xt::xarray<double>& a);

}  // namespace xgrad::data
