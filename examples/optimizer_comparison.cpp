// The CS231n notes' parameter updates side by side: the same MLP (784-256-128-10, the trainer's
// "mlp") trained from the same initial weights on the same batch order with SGD, SGD + momentum,
// Nesterov momentum, AdaGrad, RMSProp and Adam.
//
//   optimizer_comparison                                   # 3 epochs on 55000 images: about 15 s
//   optimizer_comparison --train 2000 --epochs 1 --out /tmp/opt   # a smoke test
//
// Prints per optimizer its learning rate, the training loss early on and at the end, the
// update/weight ratio on the first batch (the notes' ~1e-3 heuristic), validation accuracy and
// time. Writes <out>/optimizers.csv (the loss of every iteration and an exponential moving average
// of it, per optimizer) and <out>/optimizers.png, the smoothed loss curves in one gnuplot plot (if
// gnuplot is installed; otherwise it says so and the CSV is all).
//
// Each optimizer runs with a learning rate usual for it (--lr-<name> changes one), those of the
// CS231n assignment where it has one: SGD and momentum share lr 1e-2, so momentum's speed-up shows.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "common/util.hpp"
#include "train/models.hpp"
#include "train/solver.hpp"

namespace xg = xgrad;
namespace fs = std::filesystem;
using examples::Stopwatch;

namespace {

struct Method {
  std::string name;
  double lr;
  std::string setting;  // how it is configured, for the table
};

std::unique_ptr<xg::optim::Optimizer> make_optimizer(const Method& m, const std::vector<xg::Tensor>& params,
                                                     double momentum) {
  namespace optim = xg::optim;
  if (m.name == "sgd") return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = m.lr});
  if (m.name == "momentum")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = m.lr, .momentum = momentum});
  if (m.name == "nesterov")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = m.lr, .momentum = momentum, .nesterov = true});
  if (m.name == "adagrad") return std::make_unique<optim::AdaGrad>(params, optim::AdaGradOptions{.lr = m.lr});
  if (m.name == "rmsprop") return std::make_unique<optim::RMSProp>(params, optim::RMSPropOptions{.lr = m.lr});
  return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = m.lr});
}

// Exponential moving average with bias correction (as Adam's), so the first values are not pulled to 0.
std::vector<double> smooth(const std::vector<double>& x, double beta) {
  std::vector<double> out(x.size());
  double avg = 0, weight = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    avg = beta * avg + (1 - beta) * x[i];
    weight = beta * weight + (1 - beta);
    out[i] = avg / weight;
  }
  return out;
}

double mean_range(const std::vector<double>& x, std::size_t begin, std::size_t end) {
  end = std::min(end, x.size());
  if (begin >= end) return NAN;
  double s = 0;
  for (std::size_t i = begin; i < end; ++i) s += x[i];
  return s / double(end - begin);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_train = 0, validation_count = 5000, epochs = 3, batch_size = 64;
  double momentum = 0.9, beta = 0.98;
  std::uint64_t seed = 0;
  std::string data_dir = xg::data::default_mnist_dir, out = "out/optimizers";
  std::vector<Method> methods{{"sgd", 0.01, "vanilla"},        {"momentum", 0.01, "mu 0.9"},
                              {"nesterov", 0.01, "mu 0.9"},    {"adagrad", 0.01, "eps 1e-10"},
                              {"rmsprop", 1e-3, "decay 0.99"}, {"adam", 1e-3, "betas 0.9 0.999"}};
  CLI::App app{"SGD, momentum, Nesterov, AdaGrad, RMSProp and Adam on one MLP: loss curves"};
  app.add_option("--train", n_train, "training images (0: all but the validation set)")->capture_default_str();
  app.add_option("--validation", validation_count, "training images held out for validation")->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--batch-size", batch_size)->capture_default_str();
  app.add_option("--momentum", momentum, "mu of momentum and Nesterov")->capture_default_str();
  app.add_option("--smoothing", beta, "moving-average factor of the plotted curves")->capture_default_str();
  for (auto& m : methods) app.add_option("--lr-" + m.name, m.lr, "learning rate of " + m.name)->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--data-dir", data_dir, "an MNIST-format directory")->capture_default_str();
  app.add_option("--out", out, "directory of the CSV and the plot")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    for (auto& m : methods)
      if (m.name == "momentum" || m.name == "nesterov") m.setting = fmt::format("mu {}", momentum);
    const auto full = xg::data::load_mnist_dir(data_dir, "train");
    auto [train, validation] =
        xg::data::train_validation_split(full, std::min(validation_count, full.size() / 5), seed);
    train = examples::first(train, n_train);
    const xg::data::ChannelNormalize normalize(train);
    train = normalize.transform(std::move(train));
    validation = normalize.transform(std::move(validation));
    fmt::print("data: {} train, {} validation images; model: the trainer's mlp (784-256-128-10); {} epochs of batch "
               "{}\n",
               train.size(), validation.size(), epochs, batch_size);

    // One initialization, copied into every run.
    xg::manual_seed(seed);
    const auto initial = trainer::make_model("mlp");
    const auto initial_params = initial->named_parameters();

    std::vector<std::vector<double>> curves;
    fmt::print("\n  {:<9} {:>8}  {:<16} {:>11} {:>11}  {:>15}  {:>8}  {:>6}\n", "optimizer", "lr", "setting",
               "loss 1-100", "last epoch", "update/weight", "val acc", "time");
    for (const auto& m : methods) {
      Stopwatch sw;
      auto model = trainer::make_model("mlp");
      {
        xg::NoGradGuard no_grad;
        auto params = model->named_parameters();
        for (std::size_t i = 0; i < params.size(); ++i)
          params[i].second.mutable_value<float>() = initial_params[i].second.value<float>();
      }
      auto optimizer = make_optimizer(m, model->parameters(), momentum);
      trainer::Solver solver(*model, *optimizer, train, validation,
                             {.epochs = epochs,
                              .batch_size = batch_size,
                              .accuracy_samples = 2000,
                              .seed = seed,
                              .verbose = false});
      solver.train();
      // The update/weight ratio of the weight matrices (biases start near 0, so theirs mislead).
      auto ratio_of = [](const trainer::EpochRecord& e) {
        double ratio = 0;
        for (auto& [name, r] : e.update_ratio)
          if (name.ends_with("weight")) ratio = std::max(ratio, r);
        return ratio;
      };
      const std::size_t per_epoch = solver.loss_history.size() / epochs;
      const double last =
          mean_range(solver.loss_history, solver.loss_history.size() - per_epoch, solver.loss_history.size());
      fmt::print("  {:<9} {:>8.3g}  {:<16} {:>11.4f} {:>11.4f}  {:>7.1e} {:>7.1e}  {:>7.2f}%  {:>5.1f}s\n", m.name,
                 m.lr, m.setting, mean_range(solver.loss_history, 0, 100), last, ratio_of(solver.epochs.front()),
                 ratio_of(solver.epochs.back()), 100 * solver.epochs.back().val_acc, sw.seconds());
      std::fflush(stdout);
      curves.push_back(solver.loss_history);
    }
    fmt::print("  (loss 1-100: mean training loss of the first 100 iterations; last epoch: its mean training loss;\n"
               "   update/weight: the largest |update| / |weight| of the weight matrices on the first batch of the\n"
               "   first and of the last epoch; the notes call ~1e-3 healthy)\n");

    // The CSV: raw and smoothed loss of every iteration, one column each per optimizer.
    fs::create_directories(out);
    const std::string csv = (fs::path(out) / "optimizers.csv").string();
    std::vector<std::vector<double>> smoothed;
    for (const auto& c : curves) smoothed.push_back(smooth(c, beta));
    {
      std::ofstream f(csv);
      f << "iteration";
      for (const auto& m : methods) f << "," << m.name;
      for (const auto& m : methods) f << "," << m.name << "_smooth";
      f << "\n";
      for (std::size_t i = 0; i < curves[0].size(); ++i) {
        f << i + 1;
        for (const auto& c : curves) f << fmt::format(",{:.6f}", c[i]);
        for (const auto& c : smoothed) f << fmt::format(",{:.6f}", c[i]);
        f << "\n";
      }
    }
    fmt::print("\nloss curves: {} ({} iterations; *_smooth: moving average, factor {})\n", csv, curves[0].size(), beta);

    const std::string png = (fs::path(out) / "optimizers.png").string();
    std::string script = fmt::
        format("set terminal pngcairo size 1000,600 noenhanced\nset output '{}'\nset datafile separator ','\n"
               "set title 'Training loss (moving average, factor {}), {}: same init and batch order'\n"
               "set xlabel 'iteration (batch of {}), log scale'\nset ylabel 'cross-entropy loss'\nset logscale xy\n"
               "set xrange [1:{}]\nset grid\n"
               "set key top right\nplot ",
               png, beta, "784-256-128-10 MLP on Fashion-MNIST", batch_size, curves[0].size());
    for (std::size_t k = 0; k < methods.size(); ++k)
      script += fmt::format("{}'{}' using 1:{} with lines lw 2 title '{} (lr {})'", k ? ", " : "", csv,
                            2 + methods.size() + k, methods[k].name, methods[k].lr);
    script += "\n";
    if (examples::run_gnuplot((fs::path(out) / "optimizers.gp").string(), script)) fmt::print("plot: {}\n", png);
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
