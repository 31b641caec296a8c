#pragma once
// Checkpoints of modules (and, with checkpoint_optim.hpp, optimizers) as safetensors files
// (io/safetensors.hpp), so a file written here opens with Python's safetensors / PyTorch:
//
//   xg::save(net, "net.safetensors");   // parameters, then buffers, under their dotted names
//   xg::load(net, "net.safetensors");   // validates the whole file first; on error net is unchanged
//
// Writes are atomic (a failed save leaves an existing file untouched). load() into a module does not
// change a tensor's dtype: a file tensor whose dtype differs from the module's is an error unless
// LoadOptions::convert_dtype is set (then it is converted, like PyTorch's load_state_dict).
// Details and Python interop: docs/checkpoints.md.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../io/safetensors.hpp"
#include "module.hpp"

namespace xgrad {

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
  std::vector<std::pair<Tensor, Tensor>> values_;  // the module's tensor, its new value
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
