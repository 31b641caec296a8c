#pragma once
// How many threads xgrad's ops use, and the one place that runs work on them.
//
// xgrad's thread count is OpenBLAS's (OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the number of
// cores). A large GEMM is split by OpenBLAS itself. Ops made of many small GEMMs (conv2d runs one
// per image) split their batch into one contiguous part per thread instead and run OpenBLAS
// single-threaded inside each part: on 2 cores OpenBLAS's own split of a 32x784x144 GEMM gains
// almost nothing, while two images at once run twice as fast.
#include <cstddef>
#include <functional>

namespace xgrad {

int num_threads();
void set_num_threads(int n);  // like torch::set_num_threads; n >= 1

namespace detail {

// The number of parts parallel_for splits n items into: min(n, num_threads()), or 1 inside a part.
std::size_t parallel_parts(std::size_t n);

// Calls fn(part, begin, end) for `parts` contiguous, near-equal ranges of [0, n) (parts from
// parallel_parts(n), so the caller can size per-part buffers), concurrently, the calling thread
// taking part 0; returns when all are done and rethrows the first exception a part threw. OpenBLAS
// is single-threaded meanwhile (restored after). When another region is running, fn(0, 0, n) runs
// alone here instead: the caller must not rely on the other parts being called.
void parallel_for(std::size_t n, std::size_t parts,
                  const std::function<void(std::size_t part, std::size_t begin, std::size_t end)>& fn);

// Runs kernel(begin, end) over [0, n) for an elementwise loop (an optimizer step over a parameter):
// split across the threads when n is large (a 200k-weight layer takes 0.1 ms per step on one
// core), in one call otherwise.
template <class Kernel>
void for_slices(std::size_t n, Kernel&& kernel) {
  if (n < (std::size_t{1} << 16)) {
    kernel(std::size_t{0}, n);
    return;
  }
  parallel_for(n, parallel_parts(n), [&](std::size_t, std::size_t begin, std::size_t end) { kernel(begin, end); });
}

}  // namespace detail
}  // namespace xgrad
