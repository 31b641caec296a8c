#include "malloc_tuning.hpp"

#include <cstdlib>
#include <string_view>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace xgrad::detail {

namespace {
bool user_tunes_malloc() {
  const char* off = std::getenv("XGRAD_MALLOC_TUNING");
  if (off && std::string_view(off) == "0") return true;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::string_view(tunables).find("glibc.malloc") != std::string_view::npos) return true;
  return std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_");
}

bool apply() {
#if defined(__GLIBC__)
  if (user_tunes_malloc()) return false;
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
#else
  return false;
#endif
}
}  // namespace

bool tune_malloc_once() {
  static const bool applied = apply();
  return applied;
}

}  // namespace xgrad::detail
