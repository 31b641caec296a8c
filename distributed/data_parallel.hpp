#pragma once
// Data-parallel training: every rank holds the whole model, trains on its own shard of each global
// batch, and averages the gradients with the other ranks before the optimizer step, so all ranks take
// the same step and stay identical. docs/distributed.md explains the design.
//
//   xg::dist::init(argc, argv);
//   auto model = make_model();
//   xg::dist::DataParallel ddp(*model);   // rank 0's parameters and buffers everywhere, checked
//   xg::optim::Adam opt(model->parameters(), {.lr = 1e-3});
//   for (...) { opt.zero_grad(); loss(...).backward(); ddp.synchronize(); opt.step(); }
//
// How: the trainable parameters, in reverse registration order (the last layer's gradients are
// complete first), are laid out once in buckets (~1 MB the first, ~25 MB after, as PyTorch's
// reducer). A post-accumulate hook on each parameter copies its gradient into its bucket; a bucket
// whose gradients are all in starts its MPI_Iallreduce while backward goes on with earlier layers,
// and the hooks call MPI_Test so the reduction advances (Debian's OpenMPI has no progress thread).
// synchronize() reduces zeros for parameters that got no gradient on this rank, waits, and writes
// grad = sum / world_size back. A parameter no rank gave a gradient keeps an undefined grad, as in
// one process.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../nn/module.hpp"

namespace xgrad::dist {

struct DataParallelOptions {
  double first_bucket_mb = 1.0;  // the first bucket small, so its reduction starts early
  double bucket_mb = 25.0;       // the others (a bucket holds one dtype; a larger tensor gets its own)
  // Call MPI_Test from every gradient hook so launched reductions advance during backward. Off only
  // to measure what it is worth (bench/dist_overlap).
  bool progress_in_hooks = true;
  // Broadcast the buffers (BatchNorm's running statistics) from rank 0 in every synchronize(), so all
  // ranks evaluate and checkpoint the same model (PyTorch's broadcast_buffers). The batch statistics
  // of the forward stay per process either way.
  bool broadcast_buffers = true;
};

class DataParallel {
 public:
  // Collective: every rank must call it with the same model structure. Broadcasts rank 0's
  // parameters and buffers, then compares a hash of every rank's values; a model whose parameter or
  // buffer names, shapes or dtypes differ on some rank is an xg::Error on every rank, naming the
  // first difference. Registers a post-accumulate hook on every trainable parameter.
  explicit DataParallel(nn::Module& model, DataParallelOptions options = {});
  ~DataParallel();  // removes the hooks
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Collective, after backward() and before the optimizer step: completes every bucket's all-reduce
  // and leaves each parameter's grad() the average over the ranks.
  void synchronize();

  // A hash of every parameter's and buffer's bytes (and names, shapes), the same on every rank when
  // the ranks hold identical models (tests compare it after every step).
  std::uint64_t state_hash() const;

  std::size_t bucket_count() const;
  std::string describe_buckets() const;  // "bucket 0: 2 tensors, 5.1 KB (fc2.bias, fc2.weight); ..."

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace xgrad::dist
