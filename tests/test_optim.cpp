// Optimizers, clipping, max-norm and EMA. Each optimizer's trajectory on f(w) = sum(c * w^2)
// (gradient 2 c w) is compared with the update rules written out below with plain doubles, one
// element at a time, in the notes' form where the notes give one (so the formulas are checked, not
// just re-typed): momentum as v = mu v - lr dx, Nesterov as the notes' look-ahead update, Adam with
// explicit bias-corrected mt and vt.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

#include <xgrad/nn/checkpoint_optim.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "error_text.hpp"
#include "f64_tensors.hpp"
#include "state_dict_edits.hpp"

namespace xg = xgrad;
namespace opt = xgrad::optim;

namespace {

using Vec = std::vector<double>;

xg::Tensor t64(const Vec& v) {
  xt::xarray<double> a = xt::xarray<double>::from_shape({v.size()});
  std::copy(v.begin(), v.end(), a.begin());
  return xg::Tensor(a);
}
xg::Tensor param(const Vec& v) {
  xg::Tensor t = t64(v);
  t.requires_grad_();
  return t;
}
using f64_tensors::deep_copy;
using f64_tensors::values;

const Vec w0 = {1.0, -2.0, 0.5, 3.0, -0.25};
const Vec c0 = {0.5, 1.0, 2.0, 0.1, 4.0};
constexpr int steps = 6;

// loss = sum(c * w * w); backward gives exactly 2 c w.
void backward_quadratic(const xg::Tensor& w, const xg::Tensor& c) { xg::sum(c * w * w).backward(); }

// Runs `steps` optimizer steps and returns w after each one.
template <class Opt, class Options>
std::vector<Vec> run(Options options, int n = steps, const Vec& w_init = w0, const Vec& c = c0) {
  xg::Tensor w = param(w_init), ct = t64(c);
  Opt o({w}, options);
  std::vector<Vec> out;
  for (int k = 0; k < n; ++k) {
    o.zero_grad();
    backward_quadratic(w, ct);
    o.step();
    out.push_back(values(w));
  }
  return out;
}

// The reference: element i's trajectory from a per-element update rule, called as
// step(w, grad, t) with t from 1 and the element's own state captured in the closure.
using Rule = std::function<double(double w, double g, int t)>;
std::vector<Vec> reference(const std::function<Rule()>& make_rule, int n = steps, const Vec& w_init = w0,
                           const Vec& c = c0) {
  std::vector<Vec> out(n, Vec(w_init.size()));
  for (std::size_t i = 0; i < w_init.size(); ++i) {
    Rule rule = make_rule();
    double w = w_init[i];
    for (int t = 1; t <= n; ++t) {
      w = rule(w, 2.0 * c[i] * w, t);
      out[t - 1][i] = w;
    }
  }
  return out;
}

void check_close(const std::vector<Vec>& actual, const std::vector<Vec>& expected, double rel = 1e-12) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t k = 0; k < actual.size(); ++k)
    for (std::size_t i = 0; i < actual[k].size(); ++i) {
      INFO("step " << k + 1 << " element " << i);
      CHECK(actual[k][i] == doctest::Approx(expected[k][i]).epsilon(rel));
    }
}

using error_text::contains;
using error_text::error_of;

}  // namespace

// --- SGD ------------------------------------------------------------------------------------------
TEST_CASE("optim SGD: vanilla update x += -lr dx") {
  const double lr = 0.1;
  check_close(run<opt::SGD>(opt::SGDOptions{.lr = lr}),
              reference([&] { return Rule([=](double x, double dx, int) { return x + -lr * dx; }); }));
}

TEST_CASE("optim SGD: momentum as the notes' v = mu v - lr dx") {
  const double lr = 0.05, mu = 0.9;
  check_close(run<opt::SGD>(opt::SGDOptions{.lr = lr, .momentum = mu}), reference([&] {
                return Rule([=, v = 0.0](double x, double dx, int) mutable {
                  v = mu * v - lr * dx;
                  return x + v;
                });
              }));
}

TEST_CASE("optim SGD: Nesterov as the notes' look-ahead update") {
  const double lr = 0.05, mu = 0.9;
  check_close(run<opt::SGD>(opt::SGDOptions{.lr = lr, .momentum = mu, .nesterov = true}), reference([&] {
                return Rule([=, v = 0.0](double x, double dx, int) mutable {
                  const double v_prev = v;
                  v = mu * v - lr * dx;
                  return x + (-mu * v_prev + (1 + mu) * v);
                });
              }));
}

TEST_CASE("optim SGD: weight decay and dampening as PyTorch's pseudo-code") {
  const double lr = 0.05, mu = 0.8, damp = 0.3, wd = 0.1;
  check_close(run<opt::SGD>(opt::SGDOptions{.lr = lr, .momentum = mu, .dampening = damp, .weight_decay = wd}),
              reference([&] {
                return Rule([=, b = 0.0](double x, double dx, int t) mutable {
                  const double g = dx + wd * x;
                  b = t == 1 ? g : mu * b + (1 - damp) * g;  // the first step takes g undampened
                  return x - lr * b;
                });
              }));
  const double wd2 = 0.2;
  check_close(run<opt::SGD>(opt::SGDOptions{.lr = lr, .momentum = mu, .weight_decay = wd2, .nesterov = true}),
              reference([&] {
                return Rule([=, b = 0.0](double x, double dx, int t) mutable {
                  const double g = dx + wd2 * x;
                  b = t == 1 ? g : mu * b + g;
                  return x - lr * (g + mu * b);
                });
              }));
}

// --- AdaGrad ----------------------------------------------------------------------------------------
TEST_CASE("optim AdaGrad: the notes' cache update") {
  const double lr = 0.3, eps = 1e-10;
  check_close(run<opt::AdaGrad>(opt::AdaGradOptions{.lr = lr}), reference([&] {
                return Rule([=, cache = 0.0](double x, double dx, int) mutable {
                  cache += dx * dx;
                  return x + -lr * dx / (std::sqrt(cache) + eps);
                });
              }));
}

TEST_CASE("optim AdaGrad: lr_decay weight_decay and initial accumulator") {
  const double lr = 0.3, decay = 0.2, wd = 0.05, init = 0.4, eps = 1e-6;
  auto o = opt::AdaGradOptions{.lr = lr,
                               .lr_decay = decay,
                               .weight_decay = wd,
                               .initial_accumulator_value = init,
                               .eps = eps};
  check_close(run<opt::AdaGrad>(o), reference([&] {
                return Rule([=, sum = init](double x, double dx, int t) mutable {
                  const double g = dx + wd * x;
                  const double clr = lr / (1 + (t - 1) * decay);
                  sum += g * g;
                  return x - clr * g / (std::sqrt(sum) + eps);
                });
              }));
}

// --- RMSProp ----------------------------------------------------------------------------------------
TEST_CASE("optim RMSProp: the notes' leaky cache with decay_rate alpha") {
  const double lr = 0.01, decay_rate = 0.99, eps = 1e-8;
  check_close(run<opt::RMSProp>(opt::RMSPropOptions{}), reference([&] {
                return Rule([=, cache = 0.0](double x, double dx, int) mutable {
                  cache = decay_rate * cache + (1 - decay_rate) * dx * dx;
                  return x + -lr * dx / (std::sqrt(cache) + eps);
                });
              }));
}

TEST_CASE("optim RMSProp: centered with momentum and weight decay") {
  const double lr = 0.02, alpha = 0.9, eps = 1e-6, wd = 0.1, mu = 0.7;
  auto o =
      opt::RMSPropOptions{.lr = lr, .alpha = alpha, .eps = eps, .weight_decay = wd, .momentum = mu, .centered = true};
  check_close(run<opt::RMSProp>(o), reference([&] {
                return Rule([=, v = 0.0, a = 0.0, b = 0.0](double x, double dx, int) mutable {
                  const double g = dx + wd * x;
                  v = alpha * v + (1 - alpha) * g * g;
                  a = alpha * a + (1 - alpha) * g;
                  const double vt = v - a * a;
                  b = mu * b + g / (std::sqrt(vt) + eps);
                  return x - lr * b;
                });
              }));
  auto o2 = opt::RMSPropOptions{.lr = lr, .alpha = alpha, .momentum = mu};
  check_close(run<opt::RMSProp>(o2), reference([&] {
                return Rule([=, v = 0.0, b = 0.0](double x, double dx, int) mutable {
                  v = alpha * v + (1 - alpha) * dx * dx;
                  b = mu * b + dx / (std::sqrt(v) + 1e-8);
                  return x - lr * b;
                });
              }));
}

// --- Adam / AdamW -------------------------------------------------------------------------------------
TEST_CASE("optim Adam: the notes' update with bias correction") {
  const double lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  check_close(run<opt::Adam>(opt::AdamOptions{.lr = lr}), reference([&] {
                return Rule([=, m = 0.0, v = 0.0](double x, double dx, int t) mutable {
                  m = beta1 * m + (1 - beta1) * dx;
                  const double mt = m / (1 - std::pow(beta1, t));
                  v = beta2 * v + (1 - beta2) * (dx * dx);
                  const double vt = v / (1 - std::pow(beta2, t));
                  return x + -lr * mt / (std::sqrt(vt) + eps);
                });
              }));
}

TEST_CASE("optim Adam: amsgrad and L2 weight decay") {
  const double lr = 0.1, beta1 = 0.8, beta2 = 0.9, eps = 1e-6, wd = 0.3;
  // With beta2 = 0.9 the second moment falls as the gradients shrink, so the running max matters.
  auto o = opt::AdamOptions{.lr = lr, .betas = {beta1, beta2}, .eps = eps, .weight_decay = wd, .amsgrad = true};
  auto expected = reference([&] {
    return Rule([=, m = 0.0, v = 0.0, vmax = 0.0](double x, double dx, int t) mutable {
      const double g = dx + wd * x;
      m = beta1 * m + (1 - beta1) * g;
      v = beta2 * v + (1 - beta2) * g * g;
      vmax = std::max(vmax, v);
      const double mt = m / (1 - std::pow(beta1, t)), vt = vmax / (1 - std::pow(beta2, t));
      return x - lr * mt / (std::sqrt(vt) + eps);
    });
  });
  check_close(run<opt::Adam>(o), expected);
  // amsgrad changed the result on this problem (the max is active somewhere)
  o.amsgrad = false;
  auto plain = run<opt::Adam>(o);
  bool differs = false;
  for (std::size_t k = 0; k < plain.size(); ++k)
    for (std::size_t i = 0; i < plain[k].size(); ++i) differs = differs || plain[k][i] != expected[k][i];
  CHECK(differs);
}

TEST_CASE("optim AdamW: decoupled weight decay") {
  const double lr = 0.05, beta1 = 0.9, beta2 = 0.99, eps = 1e-8, wd = 0.1;
  for (bool ams : {false, true}) {
    INFO("amsgrad " << ams);
    auto o = opt::AdamWOptions{.lr = lr, .betas = {beta1, beta2}, .weight_decay = wd, .amsgrad = ams};
    check_close(run<opt::AdamW>(o), reference([&] {
                  return Rule([=, m = 0.0, v = 0.0, vmax = 0.0](double x, double dx, int t) mutable {
                    x = x - lr * wd * x;
                    m = beta1 * m + (1 - beta1) * dx;
                    v = beta2 * v + (1 - beta2) * dx * dx;
                    vmax = std::max(vmax, v);
                    const double mt = m / (1 - std::pow(beta1, t));
                    const double vt = (ams ? vmax : v) / (1 - std::pow(beta2, t));
                    return x - lr * mt / (std::sqrt(vt) + eps);
                  });
                }));
  }
  CHECK(opt::AdamWOptions{}.weight_decay == 1e-2);
}

TEST_CASE("optim defaults follow PyTorch") {
  CHECK(opt::AdamOptions{}.lr == 1e-3);
  CHECK(opt::AdamOptions{}.betas.first == 0.9);
  CHECK(opt::AdamOptions{}.betas.second == 0.999);
  CHECK(opt::AdamOptions{}.eps == 1e-8);
  CHECK(opt::AdaGradOptions{}.lr == 1e-2);
  CHECK(opt::AdaGradOptions{}.eps == 1e-10);
  CHECK(opt::RMSPropOptions{}.lr == 1e-2);
  CHECK(opt::RMSPropOptions{}.alpha == 0.99);
  CHECK(opt::RMSPropOptions{}.eps == 1e-8);
  CHECK(opt::SGDOptions{}.momentum == 0.0);
  CHECK_FALSE(opt::SGDOptions{}.nesterov);
}

TEST_CASE("optim f32 parameters follow the f64 trajectory") {
  auto w = xg::tensor({1.0, -2.0, 0.5}, xg::f32).requires_grad_();
  auto c = xg::tensor({0.5, 1.0, 2.0}, xg::f32);
  opt::Adam adam({w}, {.lr = 0.1});
  for (int k = 0; k < 5; ++k) {
    adam.zero_grad();
    backward_quadratic(w, c);
    adam.step();
  }
  CHECK(w.dtype() == xg::f32);
  auto expected = run<opt::Adam>(opt::AdamOptions{.lr = 0.1}, 5, {1.0, -2.0, 0.5}, {0.5, 1.0, 2.0});
  for (std::size_t i = 0; i < 3; ++i) CHECK(w.value<float>()(i) == doctest::Approx(expected[4][i]).epsilon(1e-5));
}

// --- groups, freezing, zero_grad ---------------------------------------------------------------------------
TEST_CASE("optim parameter groups train at their own learning rates") {
  xg::Tensor a = param({1.0, -2.0}), b = param({0.5, 3.0, -1.0}), ca = t64({0.5, 1.0}), cb = t64({2.0, 0.1, 4.0});
  opt::SGD sgd({{{a}, {.lr = 0.1, .momentum = 0.9}}, {{b}, {.lr = 0.01, .momentum = 0.5, .nesterov = true}}});
  REQUIRE(sgd.group_count() == 2);
  CHECK(sgd.lr(0) == 0.1);
  CHECK(sgd.lr(1) == 0.01);
  CHECK(sgd.options(1).momentum == 0.5);
  CHECK(sgd.params(1).size() == 1);
  CHECK(sgd.params(1)[0].impl() == b.impl());
  CHECK(sgd.parameters().size() == 2);
  for (int k = 0; k < steps; ++k) {
    sgd.zero_grad();
    (xg::sum(ca * a * a) + xg::sum(cb * b * b)).backward();
    sgd.step();
  }
  check_close({values(a)},
              {run<opt::SGD>(opt::SGDOptions{.lr = 0.1, .momentum = 0.9}, steps, {1.0, -2.0}, {0.5, 1.0}).back()});
  check_close({values(b)}, {run<opt::SGD>(opt::SGDOptions{.lr = 0.01, .momentum = 0.5, .nesterov = true}, steps,
                                          {0.5, 3.0, -1.0}, {2.0, 0.1, 4.0})
                                .back()});

  sgd.set_lr(1, 0.5);
  CHECK(sgd.lr(1) == 0.5);
  CHECK(sgd.lr(0) == 0.1);
  CHECK_THROWS_AS(sgd.set_lr(2, 0.1), xg::Error);
  CHECK_THROWS_AS(sgd.set_lr(0, -0.1), xg::Error);
  CHECK_THROWS_AS(sgd.lr(5), xg::Error);

  // add_param_group: the new group's parameters come after the existing ones
  xg::Tensor d = param({1.0});
  sgd.add_param_group({{d}, {.lr = 0.2}});
  CHECK(sgd.group_count() == 3);
  CHECK(sgd.param_count() == 3);
  CHECK_THROWS_AS(sgd.add_param_group({{a}, {.lr = 0.2}}), xg::Error);  // already in group 0
}

TEST_CASE("optim frozen parameters and parameters without a gradient are skipped") {
  xg::Tensor w = param({1.0, 2.0}), frozen = param({3.0, 4.0}), unused = param({5.0});
  opt::Adam adam({w, frozen, unused}, {.lr = 0.1});
  frozen.requires_grad_(false);
  for (int k = 0; k < 3; ++k) {
    adam.zero_grad();
    (xg::sum(w * w) + xg::sum(frozen * frozen)).backward();
    adam.step();
  }
  CHECK(values(frozen) == Vec{3.0, 4.0});
  CHECK(values(unused) == Vec{5.0});
  CHECK(values(w) != Vec{1.0, 2.0});
  CHECK(adam.step_count(0) == 3);
  CHECK(adam.step_count(1) == 0);
  CHECK(adam.step_count(2) == 0);
  CHECK_FALSE(adam.state(1, "exp_avg").defined());
  CHECK(adam.state(0, "exp_avg").defined());

  // A frozen parameter that still has a gradient (frozen after backward) is skipped too.
  xg::Tensor v = param({1.0});
  opt::SGD sgd({v}, {.lr = 1.0});
  xg::sum(v * v).backward();
  v.requires_grad_(false);
  sgd.step();
  CHECK(values(v) == Vec{1.0});
}

TEST_CASE("optim zero_grad forgets every gradient") {
  xg::Tensor a = param({1.0, 2.0}), b = param({3.0});
  opt::SGD sgd({{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.2}}});
  (xg::sum(a * a) + xg::sum(b * b)).backward();
  REQUIRE(a.grad().defined());
  REQUIRE(b.grad().defined());
  sgd.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_FALSE(b.grad().defined());
  sgd.step();  // nothing to do
  CHECK(values(a) == Vec{1.0, 2.0});
}

TEST_CASE("optim the core API with a module") {
  xg::manual_seed(7);
  xg::nn::Linear net(3, 1);
  net.to(xg::f64);
  xg::optim::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  xg::optim::Adam adam(net.parameters(), {.lr = 1e-3});
  auto x = xg::randn({8, 3}, xg::f64);
  auto y = xg::randn({8, 1}, xg::f64);
  auto loss_now = [&] { return xg::mean((net(x) - y) * (net(x) - y)); };
  const double first = loss_now().item();
  for (int k = 0; k < 20; ++k) {
    sgd.zero_grad();
    loss_now().backward();
    sgd.step();
  }
  CHECK(loss_now().item() < first);
  adam.zero_grad();
  adam.step();  // no gradients: nothing happens
  CHECK(adam.step_count(0) == 0);
}

// --- option and parameter checks ---------------------------------------------------------------------
TEST_CASE("optim invalid options and parameters are rejected") {
  xg::Tensor w = param({1.0});
  CHECK(contains(error_of([&] { opt::SGD s({w}, {.lr = -0.1}); }), "learning rate -0.1"));
  CHECK(contains(error_of([&] { opt::SGD s({w}, {.lr = 0.1, .nesterov = true}); }), "nesterov"));
  CHECK(contains(error_of([&] { opt::SGD s({w}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}); }),
                 "dampening"));
  CHECK_THROWS_AS(opt::SGD({w}, {.lr = 0.1, .momentum = -0.5}), xg::Error);
  CHECK_THROWS_AS(opt::SGD({w}, {.lr = 0.1, .weight_decay = -1.0}), xg::Error);
  CHECK_THROWS_AS(opt::SGD({w}, {.lr = std::nan("")}), xg::Error);
  CHECK_THROWS_AS(opt::Adam({w}, {.lr = -1.0}), xg::Error);
  CHECK(contains(error_of([&] { opt::Adam a({w}, {.betas = {1.0, 0.999}}); }), "beta1"));
  CHECK(contains(error_of([&] { opt::Adam a({w}, {.betas = {0.9, -0.1}}); }), "beta2"));
  CHECK_THROWS_AS(opt::Adam({w}, {.eps = -1e-8}), xg::Error);
  CHECK_THROWS_AS(opt::AdamW({w}, {.weight_decay = -0.1}), xg::Error);
  CHECK_THROWS_AS(opt::AdaGrad({w}, {.lr_decay = -0.1}), xg::Error);
  CHECK_THROWS_AS(opt::AdaGrad({w}, {.initial_accumulator_value = -1.0}), xg::Error);
  CHECK_THROWS_AS(opt::RMSProp({w}, {.alpha = 1.5}), xg::Error);
  CHECK_THROWS_AS(opt::RMSProp({w}, {.momentum = -0.1}), xg::Error);

  CHECK(contains(error_of([&] { opt::SGD s(std::vector<xg::Tensor>{}, {.lr = 0.1}); }), "empty parameter list"));
  CHECK(contains(error_of([&] { opt::SGD s({w, w}, {.lr = 0.1}); }), "more than once"));
  CHECK(contains(error_of([&] { opt::SGD s({{{w}, {.lr = 0.1}}, {{w}, {.lr = 0.2}}}); }), "more than once"));
  CHECK(contains(error_of([&] { opt::SGD s({w * 2.0}, {.lr = 0.1}); }), "not a leaf"));
  CHECK(contains(error_of([&] { opt::SGD s({xg::Tensor()}, {.lr = 0.1}); }), "undefined"));

  opt::SGD sgd({w}, {.lr = 0.1});
  CHECK_THROWS_AS(sgd.set_options(0, {.lr = 0.1, .nesterov = true}), xg::Error);
  CHECK(sgd.options().nesterov == false);
  sgd.set_options(0, {.lr = 0.2, .momentum = 0.9, .nesterov = true});
  CHECK(sgd.options().nesterov);
}

// --- state_dict ---------------------------------------------------------------------------------------------
namespace {
// Two parameters in two groups; the loss couples nothing, so each follows its own trajectory.
struct Problem {
  xg::Tensor a = param({1.0, -2.0, 0.5}), b = param({0.3, 3.0}), frozen = param({7.0});
  xg::Tensor ca = t64({0.5, 1.0, 2.0}), cb = t64({4.0, 0.1});
  Problem copy() const {
    Problem p;
    p.a = deep_copy(a);
    p.b = deep_copy(b);
    p.frozen = deep_copy(frozen);
    return p;
  }
  void backward() const { (xg::sum(ca * a * a) + xg::sum(cb * b * b * b * b) + xg::sum(frozen)).backward(); }
};

template <class Opt>
void step_n(Opt& o, const Problem& p, int n) {
  for (int k = 0; k < n; ++k) {
    o.zero_grad();
    p.backward();
    o.step();
  }
}

// Save after 3 steps, load into a fresh optimizer on copies of the parameters, continue both: the
// trajectories agree bit for bit.
template <class Opt, class Options>
void check_round_trip(Options o0, Options o1) {
  Problem p;
  auto make = [&](const Problem& q) { return Opt({{{q.a, q.frozen}, o0}, {{q.b}, o1}}); };
  Opt original = make(p);
  p.frozen.requires_grad_(false);
  step_n(original, p, 3);
  const xg::nn::NamedTensors saved = original.state_dict();

  Problem q = p.copy();
  Opt resumed = make(q);
  resumed.load_state_dict(saved);
  CHECK(resumed.step_count(0) == 3);
  CHECK(resumed.step_count(1) == 0);  // frozen: no state
  for (int k = 0; k < 4; ++k) {
    step_n(original, p, 1);
    step_n(resumed, q, 1);
    CHECK(values(p.a) == values(q.a));  // bit-exact
    CHECK(values(p.b) == values(q.b));
  }
  CHECK(resumed.step_count(2) == 7);
  // The saved tensors are copies: stepping did not change them.
  Problem r = p.copy();
  Opt again = make(r);
  again.load_state_dict(saved);
  CHECK(again.step_count(0) == 3);
}
}  // namespace

TEST_CASE("optim state_dict round trip continues bit-exact") {
  SUBCASE("SGD") {
    check_round_trip<opt::SGD>(opt::SGDOptions{.lr = 0.01, .momentum = 0.9, .nesterov = true},
                               opt::SGDOptions{.lr = 0.02, .momentum = 0.5, .dampening = 0.1, .weight_decay = 0.01});
  }
  SUBCASE("Adam") {
    check_round_trip<opt::Adam>(opt::AdamOptions{.lr = 0.01, .amsgrad = true},
                                opt::AdamOptions{.lr = 0.02, .weight_decay = 0.1});
  }
  SUBCASE("AdamW") {
    check_round_trip<opt::AdamW>(opt::AdamWOptions{.lr = 0.01}, opt::AdamWOptions{.lr = 0.02, .amsgrad = true});
  }
  SUBCASE("AdaGrad") {
    check_round_trip<opt::AdaGrad>(opt::AdaGradOptions{.lr = 0.1, .lr_decay = 0.1},
                                   opt::AdaGradOptions{.lr = 0.05, .initial_accumulator_value = 0.1});
  }
  SUBCASE("RMSProp") {
    check_round_trip<opt::RMSProp>(opt::RMSPropOptions{.lr = 0.01, .momentum = 0.9, .centered = true},
                                   opt::RMSPropOptions{.lr = 0.02, .weight_decay = 0.1});
  }
}

TEST_CASE("optim state_dict keys") {
  Problem p;
  opt::Adam adam({{{p.a, p.frozen}, {.lr = 0.01, .amsgrad = true}}, {{p.b}, {.lr = 0.02}}});
  auto keys = [&] {
    std::vector<std::string> out;
    for (const auto& [k, t] : adam.state_dict()) out.push_back(k);
    return out;
  };
  CHECK(keys() == std::vector<std::string>{"group.0.lr", "group.1.lr"});
  p.frozen.requires_grad_(false);
  step_n(adam, p, 2);
  CHECK(keys() == std::vector<std::string>{"group.0.lr", "group.1.lr", "0.step", "0.exp_avg", "0.exp_avg_sq",
                                           "0.max_exp_avg_sq", "2.step", "2.exp_avg", "2.exp_avg_sq"});
  auto sd = adam.state_dict();
  CHECK(sd[0].second.dim() == 0);
  CHECK(sd[0].second.dtype() == xg::f64);
  CHECK(sd[1].second.item() == 0.02);
  CHECK(sd[2].second.item() == 2.0);
  CHECK(sd[3].second.shape() == p.a.shape());
}

TEST_CASE("optim corrupt or mismatched state is rejected and the optimizer is unchanged") {
  Problem p;
  auto make = [](const Problem& q) {
    return opt::Adam({{{q.a}, {.lr = 0.01, .amsgrad = true}}, {{q.b}, {.lr = 0.02}}});
  };
  opt::Adam adam = make(p);
  step_n(adam, p, 3);
  const auto good = adam.state_dict();

  // A twin that never sees a bad load, to compare the continued trajectory with.
  Problem q = p.copy();
  opt::Adam twin = make(q);
  twin.load_state_dict(good);

  // A victim on copies that is loaded with bad dicts, each of which must fail and change nothing.
  Problem v = p.copy();
  opt::Adam victim = make(v);
  victim.load_state_dict(good);
  victim.set_lr(0, 0.01);

  auto without = [&](const std::string& key) { return state_dict_edits::without(good, key); };
  auto replaced = [&](const std::string& key, xg::Tensor t) { return state_dict_edits::replaced(good, key, t); };
  auto with_lr_changed_first = [&](xg::nn::NamedTensors d) {
    // A valid lr change early in the dict, so a half-applied load would show.
    for (auto& [k, v] : d)
      if (k == "group.0.lr") v = xg::scalar(0.5, xg::f64);
    return d;
  };
  struct Case {
    const char* what;
    xg::nn::NamedTensors dict;
    std::vector<std::string> message;
  };
  auto dup = good;
  dup.push_back(good[3]);
  auto extra = good;
  extra.emplace_back("2.exp_avg", xg::zeros({2}, xg::f64));
  auto unknown = good;
  unknown.emplace_back("momentum", xg::scalar(0.9, xg::f64));
  auto amsgrad_on_group_1 = good;
  amsgrad_on_group_1.emplace_back("1.max_exp_avg_sq", xg::zeros({2}, xg::f64));
  std::vector<Case> cases = {
      {"missing buffer", with_lr_changed_first(without("1.exp_avg_sq")), {"missing key '1.exp_avg_sq'", "[2] f64"}},
      {"missing amsgrad buffer", without("0.max_exp_avg_sq"), {"missing key '0.max_exp_avg_sq'"}},
      {"missing step", without("0.step"), {"missing key '0.step'"}},
      {"missing lr", without("group.1.lr"), {"missing key 'group.1.lr'"}},
      {"shape",
       with_lr_changed_first(replaced("0.exp_avg", xg::zeros({2, 3}, xg::f64))),
       {"'0.exp_avg'", "[2,3] f64", "[3] f64"}},
      {"dtype", replaced("1.exp_avg", xg::zeros({2}, xg::f32)), {"'1.exp_avg'", "[2] f32", "[2] f64"}},
      {"undefined", replaced("1.exp_avg", xg::Tensor()), {"'1.exp_avg'", "undefined"}},
      {"step not scalar", replaced("0.step", xg::zeros({2}, xg::f64)), {"'0.step'", "[2] f64"}},
      {"step fractional", replaced("0.step", xg::scalar(2.5, xg::f64)), {"'0.step'", "2.5"}},
      {"step negative", replaced("0.step", xg::scalar(-1.0, xg::f64)), {"'0.step'"}},
      {"lr negative", replaced("group.1.lr", xg::scalar(-1.0, xg::f64)), {"'group.1.lr'"}},
      {"lr f32", replaced("group.1.lr", xg::scalar(0.1, xg::f32)), {"'group.1.lr'", "[] f32"}},
      {"duplicate", dup, {"appears twice"}},
      {"index out of range", extra, {"unexpected key '2.exp_avg'", "2 parameters"}},
      {"unknown key", unknown, {"unexpected key 'momentum'"}},
      {"buffer of other options", amsgrad_on_group_1, {"unexpected key '1.max_exp_avg_sq'"}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string msg = error_of([&] { victim.load_state_dict(c.dict); });
    INFO(msg);
    for (const auto& part : c.message) CHECK(contains(msg, part));
  }
  CHECK(victim.lr(0) == 0.01);
  CHECK(victim.step_count(0) == 3);
  for (int k = 0; k < 3; ++k) {
    step_n(twin, q, 1);
    step_n(victim, v, 1);
    CHECK(values(q.a) == values(v.a));
    CHECK(values(q.b) == values(v.b));
  }

  // A state for another optimizer type is rejected as well.
  Problem s = p.copy();
  opt::SGD sgd({{{s.a}, {.lr = 0.1, .momentum = 0.9}}, {{s.b}, {.lr = 0.1}}});
  CHECK(contains(error_of([&] { sgd.load_state_dict(good); }), "unexpected key '0.exp_avg'"));
}

TEST_CASE("optim training resumes exactly from an xg::save checkpoint with the optimizer") {
  const auto path =
      std::filesystem::temp_directory_path() / ("xgrad-optim-ckpt-" + std::to_string(::getpid()) + ".safetensors");
  xg::manual_seed(11);
  auto x = xg::randn({6, 3}, xg::f64), y = xg::randn({6, 2}, xg::f64);
  auto train = [&](xg::nn::Linear& net, opt::Adam& adam, int n) {
    for (int k = 0; k < n; ++k) {
      adam.zero_grad();
      auto e = net(x) - y;
      xg::mean(e * e).backward();
      adam.step();
    }
  };
  xg::nn::Linear a(3, 2);
  a.to(xg::f64);
  opt::Adam adam_a(a.parameters(), {.lr = 0.05, .amsgrad = true});
  train(a, adam_a, 3);
  xg::save(a, adam_a, path.string());

  xg::nn::Linear b(3, 2);  // other initial weights, fresh optimizer
  b.to(xg::f64);
  opt::Adam adam_b(b.parameters(), {.lr = 0.05, .amsgrad = true});
  xg::load(b, adam_b, path.string());
  std::filesystem::remove(path);
  CHECK(adam_b.step_count(0) == 3);
  train(a, adam_a, 4);
  train(b, adam_b, 4);
  CHECK(values(a.weight.reshape({6})) == values(b.weight.reshape({6})));
  CHECK(values(a.bias) == values(b.bias));
}

// --- clipping ----------------------------------------------------------------------------------------------
namespace {
xg::Tensor with_grad(const Vec& value, const Vec& grad) {
  xg::Tensor w = param(value);
  xg::Tensor g = t64(grad);
  xg::sum(w * g).backward();  // d/dw sum(w * g) = g
  return w;
}
}  // namespace

TEST_CASE("optim clip_grad_norm_ scales all gradients by max_norm over the total norm") {
  xg::Tensor a = with_grad({0, 0}, {3.0, 4.0}), b = with_grad({0}, {12.0}), none = param({1.0});
  const double total = xg::optim::clip_grad_norm_({a, none, b}, 6.5);
  CHECK(total == 13.0);
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(values(a.grad()) == Vec{3.0 * coef, 4.0 * coef});
  CHECK(values(b.grad()) == Vec{12.0 * coef});
  CHECK_FALSE(none.grad().defined());

  // max_norm == total still scales by max_norm / (total + 1e-6), as PyTorch; well under it: untouched
  xg::Tensor c = with_grad({0, 0}, {3.0, 4.0});
  CHECK(xg::optim::clip_grad_norm_({c}, 5.0) == 5.0);
  CHECK(values(c.grad()) == Vec{3.0 * (5.0 / (5.0 + 1e-6)), 4.0 * (5.0 / (5.0 + 1e-6))});
  xg::Tensor d = with_grad({0, 0}, {3.0, 4.0});
  CHECK(xg::optim::clip_grad_norm_({d}, 10.0) == 5.0);
  CHECK(values(d.grad()) == Vec{3.0, 4.0});

  // other norms
  xg::Tensor e = with_grad({0, 0}, {3.0, -4.0}), f = with_grad({0}, {-2.0});
  CHECK(xg::optim::clip_grad_norm_({e, f}, 100.0, 1.0) == 9.0);
  CHECK(xg::optim::clip_grad_norm_({e, f}, 100.0, xg::optim::inf_norm) == 4.0);
  CHECK(xg::optim::clip_grad_norm_({e, f}, 100.0, 3.0) == doctest::Approx(std::cbrt(27.0 + 64.0 + 8.0)));
  CHECK(xg::optim::clip_grad_norm_({e, f}, 2.0, xg::optim::inf_norm) == 4.0);
  CHECK(values(e.grad())[1] == doctest::Approx(-2.0).epsilon(1e-6));

  CHECK(xg::optim::clip_grad_norm_({none}, 1.0) == 0.0);  // no gradients
  CHECK_THROWS_AS(xg::optim::clip_grad_norm_({a}, 1.0, 0.0), xg::Error);
  CHECK_THROWS_AS(xg::optim::clip_grad_norm_({a}, -1.0), xg::Error);

  xg::Tensor g = with_grad({0, 0}, {std::nan(""), 1.0});
  CHECK(std::isnan(xg::optim::clip_grad_norm_({g}, 1.0)));
  CHECK(contains(error_of([&] { xg::optim::clip_grad_norm_({g}, 1.0, 2.0, true); }), "nan"));
}

TEST_CASE("optim clip_grad_value_ clamps each element") {
  xg::Tensor a = with_grad({0, 0, 0, 0}, {-3.0, 0.5, 2.0, -0.1});
  xg::optim::clip_grad_value_({a}, 1.0);
  CHECK(values(a.grad()) == Vec{-1.0, 0.5, 1.0, -0.1});
  CHECK_THROWS_AS(xg::optim::clip_grad_value_({a}, -1.0), xg::Error);
}

TEST_CASE("optim max_norm_ projects each neuron's weight vector") {
  // Linear weight [out=3, in=4]: row norms 5, 1, 10.
  auto w = xg::tensor({{3.0, 4.0, 0.0, 0.0}, {0.0, 0.0, 1.0, 0.0}, {0.0, 6.0, 0.0, 8.0}}, xg::f64).requires_grad_();
  xg::optim::max_norm_(w, 2.0);
  const auto& m = w.value<double>();
  auto row_norm = [&](std::size_t r) {
    double s = 0;
    for (std::size_t k = 0; k < 4; ++k) s += m(r, k) * m(r, k);
    return std::sqrt(s);
  };
  CHECK(row_norm(0) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(m(0, 0) == doctest::Approx(1.2));
  CHECK(m(0, 1) == doctest::Approx(1.6));
  CHECK(m(1, 2) == 1.0);  // under the limit: untouched
  CHECK(row_norm(2) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(m(2, 3) == doctest::Approx(1.6));
  CHECK(w.requires_grad());

  // Conv weight [out=2, in=1, 2, 2]: each output channel is one neuron.
  xt::xarray<float> cw = {{{{2.f, 2.f}, {2.f, 2.f}}}, {{{0.1f, 0.f}, {0.f, 0.1f}}}};
  xg::Tensor conv(cw);
  xg::optim::max_norm_(conv, 1.0);
  const auto& cv = conv.value<float>();
  CHECK(cv(0, 0, 0, 0) == doctest::Approx(0.5));
  CHECK(cv(0, 0, 1, 1) == doctest::Approx(0.5));
  CHECK(cv(1, 0, 0, 0) == doctest::Approx(0.1));

  CHECK_THROWS_AS(xg::optim::max_norm_(xg::scalar(1.0), 1.0), xg::Error);
  CHECK_THROWS_AS(xg::optim::max_norm_(w, -1.0), xg::Error);
}

// --- EMA ---------------------------------------------------------------------------------------------------
TEST_CASE("optim ExponentialMovingAverage values store copy_to restore") {
  xg::Tensor w = param({1.0, -2.0}), frozen = xg::tensor({5.0}, xg::f64);
  xg::optim::ExponentialMovingAverage ema({w, frozen}, 0.9);
  Vec shadow = {1.0, -2.0};
  auto set = [&](const Vec& v) { std::copy(v.begin(), v.end(), w.mutable_value<double>().begin()); };
  const std::vector<Vec> path = {{2.0, 0.0}, {3.0, 1.0}, {4.0, -1.0}, {0.5, 0.5}, {1.5, 2.5}};
  for (std::size_t n = 1; n <= path.size(); ++n) {
    set(path[n - 1]);
    ema.update();
    const double decay = std::min(0.9, (1.0 + n) / (10.0 + n));
    for (std::size_t i = 0; i < 2; ++i) shadow[i] = decay * shadow[i] + (1 - decay) * path[n - 1][i];
  }
  CHECK(ema.num_updates() == 5);
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(ema.shadow()[0].value<double>()(i) == doctest::Approx(shadow[i]).epsilon(1e-14));
  CHECK(ema.shadow()[1].value<double>()(0) == 5.0);  // not trainable: not averaged

  {
    auto averaged = ema.average_parameters();
    CHECK(values(w)[0] == doctest::Approx(shadow[0]).epsilon(1e-14));
  }
  CHECK(values(w) == path.back());

  ema.store();
  ema.copy_to();
  CHECK(values(w)[1] == doctest::Approx(shadow[1]).epsilon(1e-14));
  ema.restore();
  CHECK(values(w) == path.back());
  CHECK_THROWS_AS(ema.restore(), xg::Error);  // nothing stored any more

  // without the num_updates warm-up the decay is constant
  xg::Tensor u = param({0.0});
  xg::optim::ExponentialMovingAverage plain({u}, 0.5, false);
  u.mutable_value<double>()(0) = 4.0;
  plain.update();
  CHECK(plain.shadow()[0].item() == 2.0);

  // state round trip
  auto sd = ema.state_dict();
  xg::optim::ExponentialMovingAverage other({w, frozen}, 0.9);
  other.load_state_dict(sd);
  CHECK(other.num_updates() == 5);
  CHECK(values(other.shadow()[0]) == values(ema.shadow()[0]));
  sd.pop_back();
  CHECK(contains(error_of([&] { other.load_state_dict(sd); }), "missing key 'shadow.1'"));
  CHECK_THROWS_AS(xg::optim::ExponentialMovingAverage({w}, 1.5), xg::Error);
}
