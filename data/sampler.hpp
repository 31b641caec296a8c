#pragma once
// A Sampler decides which examples of a dataset one DataLoader pass visits, and in what order, as
// PyTorch's torch.utils.data.Sampler does. The DataLoader asks it for epoch e's indices at the start
// of each pass, so a sampler that reshuffles per epoch needs no set_epoch call by hand.
//
// shard_sampler() is the distributed case: rank r of `world` processes sees its own disjoint shard
// of an epoch-wise permutation. xg::dist::shard (distributed/shard.hpp) fills rank and world from MPI;
// this function is the arithmetic, with no MPI, so it can be tested anywhere.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace xgrad::data {

struct Sampler {
  std::size_t size = 0;  // indices per epoch (every epoch the same)
  std::function<std::vector<std::size_t>(std::uint64_t epoch)> indices;
  explicit operator bool() const { return static_cast<bool>(indices); }
};

struct ShardOptions {
  bool shuffle = true;     // a new permutation(n, seed, epoch) each epoch; else shards of 0..n-1
  std::uint64_t seed = 0;  // must be the same on every rank (xg::dist::shard broadcasts rank 0's)
};

// Rank `rank` of `world` gets positions [rank * k, (rank + 1) * k) of the epoch's permutation, where
// k = n / world: shards are disjoint and equal-sized (so every rank runs the same number of steps and
// no collective waits for a rank that has run out), and the last n % world examples of each epoch's
// order are left out of that epoch (a different few each epoch when shuffling), as PyTorch's
// DistributedSampler with drop_last=True.
Sampler shard_sampler(std::size_t n, std::size_t rank, std::size_t world, ShardOptions options = {});

}  // namespace xgrad::data
