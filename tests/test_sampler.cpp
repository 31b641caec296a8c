// data::shard_sampler and the DataLoader's sampler option, without MPI.
#include <doctest/doctest.h>

#include <algorithm>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;

TEST_CASE("shard_sampler: 3 ranks of 10 examples get disjoint shards of 3, a new permutation each epoch") {
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int> count(10, 0);
    for (std::size_t r = 0; r < 3; ++r) {
      const xg::data::Sampler s = xg::data::shard_sampler(10, r, 3, {.seed = 5});
      CHECK(s.size == 3);
      const auto indices = s.indices(epoch);
      CHECK(indices.size() == 3);
      for (std::size_t i : indices) count[i] += 1;
    }
    CHECK(std::count(count.begin(), count.end(), 1) == 9);  // the last 10 % 3 of this epoch's order sit out
    CHECK(std::count(count.begin(), count.end(), 0) == 1);
  }
  const xg::data::Sampler s = xg::data::shard_sampler(10, 1, 3, {.seed = 5});
  CHECK(s.indices(0) != s.indices(1));
  CHECK(s.indices(1) == xg::data::shard_sampler(10, 1, 3, {.seed = 5}).indices(1));  // the same seed, the same shard
  CHECK(xg::data::shard_sampler(10, 1, 3, {.shuffle = false}).indices(4) == std::vector<std::size_t>{3, 4, 5});
}

TEST_CASE("shard_sampler: a rank outside the world or fewer examples than ranks is refused") {
  CHECK_THROWS_WITH_AS(xg::data::shard_sampler(10, 3, 3), "shard_sampler: rank 3 is not in a world of 3 processes",
                       xg::Error);
  CHECK_THROWS_WITH_AS(xg::data::shard_sampler(2, 0, 3),
                       "shard_sampler: 2 examples cannot give each of 3 processes at least one", xg::Error);
}

TEST_CASE("DataLoader with a sampler: its indices, its size, epoch after epoch") {
  xg::data::Dataset data(xt::xarray<float>(xt::arange<float>(20).reshape({10, 2})),
                         std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  xg::data::DataLoader loader(data, {.batch_size = 2, .sampler = xg::data::shard_sampler(10, 0, 2, {.seed = 3})});
  CHECK(loader.size() == 3);  // 5 examples: 2 + 2 + 1
  std::vector<std::size_t> seen;
  for (auto& batch : loader)
    for (std::size_t i = 0; i < batch.size(); ++i) {
      CHECK(batch.labels[i] == std::int64_t(batch.indices[i]));
      seen.push_back(batch.indices[i]);
    }
  CHECK(seen == xg::data::shard_sampler(10, 0, 2, {.seed = 3}).indices(0));
  CHECK(loader.epoch() == 1);
  xg::data::Sampler bad{.size = 2, .indices = [](std::uint64_t) { return std::vector<std::size_t>{0, 10}; }};
  xg::data::DataLoader broken(data, {.sampler = bad});
  CHECK_THROWS_WITH_AS(broken.order(0), "DataLoader: the sampler gave index 10 of a dataset of 10", xg::Error);
}
