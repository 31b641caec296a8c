// The libtorch half of the conv2d oracle test: torch::conv2d on the same values, in f32 or f64.
#include "conv_oracle.hpp"

#include <torch/torch.h>

namespace oracle {

namespace {
std::vector<double> flat(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous().to(torch::kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
// Built in f64 and then converted, so f32 values are the doubles rounded to nearest, as xgrad rounds them.
torch::Tensor make(const std::vector<double>& v, std::vector<std::int64_t> shape, torch::ScalarType type) {
  return torch::tensor(v, torch::dtype(torch::kFloat64)).reshape(shape).to(type).clone();
}
}  // namespace

ConvResult torch_conv2d(const ConvProblem& p) {
  torch::set_num_threads(1);
  const torch::ScalarType type = p.precision == Precision::f32 ? torch::kFloat32 : torch::kFloat64;
  torch::Tensor x = make(p.x, p.x_shape, type).requires_grad_(p.x_requires_grad);
  torch::Tensor w = make(p.w, p.w_shape, type).requires_grad_(true);
  torch::Tensor b = p.b.empty() ? torch::Tensor() : make(p.b, {p.w_shape[0]}, type).requires_grad_(true);
  torch::Tensor y = torch::conv2d(x, w, b, {p.stride_h, p.stride_w}, {p.pad_h, p.pad_w});
  (y * make(p.g, y.sizes().vec(), type)).sum().backward();
  return {y.sizes().vec(), flat(y), p.x_requires_grad ? flat(x.grad()) : std::vector<double>{}, flat(w.grad()),
          b.defined() ? flat(b.grad()) : std::vector<double>{}};
}

}  // namespace oracle
