// Linear classifiers on raw pixels, the CS231n notes' second step: a multiclass SVM and a softmax
// classifier, both scores = W x + b on mean-subtracted pixels, with L2 regularization
//     L = data loss + reg/2 * sum(W^2)      (the notes' 1/2 lambda w^2, gradient reg * W; the bias is not regularized)
// trained by minibatch SGD (xg::optim::SGD), the learning rate and regularization strength chosen
// on a validation set.
//
//   linear_classifiers                                # 55000 train / 5000 validation, 3 x 3 grid: about 15 s
//   linear_classifiers --train 2000 --epochs 1 --lr 0.1 --reg 2e-3    # a smoke test
//
// Prints, for each loss: the initial loss with small random weights (the notes' sanity check:
// ln 10 = 2.303 for softmax, C - 1 = 9 for the SVM with delta = 1), a table of the grid, the best
// setting's validation and test accuracy, and how "satisfied" each loss is with the validation
// set (the SVM: examples with zero loss, all margins met; softmax: the mean probability of the
// correct class, which never reaches 1). Writes the learned weights, one 28x28 template per class,
// as a PNG grid: the first row the SVM's, the second the softmax's (columns in class order).
#include <cmath>
#include <limits>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "common/image_grid.hpp"
#include "common/util.hpp"

namespace xg = xgrad;
using examples::Stopwatch;

namespace {

struct Config {
  std::size_t train = 0, validation = 5000, test = 0, epochs = 10, batch_size = 200;
  std::vector<double> lrs{0.03, 0.1, 0.3}, regs{2e-4, 2e-3, 2e-2};
  double momentum = 0.0;
  std::uint64_t seed = 0;
  std::string data_dir = xg::data::default_mnist_dir, png = "out/linear_templates.png";
};

struct Result {
  std::string loss;
  double lr = 0, reg = 0, initial_loss = 0, final_loss = 0, train_acc = 0, val_acc = 0, seconds = 0;
  std::shared_ptr<xg::nn::Linear> model;
};

xg::Tensor data_loss(const std::string& loss, const xg::Tensor& scores, const std::vector<std::int64_t>& labels) {
  return loss == "svm" ? xg::svm_loss(scores, labels, /*delta=*/1.0) : xg::cross_entropy(scores, labels);
}

Result train_one(const Config& c, const std::string& loss, double lr, double reg, const xg::data::Dataset& train,
                 const xg::data::Dataset& validation) {
  Stopwatch sw;
  Result r;
  r.loss = loss, r.lr = lr, r.reg = reg;
  xg::manual_seed(c.seed);  // every setting starts from the same weights and sees the same batches
  auto model = std::make_shared<xg::nn::Linear>(train.example_numel(), 10);
  xg::nn::init::small_random_(model->weight, 1e-3);  // W = 0.001 * randn: small, so the initial loss is ~ln 10
  xg::nn::init::zeros_(model->bias);
  xg::optim::SGD sgd(model->parameters(), {.lr = lr, .momentum = c.momentum});
  xg::data::DataLoader loader(train, {.batch_size = c.batch_size, .shuffle = true, .seed = c.seed});
  {
    xg::NoGradGuard no_grad;
    auto first_batch = loader.begin();  // keep the iterator: it owns the batch
    const auto& b = *first_batch;
    r.initial_loss = data_loss(loss, (*model)(b.images), b.labels).item();
  }
  loader.set_epoch(0);
  for (std::size_t epoch = 0; epoch < c.epochs; ++epoch) {
    double sum = 0;
    std::size_t seen = 0;
    for (auto& batch : loader) {
      sgd.zero_grad();
      const xg::Tensor l =
          data_loss(loss, (*model)(batch.images), batch.labels) + reg * xg::l2_penalty({model->weight}, /*half=*/true);
      l.backward();
      sgd.step();
      sum += l.item() * double(batch.size());
      seen += batch.size();
    }
    r.final_loss = sum / double(seen);
  }
  r.train_acc = examples::accuracy(*model, examples::first(train, 10000));
  r.val_acc = examples::accuracy(*model, validation);
  r.model = model;
  r.seconds = sw.seconds();
  return r;
}

// The learned weights as ten 28x28 tiles, min-max scaled over the ten together, so their magnitudes compare.
std::vector<xt::xarray<float>> templates(const xg::nn::Linear& model) {
  const auto& w = model.weight.value<float>();  // [10, 784]
  const float lo = *std::min_element(w.begin(), w.end()), hi = *std::max_element(w.begin(), w.end());
  std::vector<xt::xarray<float>> tiles;
  for (std::size_t k = 0; k < w.shape()[0]; ++k) {
    xt::xarray<float> t = xt::xarray<float>::from_shape({28, 28});
    for (std::size_t i = 0; i < 784; ++i) t.data()[i] = (w.data()[k * 784 + i] - lo) / (hi - lo);
    tiles.push_back(std::move(t));
  }
  return tiles;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Multiclass SVM vs softmax on raw Fashion-MNIST pixels, trained by minibatch SGD"};
  app.add_option("--train", c.train, "training images (0: all but the validation set)")->capture_default_str();
  app.add_option("--validation", c.validation, "training images held out for validation")->capture_default_str();
  app.add_option("--test", c.test, "test images (0: all 10000)")->capture_default_str();
  app.add_option("--epochs", c.epochs)->capture_default_str();
  app.add_option("--batch-size", c.batch_size)->capture_default_str();
  app.add_option("--lr", c.lrs, "learning rates to try (comma separated)")->delimiter(',')->capture_default_str();
  app.add_option("--reg", c.regs, "regularization strengths to try (comma separated; loss += reg/2 * sum W^2)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--momentum", c.momentum, "SGD momentum (the notes' vanilla SGD: 0)")->capture_default_str();
  app.add_option("--seed", c.seed)->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "an MNIST-format directory")->capture_default_str();
  app.add_option("--png", c.png, "where the weight templates go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    const auto full = xg::data::load_mnist_dir(c.data_dir, "train");
    auto [train, validation] = xg::data::train_validation_split(full, std::min(c.validation, full.size() / 5), c.seed);
    train = examples::first(train, c.train);
    auto test = examples::first(xg::data::load_mnist_dir(c.data_dir, "test"), c.test);
    // Mean subtraction, the mean image of the training split only; then rows of 784 values.
    const xg::data::MeanImage mean(train);
    auto rows = [&](const xg::data::Dataset& d) {
      xt::xarray<float> x = mean.transform(d).images();
      x.reshape({d.size(), d.example_numel()});
      return xg::data::Dataset(std::move(x), d.labels());
    };
    train = rows(train), validation = rows(validation), test = rows(test);
    fmt::print("data: {} train, {} validation, {} test images; mean image subtracted (fitted on train)\n", train.size(),
               validation.size(), test.size());
    fmt::print("model: scores = W x + b, W [10, 784]; SGD lr x reg grid, {} epochs of batch {}, momentum {}\n\n",
               c.epochs, c.batch_size, c.momentum);

    std::vector<Result> best;
    for (const std::string loss : {"svm", "softmax"}) {
      fmt::print("{}:\n", loss == "svm" ? "multiclass SVM (hinge loss, delta = 1)" : "softmax (cross-entropy)");
      fmt::print("  {:>8} {:>8}  {:>10} {:>10}  {:>9} {:>9}  {:>6}\n", "lr", "reg", "init loss", "final loss",
                 "train acc", "val acc", "time");
      Result top;
      top.val_acc = -1;
      for (double lr : c.lrs)
        for (double reg : c.regs) {
          Result r = train_one(c, loss, lr, reg, train, validation);
          const bool finite = std::isfinite(r.final_loss);
          fmt::print("  {:>8.3g} {:>8.3g}  {:>10.4f} {:>10}  {:>8.2f}% {:>8.2f}%  {:>5.1f}s\n", lr, reg, r.initial_loss,
                     finite ? fmt::format("{:.4f}", r.final_loss) : "diverged", 100 * r.train_acc, 100 * r.val_acc,
                     r.seconds);
          if (finite && r.val_acc > top.val_acc) top = r;
        }
      if (!top.model) throw xg::Error("{}: every setting diverged; try smaller --lr", loss);
      fmt::print("  initial loss {:.4f}: expected {} with small weights (the notes' sanity check)\n", top.initial_loss,
                 loss == "svm" ? "C - 1 = 9 (nine margins of delta = 1)" : "ln 10 = 2.3026 (p = 1/10 per class)");
      fmt::print("  best: lr {:.3g}, reg {:.3g}: validation {:.2f}%\n\n", top.lr, top.reg, 100 * top.val_acc);
      best.push_back(top);
    }

    fmt::print("on the test set ({} images):\n", test.size());
    for (auto& r : best) {
      const double acc = examples::accuracy(*r.model, test);
      // How satisfied each loss is with the validation set.
      xg::NoGradGuard no_grad;
      r.model->eval();
      const xg::Tensor scores = (*r.model)(examples::flat_rows(validation));
      std::string satisfied;
      if (r.loss == "svm") {
        const auto& s = scores.value<float>();
        std::size_t zero = 0;
        for (std::size_t i = 0; i < validation.size(); ++i) {
          const float correct = s(i, std::size_t(validation.labels()[i]));
          bool met = true;
          for (std::size_t j = 0; j < 10; ++j)
            if (j != std::size_t(validation.labels()[i]) && s(i, j) - correct + 1.0f > 0) met = false;
          zero += met;
        }
        satisfied = fmt::format("{:.1f}% of validation images have zero hinge loss (every margin met)",
                                100.0 * double(zero) / double(validation.size()));
      } else {
        const auto p = xg::pick(xg::softmax(scores, 1), validation.labels());
        satisfied = fmt::format("mean probability of the correct class {:.3f} (softmax is never fully satisfied)",
                                xg::mean(p).item());
      }
      fmt::print("  {:<8} test accuracy {:.2f}%   ({})\n", r.loss, 100 * acc, satisfied);
    }

    auto tiles = templates(*best[0].model);
    for (auto& t : templates(*best[1].model)) tiles.push_back(std::move(t));
    examples::write_image_grid(c.png, tiles,
                               {.cols = 10, .scale = 4, .padding = 4, .scaling = examples::Scaling::global});
    fmt::print("\nweight templates: {} (row 1 SVM, row 2 softmax; columns {})\n", c.png,
               fmt::join(examples::fashion_classes, ", "));
    fmt::print("total {:.1f} s\n", total.seconds());
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
