#pragma once
// An in-memory labelled dataset: N examples of one shape stored as one float array [N, ...]
// (images are [N, C, H, W] with values in [0, 1]; a PCA-reduced set is [N, k]) plus int64 labels.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../autograd/tensor.hpp"

namespace xgrad::data {

struct Example {
  xt::xarray<float> image;  // one example's shape, e.g. [C, H, W]
  std::int64_t label = 0;
};

class Dataset {
 public:
  Dataset() = default;
  // images [N, ...] (rank >= 2) and N labels.
  Dataset(xt::xarray<float> images, std::vector<std::int64_t> labels);

  std::size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  Example get(std::size_t i) const;

  Shape example_shape() const;           // the shape of one example, e.g. [C, H, W]
  std::size_t example_numel() const;     // its number of values
  std::size_t num_classes() const;       // largest label + 1 (0 when empty)
  const float* data(std::size_t i) const;  // example i's values, contiguous
  const xt::xarray<float>& images() const { return images_; }
  xt::xarray<float>& mutable_images() { return images_; }  // same shape must be kept
  const std::vector<std::int64_t>& labels() const { return labels_; }

  // The examples at `indices`, in that order (repeats allowed).
  Dataset subset(std::span<const std::size_t> indices) const;
  Dataset subset(std::size_t begin, std::size_t end) const;  // examples [begin, end)

 private:
  xt::xarray<float> images_;
  std::vector<std::int64_t> labels_;
};

struct TrainValidation {
  Dataset train, validation;
};
// Draws validation_count examples at random (seeded, independent of xgrad::generator()) as the
// validation set and keeps the rest as the training set; both keep the original order.
TrainValidation train_validation_split(const Dataset& dataset, std::size_t validation_count, std::uint64_t seed = 0);

// A seeded permutation of 0..n-1 (Fisher-Yates on mt19937_64 seeded with {seed, stream}); the same on
// every platform. The DataLoader uses stream = epoch.
std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed, std::uint64_t stream = 0);

namespace detail {
// Uniform on [0, n) without modulo bias (rejection), platform independent unlike std distributions.
std::size_t uniform_below(std::mt19937_64& rng, std::size_t n);
double uniform01(std::mt19937_64& rng);  // uniform on [0, 1), 53 bits
}  // namespace detail

}  // namespace xgrad::data
