#pragma once
// Histograms of tensors (activations, gradients) as CSV and as one gnuplot PNG with a panel per
// tensor: what init_study and the trainer's --diagnostics draw. Kept apart from util.hpp because the
// trainer links it too.
#include <string>
#include <vector>

#include <xgrad/xgrad.hpp>

namespace examples {

namespace xg = xgrad;

struct Histogram {
  std::string name;  // the panel's title, e.g. "layer 3  std 0.21"
  double lo = 0, hi = 0;
  std::vector<double> share;  // fraction of the values in each of the equal bins of [lo, hi]
  double bin_center(std::size_t i) const { return lo + (double(i) + 0.5) * (hi - lo) / double(share.size()); }
};

// Values outside [lo, hi] are counted in the first or last bin, so every value is in some bin;
// lo == hi (all values equal) becomes a range of width 1 around it. With skip_zeros, exact zeros are
// left out (a ReLU layer's half of zeros would flatten every other bar) and the shares are of the rest.
Histogram histogram(const xg::Tensor& t, std::size_t bins, double lo, double hi, std::string name = {},
                    bool skip_zeros = false);
// [min, max] of the tensor's values.
std::pair<double, double> value_range(const xg::Tensor& t);

// Long-format CSV: series,name,bin_center,share (one row per bin of every histogram).
void write_histograms_csv(const std::string& path, const std::vector<Histogram>& histograms);
// A PNG with one panel per histogram (`columns` across), from the CSV write_histograms_csv wrote;
// false (with a message) when gnuplot is missing or fails. The script goes next to the PNG (.gp).
bool plot_histograms(const std::string& csv, const std::string& png, const std::string& title,
                     const std::vector<Histogram>& histograms, std::size_t columns = 5);

}  // namespace examples
