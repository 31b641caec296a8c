#pragma once
// train --diagnostics EPOCHS: at the chosen epochs (0 = before training), one forward and backward of
// a fixed batch through an xg::nn::FlowMonitor, written as per-layer histograms of the activations
// and of the gradients dL/dy (CSV always, PNG with gnuplot) and the flow report (printed and saved).
// The pass runs in eval mode (no dropout mask, batchnorm's running statistics, nothing updated) and
// through xg::grad, so the parameters' grad() and any hook on them (an all-reduce) are not touched.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

namespace trainer {

namespace xg = xgrad;

using LossFn = std::function<xg::Tensor(const xg::Tensor& scores, const std::vector<std::int64_t>& labels)>;

// Writes <dir>/epoch_<epoch>_{activations,gradients}.{csv,png} and <dir>/epoch_<epoch>_flow.txt for
// `batch` (already preprocessed) and prints the flow report.
void write_diagnostics(xg::nn::Module& model, const xg::data::Batch& batch, const LossFn& loss,
                       const std::filesystem::path& dir, std::size_t epoch, bool plot = true);

}  // namespace trainer
