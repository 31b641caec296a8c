// The shard arithmetic of a distributed sampler.
#include "sampler.hpp"

#include "../autograd/error.hpp"
#include "dataset.hpp"

namespace xgrad::data {

Sampler shard_sampler(std::size_t n, std::size_t rank, std::size_t world, ShardOptions options) {
  if (world == 0 || rank >= world) throw Error("shard_sampler: rank {} is not in a world of {} processes", rank, world);
  if (n < world) throw Error("shard_sampler: {} examples cannot give each of {} processes at least one", n, world);
  const std::size_t k = n / world;
  return {.size = k, .indices = [n, rank, k, options](std::uint64_t epoch) {
            std::vector<std::size_t> order;
            if (options.shuffle) {
              order = permutation(n, options.seed, epoch);
            } else {
              order.resize(n);
              for (std::size_t i = 0; i < n; ++i) order[i] = i;
            }
            const auto begin = order.begin() + static_cast<std::ptrdiff_t>(rank * k);
            return std::vector<std::size_t>(begin, begin + static_cast<std::ptrdiff_t>(k));
          }};
}

}  // namespace xgrad::data
