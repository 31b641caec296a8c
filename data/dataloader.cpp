// DataLoader: epoch orders, batch assembly and the range interface.
#include "dataloader.hpp"

#include <algorithm>
#include <cstring>

#include "../autograd/threads.hpp"

namespace xgrad::data {

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options, BatchTransform transform)
    : dataset_(&dataset), options_(options), transform_(std::move(transform)) {
  if (options_.batch_size == 0) throw Error("DataLoader: batch_size must be at least 1");
  if (options_.sampler && options_.sampler.size > dataset.size())
    throw Error("DataLoader: the sampler visits {} examples per epoch but the dataset has {}", options_.sampler.size,
                dataset.size());
}

std::size_t DataLoader::size() const {
  const std::size_t n = options_.sampler ? options_.sampler.size : dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::size_t> DataLoader::order(std::uint64_t epoch) const {
  if (options_.sampler) {
    std::vector<std::size_t> indices = options_.sampler.indices(epoch);
    if (indices.size() != options_.sampler.size)
      throw Error("DataLoader: the sampler gave {} indices for epoch {}, not the {} it promised", indices.size(), epoch,
                  options_.sampler.size);
    for (std::size_t i : indices)
      if (i >= dataset_->size())
        throw Error("DataLoader: the sampler gave index {} of a dataset of {}", i, dataset_->size());
    return indices;
  }
  if (options_.shuffle) return permutation(dataset_->size(), options_.seed, epoch);
  std::vector<std::size_t> identity(dataset_->size());
  for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = i;
  return identity;
}

Batch DataLoader::batch(const std::vector<std::size_t>& order, std::size_t i) const {
  const std::size_t b = options_.batch_size, begin = i * b;
  if (begin >= order.size()) throw Error("DataLoader: batch {} is past the end ({} examples)", i, order.size());
  const std::size_t count = std::min(b, order.size() - begin), n = dataset_->example_numel();
  Shape shape = dataset_->example_shape();
  shape.insert(shape.begin(), count);
  xt::xarray<float> images = xt::xarray<float>::from_shape(shape);
  Batch out;
  out.labels.resize(count);
  out.indices.assign(order.begin() + static_cast<std::ptrdiff_t>(begin),
                     order.begin() + static_cast<std::ptrdiff_t>(begin + count));
  // The examples of a shuffled batch sit at random places of the dataset (47 MB for Fashion-MNIST), so
  // each copy starts with cache misses the hardware cannot foresee: the next examples are asked for
  // ahead of their copy, so that their misses overlap, and a batch of 32k+ values is split across
  // xgrad's threads (the MLP epoch spent 10-15% of its 2-thread time here, on one thread).
  constexpr std::size_t ahead = 4;
  const std::size_t parts = count * n < (std::size_t{1} << 15) ? 1 : xgrad::detail::parallel_parts(count);
  xgrad::detail::parallel_for(count, parts, [&](std::size_t, std::size_t first, std::size_t last) {
    for (std::size_t j = first; j < std::min(last, first + ahead); ++j) dataset_->prefetch_example(out.indices[j]);
    for (std::size_t j = first; j < last; ++j) {
      if (j + ahead < last) dataset_->prefetch_example(out.indices[j + ahead]);
      dataset_->copy_example(out.indices[j], images.data() + j * n);
      out.labels[j] = dataset_->labels()[out.indices[j]];
    }
  });
  out.images = Tensor(std::move(images));
  if (transform_) transform_(out);
  return out;
}

DataLoader::Iterator DataLoader::begin() {
  Iterator it;
  it.state_ = std::make_shared<Iterator::State>();
  it.state_->loader = this;
  it.state_->order = order(epoch_++);
  it.state_->batches = size();
  return it;
}

Batch& DataLoader::Iterator::operator*() const {
  if (!state_ || state_->next >= state_->batches) throw Error("DataLoader: dereferencing the end of an epoch");
  if (!state_->ready) {
    state_->batch = state_->loader->batch(state_->order, state_->next);
    state_->ready = true;
  }
  return state_->batch;
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  if (state_) {
    ++state_->next;
    state_->ready = false;
    state_->batch = {};
  }
  return *this;
}

}  // namespace xgrad::data
