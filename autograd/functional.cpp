// vjp, jvp, jacobian, hessian and hvp as calls of xg::grad. Every function here runs the same steps:
// copy the inputs into tensors that require grad, evaluate f with recording on, take one or two
// rounds of gradients, and cut the results from the graph unless create_graph.
#include "functional.hpp"

#include <string>

#include <xtensor/xbuilder.hpp>

#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"
#include "../ops/shape.hpp"
#include "engine.hpp"
#include "tensor_impl.hpp"

namespace xgrad {

namespace {

std::string describe(const Tensor& t) { return fmt::format("{} {}", shape_str(t.shape()), dtype_name(t.dtype())); }

// The tensors f is evaluated on. A detached copy that requires grad, so the caller's tensor needs
// no requires_grad and gets no graph; but with create_graph a caller's tensor that requires grad is
// passed through a recorded identity (a reshape to its own shape) instead, so that the results are
// differentiable with respect to it too (torch's view_as).
std::vector<Tensor> prepare(const char* fn, const std::vector<Tensor>& inputs, bool create_graph) {
  if (inputs.empty()) throw Error("{}: no inputs given", fn);
  std::vector<Tensor> prepared;
  prepared.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined()) throw Error("{}: input {} is undefined", fn, i);
    if (create_graph && x.requires_grad())
      prepared.push_back(reshape(x, x.shape()));
    else
      prepared.push_back(x.detach().requires_grad_());
  }
  return prepared;
}

std::vector<Tensor> evaluate(const char* fn, const MultiOutputFn& f, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> outputs = f(inputs);
  if (outputs.empty()) throw Error("{}: f returned no outputs", fn);
  for (std::size_t i = 0; i < outputs.size(); ++i)
    if (!outputs[i].defined()) throw Error("{}: f returned an undefined tensor as output {}", fn, i);
  return outputs;
}

Tensor evaluate(const char* fn, const TensorsFn& f, const std::vector<Tensor>& inputs) {
  Tensor out = f(inputs);
  if (!out.defined()) throw Error("{}: f returned an undefined tensor", fn);
  return out;
}

void require_scalar(const char* fn, const Tensor& out) {
  if (out.numel() != 1)
    throw Error("{}: f returns a tensor of shape {}, not a single element; {} is defined for a scalar function "
                "(for a vector function, take the jacobian)",
                fn, shape_str(out.shape()), fn);
}

// v pairs with `what` (an output or an input): same shape and dtype.
void check_vector(const char* fn, const Tensor& v, const std::string& name, const Tensor& what,
                  const std::string& what_name) {
  if (!v.defined()) throw Error("{}: {} is undefined", fn, name);
  if (v.shape() != what.shape() || v.dtype() != what.dtype())
    throw Error("{}: {} is {} but {} is {}; they must have the same shape and dtype", fn, name, describe(v), what_name,
                describe(what));
}

// d(sum_k <outputs_k, seeds_k>)/d inputs, with zeros (not undefined tensors) for inputs the outputs
// do not depend on, and for outputs that depend on no input at all. xg::grad refuses an output
// that does not require grad, so those are left out first.
std::vector<Tensor> gradients(const std::vector<Tensor>& outputs, const std::vector<Tensor>& seeds,
                              const std::vector<Tensor>& inputs, bool create_graph, bool retain_graph) {
  std::vector<Tensor> used_outputs, used_seeds;
  for (std::size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k].requires_grad()) {
      used_outputs.push_back(outputs[k]);
      if (!seeds.empty()) used_seeds.push_back(seeds[k]);
    }
  std::vector<Tensor> g(inputs.size());
  if (!used_outputs.empty())
    g = grad(used_outputs, inputs, used_seeds, retain_graph, create_graph, /*allow_unused=*/true);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (!g[i].defined()) g[i] = zeros(inputs[i].shape(), inputs[i].dtype());
  return g;
}

// sum_i <a_i, b_i>, a scalar; undefined when no term requires grad (nothing to differentiate).
Tensor inner(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  Tensor total;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].requires_grad() && !b[i].requires_grad()) continue;  // a constant: its derivative is zero
    Tensor term = sum(a[i] * b[i]);
    total = total.defined() ? total + term : term;
  }
  return total;
}

Tensor unit(const Shape& shape, DType dtype, std::size_t flat) {
  xt::xarray<double> e = xt::zeros<double>(shape);
  e.data()[flat] = 1.0;
  Tensor t(std::move(e));
  return dtype == f64 ? t : t.to(dtype);
}

Shape concat_shapes(const Shape& a, const Shape& b) {
  Shape s = a;
  s.insert(s.end(), b.begin(), b.end());
  return s;
}

// The Jacobian of y with respect to every input, one backward per element of y: row k is the
// gradient of <y, e_k>. Block j has shape y.shape + x_j.shape.
std::vector<Tensor> jacobian_of(const Tensor& y, const std::vector<Tensor>& inputs, bool create_graph) {
  const std::size_t n = y.numel();
  std::vector<std::vector<Tensor>> rows(inputs.size());
  if (y.requires_grad())
    for (std::size_t k = 0; k < n; ++k) {
      const std::vector<Tensor> g =
          gradients({y}, {unit(y.shape(), y.dtype(), k)}, inputs, create_graph, /*retain_graph=*/true);
      for (std::size_t j = 0; j < inputs.size(); ++j) rows[j].push_back(g[j]);
    }
  std::vector<Tensor> blocks;
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const Shape shape = concat_shapes(y.shape(), inputs[j].shape());
    blocks.push_back(rows[j].empty() ? zeros(shape, inputs[j].dtype()) : reshape(stack(rows[j]), shape));
  }
  return blocks;
}

Tensor finish(const Tensor& t, bool create_graph) { return create_graph ? t : t.detach(); }
std::vector<Tensor> finish(std::vector<Tensor> ts, bool create_graph) {
  if (!create_graph)
    for (Tensor& t : ts) t = t.detach();
  return ts;
}

TensorsFn of_one(const TensorFn& f) {
  return [&f](const std::vector<Tensor>& in) { return f(in[0]); };
}

}  // namespace

// --- vjp: v^T J = d<f, v>/dx ----------------------------------------------------------------------
VjpsResult vjp(const TensorsFn& f, const std::vector<Tensor>& inputs, const Tensor& v, bool create_graph) {
  EnableGradGuard recording;  // as torch.autograd.functional: f records even inside a NoGradGuard
  const std::vector<Tensor> x = prepare("vjp", inputs, create_graph);
  const Tensor out = evaluate("vjp", f, x);
  Tensor seed = v;
  if (!seed.defined()) {
    if (out.numel() != 1)
      throw Error("vjp: f's output {} is not a single element; pass v, of that shape", describe(out));
    seed = ones_like(out);
  }
  check_vector("vjp", seed, "v", out, "f's output");
  std::vector<Tensor> g = gradients({out}, {seed}, x, create_graph, /*retain_graph=*/create_graph);
  return {finish(out, create_graph), finish(std::move(g), create_graph)};
}

VjpResult vjp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph) {
  VjpsResult r = vjp(of_one(f), std::vector<Tensor>{x}, v, create_graph);
  return {std::move(r.output), std::move(r.vjp[0])};
}

// --- jvp: J v by the double-vjp trick --------------------------------------------------------------
// g(u) = J^T u is linear in u, so <g(u), v> = u^T J v and its gradient with respect to u is J v,
// whatever u is: u = 0 serves. This needs only reverse mode, at the cost of two backwards, the second
// through the graph the first recorded (so f's backward must be differentiable).
JvpResult jvp(const TensorsFn& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v, bool create_graph) {
  EnableGradGuard recording;
  const std::vector<Tensor> x = prepare("jvp", inputs, create_graph);
  std::vector<Tensor> directions = v;
  if (directions.empty()) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].numel() != 1)
        throw Error("jvp: input {} {} is not a single element; pass v, one tensor per input", i, describe(inputs[i]));
      directions.push_back(ones_like(inputs[i]));
    }
  }
  if (directions.size() != inputs.size())
    throw Error("jvp: {} tensors v for {} inputs; pass one per input", directions.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    check_vector("jvp", directions[i], fmt::format("v {}", i), inputs[i], fmt::format("input {}", i));

  const Tensor out = evaluate("jvp", f, x);
  Tensor u = zeros_like(out).requires_grad_();
  const std::vector<Tensor> g = gradients({out}, {u}, x, /*create_graph=*/true, /*retain_graph=*/true);
  const Tensor uJv = inner(g, directions);
  Tensor result = uJv.defined() ? gradients({uJv}, {}, {u}, create_graph, create_graph)[0] : zeros_like(out);
  return {finish(out, create_graph), finish(result, create_graph)};
}

JvpResult jvp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph) {
  return jvp(of_one(f), std::vector<Tensor>{x}, v.defined() ? std::vector<Tensor>{v} : std::vector<Tensor>{},
             create_graph);
}

// --- jacobian ------------------------------------------------------------------------------------
std::vector<std::vector<Tensor>> jacobian(const MultiOutputFn& f, const std::vector<Tensor>& inputs,
                                          bool create_graph) {
  EnableGradGuard recording;
  const std::vector<Tensor> x = prepare("jacobian", inputs, create_graph);
  const std::vector<Tensor> outputs = evaluate("jacobian", f, x);
  std::vector<std::vector<Tensor>> J;
  for (const Tensor& y : outputs) J.push_back(finish(jacobian_of(y, x, create_graph), create_graph));
  return J;
}

std::vector<Tensor> jacobian(const TensorsFn& f, const std::vector<Tensor>& inputs, bool create_graph) {
  const MultiOutputFn one_output = [&f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in)}; };
  return std::move(jacobian(one_output, inputs, create_graph)[0]);
}

Tensor jacobian(const TensorFn& f, const Tensor& x, bool create_graph) {
  return std::move(jacobian(of_one(f), std::vector<Tensor>{x}, create_graph)[0]);
}

// --- hessian: the Jacobian of the gradient, recorded with create_graph ------------------------------
std::vector<std::vector<Tensor>> hessian(const TensorsFn& f, const std::vector<Tensor>& inputs, bool create_graph) {
  EnableGradGuard recording;
  const std::vector<Tensor> x = prepare("hessian", inputs, create_graph);
  const Tensor out = evaluate("hessian", f, x);
  require_scalar("hessian", out);
  const std::vector<Tensor> g = gradients({out}, {}, x, /*create_graph=*/true, /*retain_graph=*/true);
  std::vector<std::vector<Tensor>> H;
  for (const Tensor& g_i : g) H.push_back(finish(jacobian_of(g_i, x, create_graph), create_graph));
  return H;
}

Tensor hessian(const TensorFn& f, const Tensor& x, bool create_graph) {
  return std::move(hessian(of_one(f), std::vector<Tensor>{x}, create_graph)[0][0]);
}

// --- hvp: H v = d<grad f, v>/dx, without forming H ------------------------------------------------
HvpsResult hvp(const TensorsFn& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v, bool create_graph) {
  EnableGradGuard recording;
  const std::vector<Tensor> x = prepare("hvp", inputs, create_graph);
  if (v.size() != inputs.size())
    throw Error("hvp: {} tensors v for {} inputs; pass one per input", v.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    check_vector("hvp", v[i], fmt::format("v {}", i), inputs[i], fmt::format("input {}", i));
  const Tensor out = evaluate("hvp", f, x);
  require_scalar("hvp", out);
  const std::vector<Tensor> g = gradients({out}, {}, x, /*create_graph=*/true, /*retain_graph=*/true);
  const Tensor gv = inner(g, v);
  std::vector<Tensor> result;
  if (gv.defined())
    result = gradients({gv}, {}, x, create_graph, create_graph);
  else  // the gradient is constant: f is linear (or constant) in every input
    for (const Tensor& xi : x) result.push_back(zeros(xi.shape(), xi.dtype()));
  return {finish(out, create_graph), finish(std::move(result), create_graph)};
}

HvpResult hvp(const TensorFn& f, const Tensor& x, const Tensor& v, bool create_graph) {
  if (!v.defined()) throw Error("hvp: v is undefined; pass a tensor of x's shape {}", describe(x));
  HvpsResult r = hvp(of_one(f), std::vector<Tensor>{x}, std::vector<Tensor>{v}, create_graph);
  return {std::move(r.output), std::move(r.hvp[0])};
}

}  // namespace xgrad
