#pragma once
// The per-op overhead chain, shared by the xgrad and libtorch halves:
//   x = leaf (one f32 element, requires grad)
//   repeat n_ops/2 times:  x = x * c;  x = x + c      (c a double)
//   x.backward()
// Every tensor holds one element, so the arithmetic is nothing and what is timed is the cost of
// one op on the tape: allocating the result, recording the node, and running its backward.
#include <cstddef>

#include "timing.hpp"

namespace bench {

// c = 1.0001 keeps the chain finite and away from denormals: over 200,000 ops the gradient
// dx/dleaf = c^100000 ~ 2.2e4 and the value ~ 2.2e8, both comfortably inside f32.
inline constexpr double chain_constant = 1.0001;
inline constexpr double chain_start = 1.0;

#ifdef XGRAD_BENCH_HAVE_TORCH
// One run of the chain with libtorch (per_op_overhead_torch.cpp). torch_setup() pins libtorch
// to one intra-op and one inter-op thread and must be called once, before any torch work.
void torch_setup();
ChainRun torch_chain(std::size_t n_ops);
#endif

}  // namespace bench
