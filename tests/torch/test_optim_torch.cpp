// The libtorch oracle: xgrad's optimizers and torch::optim run the same f64 problem (two
// parameters in two groups with different options) for 10 steps and must agree to 1e-12.
// Built only where libtorch is installed (see CMakeLists.txt); torch itself is only in
// torch_oracle.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "torch_oracle.hpp"

namespace xg = xgrad;
namespace opt = xgrad::optim;

namespace {

constexpr int steps = 10;

oracle::Problem problem() {
  oracle::Problem p;
  p.shapes = {{3, 2}, {4}};
  p.init = {{0.8, -1.3, 0.4, 2.1, -0.6, 1.7}, {-1.1, 0.05, 1.5, -2.4}};
  p.c = {{0.5, 1.2, 0.3, 2.0, 0.9, 0.25}, {1.5, 0.4, 0.8, 0.2}};
  p.d = {{0.3, -0.7, 0.1, 0.5, -0.2, 0.9}, {-0.4, 0.6, 0.2, -0.9}};
  return p;
}

xg::Tensor make(const std::vector<double>& v, const std::vector<std::int64_t>& shape) {
  xg::Shape s(shape.begin(), shape.end());
  xt::xarray<double> a = xt::xarray<double>::from_shape(s);
  std::copy(v.begin(), v.end(), a.begin());
  return xg::Tensor(a);
}

template <class Opt, class Options, class Convert>
std::unique_ptr<opt::Optimizer> build(const std::vector<xg::Tensor>& w, const std::vector<oracle::Config>& groups,
                                      Convert convert) {
  std::vector<opt::ParamGroup<Options>> pg;
  for (std::size_t i = 0; i < w.size(); ++i) pg.push_back({{w[i]}, convert(groups[i])});
  return std::make_unique<Opt>(std::move(pg));
}

oracle::Trajectory xgrad_trajectory(const std::vector<oracle::Config>& groups, const oracle::Problem& p, int n) {
  std::vector<xg::Tensor> w, c, d;
  for (std::size_t i = 0; i < p.init.size(); ++i) {
    w.push_back(make(p.init[i], p.shapes[i]));
    w.back().requires_grad_();
    c.push_back(make(p.c[i], p.shapes[i]));
    d.push_back(make(p.d[i], p.shapes[i]));
  }
  std::unique_ptr<opt::Optimizer> o;
  const std::string& algo = groups.at(0).algo;
  if (algo == "SGD")
    o = build<opt::SGD, opt::SGDOptions>(w, groups, [](const oracle::Config& g) {
      return opt::SGDOptions{.lr = g.lr,
                             .momentum = g.momentum,
                             .dampening = g.dampening,
                             .weight_decay = g.weight_decay,
                             .nesterov = g.nesterov};
    });
  else if (algo == "Adam")
    o = build<opt::Adam, opt::AdamOptions>(w, groups, [](const oracle::Config& g) {
      return opt::AdamOptions{.lr = g.lr,
                              .betas = {g.beta1, g.beta2},
                              .eps = g.eps,
                              .weight_decay = g.weight_decay,
                              .amsgrad = g.amsgrad};
    });
  else if (algo == "AdamW")
    o = build<opt::AdamW, opt::AdamWOptions>(w, groups, [](const oracle::Config& g) {
      return opt::AdamWOptions{.lr = g.lr,
                               .betas = {g.beta1, g.beta2},
                               .eps = g.eps,
                               .weight_decay = g.weight_decay,
                               .amsgrad = g.amsgrad};
    });
  else if (algo == "AdaGrad")
    o = build<opt::AdaGrad, opt::AdaGradOptions>(w, groups, [](const oracle::Config& g) {
      return opt::AdaGradOptions{.lr = g.lr,
                                 .lr_decay = g.lr_decay,
                                 .weight_decay = g.weight_decay,
                                 .initial_accumulator_value = g.initial_accumulator_value,
                                 .eps = g.eps};
    });
  else if (algo == "RMSProp")
    o = build<opt::RMSProp, opt::RMSPropOptions>(w, groups, [](const oracle::Config& g) {
      return opt::RMSPropOptions{.lr = g.lr,
                                 .alpha = g.alpha,
                                 .eps = g.eps,
                                 .weight_decay = g.weight_decay,
                                 .momentum = g.momentum,
                                 .centered = g.centered};
    });
  REQUIRE(o);

  oracle::Trajectory out;
  for (int k = 0; k < n; ++k) {
    o->zero_grad();
    xg::Tensor loss = xg::scalar(0.0, xg::f64);
    for (std::size_t i = 0; i < w.size(); ++i) loss = loss + xg::sum(c[i] * w[i] * w[i] + d[i] * w[i]);
    loss.backward();
    o->step();
    std::vector<double> flat;
    for (const auto& t : w) flat.insert(flat.end(), t.value<double>().begin(), t.value<double>().end());
    out.push_back(std::move(flat));
  }
  return out;
}

void compare(const std::vector<oracle::Config>& groups) {
  const auto p = problem();
  const auto mine = xgrad_trajectory(groups, p, steps);
  const auto theirs = oracle::torch_trajectory(groups, p, steps);
  REQUIRE(mine.size() == theirs.size());
  double worst = 0.0;
  for (std::size_t k = 0; k < mine.size(); ++k) {
    REQUIRE(mine[k].size() == theirs[k].size());
    for (std::size_t i = 0; i < mine[k].size(); ++i) {
      const double err = std::abs(mine[k][i] - theirs[k][i]) / std::max(1.0, std::abs(theirs[k][i]));
      worst = std::max(worst, err);
      INFO("step " << k + 1 << " element " << i << ": xgrad " << mine[k][i] << " torch " << theirs[k][i]);
      CHECK(err <= 1e-12);
    }
  }
  MESSAGE(groups[0].algo << ": worst relative difference to torch::optim over " << steps << " steps: " << worst);
  // the parameters moved (the comparison is not of two untouched starting points)
  CHECK(mine.back()[0] != p.init[0][0]);
}

oracle::Config cfg(const char* algo) {
  oracle::Config c;
  c.algo = algo;
  return c;
}

}  // namespace

TEST_CASE("optim torch oracle: SGD momentum nesterov dampening weight decay") {
  auto a = cfg("SGD"), b = cfg("SGD");
  a.lr = 0.1, a.momentum = 0.9, a.nesterov = true, a.weight_decay = 0.01;
  b.lr = 0.05, b.momentum = 0.5, b.dampening = 0.2, b.weight_decay = 0.1;
  compare({a, b});
  auto plain0 = cfg("SGD"), plain1 = cfg("SGD");
  plain0.lr = 0.1, plain1.lr = 0.02;
  compare({plain0, plain1});
}

TEST_CASE("optim torch oracle: Adam with amsgrad and L2 weight decay") {
  auto a = cfg("Adam"), b = cfg("Adam");
  a.lr = 0.1, a.amsgrad = true, a.weight_decay = 0.05;
  b.lr = 0.05, b.beta1 = 0.8, b.beta2 = 0.99;
  compare({a, b});
  b.amsgrad = true, b.beta2 = 0.9;
  compare({b, a});
}

TEST_CASE("optim torch oracle: AdamW") {
  auto a = cfg("AdamW"), b = cfg("AdamW");
  a.lr = 0.1, a.weight_decay = 0.1;
  b.lr = 0.05, b.amsgrad = true, b.weight_decay = 0.01, b.beta2 = 0.95;
  compare({a, b});
}

TEST_CASE("optim torch oracle: AdaGrad") {
  // libtorch 1.13's Adagrad fills every group's accumulator with the *default* options'
  // initial_accumulator_value (Python's uses each group's, as xgrad does), so both groups share it.
  auto a = cfg("AdaGrad"), b = cfg("AdaGrad");
  a.lr = 0.3, a.lr_decay = 0.1, a.weight_decay = 0.05, a.initial_accumulator_value = 0.1, a.eps = 1e-10;
  b.lr = 0.2, b.initial_accumulator_value = 0.1, b.eps = 1e-10;
  compare({a, b});
  auto c = cfg("AdaGrad"), d = cfg("AdaGrad");
  c.lr = 0.5, c.eps = 1e-10;
  d.lr = 0.1, d.lr_decay = 0.5, d.eps = 1e-10;
  compare({c, d});
}

TEST_CASE("optim torch oracle: RMSProp centered momentum") {
  auto a = cfg("RMSProp"), b = cfg("RMSProp");
  a.lr = 0.01, a.alpha = 0.9, a.momentum = 0.5, a.centered = true, a.weight_decay = 0.05;
  b.lr = 0.02, b.alpha = 0.99, b.eps = 1e-8;
  compare({a, b});
  auto c = cfg("RMSProp");
  c.lr = 0.01, c.centered = true, c.eps = 1e-6;
  auto d = cfg("RMSProp");
  d.lr = 0.03, d.momentum = 0.9, d.eps = 1e-8;
  compare({c, d});
}

TEST_CASE("optim torch oracle: clip_grad_norm_ for the 2 1 3 and inf norms") {
  const auto p = problem();
  for (double norm_type : {2.0, 1.0, 3.0, opt::inf_norm}) {
    for (double max_norm : {0.5, 1e3}) {
      INFO("norm_type " << norm_type << " max_norm " << max_norm);
      std::vector<xg::Tensor> w;
      xg::Tensor loss = xg::scalar(0.0, xg::f64);
      for (std::size_t i = 0; i < p.init.size(); ++i) {
        w.push_back(make(p.init[i], p.shapes[i]));
        w.back().requires_grad_();
        loss = loss + xg::sum(make(p.c[i], p.shapes[i]) * w[i] * w[i] + make(p.d[i], p.shapes[i]) * w[i]);
      }
      loss.backward();
      const double total = opt::clip_grad_norm_(w, max_norm, norm_type);
      const auto [torch_total, torch_grads] = oracle::torch_clip_grad_norm(p, max_norm, norm_type);
      CHECK(total == doctest::Approx(torch_total).epsilon(1e-14));
      std::vector<double> grads;
      for (const auto& t : w)
        grads.insert(grads.end(), t.grad().value<double>().begin(), t.grad().value<double>().end());
      REQUIRE(grads.size() == torch_grads.size());
      for (std::size_t i = 0; i < grads.size(); ++i) CHECK(grads[i] == doctest::Approx(torch_grads[i]).epsilon(1e-14));
    }
  }
}
