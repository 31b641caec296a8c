#pragma once
// The DataLoader's sampler for data-parallel training: this rank's shard of every epoch.
//
//   xg::data::DataLoader train(dataset, {.batch_size = 32, .sampler = xg::dist::shard(dataset)});
//
// Each rank visits a disjoint, equal-sized shard of a permutation that changes every epoch (the
// loader passes its epoch counter, so no set_epoch call is needed); every epoch the ranks together
// cover the dataset except its last size % world_size examples in that epoch's order. batch_size is
// per rank: the global batch is batch_size * world_size.
#include "../data/dataset.hpp"
#include "../data/sampler.hpp"

namespace xgrad::dist {

// Collective: rank 0's options.seed is broadcast, so all ranks shuffle alike even if their seeds
// differ (a seed drawn from the clock). Without MPI (a world of one) it is the whole dataset.
data::Sampler shard(const data::Dataset& dataset, data::ShardOptions options = {});

}  // namespace xgrad::dist
