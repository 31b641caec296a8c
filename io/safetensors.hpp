#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), so a file written here opens
// with Python's safetensors / PyTorch and the reverse. Layout: an 8-byte little-endian header length
// N, N bytes of JSON
//   {"__metadata__": {"format": "pt"}, "0.weight": {"dtype": "F32", "shape": [8, 4],
//    "data_offsets": [0, 128]}, ...}
// padded with spaces to a multiple of 8, then the tensors' raw little-endian row-major bytes
// (offsets count from the end of the header).
//
// Writes are atomic: the file is written to "<path>.tmp-<pid>-<n>" in the same directory, flushed
// to disk, then renamed over `path`; a failed write leaves an existing file untouched.
//
// dtypes: xgrad writes F32 and F64. It reads F32, F64, F16 and BF16 (as f32), and BOOL, U8, I8,
// U16, I16, U32, I32, U64, I64 (as f64; 64-bit integers beyond 2^53 are an error); other dtypes
// (F8_*, F6_*, F4, C64) are a clear error when that tensor is needed. A damaged or truncated file
// is refused with a message naming the file and the problem, before anything is read.
// Saving modules and optimizers: nn/checkpoint.hpp. Python interop: docs/checkpoints.md.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad {

// The safetensors "__metadata__" object: string keys to string values.
using Metadata = std::map<std::string, std::string>;

// Any named tensors (names unique, non-empty, not "__metadata__"), in the file in the given order
// except that all F64 tensors come before all F32 ones (as the reference implementation does, so
// every tensor is aligned to its element size). `metadata` goes into "__metadata__" ("format": "pt"
// is added unless given, as PyTorch tools expect it).
void save_tensors(const NamedTensors& tensors, const std::string& path, const Metadata& metadata = {});
// Every tensor of a safetensors file, in the order of their data, after validating the whole file.
NamedTensors load_tensors(const std::string& path);
// The header's "__metadata__" (empty when there is none); reads and validates only the header.
Metadata load_metadata(const std::string& path);

namespace safetensors {

// One tensor as the header describes it.
struct Entry {
  std::string name;
  std::string dtype;  // the file's dtype name: "F32", "BF16", "I64", ...
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // byte range in the data section
};

// An open file whose header has been parsed and completely validated (every offset, shape and
// dtype), so reading a tensor can only fail on I/O or an unreadable dtype. Errors read
// "<op>: <path>: <problem>", with op the caller's name ("load", "load_tensors").
class File {
 public:
  File(std::string op, const std::string& path);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::vector<Entry>& entries() const;  // sorted by data offset
  const Metadata& metadata() const;
  // The tensor's values as a new leaf: F32 F16 BF16 as float, F64 and the integer dtypes as double.
  Tensor read(const Entry& e) const;

  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    fail_with(fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  [[noreturn]] void fail_with(const std::string& message) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `tensors` atomically (see above); `op` names the caller in errors.
void write_file(std::string_view op, const NamedTensors& tensors, const std::string& path, const Metadata& metadata);

std::string_view file_dtype(DType d);       // "F32" or "F64"
Tensor convert(const Tensor& v, DType to);  // a copy in dtype `to` (the same tensor when it has it)

}  // namespace safetensors
}  // namespace xgrad
