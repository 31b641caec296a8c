// First-layer ConvNet filters, which the CS231n notes list among what to monitor for ConvNets: the
// weights of the first convolution, which sees pixels directly, are smooth and structured (edge and
// blob detectors) in a well-trained net and noisy in a badly trained one.
//
//   conv_filters                                      # trains the small ConvNet 3 epochs: under 1 min
//   conv_filters --checkpoint out/best.safetensors    # or the trainer's checkpoint (model + optimizer)
//   conv_filters --train 1000 --test 500 --out /tmp/filters   # a smoke test
//
// The model is the trainer's "convnet" (conv 3x3 16 - relu - pool - conv 3x3 32 - relu - pool -
// linear 128 - linear 10) or "convnet-bn". Prints the test accuracy, each of the 16 3x3 filters
// with what it most resembles (after removing its mean: vertical, horizontal or diagonal edge, or
// centre-surround), and writes
//   <out>/filters.png      the 16 filters, 3x3 upscaled to 48x48, blue negative - white 0 - red
//                          positive on one scale for all (row 1 at initialization when trained
//                          here, row 2 trained);
//   <out>/activations.png  for a few test images (first column), the 16 feature maps of the first
//                          convolution after its ReLU, each min-max scaled.
#include <cmath>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>
#include <xtensor/xnorm.hpp>

#include "common/image_grid.hpp"
#include "common/util.hpp"
#include "train/models.hpp"
#include "train/solver.hpp"

namespace xg = xgrad;
namespace fs = std::filesystem;
using examples::Stopwatch;

namespace {

// The first convolution of a Sequential model.
xg::nn::Conv2d& first_conv(xg::nn::Sequential& model) {
  for (std::size_t i = 0; i < model.size(); ++i)
    if (auto* conv = dynamic_cast<xg::nn::Conv2d*>(&model[i])) return *conv;
  throw xg::Error("the model has no Conv2d layer");
}

// Filters [out, 1, KH, KW] as 2-D tiles.
std::vector<xt::xarray<float>> filter_tiles(const xt::xarray<float>& w) {
  const std::size_t n = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  std::vector<xt::xarray<float>> tiles;
  for (std::size_t k = 0; k < n; ++k) {
    xt::xarray<float> t = xt::xarray<float>::from_shape({kh, kw});
    std::copy(w.data() + k * w.shape()[1] * kh * kw, w.data() + k * w.shape()[1] * kh * kw + kh * kw, t.data());
    tiles.push_back(std::move(t));
  }
  return tiles;
}

struct Resemblance {
  double mean_share = 0;   // share of the filter's energy in its mean (the smoothing part)
  std::string name = "-";  // the template its zero-mean part is closest to
  double cos = 0;          // |cosine similarity| with it (a negated edge is the same edge)
  bool inverted = false;
};

// What a 3x3 filter's zero-mean part most resembles, by cosine similarity with a few templates.
Resemblance resemblance(const xt::xarray<float>& f) {
  struct Named {
    const char* name;
    std::array<double, 9> w;
  };
  static const std::array<Named, 5> templates{{
      {"vertical edge", {-1, 0, 1, -2, 0, 2, -1, 0, 1}},
      {"horizontal edge", {-1, -2, -1, 0, 0, 0, 1, 2, 1}},
      {"diagonal edge /", {-2, -1, 0, -1, 0, 1, 0, 1, 2}},
      {"diagonal edge \\", {0, 1, 2, -1, 0, 1, -2, -1, 0}},
      {"centre-surround", {-1, -1, -1, -1, 8, -1, -1, -1, -1}},
  }};
  double mean = 0, total = 0;
  for (float v : f) mean += v / 9.0, total += double(v) * v;
  std::array<double, 9> z;
  double zz = 0;
  for (std::size_t i = 0; i < 9; ++i) z[i] = f.data()[i] - mean, zz += z[i] * z[i];
  Resemblance r;
  r.mean_share = total > 0 ? 9 * mean * mean / total : 0;
  for (const auto& t : templates) {
    double dot = 0, tt = 0;
    for (std::size_t i = 0; i < 9; ++i) dot += z[i] * t.w[i], tt += t.w[i] * t.w[i];
    const double cos = zz > 0 ? dot / std::sqrt(zz * tt) : 0;
    if (std::abs(cos) > r.cos) r.cos = std::abs(cos), r.name = t.name, r.inverted = cos < 0;
  }
  return r;
}

double mean_resemblance(const std::vector<xt::xarray<float>>& filters) {
  double s = 0;
  for (const auto& f : filters) s += resemblance(f).cos;
  return s / double(filters.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "convnet", checkpoint, data_dir = xg::data::default_mnist_dir, out = "out/filters";
  std::size_t n_train = 0, validation_count = 5000, n_test = 0, epochs = 3, batch_size = 64, samples = 4;
  double lr = 1e-3;
  std::uint64_t seed = 0;
  CLI::App app{"Train (or load) the small ConvNet and draw its first-layer filters and feature maps"};
  app.add_option("--model", model_name, "convnet or convnet-bn")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "load this trainer checkpoint instead of training");
  app.add_option("--train", n_train, "training images (0: all but the validation set)")->capture_default_str();
  app.add_option("--validation", validation_count, "training images held out (as the trainer does)")
      ->capture_default_str();
  app.add_option("--test", n_test, "test images (0: all 10000)")->capture_default_str();
  app.add_option("--epochs", epochs)->capture_default_str();
  app.add_option("--batch-size", batch_size)->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate")->capture_default_str();
  app.add_option("--samples", samples, "test images whose feature maps are drawn")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--data-dir", data_dir, "an MNIST-format directory")->capture_default_str();
  app.add_option("--out", out, "directory of the PNGs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    if (model_name != "convnet" && model_name != "convnet-bn") throw xg::Error("--model must be convnet or convnet-bn");
    // The trainer's data preparation (same split and normalization), so its checkpoints see the
    // inputs they were trained on.
    const auto full = xg::data::load_mnist_dir(data_dir, "train");
    auto [train, validation] =
        xg::data::train_validation_split(full, std::min(validation_count, full.size() / 5), seed);
    const xg::data::ChannelNormalize normalize(train);
    train = examples::first(normalize.transform(std::move(train)), n_train);
    validation = normalize.transform(std::move(validation));
    const auto test = normalize.transform(examples::first(xg::data::load_mnist_dir(data_dir, "test"), n_test));

    xg::manual_seed(seed);
    auto model = trainer::make_model(model_name);
    auto& conv = first_conv(*model);
    const xt::xarray<float> initial = conv.weight.value<float>();
    if (!checkpoint.empty()) {
      xg::load(*model, checkpoint);  // a model + optimizer checkpoint: the optimizer part is ignored
      fmt::print("loaded {} from {}\n", model_name, checkpoint);
    } else {
      fmt::print("training {} for {} epoch(s) on {} images (Adam, lr {})\n", model_name, epochs, train.size(), lr);
      xg::optim::Adam adam(model->parameters(), {.lr = lr});
      trainer::Solver solver(*model, adam, train, validation,
                             {.epochs = epochs, .batch_size = batch_size, .accuracy_samples = 2000, .seed = seed});
      solver.train();
      solver.restore_best();
    }
    fmt::print("test accuracy {:.2f}% ({} images)\n\n", 100 * examples::accuracy(*model, test), test.size());

    const xt::xarray<float>& w = conv.weight.value<float>();  // [16, 1, 3, 3]
    if (w.shape()[1] != 1) throw xg::Error("expected a first convolution over 1 channel");
    const auto tiles = filter_tiles(w);
    fmt::print("first-layer filters {} (weights; each row of a filter on one line):\n", xg::shape_str(w.shape()));
    for (std::size_t k = 0; k < tiles.size(); ++k) {
      const auto& t = tiles[k];
      std::string rows;
      for (std::size_t i = 0; i < t.shape()[0]; ++i) {
        rows += i ? " | " : "";
        for (std::size_t j = 0; j < t.shape()[1]; ++j)
          rows += fmt::format("{:+.2f}{}", t(i, j), j + 1 < t.shape()[1] ? " " : "");
      }
      const Resemblance r = resemblance(t);
      fmt::print("  {:>2}: {}   mean part {:3.0f}%  {:<16} |cos| {:.2f}{}\n", k + 1, rows, 100 * r.mean_share, r.name,
                 r.cos, r.inverted && r.name == "centre-surround" ? " (dark centre)" : "");
    }
    // Against chance: random filters (the initialization) also resemble some template a little.
    const auto initial_tiles = filter_tiles(initial);
    double moved = 0;
    for (std::size_t k = 0; k < tiles.size(); ++k)
      moved += xt::norm_l2(tiles[k] - initial_tiles[k])() / xt::norm_l2(initial_tiles[k])() / double(tiles.size());
    fmt::print("  (mean part: share of the filter's energy in its average, a blur/brightness component; the rest is\n"
               "   matched to Sobel-like edges and a centre-surround by |cosine|)\n");
    fmt::print("mean best |cos|: {:.2f} trained vs {:.2f} for the random initialization{}; "
               "mean |W - W0| / |W0| = {:.2f}\n",
               mean_resemblance(tiles), mean_resemblance(initial_tiles),
               checkpoint.empty() ? "" : " (the trainer's own if it ran with the same --seed)", moved);

    fs::create_directories(out);
    std::vector<xt::xarray<float>> grid;
    if (checkpoint.empty())
      for (auto& t : filter_tiles(initial)) grid.push_back(std::move(t));
    for (const auto& t : tiles) grid.push_back(t);
    const std::string filters_png = (fs::path(out) / "filters.png").string();
    examples::write_image_grid(filters_png, grid,
                               {.cols = 16,
                                .scale = 20,
                                .padding = 4,
                                .scaling = examples::Scaling::diverging,
                                .background = 64});
    fmt::print("\nfilters: {} ({}16 filters, blue < 0 < red, one scale for all)\n", filters_png,
               checkpoint.empty() ? "row 1 at initialization, row 2 trained; " : "");

    // Feature maps: the layers up to and including the first ReLU.
    model->eval();
    xg::NoGradGuard no_grad;
    const auto some = examples::first(test, samples);
    xg::Tensor maps = xg::Tensor(xt::xarray<float>(some.to_float().images()));
    for (std::size_t i = 0; i < model->size(); ++i) {
      maps = (*model)[i](maps);
      if (dynamic_cast<xg::nn::ReLU*>(&(*model)[i])) break;
    }
    const auto& m = maps.value<float>();  // [S, 16, 28, 28]
    const std::size_t channels = m.shape()[1], h = m.shape()[2], wd = m.shape()[3];
    std::vector<xt::xarray<float>> act;
    for (std::size_t s = 0; s < some.size(); ++s) {
      xt::xarray<float> image = xt::xarray<float>::from_shape({28, 28});
      std::copy(some.data(s), some.data(s) + 784, image.data());
      act.push_back(std::move(image));
      for (std::size_t c = 0; c < channels; ++c) {
        xt::xarray<float> t = xt::xarray<float>::from_shape({h, wd});
        std::copy(m.data() + (s * channels + c) * h * wd, m.data() + (s * channels + c + 1) * h * wd, t.data());
        act.push_back(std::move(t));
      }
    }
    const std::string act_png = (fs::path(out) / "activations.png").string();
    examples::write_image_grid(act_png, act, {.cols = channels + 1, .scale = 2, .padding = 3});
    fmt::print("feature maps: {} (one row per test image: the image, then the {} maps after the first ReLU;\n"
               "  classes {})\n",
               act_png, channels, [&] {
                 std::string s;
                 for (std::size_t i = 0; i < some.size(); ++i)
                   s += fmt::format("{}{}", i ? ", " : "", examples::fashion_classes[some.labels()[i]]);
                 return s;
               }());
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
