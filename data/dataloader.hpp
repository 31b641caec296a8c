#pragma once
// DataLoader: mini-batches of a Dataset, in the spirit of PyTorch's torch.utils.data.DataLoader.
//
//   xg::data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (auto& batch : loader) { ... batch.images [B, C, H, W] f32, batch.labels ... }
//
// Each pass (each begin()) is one epoch: with shuffle on, its order is permutation(N, seed, epoch),
// so a run is reproducible and every epoch draws a new order. The Dataset must outlive the loader.
// A sampler (data/sampler.hpp), when given, decides each epoch's indices instead (a distributed shard).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "../autograd/tensor.hpp"
#include "dataset.hpp"
#include "sampler.hpp"

namespace xgrad::data {

struct Batch {
  Tensor images;                     // [B, ...example shape], f32
  std::vector<std::int64_t> labels;  // B labels
  std::vector<std::size_t> indices;  // which examples of the dataset, in batch order
  std::size_t size() const { return labels.size(); }
};

// Applied to every batch after it is assembled (augmentation, per-batch preprocessing). It may change
// images in place (batch.images.mutable_value<float>()) or replace them.
using BatchTransform = std::function<void(Batch&)>;

struct LoaderOptions {
  std::size_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  std::uint64_t seed = 0;
  // When set, epoch e visits sampler.indices(e) (shuffle and seed are then the sampler's business).
  Sampler sampler = {};
};

class DataLoader {
 public:
  class Iterator;

  explicit DataLoader(const Dataset& dataset, LoaderOptions options = {}, BatchTransform transform = {});
  DataLoader(Dataset&&, LoaderOptions = {}, BatchTransform = {}) = delete;  // it would dangle

  std::size_t size() const;  // batches per epoch
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  // The next epoch begin() will run (0 before the first pass); set it to resume a run.
  std::uint64_t epoch() const { return epoch_; }
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  // The example order of an epoch (identity when shuffle is off; the sampler's when one is given).
  std::vector<std::size_t> order(std::uint64_t epoch) const;
  // Batch i of an epoch's order, transformed.
  Batch batch(const std::vector<std::size_t>& order, std::size_t i) const;

  Iterator begin();  // starts epoch(), then advances the counter
  std::default_sentinel_t end() const { return {}; }

  class Iterator {
   public:
    using iterator_concept = std::input_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using reference = Batch&;

    Iterator() = default;
    Batch& operator*() const;  // assembled on first access
    Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) {
      return !it.state_ || it.state_->next >= it.state_->batches;
    }

   private:
    friend class DataLoader;
    struct State {
      const DataLoader* loader = nullptr;
      std::vector<std::size_t> order;
      std::size_t next = 0, batches = 0;
      Batch batch;
      bool ready = false;
    };
    std::shared_ptr<State> state_;
  };

 private:
  const Dataset* dataset_;
  LoaderOptions options_;
  BatchTransform transform_;
  std::uint64_t epoch_ = 0;
};

}  // namespace xgrad::data
