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
#include "compare.hpp"

namespace xgrad {

namespace {

void check_inputs(const std::vector<Tensor>& inputs) {
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
}

using testing_detail::score;
using testing_detail::tally;

// The scalar being differentiated: f itself, or sum(f * r) for a fixed random r. Every evaluation
// starts from the same generator state, so dropout draws the same mask every time.
class Loss {
 public:
  Loss(const GradcheckFn& f, const std::vector<Tensor>& inputs, std::mt19937_64& rng)
      : f_(f), inputs_(inputs), rng_(rng), state_(generator()) {}
  ~Loss() { generator() = state_; }
  Loss(const Loss&) = delete;
  Loss& operator=(const Loss&) = delete;

  Tensor operator()() {
    generator() = state_;
    Tensor out = f_(inputs_);
    if (out.numel() == 1) return out;
    if (!projection_.defined()) {
      std::normal_distribution<double> normal;
      xt::xarray<double> r = xt::xarray<double>::from_shape(out.shape());
      for (auto& v : r) v = normal(rng_);
      projection_ = Tensor(std::move(r));
    }
    return sum(out * projection_);
  }

  // The loss without recording, and the digest of the kink branches it took.
  double evaluate(std::uint64_t& branches) {
    NoGradGuard no_grad;
    kinks::Recorder recorder;
    const double out = (*this)().item();
    branches = recorder.signature();
    return out;
  }

 private:
  const GradcheckFn& f_;
  const std::vector<Tensor>& inputs_;
  std::mt19937_64& rng_;
  const std::mt19937_64 state_;
  Tensor projection_;
};

// One centered difference per element of input i.
void check_elements(Loss& loss, Tensor& x, std::size_t i, const Tensor& analytic, const GradcheckOptions& options,
                    std::mt19937_64& rng, GradcheckReport& report) {
  const Shape shape = x.shape();
  std::vector<std::size_t> elements(x.numel());
  std::iota(elements.begin(), elements.end(), 0);
  if (options.max_elements && elements.size() > options.max_elements) {
    std::shuffle(elements.begin(), elements.end(), rng);
    elements.resize(options.max_elements);
    std::sort(elements.begin(), elements.end());
  }
  auto& values = x.mutable_value<double>();
  for (std::size_t e : elements) {
    const double original = values.data()[e];
    std::uint64_t branches_plus = 0, branches_minus = 0;
    values.data()[e] = original + options.h;
    const double plus = loss.evaluate(branches_plus);
    values.data()[e] = original - options.h;
    const double minus = loss.evaluate(branches_minus);
    values.data()[e] = original;

    GradcheckElement el{i,
                        detail::unravel(e, shape),
                        0,
                        analytic.value<double>().data()[e],
                        (plus - minus) / (2 * options.h),
                        0};
    score(el, options.min_scale);
    tally(report, el, branches_plus != branches_minus);
  }
}

// Fast mode: u^T J v for a few random unit directions v. The analytic side is the gradient of
// sum(f * u) (already computed) dotted with v; the numeric side steps the whole input along v.
// A unit v keeps each element's step below h, so the difference is as accurate as an element's.
void check_directions(Loss& loss, Tensor& x, std::size_t i, const Tensor& analytic, const GradcheckOptions& options,
                      std::mt19937_64& rng, GradcheckReport& report) {
  if (x.numel() == 0) return;
  auto& values = x.mutable_value<double>();
  const xt::xarray<double> original = values;
  const auto& grad = analytic.value<double>();
  std::normal_distribution<double> normal;
  for (std::size_t d = 0; d < options.directions; ++d) {
    xt::xarray<double> v = xt::xarray<double>::from_shape(original.shape());
    for (auto& e : v) e = normal(rng);
    v /= std::sqrt(xt::sum(v * v)());

    std::uint64_t branches_plus = 0, branches_minus = 0;
    values = original + options.h * v;
    const double plus = loss.evaluate(branches_plus);
    values = original - options.h * v;
    const double minus = loss.evaluate(branches_minus);
    values = original;

    GradcheckElement el{i, {}, d, xt::sum(grad * v)(), (plus - minus) / (2 * options.h), 0};
    score(el, options.min_scale);
    tally(report, el, branches_plus != branches_minus);
  }
}
}  // namespace

GradcheckReport gradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options) {
  check_inputs(inputs);
  if (options.fast && options.directions == 0)
    throw Error("gradcheck: fast mode with 0 directions checks nothing; set options.directions to 1 or more");
  std::mt19937_64 own_rng(options.seed);
  Loss loss(f, inputs, own_rng);  // restores the global generator when done

  // Analytic gradients.
  for (Tensor& x : inputs) x.zero_grad();
  loss().backward();

  GradcheckReport report;
  report.fast = options.fast;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad().defined() ? x.grad() : zeros(x.shape(), f64);
    if (options.fast)
      check_directions(loss, x, i, analytic, options, own_rng, report);
    else
      check_elements(loss, x, i, analytic, options, own_rng, report);
  }
  report.ok = report.max_rel_error <= options.tolerance;
  return report;
}

std::string to_string(const GradcheckReport& r) {
  // Fast mode compares random projections u^T J v: an "element" there is a direction.
  auto where = [&](const GradcheckElement& e) {
    return r.fast ? fmt::format("input {} along direction {} (u^T J v)", e.input, e.direction)
                  : fmt::format("input {} at {}", e.input, shape_str(e.index));
  };
  std::string s = fmt::format("gradcheck {}: max relative error {:.3g} over {} {}", r.ok ? "ok" : "FAILED",
                              r.max_rel_error, r.checked, r.fast ? "random directions (fast mode)" : "elements");
  if (r.checked)
    s += fmt::format("; worst: {}: analytic {:.10g}, numeric {:.10g}", where(r.worst), r.worst.analytic,
                     r.worst.numeric);
  if (!r.kinks.empty()) {
    s += fmt::format("; {} kink crossed (not counted):", r.kinks.size());
    for (const auto& k : r.kinks)
      s += fmt::format(" {} (analytic {:.6g}, numeric {:.6g})", where(k), k.analytic, k.numeric);
  }
  if (r.fast && !r.ok) s += "; fast mode names no element: rerun without fast on a smaller input to find it";
  return s;
}

}  // namespace xgrad
