#pragma once
// <xgrad/distributed/distributed.hpp>: data-parallel training on MPI (docs/distributed.md). Link
// xgrad::distributed; the core library xgrad::xgrad never depends on MPI.
//   init.hpp           xg::dist::init, rank, world_size, abort
//   data_parallel.hpp  xg::dist::DataParallel: broadcast at wrap time, bucketed gradient all-reduce
//   shard.hpp          xg::dist::shard: the DataLoader's sampler for this rank
#include "data_parallel.hpp"
#include "init.hpp"
#include "shard.hpp"
