#include "avx512.hpp"

#include <atomic>

namespace xgrad::detail::avx512 {

namespace {

bool cpu_runs_avx512() {
  __builtin_cpu_init();  // may run before libgcc's own initializer
  // libgcc reports these only when the OS saves the AVX-512 registers too (XCR0)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

std::atomic<bool> switched_on{true};

}  // namespace

bool enabled() {
  static const bool cpu = cpu_runs_avx512();
  return cpu && switched_on.load(std::memory_order_relaxed);
}

void set_enabled(bool on) { switched_on.store(on, std::memory_order_relaxed); }

}  // namespace xgrad::detail::avx512
