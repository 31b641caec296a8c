#include "diagnostics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/os.h>

#include <xgrad/data.hpp>
#include "../common/histograms.hpp"

namespace trainer {

namespace {
double zero_share(const xg::Tensor& t) {
  std::size_t zeros = 0;
  for (float v : t.value<float>()) zeros += v == 0;
  return t.numel() ? double(zeros) / double(t.numel()) : 0.0;
}
}  // namespace

void write_diagnostics(xg::nn::Module& model, const xg::data::Batch& batch, const LossFn& loss,
                       const std::filesystem::path& dir, std::size_t epoch, bool plot) {
  constexpr std::size_t bins = 41;  // odd, so a range symmetric around 0 has a bin centred on it
  const bool was_training = model.is_training();
  model.eval();
  std::vector<xg::nn::LayerCapture> captures;
  xg::nn::FlowReport report;
  {
    xg::nn::FlowMonitor monitor(model);
    const xg::Tensor l = loss(model(batch.images), batch.labels);
    std::vector<xg::Tensor> params;
    for (const auto& p : model.parameters())
      if (p.requires_grad()) params.push_back(p);
    // xg::grad returns the parameters' gradients instead of accumulating them: grad() and the
    // parameters' hooks stay as they were; the monitor's hooks on the activations still run.
    xg::grad({l}, params, {}, false, false, /*allow_unused=*/true);
    captures = monitor.captures();
    report = monitor.report();
  }
  model.train(was_training);

  std::filesystem::create_directories(dir);
  const std::string stem = (dir / fmt::format("epoch_{}", epoch)).string();
  const std::string text = xg::nn::to_string(report);
  fmt::print("diagnostics {} ({} images, eval mode):\n{}",
             epoch ? fmt::format("after epoch {}", epoch) : "before training", batch.size(), text);
  {
    auto f = fmt::output_file(stem + "_flow.txt");
    f.print("{}", text);
  }

  std::vector<examples::Histogram> activations, gradients;
  for (std::size_t i = 0; i < captures.size(); ++i) {
    const auto& c = captures[i];
    const bool relu = c.kind == xg::nn::LayerCapture::Kind::relu;
    auto [lo, hi] = examples::value_range(c.output);
    const double zeros = zero_share(c.output);
    activations.push_back(
        examples::histogram(c.output, bins, relu ? 0.0 : lo, hi,
                            fmt::format("{}: {}{}", c.name, c.describe,
                                        relu ? fmt::format(" ({:.0f}% zeros left out)", 100 * zeros) : ""),
                            relu));
    if (!c.grad_output.defined()) continue;
    auto [glo, ghi] = examples::value_range(c.grad_output);
    const double m = std::max(std::abs(glo), std::abs(ghi));
    gradients.push_back(
        examples::histogram(c.grad_output, bins, -m, m, fmt::format("{}: {} dL/dy", c.name, c.describe)));
  }
  examples::write_histograms_csv(stem + "_activations.csv", activations);
  examples::write_histograms_csv(stem + "_gradients.csv", gradients);
  fmt::print("diagnostics: {0}_flow.txt, {0}_activations.csv, {0}_gradients.csv\n", stem);
  if (!plot) return;
  const bool a = examples::plot_histograms(stem + "_activations.csv", stem + "_activations.png",
                                           fmt::format("activations per layer at epoch {} (0: before training)", epoch),
                                           activations);
  const bool g =
      examples::plot_histograms(stem + "_gradients.csv", stem + "_gradients.png",
                                fmt::format("gradients dL/dy per layer at epoch {} (0: before training)", epoch),
                                gradients);
  if (a && g) fmt::print("diagnostics: {0}_activations.png, {0}_gradients.png\n", stem);
}

}  // namespace trainer
