#pragma once
// Internal to ops/: whether xgrad's own AVX-512 kernels run (gemm_avx512, conv_direct_avx512). They exist
// because OpenBLAS may run its AVX2 kernels on a CPU that has AVX-512 (this machine's environment
// forces them with OPENBLAS_CORETYPE=Haswell: older OpenBLAS builds compute wrong results or crash
// with their AVX-512 kernels on newer CPUs), and because 512-bit FMAs do twice the work of 256-bit
// ones where the core has full-width units (256 vs 126 GFLOP/s measured here). The library itself is
// built for x86-64-v3; the kernels carry the target attribute and run only where enabled() says so.
//
// Every function that uses AVX-512 has internal linkage and the XGRAD_AVX512 attribute, so no code
// shared with other files (inline or template functions of the standard library) is ever built for
// AVX-512 and a CPU without it never runs any of it.
#include <immintrin.h>

#include <cstddef>
#include <utility>

#define XGRAD_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

namespace xgrad::detail::avx512 {

// The first `count` lanes of a vector of 16 (count <= 16 counts; more means all).
inline __mmask16 lanes(std::size_t count) { return count >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1u); }

// Calls fn.template operator()<K>() for the K in [1, N] equal to count: a kernel's block sizes are
// template arguments (its accumulators live in registers), an edge block's size is known at run time.
// N, the full block and by far the most frequent, is tried first.
template <std::size_t N, class Fn>
void with_size(std::size_t count, Fn&& fn) {
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    (void)((count == N - K ? (fn.template operator()<N - K>(), true) : false) || ...);
  }
  (std::make_index_sequence<N>{});
}

// True when this CPU and OS run AVX-512 (F, BW, DQ, VL) and the kernels are not switched off.
bool enabled();
// Switches the kernels off (f32 GEMMs go to OpenBLAS, convolutions to im2col) or back on where
// the CPU runs them: for tests and benchmarks that compare the two.
void set_enabled(bool on);

}  // namespace xgrad::detail::avx512
