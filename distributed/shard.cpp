// The distributed sampler: data::shard_sampler with this process's rank and rank 0's seed.
#include "shard.hpp"

#include "init.hpp"
#include "mpi_call.hpp"

namespace xgrad::dist {

data::Sampler shard(const data::Dataset& dataset, data::ShardOptions options) {
  if (initialized()) {
    unsigned long long seed = options.seed;
    XG_MPI("xg::dist::shard", MPI_Bcast(&seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD));
    options.seed = seed;
  }
  return data::shard_sampler(dataset.size(), rank(), world_size(), options);
}

}  // namespace xgrad::dist
