#pragma once
// Small helpers shared by the CS231n pipeline examples (knn, linear_classifiers,
// hyperparameter_search, optimizer_comparison, conv_filters): the data they all load, a stopwatch,
// accuracy of a model, softmax probabilities, and gnuplot.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

namespace examples {

namespace xg = xgrad;

inline constexpr std::array<const char*, 10> fashion_classes{"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                             "Bag",         "Ankle boot"};

// The first n examples of a dataset (all of it when n is 0 or larger than the dataset).
xg::data::Dataset first(const xg::data::Dataset& data, std::size_t n);

// Images [N, ...] as rows [N, D].
xg::Tensor flat_rows(const xg::data::Dataset& data);

// Fraction of correctly classified examples, in eval mode and without recording.
double accuracy(xg::nn::Module& model, const xg::data::Dataset& data, std::size_t batch_size = 1000);
double accuracy(const std::vector<std::size_t>& predicted, const std::vector<std::int64_t>& labels);

// Softmax probabilities [N, C] of a model on a dataset (eval mode, no recording).
xt::xarray<float> probabilities(xg::nn::Module& model, const xg::data::Dataset& data, std::size_t batch_size = 1000);

class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void restart() { start_ = Clock::now(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
};

bool have_gnuplot();
// Writes `script` to script_path and runs gnuplot on it; false (with a message) if gnuplot is
// missing or fails.
bool run_gnuplot(const std::string& script_path, const std::string& script);

}  // namespace examples
