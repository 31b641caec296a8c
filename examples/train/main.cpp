// The main job: train a classifier on Fashion-MNIST (or any MNIST-format directory) with xgrad.
//
//   train                                       # the main job (README): convnet, 5 epochs, >= 90% test accuracy
//   train --model mlp --optimizer momentum --lr 0.05 --schedule cosine
//   train --model softmax --sanity-checks
//   train --model mlp --diagnostics 0,1,5       # per-layer histograms and flow report at those epochs
//   mpirun -np 2 train --distributed                 # data-parallel on MPI (docs/distributed.md)
//
// Writes <out>/history.csv, <out>/loss.csv, PNG plots (with gnuplot), <out>/best.safetensors and
// <out>/last.safetensors (model + optimizer state); --resume continues from last.safetensors.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <signal.h>

#include <fmt/os.h>
#include <CLI/CLI.hpp>
#include <xgrad/xgrad.hpp>

#include "diagnostics.hpp"
#include "models.hpp"
#include "solver.hpp"
#ifdef XGRAD_TRAIN_DISTRIBUTED
#include <mpi.h>
#include <xgrad/data.hpp>
#include <xgrad/distributed/distributed.hpp>
#endif
#include "validators.hpp"

namespace xg = xgrad;
namespace fs = std::filesystem;
using trainer::Solver;

namespace {

// False on the ranks other than 0 of a --distributed run: they neither print nor write files.
bool main_process = true;

struct Config {
  std::string model = "convnet", optimizer = "adam", schedule = "cosine";
  double lr = 0, reg = 0, momentum = 0.9;
  std::size_t epochs = 5, batch_size = 64, validation = 5000, train_subset = 0, warmup = 0;
  std::uint64_t seed = 0;
  std::string data_dir = "/usr/share/datasets/fashion-mnist", out = "out";
  std::vector<std::size_t> diagnostics;  // --diagnostics: after these epochs (0: before training)
  bool resume = false, sanity_checks = false, augment = false, detect_anomaly = false, distributed = false;
  bool validation_given = false, momentum_given = false;  // given on the command line, not the defaults
};

std::unique_ptr<xg::optim::Optimizer> make_optimizer(const Config& c, const std::vector<xg::Tensor>& params) {
  namespace optim = xg::optim;
  const double lr = c.lr > 0 ? c.lr
                             : (c.optimizer == "adam" || c.optimizer == "adamw" ? 1e-3
                                : c.optimizer == "rmsprop"                      ? 1e-3
                                                                                : 0.05);
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
  if (c.schedule == "step")
    s = std::make_unique<optim::StepLR>(opt, std::max(1L, epochs / 3), 0.3);
  else if (c.schedule == "exp")
    s = std::make_unique<optim::ExponentialLR>(opt, 0.8);
  else if (c.schedule == "invtime")
    s = std::make_unique<optim::InverseTimeLR>(opt, 0.5);
  else if (c.schedule == "cosine")
    s = std::make_unique<optim::CosineAnnealingLR>(opt, std::max(1L, epochs - long(c.warmup)));
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
  for (std::size_t i = 0; i < solver.loss_history.size(); ++i)
    losses.print("{},{:.6f}\n", i + 1, solver.loss_history[i]);
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
            "set output '{0}/accuracy.png'\nset title 'accuracy per epoch'\nset xlabel 'epoch'\nset yrange [*:1]\nset "
            "key bottom right\n"
            "plot '{0}/history.csv' using 1:3 with linespoints title 'train', '' using 1:4 with linespoints title "
            "'validation'\n",
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
         fmt::format("initial loss {:.4f}, expected about {:.4f} ({})", initial, expected,
                     svm ? "9 margins of 1" : "ln 10"));

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

// A bad option found after parsing, against the data or a checkpoint. Printed as CLI11 prints its own.
struct OptionError : std::runtime_error {
  template <class... Args>
  explicit OptionError(fmt::format_string<Args...> format, Args&&... args)
      : std::runtime_error(fmt::format(format, std::forward<Args>(args)...)) {}
};

// Exit codes besides CLI11's own (100 and up for options it refuses); 1 is any other error.
constexpr int exit_bad_option = 2, exit_diverged = 3;

std::string usage_error(const std::string& message) {
  return fmt::format("train: {}\nRun with --help for more information.\n", message);
}

void add_options(CLI::App& app, Config& c) {
  using trainer::finite_number, trainer::whole_number;
  static const std::vector<std::string> optimizers{"sgd",     "momentum", "nesterov", "adagrad",
                                                   "rmsprop", "adam",     "adamw"};
  static const std::vector<std::string> schedules{"none", "step", "exp", "invtime", "cosine", "plateau"};
  constexpr long long many = 1'000'000, images = 100'000'000;
  app.add_option("--model", c.model, "softmax, svm, mlp, convnet, convnet-bn")
      ->check(CLI::IsMember(trainer::model_names()))
      ->capture_default_str();
  app.add_option("--optimizer", c.optimizer, "sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw")
      ->check(CLI::IsMember(optimizers))
      ->capture_default_str();
  app.add_option("--lr", c.lr,
                 "learning rate > 0 (default: 1e-3 for adam/adamw/rmsprop, 0.05 otherwise; "
                 "with --resume it replaces the checkpoint's)")
      ->check(trainer::positive_number());
  app.add_option("--momentum", c.momentum, "momentum in [0, 1) for the momentum and nesterov optimizers")
      ->check(finite_number(0, 1, false, true, "must be in [0, 1)", "[0,1)"))
      ->capture_default_str();
  app.add_option("--schedule", c.schedule, "none, step, exp, invtime, cosine, plateau (per epoch)")
      ->check(CLI::IsMember(schedules))
      ->capture_default_str();
  app.add_option("--warmup", c.warmup, "epochs of linear warmup before the schedule (fewer than --epochs)")
      ->check(whole_number(0, many))
      ->capture_default_str();
  app.add_option("--reg", c.reg, "L2 regularization strength (loss += reg/2 * sum w^2)")
      ->check(trainer::non_negative_number())
      ->capture_default_str();
  app.add_option("--epochs", c.epochs)->check(whole_number(1, many))->capture_default_str();
  app.add_option("--batch-size", c.batch_size)->check(whole_number(1, many))->capture_default_str();
  app.add_option("--validation", c.validation,
                 "training images held out for validation (by default at most a fifth of them)")
      ->check(whole_number(0, images))
      ->capture_default_str();
  app.add_option("--train-subset", c.train_subset, "train on only this many images (0: all)")
      ->check(whole_number(0, images));
  app.add_option("--seed", c.seed)->check(trainer::not_negative())->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "an MNIST-format directory")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--out", c.out, "where histories, plots and checkpoints go")->capture_default_str();
  app.add_option("--diagnostics", c.diagnostics,
                 "epochs after which to write per-layer activation and gradient histograms and the flow "
                 "report to <out>/diagnostics (comma separated; 0: before training)")
      ->delimiter(',')
      ->check(whole_number(0, many));
  app.add_flag("--augment", c.augment, "random horizontal flips and 2-pixel random crops");
  app.add_flag("--resume", c.resume, "continue from <out>/last.safetensors");
  app.add_flag("--sanity-checks", c.sanity_checks, "run the notes' sanity checks and exit");
  app.add_flag("--detect-anomaly", c.detect_anomaly,
               "check every op's output and every gradient for NaN/Inf and stop at the first, naming the op and line "
               "(slower)");
  app.add_flag("--distributed", c.distributed,
               "data-parallel training on MPI: run under mpirun -np N; --batch-size is the global batch, split "
               "across the ranks; rank 0 prints and writes the files (needs a build with MPI)");
  app.failure_message([](const CLI::App*, const CLI::Error& e) { return usage_error(e.what()); });
}

// Checks between options, which CLI11's per-option validators cannot see.
void check_option_pairs(const Config& c) {
  for (const std::size_t epoch : c.diagnostics)
    if (epoch > c.epochs) throw OptionError("--diagnostics {} is after the last epoch (--epochs {})", epoch, c.epochs);
  if (c.warmup > 0 && c.warmup >= c.epochs)
    throw OptionError("--warmup {} must be smaller than --epochs {} (the warmup leads into the schedule)", c.warmup,
                      c.epochs);
  if (c.momentum_given && c.optimizer != "momentum" && c.optimizer != "nesterov")
    throw OptionError("--momentum {} has no effect with --optimizer {} (only with momentum or nesterov)", c.momentum,
                      c.optimizer);
  if (fs::exists(c.out) && !fs::is_directory(c.out)) throw OptionError("--out {} is a file, not a directory", c.out);
#ifdef XGRAD_TRAIN_DISTRIBUTED
  const std::size_t world = xg::dist::world_size();
  if (c.distributed && c.batch_size % world != 0)
    throw OptionError("--batch-size {} must be a multiple of the {} ranks (it is the global batch, split across them)",
                      c.batch_size, world);
  if (c.distributed && c.sanity_checks) throw OptionError("--sanity-checks runs on one process, without --distributed");
#else
  if (c.distributed)
    throw OptionError("--distributed: this trainer was built without MPI (apt-get install libopenmpi-dev openmpi-bin, "
                      "then configure again)");
#endif
}

// Data-parallel wiring (--distributed): the model is wrapped after it is made, the Solver gets this
// rank's shard, the gradient average after every backward, and sums over the ranks. Rank 0 prints and
// writes; every rank reads a --resume checkpoint (one directory shared by all, or copies).
struct Distributed {
  bool on = false;
  bool main_process = true;
#ifdef XGRAD_TRAIN_DISTRIBUTED
  std::unique_ptr<xg::dist::DataParallel> ddp;
#endif
  void wrap(const Config& c, xg::nn::Module& model, const xg::data::Dataset& train, trainer::SolverOptions& options) {
    if (!on) return;
#ifdef XGRAD_TRAIN_DISTRIBUTED
    ddp = std::make_unique<xg::dist::DataParallel>(model);
    xg::manual_seed(c.seed + 1000 * xg::dist::rank());  // each rank its own dropout masks and augmentation
    options.batch_size = c.batch_size / xg::dist::world_size();
    options.sampler = xg::dist::shard(train, {.seed = c.seed});
    options.after_backward = [this] { ddp->synchronize(); };
    options.sum_over_ranks = [](std::vector<double>& values) {
      MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    };
    options.rank = xg::dist::rank();
    options.world_size = xg::dist::world_size();
    options.verbose = main_process;
    if (main_process)
      fmt::print("distributed: {} ranks, {} images per rank and step (global batch {}), gradients in {} buckets\n",
                 xg::dist::world_size(), options.batch_size, c.batch_size, ddp->bucket_count());
#else
    (void)c, (void)model, (void)train, (void)options;
#endif
  }
};

// The epoch <out>/last.safetensors ends, checked before the data is loaded.
std::size_t check_resume(const Config& c, const fs::path& last) {
  if (!fs::exists(last))
    throw OptionError("--resume: there is no {} to continue from (train without --resume first)", last.string());
  const xg::Metadata meta = xg::load_metadata(last.string());
  const auto epoch = meta.find("epoch"), model = meta.find("model");
  if (epoch == meta.end()) throw OptionError("--resume: {} has no epoch in its metadata", last.string());
  if (model != meta.end() && model->second != c.model)
    throw OptionError("--resume: {} holds a {} model, not --model {}", last.string(), model->second, c.model);
  const std::size_t done = std::stoul(epoch->second);
  if (c.epochs < done)
    throw OptionError("--epochs {} is fewer than the {} epochs {} has already trained", c.epochs, done, last.string());
  return done;
}

// The options that depend on how many training images the data directory has; returns the
// validation size.
std::size_t check_against_data(const Config& c, std::size_t available) {
  if (c.train_subset > available)
    throw OptionError("--train-subset {} is more than the {} training images in {}", c.train_subset, available,
                      c.data_dir);
  const std::size_t n = c.train_subset ? c.train_subset : available;
  const std::size_t validation = c.validation_given ? c.validation : std::min(c.validation, n / 5);
  if (validation >= n) {
    const std::string images = c.train_subset ? fmt::format("--train-subset {}", c.train_subset)
                                              : fmt::format("the {} training images in {}", available, c.data_dir);
    throw OptionError("--validation {} must be smaller than {} (at least one image must be left to train on)",
                      c.validation, images);
  }
  if (c.sanity_checks && n - validation < 500)
    throw OptionError("--sanity-checks needs 500 training images; {} are left of {} after the {} held out for "
                      "validation",
                      n - validation, n, validation);
  return validation;
}

// Continues from <out>/last.safetensors after `epoch` epochs: the model, the optimizer's state, the
// schedule's position, and the best validation accuracy so far (so that best.safetensors is replaced
// only by a better epoch, not by the first one after the restart).
void resume(const Config& c, Solver& solver, xg::nn::Module& model, xg::optim::Optimizer& optimizer,
            xg::optim::LRScheduler* schedule, const fs::path& out, std::size_t epoch) {
  const fs::path last = out / "last.safetensors", best = out / "best.safetensors";
  xg::load(model, optimizer, last.string());
  // The file holds the lr the run ended with: an explicit --lr must not be silently replaced by it.
  if (c.lr > 0)
    for (std::size_t g = 0; g < optimizer.group_count(); ++g) optimizer.set_lr(g, c.lr);
  solver.start_epoch = epoch;
  for (std::size_t e = 0; e < epoch && schedule; ++e) schedule->step();
  if (fs::exists(best)) {
    const xg::Metadata meta = xg::load_metadata(best.string());
    if (const auto acc = meta.find("val_acc"); acc != meta.end()) solver.best_val_acc = std::stod(acc->second);
  }
  if (main_process) fmt::print("resumed from {} after epoch {}\n", last.string(), epoch);
}

// A nan or inf loss: say where, keep the checkpoints of the last good epoch as they are.
int report_divergence(const Solver& solver, const fs::path& out) {
  const trainer::Divergence& d = *solver.diverged;
  if (!main_process) return exit_diverged;  // every rank saw the same (global) loss
  write_history(out, solver);               // loss.csv ends with the non-finite loss
  std::fflush(stdout);                      // the message comes after the output so far, also in a log of both
  const std::size_t kept = solver.epochs.empty() ? solver.start_epoch : solver.epochs.back().epoch;
  const std::string checkpoints =
      kept == 0 ? std::string("no checkpoint was written")
                : fmt::format("{} (epoch {}) and {} are kept as they were", (out / "last.safetensors").string(), kept,
                              (out / "best.safetensors").string());
  fmt::print(stderr,
             "train: the loss became {} at epoch {}, iteration {} of {} (lr {:.3g}); training stopped, {}. "
             "Try a smaller --lr (e.g. {:.3g}).\n",
             d.loss, d.epoch, d.iteration, d.iterations, d.lr, checkpoints, d.lr / 10);
  return exit_diverged;
}

// A trainer killed while it writes a checkpoint leaves the temporary file of xg::save's atomic write
// ("last.safetensors.tmp-<pid>-<n>", next to the target); those of processes that are gone are removed.
void remove_stale_temporaries(const fs::path& out) {
  if (!fs::is_directory(out)) return;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(out))
    for (const std::string prefix : {"last.safetensors.tmp-", "best.safetensors.tmp-"}) {
      const std::string name = entry.path().filename().string();
      const long pid = name.starts_with(prefix) ? std::strtol(name.c_str() + prefix.size(), nullptr, 10) : 0;
      if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) stale.push_back(entry.path());
    }
  std::error_code ignored;  // another process may have removed it first
  for (const auto& path : stale) fs::remove(path, ignored);
}

// A rule of thumb (ours; the notes give no number): a loss above 3 times the initial one has exploded, even
// while it is finite.
void warn_if_exploding(const Solver& solver, const trainer::EpochRecord& r) {
  if (solver.loss_history.empty() || !(r.loss > 3 * solver.loss_history.front())) return;
  fmt::print(stderr,
             "train: warning: epoch {}'s loss {:.4g} is more than 3 times the first iteration's ({:.4g}): "
             "training is diverging; try a smaller --lr\n",
             r.epoch, r.loss, solver.loss_history.front());
}

int run(const Config& c) {
  const auto start = std::chrono::steady_clock::now();
  check_option_pairs(c);
  const fs::path out = c.out;
  const std::size_t resume_epoch = c.resume ? check_resume(c, out / "last.safetensors") : 0;
  xg::data::Dataset full = xg::data::load_mnist_dir(c.data_dir, "train");
  const xg::data::Dataset test = xg::data::load_mnist_dir(c.data_dir, "test");
  const std::size_t validation_size = check_against_data(c, full.size());
  if (c.train_subset && c.train_subset < full.size()) full = full.subset(0, c.train_subset);
  auto [train, validation] = xg::data::train_validation_split(full, validation_size, c.seed);
  full = {};  // the split holds copies: do not keep a third 188 MB copy of the images alive while training
  // Per-channel normalization, fitted on the training split only and applied to every batch, so the
  // images stay the file's bytes (47 MB for the training set instead of 188 MB of floats).
  const xg::data::ChannelNormalize normalize(train);
  if (main_process)
    fmt::print("data: {} train, {} validation, {} test images from {}\n", train.size(), validation.size(), test.size(),
               c.data_dir);
  if (c.sanity_checks) return sanity_checks(c, normalize.transform(train.subset(0, 500))) == 0 ? 0 : 1;

  xg::manual_seed(c.seed);
  auto model = trainer::make_model(c.model);
  auto optimizer = make_optimizer(c, model->parameters());
  auto schedule = make_schedule(c, *optimizer);
  std::unique_ptr<xg::optim::ReduceLROnPlateau> plateau;
  if (c.schedule == "plateau")
    plateau = std::make_unique<
        xg::optim::ReduceLROnPlateau>(*optimizer,
                                      xg::optim::ReduceLROnPlateauOptions{.mode = xg::optim::PlateauMode::max,
                                                                          .patience = 1});
  if (main_process) {
    fmt::print("{}", model->summary({1, 1, 28, 28}));
    fs::create_directories(out);
    remove_stale_temporaries(out);
  }
  trainer::SolverOptions options{.epochs = c.epochs,
                                 .batch_size = c.batch_size,
                                 .loss = c.model == "svm" ? "svm" : "cross_entropy",
                                 .reg = c.reg,
                                 .seed = c.seed,
                                 .augment = c.augment,
                                 .preprocess = normalize,
                                 .stop_on_nonfinite_loss = true};
  Distributed distributed{.on = c.distributed, .main_process = main_process};
  distributed.wrap(c, *model, train, options);
  Solver solver(*model, *optimizer, train, validation, options);
  if (c.resume) resume(c, solver, *model, *optimizer, schedule.get(), out, resume_epoch);
  solver.on_epoch_end = [&](const trainer::EpochRecord& r) {
    const xg::Metadata meta{{"epoch", std::to_string(r.epoch)},
                            {"model", c.model},
                            {"val_acc", fmt::format("{:.6f}", r.val_acc)}};
    if (main_process) {  // the ranks hold identical models: one writes
      xg::save(*model, *optimizer, (out / "last.safetensors").string(), meta);
      if (r.val_acc >= solver.best_val_acc) xg::save(*model, *optimizer, (out / "best.safetensors").string(), meta);
    }
    if (schedule) schedule->step();
    if (plateau) plateau->step(r.val_acc);
    if (main_process) {
      write_history(out, solver);
      warn_if_exploding(solver, r);
    }
  };
  // --diagnostics (diagnostics.hpp): the same first images of the validation split every time.
  if (!c.diagnostics.empty()) {
    const xg::data::Dataset& source = validation.empty() ? train : validation;
    const xg::data::Dataset first = source.subset(0, std::min<std::size_t>(256, source.size()));
    xg::data::DataLoader loader(first, {.batch_size = 256, .shuffle = false}, normalize);
    auto probe = std::make_shared<xg::data::Batch>(loader.batch(loader.order(0), 0));
    auto at = [&c, &model, &solver, &out, probe](std::size_t epoch) {
      // Rank 0 only under --distributed: the pass is local (xg::grad starts no all-reduce).
      if (!main_process || std::find(c.diagnostics.begin(), c.diagnostics.end(), epoch) == c.diagnostics.end()) return;
      const trainer::LossFn loss = [&solver](const xg::Tensor& scores, const std::vector<std::int64_t>& labels) {
        return solver.loss(scores, labels);
      };
      trainer::write_diagnostics(*model, *probe, loss, out / "diagnostics", epoch);
    };
    if (solver.start_epoch == 0) at(0);
    solver.on_epoch_end = [at, then = std::move(solver.on_epoch_end)](const trainer::EpochRecord& r) {
      then(r);
      at(r.epoch);
    };
  }
  solver.train();
  if (solver.diverged) return report_divergence(solver, out);
  if (main_process) plot(out);
  // After a resume without a better epoch, the best parameters are only in best.safetensors.
  if (solver.best_params.empty() && fs::exists(out / "best.safetensors"))
    xg::load(*model, (out / "best.safetensors").string());
  solver.restore_best();
  const double test_acc = solver.accuracy(test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!main_process) return 0;
  fmt::print("best validation accuracy {:.2f}%\n", 100 * solver.best_val_acc);
  fmt::print("test accuracy {:.2f}% ({} images, model {}, {:.0f} s in all)\n", 100 * test_acc, test.size(), c.model,
             seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Train a classifier on Fashion-MNIST (or any MNIST-format directory) with xgrad"};
  add_options(app, c);
  CLI11_PARSE(app, argc, argv);
  c.validation_given = app.count("--validation") > 0;
  c.momentum_given = app.count("--momentum") > 0;
  xg::set_detect_anomaly(c.detect_anomaly);
#ifdef XGRAD_TRAIN_DISTRIBUTED
  if (c.distributed) {
    xg::dist::init(argc, argv);
    main_process = xg::dist::is_main_process();
  }
#endif
  try {
    return run(c);
  } catch (const OptionError& e) {  // every rank finds the same bad option: rank 0 says it
    std::fflush(stdout);
    if (main_process) fmt::print(stderr, "{}", usage_error(e.what()));
    return exit_bad_option;
  } catch (const std::exception& e) {
#ifdef XGRAD_TRAIN_DISTRIBUTED
    // Another rank may be waiting in a collective: end them all (MPI_Abort), never return alone.
    if (c.distributed && xg::dist::world_size() > 1) xg::dist::abort(fmt::format("error: {}", e.what()));
#endif
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
