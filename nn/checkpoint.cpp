// Module and optimizer checkpoints on top of the safetensors format (io/safetensors.hpp): which
// tensors a module has, checking a file against them, and loading without a partial update.
#include "checkpoint.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "../autograd/tensor_impl.hpp"

namespace xgrad {
namespace {

using safetensors::Entry;

template <class... Args>
[[noreturn]] void fail_path(std::string_view op, const std::string& path, fmt::format_string<Args...> format,
                            Args&&... args) {
  throw Error("{}: {}: {}", op, path, fmt::format(format, std::forward<Args>(args)...));
}

std::string quoted_list(const std::vector<std::string>& names) {
  constexpr std::size_t shown = 8;
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < shown; ++i) out += fmt::format("{}'{}'", i ? ", " : "", names[i]);
  if (names.size() > shown) out += fmt::format(" and {} more", names.size() - shown);
  return out;
}

nn::NamedTensors module_tensors(const nn::Module& module) {
  nn::NamedTensors all = module.named_parameters();
  for (auto& entry : module.named_buffers()) all.push_back(std::move(entry));
  return all;
}

void check_user_metadata(std::string_view op, const std::string& path, const Metadata& metadata) {
  if (metadata.count(optimizer_metadata_key))
    fail_path(op, path, "the metadata key '{}' is reserved for checkpoints with optimizer state",
              optimizer_metadata_key);
}

}  // namespace

// --- public API ----------------------------------------------------------------------------------
void save(const nn::Module& module, const std::string& path, const Metadata& metadata) {
  check_user_metadata("save", path, metadata);
  safetensors::write_file("save", module_tensors(module), path, metadata);
}

void load(nn::Module& module, const std::string& path, const LoadOptions& options) {
  detail::stage_load(module, path, options, nullptr).commit();
}

namespace detail {

void StagedLoad::commit() {
  for (auto& [tensor, value] : values_) {
    tensor.impl()->value = std::move(value.impl()->value);
    tensor.bump_version();  // a node recorded before the load must not backpropagate through new values
  }
  values_.clear();
}

StagedLoad stage_load(nn::Module& module, const std::string& path, const LoadOptions& options,
                      nn::NamedTensors* optimizer_state) {
  safetensors::File file("load", path);
  const bool has_optimizer = file.metadata().count(optimizer_metadata_key) > 0;
  if (optimizer_state && !has_optimizer)
    file.fail("the file holds no optimizer state (it was saved without an optimizer: load it with load(module, path))");

  std::unordered_map<std::string_view, const Entry*> in_file;
  std::vector<const Entry*> optimizer_entries;
  for (const auto& e : file.entries()) {
    if (has_optimizer && e.name.starts_with(optimizer_prefix))
      optimizer_entries.push_back(&e);
    else
      in_file.emplace(e.name, &e);
  }

  const nn::NamedTensors expected = module_tensors(module);
  std::vector<std::string> missing, unexpected;
  std::unordered_set<std::string_view> expected_names;
  for (const auto& [name, t] : expected) {
    if (!t.defined()) file.fail("the module's tensor '{}' is undefined", name);
    expected_names.insert(name);
    if (!in_file.count(name)) missing.push_back(name);
  }
  if (missing.size() == 1)
    file.fail("tensor {} is missing from the file (the module expects it)", quoted_list(missing));
  if (!missing.empty())
    file.fail("{} tensors are missing from the file (the module expects them): {}", missing.size(),
              quoted_list(missing));
  if (options.strict) {
    for (const auto& e : file.entries())
      if (in_file.count(e.name) && !expected_names.count(e.name)) unexpected.push_back(e.name);
    if (!unexpected.empty())
      file.fail("the file has {} tensor{} the module does not have: {} (LoadOptions{{.strict = false}} ignores them)",
                unexpected.size(), unexpected.size() == 1 ? "" : "s", quoted_list(unexpected));
  }
  for (const auto& [name, t] : expected) {
    const Entry& e = *in_file.at(name);
    if (e.shape != t.shape())
      file.fail("tensor '{}' has shape {} in the file but {} in the module", name, shape_str(e.shape),
                shape_str(t.shape()));
    if (e.dtype != safetensors::file_dtype(t.dtype()) && !options.convert_dtype)
      file.fail("tensor '{}' is {} in the file but {} in the module (LoadOptions{{.convert_dtype = true}} converts it)",
                name, e.dtype, dtype_name(t.dtype()));
  }

  // Everything checks out: read the data (in file order), still without touching the module.
  std::vector<std::size_t> order(expected.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return in_file.at(expected[a].first)->begin < in_file.at(expected[b].first)->begin;
  });
  StagedLoad staged;
  staged.values_.reserve(expected.size());
  for (std::size_t i : order) {
    const auto& [name, t] = expected[i];
    staged.values_.emplace_back(t, safetensors::convert(file.read(*in_file.at(name)), t.dtype()));
  }
  if (optimizer_state) {
    optimizer_state->clear();
    for (const Entry* e : optimizer_entries)
      optimizer_state->emplace_back(e->name.substr(optimizer_prefix.size()), file.read(*e));
  }
  return staged;
}

void save_checkpoint(const nn::Module& module, const nn::NamedTensors& optimizer_state, const std::string& path,
                     const Metadata& metadata) {
  check_user_metadata("save", path, metadata);
  nn::NamedTensors all = module_tensors(module);
  for (const auto& [name, t] : all)
    if (name.starts_with(optimizer_prefix))
      fail_path("save", path, "the module's tensor '{}' starts with '{}', which names the optimizer state here", name,
                optimizer_prefix);
  for (const auto& [name, t] : optimizer_state) all.emplace_back(std::string(optimizer_prefix) + name, t);
  Metadata md = metadata;
  md[optimizer_metadata_key] = std::string(optimizer_prefix);
  safetensors::write_file("save", all, path, md);
}

}  // namespace detail
}  // namespace xgrad
