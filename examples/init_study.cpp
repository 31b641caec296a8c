// Why initialization matters, the argument of the CS231n notes reproduced: "a Neural Network layer
// that has very small weights will during backpropagation compute very small gradients ... a concern
// for deep networks", "calibrating the variances with 1/sqrt(n)", and He et al.'s sqrt(2/n) "in the
// specific case of ... ReLU neurons". A 10-layer net (tanh, then ReLU) of 500 units is fed a batch of
// 1000 gaussian inputs, as in the CS231n lecture's experiment, with each initialization:
//
//   small    W = 0.01 * randn            (the notes' "small random numbers"; the lecture's 0.01)
//   xavier   W = randn / sqrt(fan_in)    (the notes' "calibrating the variances"; for these square
//                                         layers the same as Glorot's sqrt(2 / (fan_in + fan_out)))
//   kaiming  W = randn * sqrt(2 / fan_in) (He et al., the notes' recommendation for ReLU)
//   large    W = 1.0 * randn             (the other way to fail: saturation, explosion)
//
// and biases 0. The loss is sum(y * R) with R a fixed N(0, 1) matrix, so the gradient arriving at the
// last layer has std 1 and every other layer's gradient std says how much of it survives the trip down.
// An xg::nn::FlowMonitor on the net captures every layer's activations and gradients.
//
//   init_study                                  # 8 settings, 500 units, batch 1000: seconds
//   init_study --width 32 --batch 64 --out /tmp/is   # a smoke test
//
// Prints per setting one row per layer (activation mean and std, the share of saturated tanh units or
// of ReLU inputs <= 0, gradient std) and a summary; writes <out>/init_study.csv (every number printed)
// and per setting <out>/<net>_<init>.csv (histograms of each layer's activations) and .png (one panel
// per layer, with gnuplot; without it the CSVs are all).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <CLI/CLI.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "common/histograms.hpp"
#include "common/util.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;
namespace fs = std::filesystem;

namespace {

struct Config {
  std::size_t layers = 10, width = 500, batch = 1000, bins = 41;  // odd: 0 is a bin centre
  std::uint64_t seed = 0;
  std::string out = "out/init_study";
};

struct LayerStats {
  double act_mean = 0, act_std = 0, grad_std = 0, share = 0;  // share: saturated (tanh) or x <= 0 (relu)
};

struct Setting {
  std::string net, init, formula;
  std::vector<LayerStats> layers;
};

void initialize(nn::Linear& layer, const std::string& init) {
  if (init == "small")
    nn::init::small_random_(layer.weight, 0.01);
  else if (init == "xavier")
    nn::init::xavier_normal_(layer.weight);  // std sqrt(2 / (n + n)) = 1 / sqrt(n) for n -> n layers
  else if (init == "kaiming")
    nn::init::kaiming_normal_(layer.weight, 0, nn::init::FanMode::fan_in, nn::init::Nonlinearity::relu);
  else
    nn::init::normal_(layer.weight, 0.0, 1.0);
  nn::init::zeros_(layer.bias);
}

double stddev(const xg::Tensor& t) {
  const auto& v = t.value<float>();
  double mean = 0, sq = 0;
  for (float x : v) mean += x;
  mean /= double(v.size());
  for (float x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / double(v.size()));
}
double mean_of(const xg::Tensor& t) {
  double sum = 0;
  for (float x : t.value<float>()) sum += x;
  return sum / double(t.numel());
}

Setting run(const Config& c, const std::string& net_kind, const std::string& init) {
  xg::manual_seed(c.seed);  // the same inputs and R for every setting; the weights differ by scale only
  const xg::Tensor x = xg::randn({c.batch, c.width});
  const xg::Tensor r = xg::randn({c.batch, c.width});
  nn::Sequential net;
  for (std::size_t l = 0; l < c.layers; ++l) {
    nn::Linear layer(c.width, c.width);
    initialize(layer, init);
    net.push_back(std::move(layer));
    if (net_kind == "tanh")
      net.push_back(nn::Tanh());
    else
      net.push_back(nn::ReLU());
  }
  nn::FlowMonitor monitor(net);
  xg::sum(net(x) * r).backward();

  const std::map<std::string, std::string> formulas{{"small", "W = 0.01 randn"},
                                                    {"xavier", "W = randn / sqrt(n)"},
                                                    {"kaiming", "W = randn sqrt(2 / n)"},
                                                    {"large", "W = 1.0 randn"}};
  Setting s{net_kind, init, formulas.at(init), {}};
  const nn::FlowReport report = monitor.report();
  const auto& captures = monitor.captures();
  for (std::size_t i = 1; i < captures.size(); i += 2) {  // the activation layers: 1, 3, 5, ...
    const nn::LayerCapture& act = captures[i];
    const nn::LayerFlow& flow = report.layers[i];
    s.layers.push_back({mean_of(act.output), stddev(act.output), stddev(act.grad_output),
                        net_kind == "tanh" ? flow.saturated.value_or(0) : flow.zero_local_grad.value_or(0)});
  }

  // Histograms of every layer's activations on one x range per setting, so that shrinking and
  // growing show as a narrowing or widening of the bars: tanh on [-1, 1], ReLU on [0, largest value].
  double hi = 1;
  if (net_kind == "relu") {
    hi = 0;
    for (std::size_t i = 1; i < captures.size(); i += 2)
      hi = std::max(hi, examples::value_range(captures[i].output).second);
  }
  std::vector<examples::Histogram> hists;
  for (std::size_t i = 1, l = 1; i < captures.size(); i += 2, ++l)
    hists.push_back(examples::histogram(captures[i].output, c.bins, net_kind == "tanh" ? -1.0 : 0.0, hi,
                                        fmt::format("layer {}: std {:.2g}", l, s.layers[l - 1].act_std),
                                        /*skip_zeros=*/net_kind == "relu"));
  const std::string stem = (fs::path(c.out) / fmt::format("{}_{}", net_kind, init)).string();
  examples::write_histograms_csv(stem + ".csv", hists);
  const std::string title =
      fmt::format("{} net, {} layers of {}, {}: activations per layer (share of values per bin{})", net_kind, c.layers,
                  c.width, s.formula, net_kind == "relu" ? "; the exact zeros left out" : "");
  examples::plot_histograms(stem + ".csv", stem + ".png", title, hists, 5);
  return s;
}

void print_setting(const Setting& s) {
  fmt::print("{} net, {} (biases 0):\n", s.net, s.formula);
  fmt::print("  {:>5}  {:>10}  {:>10}  {:>10}  {:>10}\n", "layer", "act mean", "act std",
             s.net == "tanh" ? "|y| > .99" : "x <= 0", "grad std");
  for (std::size_t l = 0; l < s.layers.size(); ++l) {
    const LayerStats& r = s.layers[l];
    fmt::print("  {:>5}  {:>10.3e}  {:>10.3e}  {:>9.1f}%  {:>10.3e}\n", l + 1, r.act_mean, r.act_std, 100 * r.share,
               r.grad_std);
  }
  fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Per-layer activations and gradients of a deep tanh and ReLU net under four initializations"};
  app.add_option("--layers", c.layers, "hidden layers (each Linear + nonlinearity)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100}))
      ->capture_default_str();
  app.add_option("--width", c.width, "units per layer (and input features)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
      ->capture_default_str();
  app.add_option("--batch", c.batch, "gaussian input examples")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("--bins", c.bins, "histogram bins")
      ->check(CLI::Range(std::size_t{2}, std::size_t{1000}))
      ->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--out", c.out, "directory of the CSVs and PNGs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    examples::Stopwatch total;
    fs::create_directories(c.out);
    fmt::print("{} layers of {} units, batch of {} N(0, 1) inputs; loss sum(y * R), R ~ N(0, 1), so dL/dy has std 1 "
               "at the top\n\n",
               c.layers, c.width, c.batch);
    std::vector<Setting> settings;
    for (const std::string net : {"tanh", "relu"})
      for (const std::string init : {"small", "xavier", "kaiming", "large"}) {
        settings.push_back(run(c, net, init));
        print_setting(settings.back());
      }

    fmt::print("summary: activation std at layers 1 and {0}, gradient std at layers {0} and 1\n", c.layers);
    fmt::print("  {:<5} {:<22}  {:>10} {:>10}  {:>10} {:>10}\n", "net", "init", "act 1",
               fmt::format("act {}", c.layers), fmt::format("grad {}", c.layers), "grad 1");
    for (const Setting& s : settings)
      fmt::print("  {:<5} {:<22}  {:>10.3e} {:>10.3e}  {:>10.3e} {:>10.3e}\n", s.net, s.formula,
                 s.layers.front().act_std, s.layers.back().act_std, s.layers.back().grad_std,
                 s.layers.front().grad_std);

    const std::string csv = (fs::path(c.out) / "init_study.csv").string();
    std::ofstream f(csv);
    f << "net,init,layer,act_mean,act_std,share,grad_std\n";
    for (const Setting& s : settings)
      for (std::size_t l = 0; l < s.layers.size(); ++l)
        f << fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g}\n", s.net, s.init, l + 1, s.layers[l].act_mean,
                         s.layers[l].act_std, s.layers[l].share, s.layers[l].grad_std);
    fmt::print("\nper layer: {} (share: tanh |y| > 0.99, relu x <= 0); histograms: {}/<net>_<init>.csv and .png\n", csv,
               c.out);
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
