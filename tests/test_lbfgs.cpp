// L-BFGS (optim/lbfgs.hpp). Without a line search its iterates are compared with the two-loop
// recursion written out below in plain doubles, in the textbook form (Nocedal & Wright, Algorithm
// 7.4: q = g, H0 = gamma I, d = -r, s_k = x_{k+1} - x_k), not the library's collapsed form with
// q = -g and s = t d. With the strong-Wolfe line search it must converge: Rosenbrock from
// (-1.5, 2) and an SPD quadratic to the solution of A x = b. Then the stopping rules, the state
// dict (a resumed optimizer continues bit for bit) and the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iomanip>
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
using Mat = std::vector<Vec>;
using error_text::contains;
using error_text::error_of;

xg::Tensor param(const Vec& v, xg::DType dtype = xg::f64) { return xg::tensor(v, dtype).requires_grad_(); }
xg::Tensor column(const Vec& v) {  // [n, 1]
  xt::xarray<double> a = xt::xarray<double>::from_shape({v.size(), 1});
  std::copy(v.begin(), v.end(), a.begin());
  return xg::Tensor(a);
}
xg::Tensor matrix(const Mat& m) {
  xt::xarray<double> a = xt::xarray<double>::from_shape({m.size(), m[0].size()});
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t j = 0; j < m[i].size(); ++j) a(i, j) = m[i][j];
  return xg::Tensor(a);
}
using f64_tensors::deep_copy;
using f64_tensors::values;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
Vec axpy(double c, const Vec& x, const Vec& y) {  // c x + y
  Vec out(y);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] += c * x[i];
  return out;
}
Vec mat_vec(const Mat& A, const Vec& x) {
  Vec out(A.size(), 0.0);
  for (std::size_t i = 0; i < A.size(); ++i) out[i] = dot(A[i], x);
  return out;
}
// A x = b by Gaussian elimination with partial pivoting.
Vec solve(Mat A, Vec b) {
  const std::size_t n = b.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t p = k;
    for (std::size_t i = k + 1; i < n; ++i)
      if (std::abs(A[i][k]) > std::abs(A[p][k])) p = i;
    std::swap(A[k], A[p]);
    std::swap(b[k], b[p]);
    for (std::size_t i = k + 1; i < n; ++i) {
      const double f = A[i][k] / A[k][k];
      for (std::size_t j = k; j < n; ++j) A[i][j] -= f * A[k][j];
      b[i] -= f * b[k];
    }
  }
  Vec x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t j = i + 1; j < n; ++j) s -= A[i][j] * x[j];
    x[i] = s / A[i][i];
  }
  return x;
}

// f(x) = 0.5 x^T A x - b^T x with x a column [n, 1]; its gradient is A x - b (A symmetric).
struct Quadratic {
  Mat A;
  Vec b;
  xg::Tensor loss(const xg::Tensor& x) const {
    return 0.5 * xg::sum(x * xg::matmul(matrix(A), x)) - xg::sum(column(b) * x);
  }
  Vec grad(const Vec& x) const { return axpy(-1.0, b, mat_vec(A, x)); }
};

const Quadratic small_quadratic{{{4.0, 1.0, 0.5}, {1.0, 3.0, 0.2}, {0.5, 0.2, 2.0}}, {1.0, -2.0, 0.5}};
const Vec small_x0 = {0.3, -0.2, 0.8};

// The reference: the first `iterations` L-BFGS iterates without a line search, as torch defines
// them. Iteration 1 moves along -g with step lr * min(1, 1 / |g|_1); later ones along d = -H g with
// step lr, where H g comes from the pairs (s, y) kept so far (a pair only if s.y > 1e-10, at most
// `history` of them, newest last) by the two-loop recursion, and H0 = gamma I with
// gamma = s.y / y.y of the newest kept pair.
std::vector<Vec> reference_iterates(const Quadratic& f, Vec x, double lr, int iterations, std::size_t history) {
  std::vector<Vec> S, Y, out;
  double gamma = 1.0;
  Vec g = f.grad(x), x_prev, g_prev;
  for (int k = 0; k < iterations; ++k) {
    Vec d(x.size());
    double step = lr;
    if (k == 0) {
      double l1 = 0;
      for (double gi : g) l1 += std::abs(gi);
      for (std::size_t i = 0; i < x.size(); ++i) d[i] = -g[i];
      step = std::min(1.0, 1.0 / l1) * lr;
    } else {
      const Vec s = axpy(-1.0, x_prev, x), y = axpy(-1.0, g_prev, g);
      if (dot(s, y) > 1e-10) {
        if (S.size() == history) {
          S.erase(S.begin());
          Y.erase(Y.begin());
        }
        S.push_back(s);
        Y.push_back(y);
        gamma = dot(s, y) / dot(y, y);
      }
      const std::size_t m = S.size();
      Vec alpha(m), q = g;
      for (std::size_t i = m; i-- > 0;) {
        alpha[i] = dot(S[i], q) / dot(Y[i], S[i]);
        q = axpy(-alpha[i], Y[i], q);
      }
      Vec r(q.size());
      for (std::size_t i = 0; i < q.size(); ++i) r[i] = gamma * q[i];
      for (std::size_t i = 0; i < m; ++i) {
        const double beta = dot(Y[i], r) / dot(Y[i], S[i]);
        r = axpy(alpha[i] - beta, S[i], r);
      }
      for (std::size_t i = 0; i < r.size(); ++i) d[i] = -r[i];
    }
    x_prev = x;
    g_prev = g;
    x = axpy(step, d, x);
    g = f.grad(x);
    out.push_back(x);
  }
  return out;
}

void check_close(const Vec& actual, const Vec& expected, double tol) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << ": " << actual[i] << " vs " << expected[i]);
    CHECK(std::abs(actual[i] - expected[i]) <= tol * std::max(1.0, std::abs(expected[i])));
  }
}

// A closure for `o` on loss(): counts its calls.
template <class F>
opt::LossClosure counting_closure(opt::LBFGS& o, F loss, int& calls) {
  return [&o, loss, &calls] {
    ++calls;
    o.zero_grad();
    xg::Tensor l = loss();
    l.backward();
    return l;
  };
}

// Rosenbrock's function (1 - a)^2 + 100 (b - a^2)^2, minimum 0 at (1, 1).
xg::Tensor rosenbrock(const xg::Tensor& a, const xg::Tensor& b) {
  return xg::sum(xg::pow(1.0 - a, 2) + 100.0 * xg::pow(b - a * a, 2));
}

}  // namespace

// --- exact iterates ------------------------------------------------------------------------------------
TEST_CASE("LBFGS without a line search follows the two-loop recursion exactly") {
  struct Config {
    double lr;
    std::size_t history;
    int iterations;
  };
  for (Config c : {Config{1.0, 100, 3}, Config{0.5, 100, 5}, Config{1.0, 1, 5}, Config{0.8, 2, 6}}) {
    INFO("lr " << c.lr << " history_size " << c.history);
    const std::vector<Vec> expected = reference_iterates(small_quadratic, small_x0, c.lr, c.iterations, c.history);
    // max_iter = k in one step gives x_k. max_eval counts the first evaluation too, so k iterations
    // need max_eval = k + 1 (after iteration i < k the step has made 1 + i calls).
    for (int k = 1; k <= c.iterations; ++k) {
      INFO("max_iter " << k);
      xg::Tensor unused = param({5.0}), x = column(small_x0);  // unused: no gradient, counts as zero
      x.requires_grad_();
      opt::LBFGS lbfgs({unused, x}, {.lr = c.lr, .max_iter = k, .max_eval = k + 1, .history_size = int(c.history)});
      int calls = 0;
      lbfgs.step(counting_closure(
          lbfgs, [&] { return small_quadratic.loss(x); }, calls));
      check_close(values(x), expected[k - 1], 1e-12);
      CHECK(values(unused) == Vec{5.0});
      CHECK(calls == k);  // the last iteration does not re-evaluate
      CHECK(lbfgs.lbfgs_state().func_evals == k);
      CHECK(lbfgs.lbfgs_state().n_iter == k);
    }
    // The same iterates one iteration per step: the history carries over between steps.
    xg::Tensor x = column(small_x0);
    x.requires_grad_();
    opt::LBFGS lbfgs({x}, {.lr = c.lr, .max_iter = 1, .history_size = int(c.history)});
    int calls = 0;
    auto closure = counting_closure(
        lbfgs, [&] { return small_quadratic.loss(x); }, calls);
    for (int k = 1; k <= c.iterations; ++k) {
      INFO("step " << k);
      lbfgs.step(closure);
      check_close(values(x), expected[k - 1], 1e-12);
      CHECK(calls == k);
    }
    CHECK(lbfgs.lbfgs_state().old_dirs.size() == std::min<std::size_t>(c.history, c.iterations - 1));
  }
}

TEST_CASE("LBFGS max_eval defaults to max_iter * 5 / 4 as torch") {
  // max_iter 3: max_eval 3, so the step stops after two iterations (three closure calls).
  const std::vector<Vec> expected = reference_iterates(small_quadratic, small_x0, 1.0, 2, 100);
  xg::Tensor x = column(small_x0);
  x.requires_grad_();
  opt::LBFGS lbfgs({x}, {.max_iter = 3});
  int calls = 0;
  lbfgs.step(counting_closure(
      lbfgs, [&] { return small_quadratic.loss(x); }, calls));
  CHECK(calls == 3);
  CHECK(lbfgs.lbfgs_state().n_iter == 2);
  check_close(values(x), expected[1], 1e-12);
  CHECK_FALSE(opt::LBFGSOptions{}.max_eval.has_value());
  CHECK(opt::LBFGSOptions{}.lr == 1.0);
  CHECK(opt::LBFGSOptions{}.max_iter == 20);
  CHECK(opt::LBFGSOptions{}.tolerance_grad == 1e-7);
  CHECK(opt::LBFGSOptions{}.tolerance_change == 1e-9);
  CHECK(opt::LBFGSOptions{}.history_size == 100);
  CHECK_FALSE(opt::LBFGSOptions{}.line_search_fn.has_value());
}

// --- convergence with the strong-Wolfe line search -------------------------------------------------------
TEST_CASE("LBFGS strong_wolfe minimizes Rosenbrock from (-1.5, 2)") {
  struct Run {
    int steps = 0, calls = 0;
    std::int64_t iterations = 0, func_evals = 0;
    double a = 0, b = 0, error = 0, first_loss = 0;
  };
  // Steps until (a, b) is within 1e-6 of (1, 1), at most max_steps.
  auto run = [](opt::LBFGSOptions options, int max_steps) {
    xg::Tensor a = param({-1.5}), b = param({2.0});  // two parameters: one flat vector [a, b]
    opt::LBFGS lbfgs({a, b}, options);
    Run r;
    auto closure = counting_closure(
        lbfgs, [&] { return rosenbrock(a, b); }, r.calls);
    r.first_loss = lbfgs.step(closure).item();
    for (r.steps = 1;; ++r.steps) {
      r.error = std::max(std::abs(a.item() - 1), std::abs(b.item() - 1));
      if (r.error < 1e-6 || r.steps == max_steps) break;
      lbfgs.step(closure);
    }
    r.a = a.item();
    r.b = b.item();
    r.iterations = lbfgs.lbfgs_state().n_iter;
    r.func_evals = lbfgs.lbfgs_state().func_evals;
    return r;
  };

  // tolerance_change is absolute: it bounds the directional derivative (gtd > -tolerance_change ends
  // a step), the step and the loss change. With 1e-12 the minimum is reached in 3 steps.
  const Run r = run({.tolerance_change = 1e-12, .line_search_fn = "strong_wolfe"}, 10);
  MESSAGE("Rosenbrock, tolerance_change 1e-12: " << r.steps << " steps, " << r.iterations << " iterations, " << r.calls
                                                 << " closure calls, error " << r.error);
  CHECK(r.first_loss == 12.5);  // step() returns the loss at the start, as torch
  CHECK(std::abs(r.a - 1) < 1e-6);
  CHECK(std::abs(r.b - 1) < 1e-6);
  CHECK(r.steps <= 3);
  CHECK(r.calls <= 60);
  CHECK(r.func_evals == r.calls);

  // With torch's defaults (tolerance_change 1e-9) the third step ends 2.7e-6 from (1, 1), where gtd is
  // above -1e-9, and later steps stay there, one closure call and one iteration each. torch's
  // lbfgs.py, transliterated line for line onto Python floats, ends at the same point with the same
  // counts (41 iterations and 53 closure calls after 3 steps; 58 and 70 after 20).
  const Run stalled = run({.line_search_fn = "strong_wolfe"}, 20);
  MESSAGE("Rosenbrock, defaults: " << stalled.steps << " steps, " << stalled.iterations << " iterations, "
                                   << stalled.calls << " closure calls, a " << std::setprecision(17) << stalled.a
                                   << " b " << stalled.b);
  CHECK(stalled.steps == 20);
  CHECK(stalled.iterations == 58);
  CHECK(stalled.calls == 70);
  CHECK(stalled.a == doctest::Approx(0.9999979943196432).epsilon(1e-12));
  CHECK(stalled.b == doctest::Approx(0.9999973438921698).epsilon(1e-12));
}

TEST_CASE("LBFGS strong_wolfe solves an SPD quadratic to A^-1 b") {
  // A = M^T M + I (n = 5) with a fixed M: symmetric positive definite, condition number ~100.
  const std::size_t n = 5;
  Mat M(n, Vec(n)), A(n, Vec(n, 0.0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) M[i][j] = std::sin(1.0 + 3.0 * i + j) * (1.0 + 0.5 * j);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t k = 0; k < n; ++k) A[i][j] += M[k][i] * M[k][j];
      if (i == j) A[i][j] += 1.0;
    }
  const Quadratic f{A, {1.0, -2.0, 3.0, 0.5, -1.0}};
  const Vec solution = solve(A, f.b);

  xg::Tensor x = column({0, 0, 0, 0, 0});
  x.requires_grad_();
  opt::LBFGS lbfgs({x}, {.tolerance_grad = 1e-12, .tolerance_change = 1e-15, .line_search_fn = "strong_wolfe"});
  int calls = 0;
  auto closure = counting_closure(
      lbfgs, [&] { return f.loss(x); }, calls);
  for (int k = 0; k < 5; ++k) lbfgs.step(closure);
  double error = 0;
  for (std::size_t i = 0; i < n; ++i) error = std::max(error, std::abs(values(x)[i] - solution[i]));
  MESSAGE("quadratic n=5: " << lbfgs.lbfgs_state().n_iter << " iterations, " << calls << " closure calls, error "
                            << error);
  check_close(values(x), solution, 1e-8);
}

TEST_CASE("LBFGS f32 parameters stay f32 and converge") {
  xg::Tensor a = param({-1.5}, xg::f32), b = param({2.0}, xg::f32);
  opt::LBFGS lbfgs({a, b}, {.tolerance_change = 1e-12, .line_search_fn = "strong_wolfe"});
  int calls = 0;
  auto closure = counting_closure(
      lbfgs, [&] { return rosenbrock(a, b); }, calls);
  for (int k = 0; k < 5; ++k) lbfgs.step(closure);
  CHECK(a.dtype() == xg::f32);
  CHECK(a.item() == doctest::Approx(1.0).epsilon(1e-3));
  CHECK(b.item() == doctest::Approx(1.0).epsilon(1e-3));
  for (const auto& [k, t] : lbfgs.state_dict())
    if (k == "d" || k == "prev_flat_grad" || k.starts_with("old_")) {
      INFO(k);
      CHECK(t.dtype() == xg::f32);
      CHECK(t.shape() == xg::Shape{2});
    }
}

// --- stopping rules ----------------------------------------------------------------------------------------
TEST_CASE("LBFGS stops at once when the gradient is already below tolerance_grad") {
  xg::Tensor x = param({1.0, -1.0});
  opt::LBFGS lbfgs({x}, {.line_search_fn = "strong_wolfe"});
  int calls = 0;
  xg::Tensor returned;
  auto closure = [&] {
    ++calls;
    lbfgs.zero_grad();
    returned = xg::sum(1e-9 * x * x);  // gradient 2e-9 x: max |g| = 2e-9 <= 1e-7
    returned.backward();
    return returned;
  };
  xg::Tensor loss = lbfgs.step(closure);
  CHECK(calls == 1);
  CHECK(loss.impl() == returned.impl());
  CHECK(values(x) == Vec{1.0, -1.0});
  CHECK(lbfgs.lbfgs_state().func_evals == 1);
  CHECK(lbfgs.lbfgs_state().n_iter == 0);
  CHECK(lbfgs.state_dict().size() == 3);  // group.0.lr, func_evals, n_iter

  // With tolerance_grad below the gradient it moves (tolerance_change 0: gtd = -|g|^2 = -8e-18 would
  // end the step under the default 1e-9): x - min(1, 1/|g|_1) g = x - 2e-9 x.
  opt::LBFGS strict({x}, {.max_iter = 1, .tolerance_grad = 1e-10, .tolerance_change = 0});
  calls = 0;
  strict.step([&] {
    ++calls;
    strict.zero_grad();
    auto l = xg::sum(1e-9 * x * x);
    l.backward();
    return l;
  });
  CHECK(calls == 1);
  CHECK(strict.lbfgs_state().n_iter == 1);
  CHECK(values(x)[0] == doctest::Approx(1.0 - 2e-9).epsilon(1e-15));
  CHECK(values(x)[1] == doctest::Approx(-1.0 + 2e-9).epsilon(1e-15));
}

TEST_CASE("LBFGS runs the closure with gradients on, even under NoGradGuard") {
  xg::Tensor x = param({2.0});
  opt::LBFGS lbfgs({x}, {.max_iter = 1});
  xg::NoGradGuard no_grad;
  lbfgs.step([&] {
    lbfgs.zero_grad();
    auto l = xg::sum(x * x);
    l.backward();
    return l;
  });
  CHECK(x.item() == 1.0);  // x - min(1, 1/|g|_1) g = 2 - 0.25 * 4
}

// --- state dict and checkpoints ------------------------------------------------------------------------------
namespace {
struct Problem {
  xg::Tensor a = param({-1.5, 0.5}), b = param({2.0, 0.25});
  Problem copy() const { return {deep_copy(a), deep_copy(b)}; }
  xg::Tensor loss() const { return rosenbrock(a, b); }
};
opt::LossClosure closure_for(opt::LBFGS& o, const Problem& p) {
  return [&o, &p] {
    o.zero_grad();
    auto l = p.loss();
    l.backward();
    return l;
  };
}
void step_n(opt::LBFGS& o, const Problem& p, int n) {
  for (int k = 0; k < n; ++k) o.step(closure_for(o, p));
}
}  // namespace

TEST_CASE("LBFGS state_dict round trip continues bit-exact") {
  for (auto options : {opt::LBFGSOptions{.max_iter = 4, .history_size = 3, .line_search_fn = "strong_wolfe"},
                       opt::LBFGSOptions{.lr = 0.002, .max_iter = 3, .history_size = 2}}) {
    INFO("line search " << options.line_search_fn.value_or("none"));
    Problem p;
    opt::LBFGS original({p.a, p.b}, options);
    step_n(original, p, 3);
    const xg::nn::NamedTensors saved = original.state_dict();
    Problem q = p.copy();
    step_n(original, p, 3);

    opt::LBFGS resumed({q.a, q.b}, options);
    resumed.load_state_dict(saved);
    step_n(resumed, q, 3);
    CHECK(values(p.a) == values(q.a));  // bit-exact
    CHECK(values(p.b) == values(q.b));
    CHECK(original.lbfgs_state().func_evals == resumed.lbfgs_state().func_evals);
    CHECK(original.lbfgs_state().n_iter == resumed.lbfgs_state().n_iter);
    CHECK(values(p.a) != values(Problem().a));  // it did move

    // the whole state agrees, key by key and bit by bit
    const auto sa = original.state_dict(), sb = resumed.state_dict();
    REQUIRE(sa.size() == sb.size());
    for (std::size_t k = 0; k < sa.size(); ++k) {
      INFO(sa[k].first);
      CHECK(sa[k].first == sb[k].first);
      CHECK(values(sa[k].second.reshape({sa[k].second.numel()})) ==
            values(sb[k].second.reshape({sb[k].second.numel()})));
    }
  }
}

TEST_CASE("LBFGS state_dict keys") {
  Problem p;
  opt::LBFGS lbfgs({p.a, p.b}, {.max_iter = 4, .history_size = 2, .line_search_fn = "strong_wolfe"});
  auto keys = [&] {
    std::vector<std::string> out;
    for (const auto& [k, t] : lbfgs.state_dict()) out.push_back(k);
    return out;
  };
  CHECK(keys() == std::vector<std::string>{"group.0.lr", "func_evals", "n_iter"});
  step_n(lbfgs, p, 2);
  CHECK(lbfgs.lbfgs_state().old_dirs.size() == 2);  // full: history_size 2
  CHECK(keys() == std::vector<std::string>{"group.0.lr", "func_evals", "n_iter", "d", "t", "old_dirs.0", "old_dirs.1",
                                           "old_stps.0", "old_stps.1", "ro.0", "ro.1", "H_diag", "prev_flat_grad",
                                           "prev_loss", "al.0", "al.1"});
  const auto sd = lbfgs.state_dict();
  CHECK(sd[2].second.item() == static_cast<double>(lbfgs.lbfgs_state().n_iter));
  CHECK(sd[2].second.item() >= 5);  // 2 steps of up to 4 iterations
  CHECK(sd[3].second.shape() == xg::Shape{4});
  CHECK(sd[3].second.dtype() == xg::f64);
  CHECK(sd[4].second.dim() == 0);
  // ro.k = 1 / (y_k . s_k)
  const Vec y1 = values(sd[6].second), s1 = values(sd[8].second);
  CHECK(sd[10].second.item() == doctest::Approx(1.0 / dot(y1, s1)).epsilon(1e-14));
  CHECK(sd[11].second.item() == doctest::Approx(dot(y1, s1) / dot(y1, y1)).epsilon(1e-14));  // H_diag
}

TEST_CASE("LBFGS corrupt or mismatched state is rejected and the optimizer is unchanged") {
  const opt::LBFGSOptions options{.max_iter = 4, .history_size = 3, .line_search_fn = "strong_wolfe"};
  Problem p;
  opt::LBFGS source({p.a, p.b}, options);
  step_n(source, p, 2);
  const auto good = source.state_dict();

  Problem q = p.copy(), v = p.copy();
  opt::LBFGS twin({q.a, q.b}, options), victim({v.a, v.b}, options);
  twin.load_state_dict(good);
  victim.load_state_dict(good);

  auto without = [&](const std::string& key) { return state_dict_edits::without(good, key); };
  auto replaced = [&](const std::string& key, xg::Tensor t) { return state_dict_edits::replaced(good, key, t); };
  auto with = [&](const std::string& key, xg::Tensor t) {
    auto d = good;
    d.emplace_back(key, t);
    return d;
  };
  auto lr_first = [](xg::nn::NamedTensors d) {  // a valid lr change first, so a half-applied load would show
    for (auto& [k, value] : d)
      if (k == "group.0.lr") value = xg::scalar(0.5, xg::f64);
    return d;
  };
  struct Case {
    const char* what;
    xg::nn::NamedTensors dict;
    std::vector<std::string> message;
  };
  const std::vector<Case> cases = {
      {"missing d", lr_first(without("d")), {"LBFGS.load_state_dict", "missing key 'd'"}},
      {"missing step pair", lr_first(without("old_stps.1")), {"missing key 'old_stps.1'"}},
      {"missing n_iter", without("n_iter"), {"missing key 'n_iter'"}},
      {"shape", lr_first(replaced("d", xg::zeros({3}, xg::f64))), {"'d' is [3] f64", "[4] f64"}},
      {"dtype", replaced("prev_flat_grad", xg::zeros({4}, xg::f32)), {"'prev_flat_grad' is [4] f32", "[4] f64"}},
      {"history dtype", replaced("old_dirs.0", xg::zeros({4}, xg::f32)), {"'old_dirs.0' is [4] f32"}},
      {"t nan", replaced("t", xg::scalar(std::nan(""), xg::f64)), {"'t' is nan, not a finite number"}},
      {"n_iter fractional", replaced("n_iter", xg::scalar(2.5, xg::f64)), {"'n_iter' is 2.5, not a count"}},
      {"H_diag not 0-d", replaced("H_diag", xg::zeros({1}, xg::f64)), {"'H_diag' is [1] f64"}},
      {"gap in the history", with("old_dirs.7", xg::zeros({4}, xg::f64)), {"unexpected key 'old_dirs.7'"}},
      {"unknown key", with("momentum", xg::scalar(0.9, xg::f64)), {"unexpected key 'momentum'"}},
      {"second group", with("group.1.lr", xg::scalar(0.9, xg::f64)), {"unexpected key 'group.1.lr'"}},
      {"vectors without iterations", replaced("n_iter", xg::scalar(0.0, xg::f64)), {"unexpected key", "n_iter 0"}},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string msg = error_of([&] { victim.load_state_dict(c.dict); });
    INFO(msg);
    for (const auto& part : c.message) CHECK(contains(msg, part));
  }
  CHECK(victim.lr() == 1.0);
  step_n(twin, q, 2);
  step_n(victim, v, 2);
  CHECK(values(q.a) == values(v.a));
  CHECK(values(q.b) == values(v.b));

  // Another optimizer's state, either way.
  opt::Adam adam({p.a, p.b});
  CHECK(contains(error_of([&] { adam.load_state_dict(good); }), "unexpected key"));
  adam.zero_grad();
  p.loss().backward();
  adam.step();
  CHECK(contains(error_of([&] { victim.load_state_dict(adam.state_dict()); }), "missing key 'func_evals'"));
}

TEST_CASE("LBFGS saved and loaded through an Optimizer& keeps its whole state") {
  // Code that holds optimizers by their base (the trainer, make_optimizer-style factories) must get
  // LBFGS's history, not just the base's learning rates.
  const opt::LBFGSOptions options{.max_iter = 4, .history_size = 3, .line_search_fn = "strong_wolfe"};
  Problem p;
  opt::LBFGS original({p.a, p.b}, options);
  step_n(original, p, 2);
  const opt::Optimizer& source = original;
  const xg::nn::NamedTensors saved = source.state_dict();
  CHECK(saved.size() == original.state_dict().size());
  CHECK(std::any_of(saved.begin(), saved.end(), [](const auto& e) { return e.first == "old_dirs.0"; }));

  Problem q = p.copy();
  opt::LBFGS resumed({q.a, q.b}, options);
  opt::Optimizer& target = resumed;
  target.load_state_dict(saved);
  CHECK(resumed.lbfgs_state().n_iter == original.lbfgs_state().n_iter);
  CHECK(resumed.lbfgs_state().old_dirs.size() == original.lbfgs_state().old_dirs.size());
  step_n(original, p, 2);
  step_n(resumed, q, 2);
  CHECK(values(p.a) == values(q.a));  // bit-exact
  CHECK(values(p.b) == values(q.b));
}

TEST_CASE("LBFGS training resumes exactly from an xg::save checkpoint with the optimizer") {
  const auto path =
      std::filesystem::temp_directory_path() / ("xgrad-lbfgs-ckpt-" + std::to_string(::getpid()) + ".safetensors");
  xg::manual_seed(5);
  auto x = xg::randn({16, 3}, xg::f64), y = xg::randn({16, 2}, xg::f64);
  const opt::LBFGSOptions options{.max_iter = 3, .history_size = 4, .line_search_fn = "strong_wolfe"};
  auto train = [&](xg::nn::Linear& net, opt::LBFGS& lbfgs, int n) {
    for (int k = 0; k < n; ++k)
      lbfgs.step([&] {
        lbfgs.zero_grad();
        auto l = xg::mse_loss(net(xg::tanh(x)), y);
        l.backward();
        return l;
      });
  };
  xg::nn::Linear a(3, 2);
  a.to(xg::f64);
  opt::LBFGS lbfgs_a(a.parameters(), options);
  train(a, lbfgs_a, 2);
  xg::save(a, lbfgs_a, path.string());

  xg::nn::Linear b(3, 2);  // other initial weights, fresh optimizer
  b.to(xg::f64);
  opt::LBFGS lbfgs_b(b.parameters(), options);
  xg::load(b, lbfgs_b, path.string());
  std::filesystem::remove(path);
  CHECK(lbfgs_b.lbfgs_state().n_iter == lbfgs_a.lbfgs_state().n_iter);
  train(a, lbfgs_a, 2);
  train(b, lbfgs_b, 2);
  CHECK(values(a.weight.reshape({6})) == values(b.weight.reshape({6})));
  CHECK(values(a.bias) == values(b.bias));
}

TEST_CASE("LBFGS works with schedules through Optimizer") {
  xg::Tensor x = param({2.0});
  opt::LBFGS lbfgs({x}, {.lr = 0.8});
  opt::StepLR schedule(lbfgs, 1, 0.5);
  schedule.step();
  CHECK(lbfgs.lr() == 0.4);
  opt::Optimizer& base = lbfgs;
  CHECK(base.name() == "LBFGS");
  CHECK(base.parameters().size() == 1);
  xg::sum(x * x).backward();
  base.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

// --- errors ----------------------------------------------------------------------------------------------------
TEST_CASE("LBFGS invalid options, groups and closures are errors that say why") {
  xg::Tensor w = param({1.0, 2.0}), u = param({3.0});
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.line_search_fn = "wolfe"}); }),
                 "LBFGS: unknown line_search_fn 'wolfe'"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.history_size = -1}); }),
                 "LBFGS: invalid history_size -1 (must be >= 1)"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.history_size = 0}); }), "invalid history_size 0"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.lr = -1.0}); }), "LBFGS: invalid learning rate -1"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.max_iter = 0}); }), "invalid max_iter 0"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.max_eval = 0}); }), "invalid max_eval 0"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.tolerance_grad = -1e-7}); }), "invalid tolerance_grad"));
  CHECK(contains(error_of([&] { opt::LBFGS o({w}, {.tolerance_change = std::nan("")}); }),
                 "invalid tolerance_change nan"));
  CHECK(contains(error_of([&] {
                   opt::LBFGS o({{{w}, {}}, {{u}, {.lr = 0.1}}});
                 }),
                 "LBFGS: got 2 parameter groups; L-BFGS optimizes all its parameters as one vector"));
  CHECK(contains(error_of([&] { opt::LBFGS o(std::vector<xg::Tensor>{}); }), "empty parameter list"));
  CHECK(contains(error_of([&] {
                   opt::LBFGS o({w, param({1.0}, xg::f32)});
                 }),
                 "parameter 1 is [1] f32 but parameter 0 is [2] f64"));

  opt::LBFGS lbfgs({w});
  CHECK(contains(error_of([&] { lbfgs.add_param_group({{u}, {}}); }), "exactly one parameter group"));
  CHECK(lbfgs.group_count() == 1);
  CHECK(contains(error_of([&] { lbfgs.set_options(0, {.history_size = -3}); }), "invalid history_size -3"));

  // step() without a closure, directly and through the base class
  CHECK(contains(error_of([&] { lbfgs.step(); }), "LBFGS.step: L-BFGS needs a closure"));
  opt::Optimizer& base = lbfgs;
  CHECK(contains(error_of([&] { base.step(); }), "needs a closure"));
  CHECK(contains(error_of([&] { lbfgs.step(opt::LossClosure()); }), "the closure is empty"));

  // closures that do not return the loss
  CHECK(contains(error_of([&] { lbfgs.step([] { return xg::Tensor(); }); }), "returned an undefined tensor"));
  CHECK(contains(error_of([&] {
                   lbfgs.step([&] {
                     lbfgs.zero_grad();
                     auto l = w * w;
                     xg::sum(l).backward();
                     return l;
                   });
                 }),
                 "the closure returned a [2] f64 tensor; the loss must have exactly one element"));
  CHECK(values(w) == Vec{1.0, 2.0});
}

TEST_CASE("LBFGS a closure that throws mid-step changes neither the parameters nor the state") {
  Problem p;
  opt::LBFGS lbfgs({p.a, p.b}, {.line_search_fn = "strong_wolfe"});
  step_n(lbfgs, p, 1);
  const Vec a0 = values(p.a), b0 = values(p.b);
  const auto state0 = lbfgs.state_dict();
  int calls = 0;
  const std::string msg = error_of([&] {
    lbfgs.step([&] {
      if (++calls == 3) throw xg::Error("closure failed on call {}", calls);
      lbfgs.zero_grad();
      auto l = p.loss();
      l.backward();
      return l;
    });
  });
  CHECK(msg == "closure failed on call 3");
  CHECK(values(p.a) == a0);
  CHECK(values(p.b) == b0);
  const auto state1 = lbfgs.state_dict();
  REQUIRE(state1.size() == state0.size());
  for (std::size_t k = 0; k < state0.size(); ++k) {
    INFO(state0[k].first);
    CHECK(state0[k].first == state1[k].first);
    CHECK(values(state0[k].second.reshape({state0[k].second.numel()})) ==
          values(state1[k].second.reshape({state1[k].second.numel()})));
  }
}

// --- the example in docs/optim.md ----------------------------------------------------------------------------
TEST_CASE("LBFGS docs example: a full-batch least-squares fit") {
  xg::manual_seed(0);
  auto x = xg::randn({64, 3}, xg::f64);
  auto y = xg::matmul(x, xg::tensor({{1.0}, {-2.0}, {0.5}}, xg::f64)) + 0.3;  // an exact linear fit exists
  xg::nn::Linear net(3, 1);
  net.to(xg::f64);

  xg::optim::LBFGS lbfgs(net.parameters(), {.history_size = 10, .line_search_fn = "strong_wolfe"});
  auto closure = [&] {
    lbfgs.zero_grad();
    auto loss = xg::mse_loss(net(x), y);
    loss.backward();
    return loss;
  };
  std::vector<double> losses;
  for (int step = 0; step < 5; ++step) losses.push_back(lbfgs.step(closure).item());

  CHECK(losses[0] > 1.0);
  CHECK(losses[1] < 1e-9);  // one step solves it (a quadratic in 4 unknowns)
  CHECK(losses[4] <= losses[1]);
  // tolerance_change 1e-9 on a loss near 0 stops here, a few 1e-6 from the exact fit
  check_close(values(net.weight.reshape({3})), {1.0, -2.0, 0.5}, 1e-4);
  CHECK(net.bias.item() == doctest::Approx(0.3).epsilon(1e-4));
}
