#include "image_grid.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include <xgrad/xtensor.hpp>

namespace examples {

namespace {
struct Rgb {
  unsigned char r, g, b;
};

unsigned char to_byte(double v) { return static_cast<unsigned char>(std::clamp(std::lround(v * 255.0), 0L, 255L)); }

// t in [-1, 1]: blue (-1) - white (0) - red (+1).
Rgb diverging(double t) {
  t = std::clamp(t, -1.0, 1.0);
  if (t >= 0) return {255, to_byte(1 - t), to_byte(1 - t)};
  return {to_byte(1 + t), to_byte(1 + t), 255};
}
}  // namespace

void write_image_grid(const std::string& path, const std::vector<xt::xarray<float>>& tiles,
                      const GridOptions& options) {
  if (tiles.empty()) throw std::runtime_error("write_image_grid: no tiles");
  const auto& first = tiles.front();
  if (first.dimension() != 2) throw std::runtime_error("write_image_grid: tiles must be 2-D [H, W]");
  const std::size_t h = first.shape()[0], w = first.shape()[1];
  for (const auto& t : tiles)
    if (t.dimension() != 2 || t.shape()[0] != h || t.shape()[1] != w)
      throw std::runtime_error("write_image_grid: all tiles must have the first tile's shape");
  const std::size_t n = tiles.size();
  const std::size_t cols = options.cols ? std::min(options.cols, n) : n;
  const std::size_t rows = (n + cols - 1) / cols;
  const std::size_t s = std::max<std::size_t>(options.scale, 1), pad = options.padding;
  const std::size_t tile_w = w * s, tile_h = h * s;
  const std::size_t width = cols * tile_w + (cols + 1) * pad, height = rows * tile_h + (rows + 1) * pad;

  // The value range of all tiles, for the global and diverging scalings.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, absmax = 0;
  for (const auto& t : tiles)
    for (float v : t) {
      lo = std::min<double>(lo, v);
      hi = std::max<double>(hi, v);
      absmax = std::max<double>(absmax, std::abs(v));
    }

  const int channels = options.scaling == Scaling::diverging ? 3 : 1;
  std::vector<unsigned char> pixels(width * height * channels, options.background);
  for (std::size_t k = 0; k < n; ++k) {
    const auto& t = tiles[k];
    double tlo = lo, thi = hi;
    if (options.scaling == Scaling::per_tile) {
      tlo = *std::min_element(t.begin(), t.end());
      thi = *std::max_element(t.begin(), t.end());
    }
    const double range = thi > tlo ? thi - tlo : 1.0;
    const std::size_t x0 = pad + (k % cols) * (tile_w + pad), y0 = pad + (k / cols) * (tile_h + pad);
    for (std::size_t i = 0; i < h; ++i)
      for (std::size_t j = 0; j < w; ++j) {
        const double v = t(i, j);
        for (std::size_t di = 0; di < s; ++di)
          for (std::size_t dj = 0; dj < s; ++dj) {
            unsigned char* p = &pixels[((y0 + i * s + di) * width + x0 + j * s + dj) * channels];
            if (channels == 3) {
              const Rgb c = diverging(absmax > 0 ? v / absmax : 0.0);
              p[0] = c.r, p[1] = c.g, p[2] = c.b;
            } else {
              p[0] = to_byte((v - tlo) / range);
            }
          }
      }
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  if (!stbi_write_png(path.c_str(), int(width), int(height), channels, pixels.data(), int(width) * channels))
    throw std::runtime_error("write_image_grid: cannot write " + path);
}

}  // namespace examples
