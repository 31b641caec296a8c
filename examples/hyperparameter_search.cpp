// Random hyperparameter search for a two-layer net (784 - H - 10, ReLU), as the CS231n notes
// recommend: random search rather than a grid, the learning rate and the regularization strength
// sampled on a log scale, a coarse stage (wide ranges, short runs) and then a fine stage in the
// region the coarse stage found, each trial judged by validation accuracy. Then a model ensemble:
// the top models' softmax probabilities averaged, and the accuracy it gains over the best single model.
//
//   hyperparameter_search                   # 20 coarse + 10 fine trials, ensemble of 5: about 20 s
//   hyperparameter_search --coarse 3 --fine 2 --coarse-train 1000 --fine-train 1000
//       --fine-epochs 1 --ensemble 2 --test 1000     # (one line) a smoke test
//
// Training uses the trainer's Solver (examples/train/solver.cpp): minibatch SGD with momentum, the
// loss cross-entropy + reg/2 * sum of squared weights, the parameters with the best validation
// accuracy kept.
#include <cmath>
#include <random>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "common/util.hpp"
#include "train/solver.hpp"

namespace xg = xgrad;
using examples::Stopwatch;

namespace {

struct Config {
  std::size_t hidden = 100, coarse = 20, fine = 10, coarse_epochs = 1, fine_epochs = 4, coarse_train = 10000,
              fine_train = 0, validation = 5000, test = 0, batch_size = 100, ensemble = 5;
  double lr_lo = 1e-4, lr_hi = 1.0, reg_lo = 1e-6, reg_hi = 1e-1, momentum = 0.9;
  std::uint64_t seed = 0;
  std::string data_dir = xg::data::default_mnist_dir;
};

struct Trial {
  std::size_t id = 0;
  double lr = 0, reg = 0, loss = 0, train_acc = 0, val_acc = 0, seconds = 0;
  std::shared_ptr<xg::nn::Sequential> model;
};

// A range on a log scale: [10^lo, 10^hi].
struct LogRange {
  double lo, hi;
  double sample(std::mt19937_64& rng) const {
    return std::pow(10.0, std::uniform_real_distribution<double>(lo, hi)(rng));
  }
};

Trial run_trial(const Config& c, std::size_t id, double lr, double reg, std::size_t epochs,
                const xg::data::Dataset& train, const xg::data::Dataset& validation) {
  Stopwatch sw;
  xg::manual_seed(c.seed * 1000 + id);  // each trial its own initialization and batch order
  auto model = std::make_shared<xg::nn::Sequential>(xg::nn::Flatten(), xg::nn::Linear(784, c.hidden), xg::nn::ReLU(),
                                                    xg::nn::Linear(c.hidden, 10));
  xg::optim::SGD sgd(model->parameters(), {.lr = lr, .momentum = c.momentum});
  trainer::Solver solver(*model, sgd, train, validation,
                         {.epochs = epochs,
                          .batch_size = c.batch_size,
                          .reg = reg,
                          .accuracy_samples = 5000,
                          .seed = c.seed * 1000 + id,
                          .verbose = false});
  solver.train();
  solver.restore_best();
  const auto& last = solver.epochs.back();
  return {id, lr, reg, last.loss, last.train_acc, solver.best_val_acc, sw.seconds(), model};
}

// A rule of thumb (ours, not the notes'): a run whose loss ends above 3x the initial loss (ln 10 here) has exploded.
bool diverged(const Trial& t) { return !std::isfinite(t.loss) || t.loss > 3 * std::log(10.0); }

void print_ranked(std::vector<Trial>& trials) {
  std::stable_sort(trials.begin(), trials.end(), [](const Trial& a, const Trial& b) {
    const bool da = diverged(a), db = diverged(b);
    return da != db ? db : a.val_acc > b.val_acc;
  });
  fmt::print("  {:>4} {:>5}  {:>10} {:>10}  {:>9}  {:>9} {:>9}  {:>6}\n", "rank", "trial", "lr", "reg", "loss",
             "train acc", "val acc", "time");
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    fmt::print("  {:>4} {:>5}  {:>10.3e} {:>10.3e}  {:>9}  {:>8.2f}% {:>8.2f}%  {:>5.1f}s\n", i + 1, t.id, t.lr, t.reg,
               diverged(t) ? "diverged" : fmt::format("{:.4f}", t.loss), 100 * t.train_acc, 100 * t.val_acc, t.seconds);
  }
}

// A best value at the edge of the searched range means the range should move (a common caution, not
// one the notes state).
void warn_at_edge(const char* name, double value, LogRange range) {
  const double x = std::log10(value), margin = 0.1 * (range.hi - range.lo);
  if (x < range.lo + margin || x > range.hi - margin)
    fmt::print("  note: the best {} ({:.2e}) is near the edge of its range [{:.0e}, {:.0e}]: widen the range there\n",
               name, value, std::pow(10.0, range.lo), std::pow(10.0, range.hi));
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Random search (coarse, then fine) for a two-layer net on Fashion-MNIST, then an ensemble"};
  app.add_option("--hidden", c.hidden, "hidden units H")->capture_default_str();
  app.add_option("--coarse", c.coarse, "coarse-stage trials")->capture_default_str();
  app.add_option("--fine", c.fine, "fine-stage trials")->capture_default_str();
  app.add_option("--coarse-epochs", c.coarse_epochs)->capture_default_str();
  app.add_option("--fine-epochs", c.fine_epochs)->capture_default_str();
  app.add_option("--coarse-train", c.coarse_train, "training images in the coarse stage (0: all)")
      ->capture_default_str();
  app.add_option("--fine-train", c.fine_train, "training images in the fine stage (0: all)")->capture_default_str();
  app.add_option("--validation", c.validation, "training images held out for validation")->capture_default_str();
  app.add_option("--test", c.test, "test images (0: all 10000)")->capture_default_str();
  app.add_option("--batch-size", c.batch_size)->capture_default_str();
  app.add_option("--ensemble", c.ensemble, "how many of the best fine-stage models to average")->capture_default_str();
  app.add_option("--lr-min", c.lr_lo, "coarse learning-rate range, low end")->capture_default_str();
  app.add_option("--lr-max", c.lr_hi, "coarse learning-rate range, high end")->capture_default_str();
  app.add_option("--reg-min", c.reg_lo, "coarse regularization range, low end")->capture_default_str();
  app.add_option("--reg-max", c.reg_hi, "coarse regularization range, high end")->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "an MNIST-format directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    if (c.coarse == 0 || c.fine == 0 || c.ensemble == 0) throw xg::Error("--coarse, --fine and --ensemble must be > 0");
    if (!(c.lr_lo > 0 && c.lr_lo < c.lr_hi && c.reg_lo > 0 && c.reg_lo < c.reg_hi))
      throw xg::Error("the ranges need 0 < min < max");
    const auto full = xg::data::load_mnist_dir(c.data_dir, "train");
    auto [train, validation] = xg::data::train_validation_split(full, std::min(c.validation, full.size() / 5), c.seed);
    auto test = examples::first(xg::data::load_mnist_dir(c.data_dir, "test"), c.test);
    const xg::data::ChannelNormalize normalize(train);  // fitted on the training split only
    train = normalize.transform(std::move(train));
    validation = normalize.transform(std::move(validation));
    test = normalize.transform(std::move(test));
    const auto coarse_train = examples::first(train, c.coarse_train);
    const auto fine_train = examples::first(train, c.fine_train);
    fmt::print("data: {} train, {} validation, {} test images, normalized with the training statistics\n", train.size(),
               validation.size(), test.size());
    fmt::print("model: 784 - {} - 10 (ReLU), SGD momentum {}, batch {}; loss cross-entropy + reg/2 * |W|^2\n\n",
               c.hidden, c.momentum, c.batch_size);

    std::mt19937_64 rng(c.seed);
    std::size_t next_id = 1;
    // Coarse: wide log ranges, short runs on a subset.
    const LogRange lr_coarse{std::log10(c.lr_lo), std::log10(c.lr_hi)},
        reg_coarse{std::log10(c.reg_lo), std::log10(c.reg_hi)};
    fmt::print("coarse stage: {} trials, lr in [{:.0e}, {:.0e}], reg in [{:.0e}, {:.0e}] (log-uniform), {} epoch(s) on "
               "{} images\n",
               c.coarse, c.lr_lo, c.lr_hi, c.reg_lo, c.reg_hi, c.coarse_epochs, coarse_train.size());
    Stopwatch stage;
    std::vector<Trial> coarse;
    for (std::size_t i = 0; i < c.coarse; ++i) {
      const double lr = lr_coarse.sample(rng), reg = reg_coarse.sample(rng);
      coarse.push_back(run_trial(c, next_id++, lr, reg, c.coarse_epochs, coarse_train, validation));
    }
    print_ranked(coarse);
    fmt::print("  ({:.1f} s)\n", stage.seconds());
    warn_at_edge("learning rate", coarse[0].lr, lr_coarse);
    warn_at_edge("regularization", coarse[0].reg, reg_coarse);

    // Fine: the smallest log ranges holding the coarse top 3 (runs that did not diverge), widened
    // by a quarter decade on each side.
    const std::size_t top = std::min<std::size_t>(3, coarse.size());
    LogRange lr_fine{1e9, -1e9}, reg_fine{1e9, -1e9};
    for (std::size_t i = 0; i < top; ++i) {
      if (diverged(coarse[i]) && i > 0) break;
      lr_fine.lo = std::min(lr_fine.lo, std::log10(coarse[i].lr) - 0.25);
      lr_fine.hi = std::max(lr_fine.hi, std::log10(coarse[i].lr) + 0.25);
      reg_fine.lo = std::min(reg_fine.lo, std::log10(coarse[i].reg) - 0.25);
      reg_fine.hi = std::max(reg_fine.hi, std::log10(coarse[i].reg) + 0.25);
    }
    fmt::print("\nfine stage: {} trials, lr in [{:.2e}, {:.2e}], reg in [{:.2e}, {:.2e}] (around the coarse top {}), "
               "{} epoch(s) on {} images\n",
               c.fine, std::pow(10, lr_fine.lo), std::pow(10, lr_fine.hi), std::pow(10, reg_fine.lo),
               std::pow(10, reg_fine.hi), top, c.fine_epochs, fine_train.size());
    stage.restart();
    std::vector<Trial> fine;
    for (std::size_t i = 0; i < c.fine; ++i) {
      const double lr = lr_fine.sample(rng), reg = reg_fine.sample(rng);
      fine.push_back(run_trial(c, next_id++, lr, reg, c.fine_epochs, fine_train, validation));
    }
    print_ranked(fine);
    fmt::print("  ({:.1f} s)\n", stage.seconds());

    // Ensemble: average the top models' class probabilities.
    const std::size_t m = std::min(c.ensemble, fine.size());
    fmt::print("\nensemble of the top {} fine-stage models (softmax probabilities averaged):\n", m);
    xt::xarray<float> sum_val, sum_test;
    std::vector<double> single_test;
    for (std::size_t i = 0; i < m; ++i) {
      const xt::xarray<float> pv = examples::probabilities(*fine[i].model, validation);
      const xt::xarray<float> pt = examples::probabilities(*fine[i].model, test);
      sum_val = i == 0 ? pv : xt::xarray<float>(sum_val + pv);
      sum_test = i == 0 ? pt : xt::xarray<float>(sum_test + pt);
      single_test.push_back(examples::accuracy(*fine[i].model, test));
      const double ens_val =
          examples::accuracy(xg::argmax(xg::Tensor(xt::xarray<float>(sum_val)), 1), validation.labels());
      const double ens_test = examples::accuracy(xg::argmax(xg::Tensor(xt::xarray<float>(sum_test)), 1), test.labels());
      fmt::print("  + model {:>2} (trial {:>2}: val {:.2f}%, test {:.2f}%)  ->  ensemble of {}: val {:.2f}%, test "
                 "{:.2f}%\n",
                 i + 1, fine[i].id, 100 * fine[i].val_acc, 100 * single_test.back(), i + 1, 100 * ens_val,
                 100 * ens_test);
    }
    const double ens_test = examples::accuracy(xg::argmax(xg::Tensor(xt::xarray<float>(sum_test)), 1), test.labels());
    fmt::print("\nbest single model (by validation): test accuracy {:.2f}%\n", 100 * single_test[0]);
    fmt::print("ensemble of {}:                     test accuracy {:.2f}%  (gain {:+.2f} points)\n", m, 100 * ens_test,
               100 * (ens_test - single_test[0]));
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
