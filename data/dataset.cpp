// Dataset storage, subsets, the seeded split and permutation.
#include "dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace xgrad::data {

namespace detail {
std::size_t uniform_below(std::mt19937_64& rng, std::size_t n) {
  if (n <= 1) return 0;
  const std::uint64_t range = n;
  // The largest multiple of n representable, so every residue is equally likely.
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t r;
  do r = rng();
  while (r >= limit);
  return static_cast<std::size_t>(r % range);
}
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

Dataset::Dataset(xt::xarray<std::uint8_t> bytes, std::vector<std::int64_t> labels, float scale)
    : bytes_(std::move(bytes)), scale_(scale), stores_bytes_(true), labels_(std::move(labels)) {
  if (bytes_.dimension() < 2)
    throw Error("Dataset: bytes {} must be [N, ...] with at least 2 dimensions", shape_str(bytes_.shape()));
  if (bytes_.shape()[0] != labels_.size())
    throw Error("Dataset: {} examples {} but {} labels", bytes_.shape()[0], shape_str(bytes_.shape()), labels_.size());
  if (!std::isfinite(scale_)) throw Error("Dataset: byte scale {} is not finite", scale_);
}

Shape Dataset::stored_shape() const {
  if (stores_bytes_) return Shape(bytes_.shape().begin(), bytes_.shape().end());
  return Shape(images_.shape().begin(), images_.shape().end());
}

Shape Dataset::example_shape() const {
  const Shape s = stored_shape();
  if (s.size() < 2) return {};
  return Shape(s.begin() + 1, s.end());
}

std::size_t Dataset::example_numel() const {
  if (stored_shape().size() < 2) return 0;
  std::size_t n = 1;
  for (auto d : example_shape()) n *= d;
  return n;
}

std::size_t Dataset::num_classes() const {
  if (labels_.empty()) return 0;
  return static_cast<std::size_t>(std::max<std::int64_t>(0, *std::max_element(labels_.begin(), labels_.end()) + 1));
}

void Dataset::check_index(const char* op, std::size_t i) const {
  if (i >= size()) throw Error("Dataset::{}: index {} out of range for {} examples", op, i, size());
}

const xt::xarray<float>& Dataset::images() const {
  if (stores_bytes_)
    throw Error("Dataset::images: this dataset {} stores bytes (value = byte * {}); use to_float() for a float copy, "
                "or read it batch by batch through a DataLoader",
                shape_str(bytes_.shape()), scale_);
  return images_;
}

xt::xarray<float>& Dataset::mutable_images() {
  (void)images();  // the same error for a dataset of bytes
  return images_;
}

const xt::xarray<std::uint8_t>& Dataset::bytes() const {
  if (!stores_bytes_)
    throw Error("Dataset::bytes: this dataset {} stores floats, not bytes", shape_str(images_.shape()));
  return bytes_;
}

const float* Dataset::data(std::size_t i) const {
  check_index("data", i);
  return images().data() + i * example_numel();
}

void Dataset::copy_example(std::size_t i, float* out) const {
  check_index("copy_example", i);
  const std::size_t n = example_numel();
  if (!stores_bytes_) {
    std::memcpy(out, images_.data() + i * n, n * sizeof(float));
    return;
  }
  const std::uint8_t* src = bytes_.data() + i * n;
  for (std::size_t k = 0; k < n; ++k) out[k] = static_cast<float>(src[k]) * scale_;
}

void Dataset::prefetch_example(std::size_t i) const {
  if (i >= size()) return;
  const std::size_t bytes = example_numel() * (stores_bytes_ ? 1 : sizeof(float));
  const char* first = stores_bytes_ ? reinterpret_cast<const char*>(bytes_.data() + i * example_numel())
                                    : reinterpret_cast<const char*>(images_.data() + i * example_numel());
  for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(first + b);
}

const float* Dataset::example(std::size_t i, std::vector<float>& buffer) const {
  if (!stores_bytes_) return data(i);
  buffer.resize(example_numel());
  copy_example(i, buffer.data());
  return buffer.data();
}

Example Dataset::get(std::size_t i) const {
  Example e{xt::xarray<float>::from_shape(example_shape()), 0};
  copy_example(i, e.image.data());
  e.label = labels_[i];
  return e;
}

Dataset Dataset::to_float() const {
  if (!stores_bytes_) return *this;
  xt::xarray<float> images = xt::xarray<float>::from_shape(bytes_.shape());
  const std::uint8_t* src = bytes_.data();
  float* dst = images.data();
  for (std::size_t k = 0, n = bytes_.size(); k < n; ++k) dst[k] = static_cast<float>(src[k]) * scale_;
  return Dataset(std::move(images), labels_);
}

namespace {
template <class V>
V gather_rows(const V& from, std::span<const std::size_t> indices, std::size_t n, std::size_t size) {
  using T = typename V::value_type;
  Shape shape(from.shape().begin(), from.shape().end());
  shape[0] = indices.size();
  V out = V::from_shape(shape);
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::size_t i = indices[j];
    if (i >= size) throw Error("Dataset::subset: index {} (position {}) out of range for {} examples", i, j, size);
    std::memcpy(out.data() + j * n, from.data() + i * n, n * sizeof(T));
  }
  return out;
}
}  // namespace

Dataset Dataset::subset(std::span<const std::size_t> indices) const {
  if (stored_shape().size() < 2 && indices.empty()) return {};  // of a default-constructed dataset
  const std::size_t n = example_numel();
  std::vector<std::int64_t> labels(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j)
    if (indices[j] < size()) labels[j] = labels_[indices[j]];
  if (stores_bytes_) return Dataset(gather_rows(bytes_, indices, n, size()), std::move(labels), scale_);
  return Dataset(gather_rows(images_, indices, n, size()), std::move(labels));
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
