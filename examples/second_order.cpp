// Second-order optimization, the CS231n notes' lines on it made concrete ("Second-Order Optimization
// Newton parameter update: bad for deep learning, inverting is O(N^3)"; L-BFGS "if you can afford to
// do full batch updates"): Newton's method, L-BFGS and (first-order) SGD with momentum side by side on
// the notes' softmax classifier (scores W x + b, cross-entropy, L2 regularization reg/2 * sum W^2),
// full batch, f64, from one initialization.
//
//   second_order                                   # 1000 images pooled 4x4 to 49 features: seconds
//   second_order --train 200 --iterations 20 --out /tmp/so   # a smoke test
//
// The model is written as a function of one parameter vector theta = [W (10 x D, row-major), b (10)],
// so the Hessian of the loss is one P x P matrix (P = 10 D + 10; D = 49 at --pool 4, P = 500):
//   Newton     H = xg::hessian(loss, theta) (P backward passes), d = (H + lambda I)^-1 g by Cholesky
//              (LAPACK through xt::linalg), theta -= t d with t = 1 unless backtracking must shorten it;
//   L-BFGS     xg::optim::LBFGS, strong-Wolfe line search, one iteration per step() so every
//              iteration's loss is recorded;
//   SGD        full-batch gradient descent with momentum 0.9, its lr picked from a grid by the lowest
//              final loss (or --lr-sgd).
// Prints per method its iterations, final loss, training accuracy and time, the Hessian's size and
// the time to form and to solve it, and what the same Hessian would cost for the main job's ConvNet.
// Writes <out>/second_order.csv (method, iteration, seconds, loss, gap = loss - the lowest final loss)
// and <out>/second_order.png, the gap vs iteration and vs seconds on a log scale (if gnuplot is
// installed; otherwise the CSV is all).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "common/util.hpp"
#include "train/models.hpp"

namespace xg = xgrad;
namespace fs = std::filesystem;
using examples::Stopwatch;

namespace {

constexpr std::size_t num_classes = 10;

// The softmax classifier as a function of the flat parameter vector theta.
struct SoftmaxProblem {
  xg::Tensor x;  // [N, D] f64 features
  std::vector<std::int64_t> labels;
  std::size_t features = 0;
  double reg = 0;

  std::size_t param_count() const { return num_classes * features + num_classes; }

  xg::Tensor scores(const xg::Tensor& theta) const {
    const std::size_t nw = num_classes * features;
    const auto W = xg::reshape(xg::narrow(theta, 0, 0, nw), {num_classes, features});
    return xg::linear(x, W, xg::narrow(theta, 0, nw, num_classes));
  }
  // cross-entropy + reg/2 * sum(W^2) (the notes' 1/2 lambda w^2); the bias is not regularized, as in the notes.
  xg::Tensor loss(const xg::Tensor& theta) const {
    const auto W = xg::narrow(theta, 0, 0, num_classes * features);
    return xg::cross_entropy(scores(theta), labels) + reg * xg::l2_penalty({W}, /*half=*/true);
  }
  double loss_value(const xg::Tensor& theta) const {
    xg::NoGradGuard no_grad;
    return loss(theta).item();
  }
  double accuracy(const xg::Tensor& theta) const {
    xg::NoGradGuard no_grad;
    std::vector<std::size_t> predicted = xg::argmax(scores(theta), 1);
    return examples::accuracy(predicted, labels);
  }
};

// Images [N, 1, 28, 28] -> [N, D] f64: average-pooled k x k (D = (28 / k)^2), then the training
// subset's mean feature subtracted (the notes' preprocessing for linear classifiers).
xg::Tensor features_of(const xg::data::Dataset& data, std::size_t pool) {
  xg::NoGradGuard no_grad;
  xg::Tensor images = xg::Tensor(data.to_float().images()).to(xg::f64);
  if (pool > 1) images = xg::avg_pool2d(images, static_cast<int>(pool));
  xt::xarray<double> x = images.value<double>();
  x.reshape({data.size(), x.size() / data.size()});
  const xt::xarray<double> mean = xt::mean(x, {0});
  return xg::Tensor(xt::xarray<double>(x - mean));
}

// What one method did: the loss after 0, 1, 2, ... iterations and the optimizer's cumulative time
// at each (the loss itself is evaluated outside the timed part, for every method alike).
struct Trace {
  std::string name, setting;
  std::string stop = "iteration limit";  // why it stopped
  std::vector<double> loss{}, seconds{};
  double accuracy = 0;
  void record(double l, double t) {
    loss.push_back(l);
    seconds.push_back(t);
  }
  std::size_t iterations() const { return loss.size() - 1; }
};

// d with (H + lambda I) d = g by Cholesky. The bias is not regularized and shifting all ten biases
// by one constant leaves the softmax unchanged, so H is exactly singular in that direction (and
// positive definite elsewhere, thanks to the L2 term): a small lambda makes the factorization
// succeed, and since g has no component along that direction the step hardly changes. If the
// factorization still fails (H not positive definite), lambda grows 10x per try.
struct NewtonDirection {
  xt::xarray<double> d;
  double lambda = 0;
};
NewtonDirection damped_newton_direction(const xt::xarray<double>& H, const xt::xarray<double>& g, double lambda) {
  const std::size_t n = g.size();
  for (int attempt = 0; attempt < 20; ++attempt, lambda *= 10) {
    xt::xarray<double> A = H;
    for (std::size_t i = 0; i < n; ++i) A(i, i) += lambda;
    try {
      const auto L = xt::linalg::cholesky(A);  // LAPACK dpotrf; throws if A is not positive definite
      return {xt::xarray<double>(xt::linalg::solve_cholesky(L, g)), lambda};
    } catch (const std::runtime_error&) {}
  }
  throw xg::Error("Newton: H + lambda I is not positive definite even with lambda = {:.1e}", lambda);
}

struct NewtonTimes {
  double form = 0, solve = 0;  // summed over iterations
  std::size_t iterations = 0, shortened = 0;
  double lambda_max = 0;
};

Trace run_newton(const SoftmaxProblem& p, const xt::xarray<double>& theta0, std::size_t iterations, double tol_grad,
                 double lambda, NewtonTimes& times) {
  Trace trace{"newton", fmt::format("Cholesky, lambda {:.0e}", lambda)};
  xg::Tensor theta(theta0);
  double elapsed = 0, loss = p.loss_value(theta);
  trace.record(loss, 0);
  const xg::TensorFn f = [&](const xg::Tensor& t) { return p.loss(t); };
  for (std::size_t k = 0; k < iterations; ++k) {
    Stopwatch sw;
    xg::Tensor leaf = theta.detach().requires_grad_();
    const xt::xarray<double> g = xg::grad({p.loss(leaf)}, {leaf})[0].value<double>();
    const double g_max = xt::amax(xt::abs(g))();
    if (g_max <= tol_grad) {  // converged: the rule of L-BFGS's tolerance_grad
      trace.stop = fmt::format("max|g| <= {:.0e}", tol_grad);
      break;
    }
    Stopwatch form;
    const xt::xarray<double> H = xg::hessian(f, theta).value<double>();  // [P, P]
    const double form_s = form.seconds();
    Stopwatch solve;
    const auto [d, used_lambda] = damped_newton_direction(H, g, lambda);
    const double solve_s = solve.seconds();
    // The full step t = 1 is Newton's; backtracking (Armijo) halves it only while it would not
    // decrease the loss enough, which the pure method can need far from the minimum.
    const double decrement = xt::sum(g * d)();  // g^T H^-1 g, the squared Newton decrement
    double t = 1, next = 0;
    xt::xarray<double> candidate;
    for (;; t /= 2) {
      candidate = theta.value<double>() - t * d;
      next = p.loss_value(xg::Tensor(candidate));
      if (next <= loss - 1e-4 * t * decrement || t < 1e-10) break;
    }
    theta = xg::Tensor(candidate);
    elapsed += sw.seconds();
    fmt::print("  newton {:>2}: loss {:.10f}  max|g| {:.1e}  g^T H^-1 g {:.1e}  step {}  lambda {:.0e}  "
               "H {:.3f} s, solve {:.3f} s\n",
               k + 1, next, g_max, decrement, t, used_lambda, form_s, solve_s);
    loss = next;
    trace.record(loss, elapsed);
    times.form += form_s;
    times.solve += solve_s;
    times.iterations += 1;
    times.shortened += t < 1;
    times.lambda_max = std::max(times.lambda_max, used_lambda);
  }
  trace.accuracy = p.accuracy(theta);
  return trace;
}

Trace run_lbfgs(const SoftmaxProblem& p, const xt::xarray<double>& theta0, std::size_t iterations, double tol_grad,
                double tol_change, std::int64_t& func_evals) {
  xg::Tensor theta = xg::Tensor(theta0).requires_grad_();
  // max_iter 1: one iteration per step(), so the loss of every iteration is seen. Each step() starts
  // with one closure call at the current point (as torch's does); func_evals counts it.
  xg::optim::LBFGS lbfgs({theta}, {.max_iter = 1,
                                   .tolerance_grad = tol_grad,
                                   .tolerance_change = tol_change,
                                   .line_search_fn = "strong_wolfe"});
  Trace trace{"lbfgs", fmt::format("strong Wolfe, history {}", lbfgs.options().history_size)};
  const xg::optim::LossClosure closure = [&] {
    lbfgs.zero_grad();
    auto l = p.loss(theta);
    l.backward();
    return l;
  };
  double elapsed = 0;
  trace.record(p.loss_value(theta), 0);
  for (std::size_t k = 0; k < iterations; ++k) {
    const auto before = lbfgs.lbfgs_state().n_iter;
    Stopwatch sw;
    lbfgs.step(closure);
    elapsed += sw.seconds();
    if (lbfgs.lbfgs_state().n_iter == before) {  // converged: max |g| <= tolerance_grad
      trace.stop = fmt::format("max|g| <= {:.0e}", tol_grad);
      break;
    }
    // An iteration whose g.d is within tolerance_change of 0 counts but does not move (torch's rule),
    // and every later one would do the same: stalled.
    const double loss = p.loss_value(theta);
    if (loss == trace.loss.back()) {
      trace.stop = fmt::format("stalled (|g.d| < {:.0e})", lbfgs.options().tolerance_change);
      break;
    }
    trace.record(loss, elapsed);
  }
  func_evals = lbfgs.lbfgs_state().func_evals;
  trace.accuracy = p.accuracy(theta);
  return trace;
}

Trace run_sgd(const SoftmaxProblem& p, const xt::xarray<double>& theta0, std::size_t iterations, double lr,
              double momentum) {
  Trace trace{"sgd", fmt::format("lr {}, momentum {}", lr, momentum)};
  xg::Tensor theta = xg::Tensor(theta0).requires_grad_();
  xg::optim::SGD sgd({theta}, {.lr = lr, .momentum = momentum});
  double elapsed = 0;
  trace.record(p.loss_value(theta), 0);
  for (std::size_t k = 0; k < iterations; ++k) {
    Stopwatch sw;
    sgd.zero_grad();
    p.loss(theta).backward();
    sgd.step();
    elapsed += sw.seconds();
    trace.record(p.loss_value(theta), elapsed);
  }
  trace.accuracy = p.accuracy(theta);
  return trace;
}

std::string human_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  return fmt::format("{:.1f} kB", bytes / 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_train = 1000, iterations = 100, pool = 4;
  // tol_change: torch's 1e-9 is absolute, and here L-BFGS stops moving (g.d > -1e-9) at a loss gap of
  // ~3e-9 while max |g| is still ~4e-7; at 1e-12 the gradient tolerance, Newton's too, decides.
  double reg = 2e-4, lr_sgd = 0, momentum = 0.9, tol_grad = 1e-7, tol_change = 1e-12, lambda = 1e-6;
  std::uint64_t seed = 0;
  std::string data_dir = xg::data::default_mnist_dir, out = "out/second_order";
  CLI::App app{"Newton's method vs L-BFGS vs SGD on a softmax classifier, full batch: loss curves and costs"};
  app.add_option("--train", n_train, "training images (the first N of the training set)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{60000}))
      ->capture_default_str();
  app.add_option("--iterations", iterations, "iterations per method (Newton and L-BFGS stop early once converged)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("--pool", pool, "average-pool k x k: (28/k)^2 features (1: all 784; P = 10 D + 10 parameters)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{28}))
      ->capture_default_str();
  app.add_option("--reg", reg, "L2 strength: loss = cross-entropy + reg/2 * sum(W^2)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--lr-sgd", lr_sgd, "SGD's learning rate (0: the best of a grid by final loss)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--momentum", momentum, "SGD's momentum")->check(CLI::Range(0.0, 0.999))->capture_default_str();
  app.add_option("--tol-grad", tol_grad, "Newton and L-BFGS stop when max |gradient| is at most this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tol-change", tol_change,
                 "L-BFGS's tolerance_change (on g.d, the step and the loss change; torch's default is 1e-9)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lambda", lambda, "Newton's damping: solves (H + lambda I) d = g")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--data-dir", data_dir, "an MNIST-format directory")->capture_default_str();
  app.add_option("--out", out, "directory of the CSV and the plot")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    const auto train = examples::first(xg::data::load_mnist_dir(data_dir, "train"), n_train);
    SoftmaxProblem problem{features_of(train, pool), train.labels(), 0, reg};
    problem.features = problem.x.shape()[1];
    const std::size_t P = problem.param_count();
    fmt::print("data: {} training images, pooled {}x{} to {} features (mean subtracted); softmax classifier, "
               "P = 10 x {} + 10 = {} parameters; reg {}; full batch, f64\n",
               train.size(), pool, pool, problem.features, problem.features, P, reg);

    // One initialization for all three: W = 0.001 randn (as linear_classifiers), b = 0.
    xg::manual_seed(seed);
    xt::xarray<double> theta0 = xt::zeros<double>({P});
    {
      const xt::xarray<double> w = xg::randn({num_classes * problem.features}, xg::f64).value<double>();
      std::copy(w.begin(), w.end(), theta0.begin());
      theta0 *= 0.001;
      for (std::size_t i = num_classes * problem.features; i < P; ++i) theta0(i) = 0;
    }
    fmt::print("initial loss {:.4f} (ln 10 = {:.4f})\n\n", problem.loss_value(xg::Tensor(theta0)), std::log(10.0));

    NewtonTimes newton_times;
    std::int64_t lbfgs_evals = 0;
    std::vector<Trace> traces;
    fmt::print("Newton's method, one line per iteration:\n");
    traces.push_back(run_newton(problem, theta0, iterations, tol_grad, lambda, newton_times));
    traces.push_back(run_lbfgs(problem, theta0, iterations, tol_grad, tol_change, lbfgs_evals));
    if (lr_sgd == 0) {
      // The grid runs are short (one gradient each iteration); the lowest final loss wins, nan loses.
      Stopwatch tune;
      double best = std::numeric_limits<double>::infinity();
      std::string tried;
      const std::vector<double> grid{0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0};
      for (double lr : grid) {
        const double final_loss = run_sgd(problem, theta0, iterations, lr, momentum).loss.back();
        tried += fmt::format(" {}: {:.4f}", lr, final_loss);
        if (final_loss < best) best = final_loss, lr_sgd = lr;
      }
      fmt::print("\nSGD lr grid (final loss after {} iterations):{}; chosen {} ({:.1f} s){}\n", iterations, tried,
                 lr_sgd, tune.seconds(),
                 lr_sgd == grid.front() || lr_sgd == grid.back() ? " - at the grid's edge: try --lr-sgd" : "");
    }
    traces.push_back(run_sgd(problem, theta0, iterations, lr_sgd, momentum));

    // The table.
    const double best_loss = std::min({traces[0].loss.back(), traces[1].loss.back(), traces[2].loss.back()});
    fmt::print("\n  {:<7} {:<26} {:>10} {:>14} {:>10} {:>10} {:>9} {:>14}  {}\n", "method", "setting", "iterations",
               "final loss", "- lowest", "train acc", "time", "per iteration", "stopped by");
    for (const auto& t : traces)
      fmt::print("  {:<7} {:<26} {:>10} {:>14.10f} {:>10.1e} {:>9.2f}% {:>8.3f}s {:>11.2f} ms  {}\n", t.name, t.setting,
                 t.iterations(), t.loss.back(), t.loss.back() - best_loss, 100 * t.accuracy, t.seconds.back(),
                 t.iterations() ? 1e3 * t.seconds.back() / double(t.iterations()) : 0.0, t.stop);
    fmt::print("  (L-BFGS: {} closure calls, i.e. gradients, for {} iterations; SGD: 1 per iteration; Newton: 1 + P "
               "backward passes for g and H, and 1+ forward for the step)\n",
               lbfgs_evals, traces[1].iterations());

    const double hessian_bytes = double(P) * double(P) * sizeof(double);
    const std::size_t n_newton = std::max<std::size_t>(newton_times.iterations, 1);
    fmt::print("\nHessian: {} x {} f64 = {}; per Newton iteration: formed (xg::hessian, {} backward passes) in {:.3f} "
               "s, "
               "solved (Cholesky) in {:.4f} s; {} of {} iterations shortened the step, largest lambda {:.0e}\n",
               P, P, human_bytes(hessian_bytes), P, newton_times.form / double(n_newton),
               newton_times.solve / double(n_newton), newton_times.shortened, newton_times.iterations,
               newton_times.lambda_max);

    // Why the notes call Newton's update bad for deep learning (inverting is O(N^3)): the main job's ConvNet.
    {
      std::size_t convnet_params = 0;
      for (const auto& w : trainer::make_model("convnet")->parameters()) convnet_params += w.numel();
      const double p = double(convnet_params), entries = p * p;
      const int history = xg::optim::LBFGSOptions{}.history_size;
      fmt::print("\nAt scale: the main job's ConvNet (examples/train, \"convnet\") has P = {} parameters. Its Hessian "
                 "has P^2 = {:.2e} entries = {} in f32 ({} in f64; the parameters themselves are {}); forming it "
                 "takes P = {} backward passes and factoring it ~P^3/3 = {:.1e} flops. L-BFGS keeps {} vector pairs "
                 "instead: {} in f32.\n",
                 convnet_params, entries, human_bytes(entries * 4), human_bytes(entries * 8), human_bytes(p * 4),
                 convnet_params, p * p * p / 3, history, human_bytes(2 * double(history) * p * 4));
    }

    // The CSV, one row per method and iteration, and the plot.
    fs::create_directories(out);
    const std::string csv = (fs::path(out) / "second_order.csv").string();
    {
      std::ofstream f(csv);
      f << "method,iteration,seconds,loss,gap\n";
      for (const auto& t : traces)
        for (std::size_t i = 0; i < t.loss.size(); ++i)
          f << fmt::format("{},{},{:.6f},{:.17g},{:.6e}\n", t.name, i, t.seconds[i], t.loss[i], t.loss[i] - best_loss);
    }
    fmt::print("\nloss curves: {} (gap: loss - the lowest final loss, {:.12f})\n", csv, best_loss);
    const std::string png = (fs::path(out) / "second_order.png").string();
    // The gap to the lowest loss, not the loss itself: the regularized loss levels off far above 0, so on
    // a log scale the loss hides how fast each method closes in (Newton's quadratic, L-BFGS's
    // superlinear, SGD's linear convergence); the gap shows it. A gap of 0 (the lowest point) is left
    // out. Rows of one method are contiguous, so NaN for the others' rows draws each method's own line.
    auto curves = [&](const char* x_column) {
      std::string plot = "plot ";
      const char* styles[] = {"lw 2 pt 7 ps 0.8", "lw 2 pt 5 ps 0.5", "lw 2 pt 0"};
      for (std::size_t k = 0; k < traces.size(); ++k)
        plot += fmt::format("{}'{}' every ::1 using {}:(strcol(1) eq '{}' && $5 > 0 ? $5 : NaN) with linespoints {} "
                            "title '{} ({})'",
                            k ? ", " : "", csv, x_column, traces[k].name, styles[k], traces[k].name, traces[k].setting);
      return plot + "\n";
    };
    std::string script =
        fmt::format("set terminal pngcairo size 1400,560 noenhanced\nset output '{}'\nset datafile separator ','\n"
                    "set multiplot layout 1,2 title 'Softmax classifier, {} Fashion-MNIST images, {} features, P = {}: "
                    "full batch, "
                    "same initialization'\nset logscale y\nset grid\nset key top right\nset ylabel 'loss - lowest loss "
                    "(log scale)'\nset format y '%.0e'\n",
                    png, train.size(), problem.features, P);
    script += "set xlabel 'iteration'\nset title 'loss gap vs iteration'\n" + curves("2");
    script += "set xlabel 'seconds (optimizer only)'\nset title 'loss gap vs wall time'\n" + curves("3");
    script += "unset multiplot\n";
    if (examples::run_gnuplot((fs::path(out) / "second_order.gp").string(), script)) fmt::print("plot: {}\n", png);
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
