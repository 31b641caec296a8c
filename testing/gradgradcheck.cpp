#include "gradgradcheck.hpp"

#include <algorithm>
#include <cstdint>
#include <random>

#include "../autograd/engine.hpp"
#include "../autograd/tensor_impl.hpp"
#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"

namespace xgrad {

namespace {

// gradcheck would refuse the same inputs, but its message would name gradcheck.
void check_inputs(const std::vector<Tensor>& inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw Error("gradgradcheck: input {} is undefined", i);
    if (inputs[i].dtype() != f64)
      throw Error("gradgradcheck: input {} {} is {}; finite differences need f64 (use .to(xg::f64))", i,
                  shape_str(inputs[i].shape()), dtype_name(inputs[i].dtype()));
    if (inputs[i].requires_grad() && !inputs[i].is_leaf())
      throw Error("gradgradcheck: input {} {} is the output of '{}', not a leaf; pass a leaf "
                  "(e.g. x.detach().requires_grad_())",
                  i, shape_str(inputs[i].shape()), inputs[i].op());
  }
  if (std::none_of(inputs.begin(), inputs.end(), [](const Tensor& x) { return x.requires_grad(); }))
    throw Error("gradgradcheck: none of the {} inputs requires grad, so there is no gradient to check; mark the "
                "inputs to check with requires_grad_()",
                inputs.size());
}

Tensor normal_like(const Shape& shape, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  xt::xarray<double> a = xt::xarray<double>::from_shape(shape);
  for (auto& v : a) v = normal(rng);
  return Tensor(std::move(a));
}

}  // namespace

GradcheckReport gradgradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options) {
  check_inputs(inputs);
  // Not options.seed itself: gradcheck draws its element choice from that stream, and u should not
  // be the same numbers.
  std::mt19937_64 rng(options.seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<std::size_t> checked;  // the inputs that require grad
  std::vector<Tensor> u(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) {
      checked.push_back(i);
      u[i] = normal_like(inputs[i].shape(), rng);
    }
  Tensor r;  // of f's output shape, drawn at the first evaluation (the only way to learn that shape)

  // G(x) = sum_i <g_i(x), u_i> with g = J_f^T r. gradcheck restores the global generator before each
  // call of G, and G calls f once, so f's dropout masks stay the same.
  const GradcheckFn G = [&](const std::vector<Tensor>& x) -> Tensor {
    // gradcheck records only for its analytic pass; there the first derivative must be recorded too
    // (create_graph). The differences need only its value.
    const bool analytic = grad_mode::enabled();
    EnableGradGuard recording;
    const Tensor out = f(x);
    if (!out.defined()) throw Error("gradgradcheck: f returned an undefined tensor");
    if (!r.defined()) r = normal_like(out.shape(), rng).to(out.dtype());
    // A zero that depends on every checked input: G must require grad and reach every input even
    // when f's first derivative is constant in some (or all) of them, whose second derivative is then
    // a defined zero for gradcheck to compare against the differences.
    Tensor total = sum(x[checked.front()] * 0.0);
    for (std::size_t k = 1; k < checked.size(); ++k) total = total + sum(x[checked[k]] * 0.0);
    if (!out.requires_grad()) return total;  // f does not depend on the inputs at all
    std::vector<Tensor> wrt;
    for (std::size_t i : checked) wrt.push_back(x[i]);
    const std::vector<Tensor> g = grad({out}, wrt, {r}, std::nullopt, /*create_graph=*/analytic, /*allow_unused=*/true);
    for (std::size_t k = 0; k < checked.size(); ++k)
      if (g[k].defined()) total = total + sum(g[k] * u[checked[k]]);  // undefined: f does not use that input
    return total;
  };
  // gradcheck's analytic pass runs in the caller's mode: recording, even inside a NoGradGuard, so
  // that grad_mode tells G which pass it is in.
  EnableGradGuard recording;
  return gradcheck(G, std::move(inputs), options);
}

}  // namespace xgrad
