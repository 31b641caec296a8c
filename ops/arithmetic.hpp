#pragma once
// + - * / and neg, maximum and minimum: elementwise, with NumPy broadcasting. The engine sums
// each gradient back to its input's shape, so the local gradients here are written as if the
// shapes were equal. Comparisons give 0/1 tensors of the same dtype and are not differentiable.
#include "../autograd/tensor.hpp"

namespace xgrad {

Tensor add(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor sub(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor mul(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor div(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor neg(const Tensor& a, Site site = Site::current());
Tensor maximum(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor minimum(const Tensor& a, const Tensor& b, Site site = Site::current());
Tensor maximum(const Tensor& a, double b, Site site = Site::current());
Tensor minimum(const Tensor& a, double b, Site site = Site::current());

// Not differentiable: 1 where the relation holds, else 0.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);

// Operators cannot take a defaulted std::source_location, so the Tensor operand converts to Here
// at the user's expression, and the conversion's default argument records that line.
struct Here {
  Here(const Tensor& t, Site site = Site::current()) : t(t), site(site) {}
  const Tensor& t;
  Site site;
};

Tensor operator+(Here a, const Tensor& b);
Tensor operator-(Here a, const Tensor& b);
Tensor operator*(Here a, const Tensor& b);
Tensor operator/(Here a, const Tensor& b);
Tensor operator-(Here a);
Tensor operator+(Here a, double b);
Tensor operator-(Here a, double b);
Tensor operator*(Here a, double b);
Tensor operator/(Here a, double b);
Tensor operator+(double a, Here b);
Tensor operator-(double a, Here b);
Tensor operator*(double a, Here b);
Tensor operator/(double a, Here b);
Tensor operator>(const Tensor& a, double b);
Tensor operator<(const Tensor& a, double b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);

}  // namespace xgrad
