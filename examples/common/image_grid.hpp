#pragma once
// Writes a grid of small 2-D images (weight templates, filters, feature maps) as one PNG through
// stb_image_write, the way the CS231n notes visualize learned weights:
//
//   examples::write_image_grid("templates.png", tiles, {.cols = 10, .scale = 4});
//
// Every tile is an [H, W] array (all tiles of one shape), rescaled to [0, 255] (per tile, over all
// tiles, or symmetrically around 0 with a blue-white-red map so the sign shows), upscaled by
// `scale` with nearest-neighbour pixels, and laid out row by row with `padding` pixels between tiles.
#include <cstddef>
#include <string>
#include <vector>

#include <xgrad/xtensor.hpp>
#include <xtensor/xarray.hpp>

namespace examples {

enum class Scaling {
  per_tile,   // min-max of each tile to black..white (most contrast; magnitudes not comparable)
  global,     // min-max over all tiles to black..white (magnitudes comparable across tiles)
  diverging,  // -m..0..m to blue..white..red, m the largest |value| over all tiles
};

struct GridOptions {
  std::size_t cols = 0;     // tiles per row; 0 puts all tiles in one row
  std::size_t scale = 1;    // each value becomes a scale x scale block of pixels
  std::size_t padding = 2;  // pixels between tiles and around the grid
  Scaling scaling = Scaling::per_tile;
  unsigned char background = 255;  // padding grey level
};

// Throws std::runtime_error when the tiles are empty or of different shapes, or the file cannot be
// written. Creates the parent directory if needed.
void write_image_grid(const std::string& path, const std::vector<xt::xarray<float>>& tiles,
                      const GridOptions& options = {});

}  // namespace examples
