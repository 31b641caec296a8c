#pragma once
// Internal: the size check made before a factory or an op allocates a tensor that may be large. A
// request for more memory than the machine has becomes an xg::Error naming the op, the shape and the
// bytes, instead of std::bad_alloc escaping from inside xtensor or the OOM killer ending the process.
// A shape whose element count overflows size_t is refused too: xtensor would allocate the wrapped,
// small count and the next loop over the shape would run past it.
#include <cstddef>
#include <string>

#include "dtype.hpp"
#include "tensor.hpp"

namespace xgrad::detail {

// This machine's physical memory in bytes (sysconf(_SC_PHYS_PAGES) * _SC_PAGE_SIZE), read once.
std::size_t physical_memory_bytes();

// True when a `dtype` array of `shape` fits in physical memory. An empty shape (a dimension of 0)
// needs no memory, but the product of its other dimensions must still fit in size_t, as NumPy
// requires: the ops' loops see a tensor as [outer, n, inner] and multiply those dimensions.
// One multiply and compare per dimension, cheap enough for every op output.
inline bool fits_in_memory(const Shape& shape, DType dtype) {
  static const std::size_t limit = physical_memory_bytes();
  std::size_t nonzero = 1;
  bool overflow = false, empty = false;
  for (std::size_t d : shape) {
    if (d == 0)
      empty = true;
    else
      overflow |= __builtin_mul_overflow(nonzero, d, &nonzero);
  }
  const std::size_t item = dtype == f32 ? sizeof(float) : sizeof(double);
  return !overflow && (empty || nonzero <= limit / item);
}

// The error: "{op}: {shape} {dtype} needs ..." or, with the op's inputs described,
// "{op}: {inputs} gives {shape} {dtype}, which needs ...".
[[noreturn]] void refuse_allocation(const char* op, const Shape& shape, DType dtype, const std::string& inputs = {});

// Throws unless the array fits (see fits_in_memory).
inline void check_allocation(const char* op, const Shape& shape, DType dtype) {
  if (!fits_in_memory(shape, dtype)) refuse_allocation(op, shape, dtype);
}
// The same for an op output; describe() names the inputs and runs only when the check fails.
template <class Describe>
void check_allocation(const char* op, const Shape& shape, DType dtype, Describe&& describe) {
  if (!fits_in_memory(shape, dtype)) refuse_allocation(op, shape, dtype, describe());
}

}  // namespace xgrad::detail
