#pragma once
// An in-memory labelled dataset: N examples of one shape plus int64 labels. The values are stored
// either as floats [N, ...] (images [N, C, H, W] in [0, 1], a PCA-reduced set [N, k], anything
// preprocessed) or, as the IDX loaders keep them, as the file's bytes with a scale (value = byte *
// scale, 1/255 for pixels): 4x less memory, 47 MB instead of 188 MB for Fashion-MNIST's training
// set, and every read (get, a DataLoader batch, subset, to_float) converts. torchvision keeps
// MNIST as bytes the same way.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "../xtensor.hpp"

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
  // bytes [N, ...] read as byte * scale.
  Dataset(xt::xarray<std::uint8_t> bytes, std::vector<std::int64_t> labels, float scale = 1.f / 255.f);

  std::size_t size() const { return labels_.size(); }
  bool empty() const { return labels_.empty(); }
  Example get(std::size_t i) const;

  Shape example_shape() const;        // the shape of one example, e.g. [C, H, W]
  std::size_t example_numel() const;  // its number of values
  std::size_t num_classes() const;    // largest label + 1 (0 when empty)
  const std::vector<std::int64_t>& labels() const { return labels_; }

  // Example i's values as floats, into out[0 .. example_numel()).
  void copy_example(std::size_t i, float* out) const;
  // Asks the CPU for example i's memory ahead of a copy_example (a hint: no effect on values).
  void prefetch_example(std::size_t i) const;
  // Example i's values: a pointer into the dataset when it stores floats, else converted into
  // `buffer` (resized as needed) and a pointer to that. For loops over all examples.
  const float* example(std::size_t i, std::vector<float>& buffer) const;

  bool stores_bytes() const { return stores_bytes_; }
  float byte_scale() const { return scale_; }
  const xt::xarray<std::uint8_t>& bytes() const;  // the stored bytes; only when stores_bytes()
  // A float copy (the values byte * scale when the dataset stores bytes).
  Dataset to_float() const;
  // The stored floats: only when !stores_bytes() (else an error pointing to to_float()).
  const xt::xarray<float>& images() const;
  xt::xarray<float>& mutable_images();     // same shape must be kept
  const float* data(std::size_t i) const;  // example i's stored floats, contiguous

  // The examples at `indices`, in that order (repeats allowed), stored as this dataset stores them.
  Dataset subset(std::span<const std::size_t> indices) const;
  Dataset subset(std::size_t begin, std::size_t end) const;  // examples [begin, end)

 private:
  Shape stored_shape() const;  // [N, ...] of whichever array holds the values
  void check_index(const char* op, std::size_t i) const;

  xt::xarray<float> images_;
  xt::xarray<std::uint8_t> bytes_;
  float scale_ = 1.f;
  bool stores_bytes_ = false;
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
// Uniform on [0, n) without modulo bias (rejection), the same with every standard library (the std
// distributions are not: see autograd/random.hpp).
std::size_t uniform_below(std::mt19937_64& rng, std::size_t n);
}  // namespace detail

}  // namespace xgrad::data
