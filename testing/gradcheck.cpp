#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "../autograd/dispatch.hpp"
#include "../autograd/kinks.hpp"
#include "../autograd/random.hpp"
#include "../ops/arithmetic.hpp"
#include "../ops/reduce.hpp"

namespace xgrad {

namespace {
Shape unravel(std::size_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}
}  // namespace

GradcheckReport gradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].dtype() != f64)
      throw Error("gradcheck: input {} {} is {}; finite differences need f64 (use .to(xg::f64))", i,
                  shape_str(inputs[i].shape()), dtype_name(inputs[i].dtype()));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad() && !inputs[i].is_leaf())
      throw Error("gradcheck: input {} {} is the output of '{}', not a leaf: its gradient is not kept; pass a leaf "
                  "(e.g. x.detach().requires_grad_())",
                  i, shape_str(inputs[i].shape()), inputs[i].op());
  if (std::none_of(inputs.begin(), inputs.end(), [](const Tensor& x) { return x.requires_grad(); }))
    throw Error("gradcheck: none of the {} inputs requires grad, so there is no gradient to check; mark the "
                "inputs to check with requires_grad_()",
                inputs.size());
  const std::mt19937_64 rng_state = generator();  // every f(...) below starts from this state
  std::mt19937_64 own_rng(options.seed);

  // The scalar being differentiated: f itself, or sum(f * r) for a fixed random r.
  Tensor projection;
  auto loss = [&]() {
    generator() = rng_state;
    Tensor out = f(inputs);
    if (out.numel() == 1) return out;
    if (!projection.defined()) {
      std::normal_distribution<double> normal;
      xt::xarray<double> r = xt::xarray<double>::from_shape(out.shape());
      for (auto& v : r) v = normal(own_rng);
      projection = Tensor(std::move(r));
    }
    return sum(out * projection);
  };

  // Analytic gradients.
  for (Tensor& x : inputs) x.zero_grad();
  loss().backward();

  GradcheckReport report;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    const Shape shape = x.shape();
    const std::size_t n = x.numel();
    const Tensor analytic = x.grad().defined() ? x.grad() : zeros(shape, f64);

    std::vector<std::size_t> elements(n);
    std::iota(elements.begin(), elements.end(), 0);
    if (options.max_elements && n > options.max_elements) {
      std::shuffle(elements.begin(), elements.end(), own_rng);
      elements.resize(options.max_elements);
      std::sort(elements.begin(), elements.end());
    }

    auto& values = x.mutable_value<double>();
    for (std::size_t e : elements) {
      const double original = values.data()[e];
      auto evaluate = [&](double v, std::uint64_t& branches) {
        values.data()[e] = v;
        NoGradGuard no_grad;
        kinks::Recorder recorder;
        const double out = loss().item();
        branches = recorder.signature();
        return out;
      };
      std::uint64_t branches_plus = 0, branches_minus = 0;
      const double plus = evaluate(original + options.h, branches_plus);
      const double minus = evaluate(original - options.h, branches_minus);
      values.data()[e] = original;

      GradcheckElement el{i, unravel(e, shape), analytic.value<double>().data()[e], (plus - minus) / (2 * options.h), 0};
      const double scale = std::max({std::abs(el.analytic), std::abs(el.numeric), options.min_scale});
      el.rel_error = std::abs(el.analytic - el.numeric) / scale;
      if (branches_plus != branches_minus) {
        report.kinks.push_back(el);
        continue;
      }
      ++report.checked;
      if (report.checked == 1 || el.rel_error > report.max_rel_error) {
        report.max_rel_error = el.rel_error;
        report.worst = el;
      }
    }
  }
  generator() = rng_state;
  report.ok = report.max_rel_error <= options.tolerance;
  return report;
}

std::string to_string(const GradcheckReport& r) {
  std::string s = fmt::format("gradcheck {}: max relative error {:.3g} over {} elements", r.ok ? "ok" : "FAILED",
                              r.max_rel_error, r.checked);
  if (r.checked)
    s += fmt::format("; worst: input {} at {}: analytic {:.10g}, numeric {:.10g}", r.worst.input,
                     shape_str(r.worst.index), r.worst.analytic, r.worst.numeric);
  if (!r.kinks.empty()) {
    s += fmt::format("; {} kink crossed (not counted):", r.kinks.size());
    for (const auto& k : r.kinks)
      s += fmt::format(" input {} at {} (analytic {:.6g}, numeric {:.6g})", k.input, shape_str(k.index), k.analytic,
                       k.numeric);
  }
  return s;
}

}  // namespace xgrad
