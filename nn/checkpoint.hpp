#pragma once
// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), so a file
// written here opens with Python's safetensors / PyTorch and the reverse:
//
//   xg::save(net, "net.safetensors");   // parameters, then buffers, under their dotted names
//   xg::load(net, "net.safetensors");   // validates the whole file first; on error net is unchanged
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"format": "pt"}, "0.weight": {"dtype": "F32", "shape": [8, 4],
//    "data_offsets": [0, 128]}, ...}
// padded with spaces to a multiple of 8, then the tensors' raw little-endian row-major bytes
// (offsets count from the end of the header).
//
// Writes are atomic: the file is written to "<path>.tmp-<pid>-<n>" in the same directory, flushed
// to disk, then renamed over `path`; a failed save leaves an existing file untouched.
//
// dtypes: xgrad writes F32 and F64. It reads F32, F64, F16 and BF16 (as f32), and BOOL, U8, I8,
// U16, I16, U32, I32, U64, I64 (as f64; 64-bit integers beyond 2^53 are an error); other dtypes
// (F8_*, F6_*, F4, C64) are a clear error when that tensor is needed. load() into a module does not
// change a tensor's dtype: a file tensor whose dtype differs from the module's is an error unless
// LoadOptions::convert_dtype is set (then it is converted, like PyTorch's load_state_dict).
// Optimizer state: see checkpoint_optim.hpp. Details and Python interop: docs/checkpoints.md.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "module.hpp"

namespace xgrad {

// The safetensors "__metadata__" object: string keys to string values.
using Metadata = std::map<std::string, std::string>;

struct LoadOptions {
  // Tensors in the file that the module does not have are an error (as PyTorch's strict=True).
  bool strict = true;
  // A tensor stored with another dtype than the module's (F64 into an f32 module, F16 or BF16 into
  // f32, ...) is converted to the module's dtype instead of rejected.
  bool convert_dtype = false;
};

// Saves the module's named_parameters() then named_buffers() to `path`. `metadata` goes into the
// header's "__metadata__" ("format": "pt" is added unless given, as PyTorch tools expect it).
void save(const nn::Module& module, const std::string& path, const Metadata& metadata = {});
// Loads every parameter and buffer of the module from `path`. Everything is checked (the file's
// structure, that each tensor exists with the module's shape and dtype, unexpected tensors) and
// read before the first tensor of the module changes: on any error the module is unchanged and
// xg::Error names the file and the problem. Tensor handles stay valid (values change in place).
void load(nn::Module& module, const std::string& path, const LoadOptions& options = {});

// The lower level: any named tensors (names unique, non-empty, not "__metadata__"), in the file in
// the given order except that all F64 tensors come before all F32 ones (as the reference
// implementation does, so every tensor is aligned to its element size).
void save_tensors(const nn::NamedTensors& tensors, const std::string& path, const Metadata& metadata = {});
// Every tensor of a safetensors file, in the order of their data, after validating the whole file.
nn::NamedTensors load_tensors(const std::string& path);
// The header's "__metadata__" (empty when there is none); reads and validates only the header.
Metadata load_metadata(const std::string& path);

// Checkpoints with optimizer state keep it under this prefix and mark it in the metadata.
inline constexpr std::string_view optimizer_prefix = "optimizer.";
inline constexpr const char* optimizer_metadata_key = "xgrad.optimizer_state";

namespace detail {
// A module load that has been validated and read but not applied yet.
class StagedLoad {
 public:
  void commit();  // writes the staged values into the module's tensors (cannot fail)

 private:
  friend StagedLoad stage_load(nn::Module&, const std::string&, const LoadOptions&, nn::NamedTensors*);
  std::vector<std::pair<Tensor, Value>> values_;
};
// Validates and reads the module's tensors from `path`. When `optimizer_state` is given, the file
// must hold optimizer state and it is returned there (names without the prefix); otherwise tensors
// under optimizer_prefix in a file marked as holding optimizer state are ignored.
StagedLoad stage_load(nn::Module& module, const std::string& path, const LoadOptions& options,
                      nn::NamedTensors* optimizer_state);
// Saves the module's tensors and, under optimizer_prefix, the optimizer's.
void save_checkpoint(const nn::Module& module, const nn::NamedTensors& optimizer_state, const std::string& path,
                     const Metadata& metadata);
}  // namespace detail

}  // namespace xgrad
