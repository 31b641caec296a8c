#include "histograms.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <variant>

#include <xgrad/autograd/tensor_impl.hpp>
#include "util.hpp"

namespace examples {

namespace {
template <class F>
void for_each_value(const xg::Tensor& t, F&& f) {
  std::visit(
      [&](const auto& a) {
        for (const auto v : a) f(double(v));
      },
      t.impl()->value);
}
}  // namespace

std::pair<double, double> value_range(const xg::Tensor& t) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for_each_value(t, [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  });
  return {lo, hi};
}

Histogram histogram(const xg::Tensor& t, std::size_t bins, double lo, double hi, std::string name, bool skip_zeros) {
  if (bins == 0) throw xg::Error("histogram: bins must be positive");
  if (!(lo <= hi)) throw xg::Error("histogram: range [{}, {}] is empty", lo, hi);
  if (lo == hi) lo -= 0.5, hi += 0.5;
  Histogram h{std::move(name), lo, hi, std::vector<double>(bins, 0.0)};
  const double scale = double(bins) / (hi - lo);
  std::size_t counted = 0;
  for_each_value(t, [&](double v) {
    if (skip_zeros && v == 0) return;
    ++counted;
    const double at = std::floor((v - lo) * scale);  // nan lands in bin 0 through the clamp below
    const std::size_t i = at >= double(bins) ? bins - 1 : at > 0 ? std::size_t(at) : 0;
    h.share[i] += 1;
  });
  const double n = double(std::max<std::size_t>(counted, 1));
  for (auto& s : h.share) s /= n;
  return h;
}

void write_histograms_csv(const std::string& path, const std::vector<Histogram>& histograms) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream f(path);
  if (!f) throw xg::Error("cannot write {}", path);
  f << "series,name,bin_center,share\n";
  for (std::size_t s = 0; s < histograms.size(); ++s)
    for (std::size_t i = 0; i < histograms[s].share.size(); ++i)
      f << fmt::format("{},\"{}\",{:.6g},{:.6g}\n", s, histograms[s].name, histograms[s].bin_center(i),
                       histograms[s].share[i]);
}

bool plot_histograms(const std::string& csv, const std::string& png, const std::string& title,
                     const std::vector<Histogram>& histograms, std::size_t columns) {
  if (histograms.empty()) return false;
  columns = std::max<std::size_t>(1, std::min(columns, histograms.size()));
  const std::size_t rows = (histograms.size() + columns - 1) / columns;
  std::string script =
      fmt::format("set terminal pngcairo size {},{} noenhanced font ',9'\nset output '{}'\nset datafile separator ','\n"
                  "set multiplot layout {},{} title '{}'\nset style fill solid 0.6 noborder\nset yrange [0:*]\n"
                  "unset key\nset format x '%.2g'\nset xtics rotate by -30\n",
                  300 * columns, 240 * rows + 40, png, rows, columns, title);
  for (std::size_t s = 0; s < histograms.size(); ++s) {
    const Histogram& h = histograms[s];
    const double width = (h.hi - h.lo) / double(h.share.size());
    script +=
        fmt::format("set title '{}'\nset xrange [{:.6g}:{:.6g}]\nset boxwidth {:.6g}\n", h.name, h.lo, h.hi, width);
    script += fmt::format("plot '{}' skip 1 using (column(1) == {} ? column(3) : NaN):4 with boxes lc rgb '#3060a0'\n",
                          csv, s);
  }
  script += "unset multiplot\n";
  std::string script_path = png;
  if (const auto dot = script_path.rfind('.'); dot != std::string::npos) script_path.erase(dot);
  return run_gnuplot(script_path + ".gp", script);
}

}  // namespace examples
