#pragma once
// Keeps glibc malloc from handing every large freed tensor back to the kernel.
//
// A training step allocates and frees the same few megabyte-sized arrays every iteration. By
// default glibc serves blocks above a (dynamic) threshold with mmap and trims the top of the heap
// once more than twice that threshold is free, so each step faults its fresh pages in again (the
// cost, measured: docs/performance.md, "Memory"). Before the first tensor is made, xgrad therefore sets
// M_MMAP_THRESHOLD to 32 MiB (blocks above it still come from mmap and go straight back) and M_TRIM_THRESHOLD to 128
// MiB (at most that much freed memory stays mapped at the top of the heap for reuse).
//
// It is process-wide, so it stays off when the program already tunes malloc itself (GLIBC_TUNABLES
// naming glibc.malloc, or MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ set) and when
// XGRAD_MALLOC_TUNING=0. Only glibc is affected; elsewhere this does nothing.

namespace xgrad::detail {

// Applies the settings above once (thread-safe); true when they were applied.
bool tune_malloc_once();

}  // namespace xgrad::detail
