// The main job: train a classifier on Fashion-MNIST (or any MNIST-format directory) with xgrad.
//
//   train --model convnet --epochs 4            # the README's command: >= 90% test accuracy
//   train --model mlp --optimizer momentum --lr 0.05 --schedule cosine
//   train --model softmax --sanity-checks
//
// Writes <out>/history.csv, <out>/loss.csv, PNG plots (with gnuplot), <out>/best.safetensors and
// <out>/last.safetensors (model + optimizer state); --resume continues from last.safetensors.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <fmt/os.h>
#include <xgrad/xgrad.hpp>

#include "models.hpp"
#include "solver.hpp"

namespace xg = xgrad;
namespace fs = std::filesystem;
using trainer::Solver;

namespace {

struct Config {
  std::string model = "convnet", optimizer = "adam", schedule = "cosine";
  double lr = 0, reg = 0, momentum = 0.9;
  std::size_t epochs = 5, batch_size = 64, validation = 5000, train_subset = 0, warmup = 0;
  std::uint64_t seed = 0;
  std::string data_dir = "/usr/share/datasets/fashion-mnist", out = "out";
  bool resume = false, sanity_checks = false, augment = false;
};

std::unique_ptr<xg::optim::Optimizer> make_optimizer(const Config& c, const std::vector<xg::Tensor>& params) {
  namespace optim = xg::optim;
  const double lr = c.lr > 0 ? c.lr : (c.optimizer == "adam" || c.optimizer == "adamw" ? 1e-3 : c.optimizer == "rmsprop" ? 1e-3 : 0.05);
  if (c.optimizer == "sgd") return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = lr});
  if (c.optimizer == "momentum")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = lr, .momentum = c.momentum});
  if (c.optimizer == "nesterov")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = lr, .momentum = c.momentum, .nesterov = true});
  if (c.optimizer == "adagrad") return std::make_unique<optim::AdaGrad>(params, optim::AdaGradOptions{.lr = lr});
  if (c.optimizer == "rmsprop") return std::make_unique<optim::RMSProp>(params, optim::RMSPropOptions{.lr = lr});
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = lr});
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = lr});
  throw xg::Error("unknown optimizer '{}' (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw)", c.optimizer);
}

// Epoch-wise schedules, optionally after a linear warmup of `warmup` epochs.
std::unique_ptr<xg::optim::LRScheduler> make_schedule(const Config& c, xg::optim::Optimizer& opt) {
  namespace optim = xg::optim;
  std::unique_ptr<optim::LRScheduler> s;
  const long epochs = long(c.epochs);
  if (c.schedule == "step") s = std::make_unique<optim::StepLR>(opt, std::max(1L, epochs / 3), 0.3);
  else if (c.schedule == "exp") s = std::make_unique<optim::ExponentialLR>(opt, 0.8);
  else if (c.schedule == "invtime") s = std::make_unique<optim::InverseTimeLR>(opt, 0.5);
  else if (c.schedule == "cosine") s = std::make_unique<optim::CosineAnnealingLR>(opt, std::max(1L, epochs - long(c.warmup)));
  else if (c.schedule != "none" && c.schedule != "plateau")
    throw xg::Error("unknown schedule '{}' (none, step, exp, invtime, cosine, plateau)", c.schedule);
  if (c.warmup > 0) s = std::make_unique<optim::LinearWarmup>(opt, long(c.warmup), 0.1, std::move(s));
  return s;
}

void write_history(const fs::path& out, const Solver& solver) {
  auto epochs = fmt::output_file((out / "history.csv").string());
  epochs.print("epoch,loss,train_acc,val_acc,lr,seconds,max_update_ratio\n");
  for (const auto& r : solver.epochs) {
    double ratio = 0;
    for (auto& [name, v] : r.update_ratio) ratio = std::max(ratio, v);
    epochs.print("{},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f},{:.3e}\n", r.epoch, r.loss, r.train_acc, r.val_acc, r.lr,
                 r.seconds, ratio);
  }
  epochs.close();
  auto losses = fmt::output_file((out / "loss.csv").string());
  losses.print("iteration,loss\n");
  for (std::size_t i = 0; i < solver.loss_history.size(); ++i) losses.print("{},{:.6f}\n", i + 1, solver.loss_history[i]);
  losses.close();
  auto ratios = fmt::output_file((out / "update_ratio.csv").string());
  ratios.print("epoch,parameter,update_over_weight\n");
  for (const auto& r : solver.epochs)
    for (auto& [name, v] : r.update_ratio) ratios.print("{},{},{:.3e}\n", r.epoch, name, v);
}

void plot(const fs::path& out) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    fmt::print("gnuplot not found: skipping the PNG plots (the CSV files have the data)\n");
    return;
  }
  const fs::path script = out / "plot.gp";
  {
    auto f = fmt::output_file(script.string());
    f.print("set terminal png size 900,500\nset datafile separator ','\nset key autotitle columnhead\n"
            "set output '{0}/loss.png'\nset title 'training loss per iteration'\nset xlabel 'iteration'\n"
            "plot '{0}/loss.csv' using 1:2 with lines lw 1 title 'loss'\n"
            "set output '{0}/accuracy.png'\nset title 'accuracy per epoch'\nset xlabel 'epoch'\nset yrange [*:1]\nset key bottom right\n"
            "plot '{0}/history.csv' using 1:3 with linespoints title 'train', '' using 1:4 with linespoints title 'validation'\n",
            out.string());
  }
  if (std::system(fmt::format("gnuplot '{}'", script.string()).c_str()) == 0)
    fmt::print("plots: {}/loss.png {}/accuracy.png\n", out.string(), out.string());
}

// The notes' sanity checks before a long run.
int sanity_checks(const Config& c, const xg::data::Dataset& train) {
  int failures = 0;
  auto report = [&](bool ok, const std::string& what) {
    fmt::print("[{}] {}\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
  };
  xg::manual_seed(c.seed);
  auto model = trainer::make_model(c.model);
  const bool svm = c.model == "svm";
  auto opt = make_optimizer(c, model->parameters());
  const xg::data::Dataset batch = train.subset(0, 500);
  xg::data::DataLoader loader(batch, {.batch_size = 500, .shuffle = false});
  const xg::data::Batch b = loader.batch(loader.order(0), 0);  // a copy: an iterator owns the batch it yields

  // 1. With small random weights and no regularization, the loss is ln(10) for softmax (each class
  //    gets probability ~1/10) and ~9 for the SVM (each of 9 wrong classes has margin ~1).
  Solver s0(*model, *opt, batch, {}, {.loss = svm ? "svm" : "cross_entropy"});
  double initial = 0;
  {
    xg::NoGradGuard no_grad;
    initial = s0.loss((*model)(b.images), b.labels).item();
  }
  const double expected = svm ? 9.0 : std::log(10.0);
  report(std::abs(initial - expected) < (svm ? 1.0 : 0.15),
         fmt::format("initial loss {:.4f}, expected about {:.4f} ({})", initial, expected, svm ? "9 margins of 1" : "ln 10"));

  // 2. Adding regularization raises the loss.
  double previous = initial;
  bool rising = true;
  std::string values;
  for (double reg : {1e-2, 1e-1, 1.0, 10.0}) {
    Solver s(*model, *opt, batch, {}, {.loss = svm ? "svm" : "cross_entropy", .reg = reg});
    xg::NoGradGuard no_grad;
    const double l = s.loss((*model)(b.images), b.labels).item();
    rising = rising && l > previous;
    values += fmt::format(" reg {} -> {:.4f};", reg, l);
    previous = l;
  }
  report(rising, "loss rises with the regularization strength:" + values);

  // 3. A tiny subset (50 examples) can be overfit to 100% training accuracy.
  const xg::data::Dataset tiny = train.subset(0, 50);
  auto tiny_model = trainer::make_model(c.model);
  Config tc = c;
  auto tiny_opt = make_optimizer(tc, tiny_model->parameters());
  Solver overfit(*tiny_model, *tiny_opt, tiny, tiny,
                 {.epochs = 60, .batch_size = 25, .loss = svm ? "svm" : "cross_entropy", .verbose = false});
  overfit.train();
  const double acc = overfit.accuracy(tiny);
  report(acc == 1.0, fmt::format("overfitting 50 examples: train accuracy {:.1f}% after {} epochs, loss {:.4f}",
                                 100 * acc, overfit.epochs.size(), overfit.epochs.back().loss));
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Train a classifier on Fashion-MNIST (or any MNIST-format directory) with xgrad"};
  app.add_option("--model", c.model, "softmax, svm, mlp, convnet, convnet-bn")->capture_default_str();
  app.add_option("--optimizer", c.optimizer, "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw")->capture_default_str();
  app.add_option("--lr", c.lr, "learning rate (default: 1e-3 for adam/adamw/rmsprop, 0.05 otherwise)");
  app.add_option("--momentum", c.momentum, "momentum for the momentum and nesterov optimizers")->capture_default_str();
  app.add_option("--schedule", c.schedule, "none, step, exp, invtime, cosine, plateau (per epoch)")->capture_default_str();
  app.add_option("--warmup", c.warmup, "epochs of linear warmup before the schedule")->capture_default_str();
  app.add_option("--reg", c.reg, "L2 regularization strength (loss += reg/2 * sum w^2)")->capture_default_str();
  app.add_option("--epochs", c.epochs)->capture_default_str();
  app.add_option("--batch-size", c.batch_size)->capture_default_str();
  app.add_option("--validation", c.validation, "training images held out for validation")->capture_default_str();
  app.add_option("--train-subset", c.train_subset, "train on only this many images (0: all)");
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "an MNIST-format directory")->capture_default_str();
  app.add_option("--out", c.out, "where histories, plots and checkpoints go")->capture_default_str();
  app.add_flag("--augment", c.augment, "random horizontal flips and 2-pixel random crops");
  app.add_flag("--resume", c.resume, "continue from <out>/last.safetensors");
  app.add_flag("--sanity-checks", c.sanity_checks, "run the notes' sanity checks and exit");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto start = std::chrono::steady_clock::now();
    xg::data::Dataset full = xg::data::load_mnist_dir(c.data_dir, "train");
    const xg::data::Dataset test = xg::data::load_mnist_dir(c.data_dir, "test");
    if (c.train_subset && c.train_subset < full.size()) full = full.subset(0, c.train_subset);
    auto [train, validation] = xg::data::train_validation_split(full, std::min(c.validation, full.size() / 5), c.seed);
    full = {};  // the split holds copies: do not keep a third 188 MB copy of the images alive while training
    // Per-channel normalization, fitted on the training split only and applied to every batch, so the
    // images stay the file's bytes (47 MB for the training set instead of 188 MB of floats).
    const xg::data::ChannelNormalize normalize(train);
    fmt::print("data: {} train, {} validation, {} test images from {}\n", train.size(), validation.size(),
               test.size(), c.data_dir);
    if (c.sanity_checks) return sanity_checks(c, normalize.transform(train.subset(0, 500))) == 0 ? 0 : 1;

    xg::manual_seed(c.seed);
    auto model = trainer::make_model(c.model);
    auto optimizer = make_optimizer(c, model->parameters());
    auto schedule = make_schedule(c, *optimizer);
    std::unique_ptr<xg::optim::ReduceLROnPlateau> plateau;
    if (c.schedule == "plateau")
      plateau = std::make_unique<xg::optim::ReduceLROnPlateau>(*optimizer, xg::optim::ReduceLROnPlateauOptions{.mode = xg::optim::PlateauMode::max, .patience = 1});
    fmt::print("{}", model->summary({1, 1, 28, 28}));

    const fs::path out = c.out;
    fs::create_directories(out);
    Solver solver(*model, *optimizer, train, validation,
                  {.epochs = c.epochs, .batch_size = c.batch_size, .loss = c.model == "svm" ? "svm" : "cross_entropy",
                   .reg = c.reg, .seed = c.seed, .augment = c.augment, .preprocess = normalize});
    if (c.resume) {
      const std::string path = (out / "last.safetensors").string();
      xg::load(*model, *optimizer, path);
      const auto meta = xg::load_metadata(path);
      solver.start_epoch = std::stoul(meta.at("epoch"));
      for (std::size_t e = 0; e < solver.start_epoch && schedule; ++e) schedule->step();
      fmt::print("resumed from {} after epoch {}\n", path, solver.start_epoch);
    }
    solver.on_epoch_end = [&](const trainer::EpochRecord& r) {
      const xg::Metadata meta{{"epoch", std::to_string(r.epoch)}, {"model", c.model}, {"val_acc", fmt::format("{:.6f}", r.val_acc)}};
      xg::save(*model, *optimizer, (out / "last.safetensors").string(), meta);
      if (r.val_acc >= solver.best_val_acc) xg::save(*model, *optimizer, (out / "best.safetensors").string(), meta);
      if (schedule) schedule->step();
      if (plateau) plateau->step(r.val_acc);
      write_history(out, solver);
    };
    solver.train();
    plot(out);
    solver.restore_best();
    const double test_acc = solver.accuracy(test);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("best validation accuracy {:.2f}%\n", 100 * solver.best_val_acc);
    fmt::print("test accuracy {:.2f}% ({} images, model {}, {:.0f} s in all)\n", 100 * test_acc, test.size(),
               c.model, seconds);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
