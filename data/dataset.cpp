// Dataset storage, subsets, the seeded split and permutation.
#include "dataset.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace xgrad::data {

namespace detail {
std::size_t uniform_below(std::mt19937_64& rng, std::size_t n) {
  if (n <= 1) return 0;
  const std::uint64_t range = n;
  // The largest multiple of n representable, so every residue is equally likely.
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t r;
  do r = rng();
  while (r >= limit);
  return static_cast<std::size_t>(r % range);
}
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
}  // namespace detail

std::vector<std::size_t> permutation(std::size_t n, std::uint64_t seed, std::uint64_t stream) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
  std::mt19937_64 rng(seq);
  std::vector<std::size_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[detail::uniform_below(rng, i)]);
  return p;
}

Dataset::Dataset(xt::xarray<float> images, std::vector<std::int64_t> labels)
    : images_(std::move(images)), labels_(std::move(labels)) {
  if (images_.dimension() < 2)
    throw Error("Dataset: images {} must be [N, ...] with at least 2 dimensions", shape_str(images_.shape()));
  if (images_.shape()[0] != labels_.size())
    throw Error("Dataset: {} images {} but {} labels", images_.shape()[0], shape_str(images_.shape()), labels_.size());
}

Shape Dataset::example_shape() const {
  if (images_.dimension() < 2) return {};
  return Shape(images_.shape().begin() + 1, images_.shape().end());
}

std::size_t Dataset::example_numel() const {
  std::size_t n = 1;
  for (auto d : example_shape()) n *= d;
  return images_.dimension() < 2 ? 0 : n;
}

std::size_t Dataset::num_classes() const {
  if (labels_.empty()) return 0;
  return static_cast<std::size_t>(std::max<std::int64_t>(0, *std::max_element(labels_.begin(), labels_.end()) + 1));
}

const float* Dataset::data(std::size_t i) const {
  if (i >= size()) throw Error("Dataset: index {} out of range for {} examples", i, size());
  return images_.data() + i * example_numel();
}

Example Dataset::get(std::size_t i) const {
  const float* src = data(i);
  Example e{xt::xarray<float>::from_shape(example_shape()), labels_[i]};
  std::memcpy(e.image.data(), src, example_numel() * sizeof(float));
  return e;
}

Dataset Dataset::subset(std::span<const std::size_t> indices) const {
  if (images_.dimension() < 2 && indices.empty()) return {};  // of a default-constructed dataset
  const std::size_t n = example_numel();
  Shape shape = example_shape();
  shape.insert(shape.begin(), indices.size());
  xt::xarray<float> images = xt::xarray<float>::from_shape(shape);
  std::vector<std::int64_t> labels(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::size_t i = indices[j];
    if (i >= size()) throw Error("Dataset::subset: index {} (position {}) out of range for {} examples", i, j, size());
    std::memcpy(images.data() + j * n, images_.data() + i * n, n * sizeof(float));
    labels[j] = labels_[i];
  }
  return Dataset(std::move(images), std::move(labels));
}

Dataset Dataset::subset(std::size_t begin, std::size_t end) const {
  if (begin > end || end > size())
    throw Error("Dataset::subset: range [{}, {}) is not within the {} examples", begin, end, size());
  std::vector<std::size_t> indices(end - begin);
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = begin + i;
  return subset(indices);
}

TrainValidation train_validation_split(const Dataset& dataset, std::size_t validation_count, std::uint64_t seed) {
  if (validation_count > dataset.size())
    throw Error("train_validation_split: {} validation examples requested from a dataset of {}", validation_count,
                dataset.size());
  std::vector<std::size_t> order = permutation(dataset.size(), seed);
  std::vector<std::size_t> validation(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(validation_count));
  std::vector<std::size_t> train(order.begin() + static_cast<std::ptrdiff_t>(validation_count), order.end());
  std::sort(validation.begin(), validation.end());
  std::sort(train.begin(), train.end());
  return {dataset.subset(train), dataset.subset(validation)};
}

}  // namespace xgrad::data
