// Learning-rate schedules: each LR sequence against its closed form written out here, on an
// optimizer with two groups (so each group's base lr is used), read back from the optimizer.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

#include "error_text.hpp"

namespace xg = xgrad;
namespace opt = xgrad::optim;

namespace {

constexpr double pi = std::numbers::pi;
constexpr double base0 = 0.1, base1 = 0.04;

struct Fixture {
  xg::Tensor a = xg::tensor({1.0, 2.0}, xg::f64).requires_grad_();
  xg::Tensor b = xg::tensor({3.0}, xg::f64).requires_grad_();
  opt::SGD sgd{{{{a}, {.lr = base0, .momentum = 0.9}}, {{b}, {.lr = base1}}}};
};

// Steps the schedule n times and checks both groups' lr against expected(t, base) for t = 0..n.
template <class Sched, class F>
void check_sequence(Sched& sched, opt::Optimizer& o, int n, F&& expected, double rel = 1e-14) {
  for (int t = 0; t <= n; ++t) {
    if (t > 0) sched.step();
    INFO("t = " << t);
    CHECK(sched.last_epoch() == t);
    CHECK(o.lr(0) == doctest::Approx(expected(t, base0)).epsilon(rel));
    CHECK(o.lr(1) == doctest::Approx(expected(t, base1)).epsilon(rel));
    CHECK(sched.last_lr()[0] == o.lr(0));
  }
}

using error_text::contains;
using error_text::error_of;

}  // namespace

TEST_CASE("schedule StepLR") {
  Fixture f;
  opt::StepLR sched(f.sgd, 3, 0.5);
  CHECK(sched.base_lrs() == std::vector<double>{base0, base1});
  check_sequence(sched, f.sgd, 10, [](int t, double base) {
    const int drops = t < 3 ? 0 : t < 6 ? 1 : t < 9 ? 2 : 3;
    return base * std::pow(0.5, drops);
  });
  CHECK(f.sgd.lr(0) == base0 / 8);
}

TEST_CASE("schedule ExponentialLR") {
  Fixture f;
  opt::ExponentialLR sched(f.sgd, 0.9);
  double factor = 1.0;
  std::vector<double> factors;
  for (int t = 0; t <= 12; ++t, factor *= 0.9) factors.push_back(factor);
  check_sequence(
      sched, f.sgd, 12, [&](int t, double base) { return base * factors[t]; }, 1e-13);
}

TEST_CASE("schedule InverseTimeLR is the notes' 1/t decay") {
  Fixture f;
  opt::InverseTimeLR sched(f.sgd, 0.5);
  check_sequence(sched, f.sgd, 10, [](int t, double a0) { return a0 / (1 + 0.5 * t); });
}

TEST_CASE("schedule LambdaLR") {
  Fixture f;
  opt::LambdaLR sched(f.sgd, [](std::int64_t t) { return 1.0 / static_cast<double>(t + 1); });
  check_sequence(sched, f.sgd, 5, [](int t, double base) { return base / (t + 1); });
}

TEST_CASE("schedule CosineAnnealingLR") {
  Fixture f;
  opt::CosineAnnealingLR sched(f.sgd, 10, 0.001);
  check_sequence(sched, f.sgd, 10,
                 [](int t, double base) { return 0.001 + (base - 0.001) * (1 + std::cos(pi * t / 10)) / 2; });
  CHECK(f.sgd.lr(0) == doctest::Approx(0.001));
}

TEST_CASE("schedule CosineAnnealingWarmRestarts (SGDR)") {
  SUBCASE("T_mult 1: period T_0 every time") {
    Fixture f;
    opt::CosineAnnealingWarmRestarts sched(f.sgd, 4, 1, 0.01);
    check_sequence(sched, f.sgd, 13,
                   [](int t, double base) { return 0.01 + (base - 0.01) * (1 + std::cos(pi * (t % 4) / 4)) / 2; });
  }
  SUBCASE("T_mult 2: periods 3 then 6 then 12") {
    Fixture f;
    opt::CosineAnnealingWarmRestarts sched(f.sgd, 3, 2);
    // the restart table written out: [0, 3) period 3, [3, 9) period 6, [9, 21) period 12, ...
    auto expected = [](int t, double base) {
      int start = 0, period = 3;
      if (t >= 9)
        start = 9, period = 12;
      else if (t >= 3)
        start = 3, period = 6;
      return base * (1 + std::cos(pi * (t - start) / period)) / 2;
    };
    check_sequence(sched, f.sgd, 20, expected);
    // and PyTorch's closed form with the logarithm, at a few far epochs
    for (int t : {21, 44, 45, 100, 1000}) {
      const int n = static_cast<int>(std::log(t / 3.0 * (2 - 1) + 1) / std::log(2.0));
      const double t_cur = t - 3.0 * (std::pow(2.0, n) - 1) / (2 - 1), t_i = 3.0 * std::pow(2.0, n);
      INFO("t = " << t);
      CHECK(sched.lr_at(t, 1.0) == doctest::Approx((1 + std::cos(pi * t_cur / t_i)) / 2).epsilon(1e-12));
    }
    CHECK(sched.lr_at(3, 1.0) == 1.0);  // restarts at the base lr
    CHECK(sched.lr_at(9, 1.0) == 1.0);
    CHECK(sched.lr_at(21, 1.0) == 1.0);
  }
}

TEST_CASE("schedule LinearWarmup composed with cosine and SGDR") {
  SUBCASE("warmup then cosine") {
    Fixture f;
    opt::LinearWarmup sched(f.sgd, 4, 0.25, std::make_unique<opt::CosineAnnealingLR>(f.sgd, 10));
    CHECK(sched.base_lrs() == std::vector<double>{base0, base1});
    check_sequence(sched, f.sgd, 16, [](int t, double base) {
      if (t < 4) return base * (0.25 + 0.75 * t / 4.0);
      return base * (1 + std::cos(pi * (t - 4) / 10)) / 2;
    });
    CHECK(sched.after() != nullptr);
  }
  SUBCASE("warmup then SGDR with T_mult 2") {
    Fixture f;
    opt::LinearWarmup sched(f.sgd, 2, 0.0, std::make_unique<opt::CosineAnnealingWarmRestarts>(f.sgd, 2, 2, 0.001));
    check_sequence(sched, f.sgd, 12, [](int t, double base) {
      if (t < 2) return base * (t / 2.0);
      const int s = t - 2;  // SGDR time: [0, 2) period 2, [2, 6) period 4, [6, 14) period 8
      const int start = s >= 6 ? 6 : s >= 2 ? 2 : 0, period = s >= 6 ? 8 : s >= 2 ? 4 : 2;
      return 0.001 + (base - 0.001) * (1 + std::cos(pi * (s - start) / period)) / 2;
    });
  }
  SUBCASE("warmup then step decay") {
    Fixture f;
    opt::LinearWarmup sched(f.sgd, 3, 0.1, std::make_unique<opt::StepLR>(f.sgd, 2, 0.5));
    check_sequence(sched, f.sgd, 8, [](int t, double base) {
      if (t < 3) return base * (0.1 + 0.9 * t / 3.0);
      return base * std::pow(0.5, (t - 3) / 2);
    });
  }
  SUBCASE("warmup alone stays at the base lr") {
    Fixture f;
    opt::LinearWarmup sched(f.sgd, 5, 0.2);
    CHECK(f.sgd.lr(0) == doctest::Approx(0.2 * base0));
    check_sequence(sched, f.sgd, 8, [](int t, double base) { return t < 5 ? base * (0.2 + 0.8 * t / 5.0) : base; });
  }
}

TEST_CASE("schedule the optimizer steps with the scheduled lr") {
  xg::Tensor w = xg::tensor({1.0}, xg::f64).requires_grad_();
  opt::SGD sgd({w}, {.lr = 1.0});
  opt::StepLR sched(sgd, 1, 0.5);
  double expected = 1.0;
  for (int epoch = 0; epoch < 4; ++epoch) {
    const double lr = std::pow(0.5, epoch);
    sgd.zero_grad();
    xg::sum(w).backward();  // gradient 1
    sgd.step();
    expected -= lr;
    sched.step();
  }
  CHECK(w.item() == expected);
}

TEST_CASE("schedule ReduceLROnPlateau with patience cooldown and min_lr") {
  xg::Tensor w = xg::tensor({1.0}, xg::f64).requires_grad_();
  opt::SGD sgd({w}, {.lr = 1.0});
  opt::ReduceLROnPlateau plateau(sgd, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.2});
  const std::vector<double> metrics = {10, 9, 9, 9, 9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
  // Worked by hand: epoch 5 is the third epoch without improvement (> patience 2): halve, then
  // one cooldown epoch (6) whose bad epoch does not count; 7, 8 bad; 9 improves; 10-12 bad: halve
  // at 12; cooldown 13; 14-16 bad: 0.125 is clamped to min_lr 0.2; at 20 the change is 0: kept.
  const std::vector<double> lrs = {1,   1,    1,    1,    0.5,  0.5, 0.5, 0.5, 0.5, 0.5,
                                   0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2};
  for (std::size_t e = 0; e < metrics.size(); ++e) {
    plateau.step(metrics[e]);
    INFO("epoch " << e + 1);
    CHECK(sgd.lr() == lrs[e]);
    CHECK(plateau.last_epoch() == static_cast<std::int64_t>(e + 1));
    if (e + 1 == 5 || e + 1 == 12) CHECK(plateau.cooldown_counter() == 1);
    if (e + 1 == 6) CHECK(plateau.num_bad_epochs() == 0);
    if (e + 1 == 8) CHECK(plateau.num_bad_epochs() == 2);
  }
  CHECK(plateau.best() == 8.0);
}

TEST_CASE("schedule ReduceLROnPlateau modes and thresholds") {
  SUBCASE("rel threshold: a tiny improvement is not one") {
    xg::Tensor w = xg::tensor({1.0}, xg::f64).requires_grad_();
    opt::SGD sgd({w}, {.lr = 1.0});
    opt::ReduceLROnPlateau p(sgd, {.patience = 0});
    p.step(9.0);
    p.step(8.9995);  // needs < 9 * (1 - 1e-4) = 8.9991
    CHECK(sgd.lr() == doctest::Approx(0.1));
    CHECK(p.best() == 9.0);
  }
  SUBCASE("abs threshold") {
    xg::Tensor w = xg::tensor({1.0}, xg::f64).requires_grad_();
    opt::SGD sgd({w}, {.lr = 1.0});
    opt::ReduceLROnPlateau p(sgd, {.patience = 0, .threshold_mode = opt::ThresholdMode::abs});
    p.step(9.0);
    p.step(8.9995);  // < 9 - 1e-4
    CHECK(sgd.lr() == 1.0);
    CHECK(p.best() == 8.9995);
  }
  SUBCASE("max mode (accuracy) reduces every group") {
    Fixture f;
    opt::ReduceLROnPlateau p(f.sgd, {.mode = opt::PlateauMode::max, .factor = 0.1, .patience = 1});
    for (double acc : {0.5, 0.6, 0.6, 0.55}) p.step(acc);
    CHECK(f.sgd.lr(0) == doctest::Approx(base0 * 0.1));
    CHECK(f.sgd.lr(1) == doctest::Approx(base1 * 0.1));
    CHECK(p.best() == 0.6);
  }
  SUBCASE("state round trip") {
    xg::Tensor w = xg::tensor({1.0}, xg::f64).requires_grad_();
    opt::SGD sgd({w}, {.lr = 1.0});
    opt::ReduceLROnPlateau p(sgd, {.patience = 3, .cooldown = 2});
    for (double m : {5.0, 4.0, 4.0, 4.0}) p.step(m);
    opt::ReduceLROnPlateau q(sgd, {.patience = 3, .cooldown = 2});
    q.load_state_dict(p.state_dict());
    CHECK(q.best() == 4.0);
    CHECK(q.num_bad_epochs() == 2);
    CHECK(q.last_epoch() == 4);
    auto bad = p.state_dict();
    bad.pop_back();
    CHECK(contains(error_of([&] { q.load_state_dict(bad); }), "missing key 'last_epoch'"));
  }
}

TEST_CASE("schedule state round trip") {
  Fixture f;
  opt::LinearWarmup sched(f.sgd, 3, 0.1, std::make_unique<opt::CosineAnnealingLR>(f.sgd, 8));
  for (int k = 0; k < 5; ++k) sched.step();
  const auto saved = sched.state_dict();
  const double lr5 = f.sgd.lr(0);

  Fixture g;  // a fresh run: load the schedule state, then both continue alike
  opt::LinearWarmup resumed(g.sgd, 3, 0.1, std::make_unique<opt::CosineAnnealingLR>(g.sgd, 8));
  resumed.load_state_dict(saved);
  CHECK(resumed.last_epoch() == 5);
  CHECK(g.sgd.lr(0) == lr5);
  for (int k = 0; k < 4; ++k) {
    sched.step();
    resumed.step();
    CHECK(g.sgd.lr(0) == f.sgd.lr(0));
    CHECK(g.sgd.lr(1) == f.sgd.lr(1));
  }
  auto bad = saved;
  bad[0].second = xg::scalar(1.5, xg::f64);
  CHECK(contains(error_of([&] { resumed.load_state_dict(bad); }), "'last_epoch' is 1.5"));
  bad = saved;
  bad.emplace_back("base_lr.2", xg::scalar(0.1, xg::f64));
  CHECK(contains(error_of([&] { resumed.load_state_dict(bad); }), "unexpected key 'base_lr.2'"));
  CHECK(resumed.last_epoch() == 9);
}

TEST_CASE("schedule invalid arguments are rejected") {
  Fixture f;
  CHECK_THROWS_AS(opt::StepLR(f.sgd, 0), xg::Error);
  CHECK_THROWS_AS(opt::StepLR(f.sgd, 2, -0.5), xg::Error);
  CHECK_THROWS_AS(opt::ExponentialLR(f.sgd, -1.0), xg::Error);
  CHECK_THROWS_AS(opt::InverseTimeLR(f.sgd, -1.0), xg::Error);
  CHECK_THROWS_AS(opt::CosineAnnealingLR(f.sgd, 0), xg::Error);
  CHECK_THROWS_AS(opt::CosineAnnealingWarmRestarts(f.sgd, 0), xg::Error);
  CHECK_THROWS_AS(opt::CosineAnnealingWarmRestarts(f.sgd, 3, 0), xg::Error);
  CHECK_THROWS_AS(opt::LinearWarmup(f.sgd, -1, 0.5), xg::Error);
  CHECK_THROWS_AS(opt::LinearWarmup(f.sgd, 3, 1.5), xg::Error);
  CHECK_THROWS_AS(opt::ReduceLROnPlateau(f.sgd, {.factor = 1.0}), xg::Error);
  CHECK_THROWS_AS(opt::ReduceLROnPlateau(f.sgd, {.patience = -1}), xg::Error);
  Fixture g;
  CHECK(contains(error_of([&] { opt::LinearWarmup w(f.sgd, 3, 0.5, std::make_unique<opt::StepLR>(g.sgd, 2)); }),
                 "another optimizer"));
  // The optimizer gained a group the schedule does not know.
  opt::StepLR sched(f.sgd, 2);
  xg::Tensor c = xg::tensor({1.0}, xg::f64).requires_grad_();
  f.sgd.add_param_group({{c}, {.lr = 0.3}});
  CHECK(contains(error_of([&] { sched.step(); }), "3 parameter groups"));
}
