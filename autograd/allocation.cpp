#include "allocation.hpp"

#include <unistd.h>

#include <iterator>
#include <limits>

namespace xgrad::detail {

std::size_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  // Unknown (not expected on Linux): no limit, so the check never refuses what malloc might grant.
  if (pages <= 0 || page <= 0) return std::numeric_limits<std::size_t>::max();
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(pages), static_cast<std::size_t>(page), &bytes))
    return std::numeric_limits<std::size_t>::max();
  return bytes;
}

namespace {
// 4398046511104 -> "4.0 TiB"
std::string human_bytes(double bytes) {
  static const char* const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t u = 0;
  while (bytes >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} bytes", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}
}  // namespace

void refuse_allocation(const char* op, const Shape& shape, DType dtype, const std::string& inputs) {
  const std::string memory = human_bytes(static_cast<double>(physical_memory_bytes()));
  const std::string what = inputs.empty()
                               ? fmt::format("{}: {} {}", op, shape_str(shape), dtype_name(dtype))
                               : fmt::format("{}: {} gives {} {},", op, inputs, shape_str(shape), dtype_name(dtype));
  const char* which = inputs.empty() ? "" : "which ";
  const std::size_t item = dtype == f32 ? sizeof(float) : sizeof(double);
  std::size_t elements = 1;
  bool overflow = false;
  for (std::size_t d : shape)
    if (d) overflow |= __builtin_mul_overflow(elements, d, &elements);
  if (overflow) {
    double count = 1;  // to 16 digits, which is all the message needs
    for (std::size_t d : shape)
      if (d) count *= static_cast<double>(d);
    throw Error("{} {}has dimensions that multiply to {:.3g}, more than a 64-bit size can count (this machine has "
                "{} of memory)",
                what, which, count, memory);
  }
  std::size_t bytes = 0;
  const double approx = static_cast<double>(elements) * static_cast<double>(item);
  const std::string exact =
      __builtin_mul_overflow(elements, item, &bytes) ? fmt::format("{:.4g}", approx) : fmt::format("{}", bytes);
  throw Error("{} {}needs {} ({} bytes), more than this machine's {} of memory", what, which, human_bytes(approx),
              exact, memory);
}

}  // namespace xgrad::detail
