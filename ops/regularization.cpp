// Penalties composed from primitives (abs, mul, sum, add): the tape gives each parameter its
// gradient (sign(w) for L1, 2w, or w with the 1/2 factor, for L2).
#include "regularization.hpp"

#include "arithmetic.hpp"
#include "elementwise.hpp"
#include "reduce.hpp"

namespace xgrad {

namespace {
void check_params(const char* op, const std::vector<Tensor>& params) {
  if (params.empty()) throw Error("{}: the parameter list is empty", op);
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined()) throw Error("{}: parameter {} is undefined", op, i);
    if (params[i].dtype() != params[0].dtype())
      throw Error("{}: parameter {} {} is {} but parameter 0 {} is {}", op, i, shape_str(params[i].shape()),
                  dtype_name(params[i].dtype()), shape_str(params[0].shape()), dtype_name(params[0].dtype()));
  }
}

// sum over the parameters of sum(term(p))
template <class F>
Tensor total(const std::vector<Tensor>& params, F term, Site site) {
  Tensor t = sum(term(params[0]), site);
  for (std::size_t i = 1; i < params.size(); ++i) t = add(t, sum(term(params[i]), site), site);
  return t;
}
}  // namespace

// R = sum |w|
Tensor l1_penalty(const std::vector<Tensor>& params, Site site) {
  check_params("l1_penalty", params);
  return total(
      params, [&](const Tensor& p) { return abs(p, site); }, site);
}

// R = sum w^2   (or 1/2 sum w^2)
Tensor l2_penalty(const std::vector<Tensor>& params, bool half, Site site) {
  check_params("l2_penalty", params);
  const Tensor r = total(
      params, [&](const Tensor& p) { return mul(p, p, site); }, site);
  return half ? mul(r, scalar(0.5, r.dtype()), site) : r;
}

// R = l1 sum |w| + l2 sum w^2   (or l2/2 sum w^2)
Tensor elastic_net(const std::vector<Tensor>& params, double l1, double l2, bool half, Site site) {
  check_params("elastic_net", params);
  const DType d = params[0].dtype();
  const Tensor a = mul(l1_penalty(params, site), scalar(l1, d), site);
  const Tensor b = mul(l2_penalty(params, half, site), scalar(l2, d), site);
  return add(a, b, site);
}

}  // namespace xgrad
