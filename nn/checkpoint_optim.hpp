#pragma once
// Checkpoints that resume training exactly: the module's tensors and the optimizer's state
// (moments, step counts) in one safetensors file, the optimizer's under the prefix "optimizer.".
//
//   xg::save(net, adam, "ckpt.safetensors");
//   xg::load(net, adam, "ckpt.safetensors");  // both validated before either changes
//
// Works with any optimizer that has
//   nn::NamedTensors state_dict() const;
//   void load_state_dict(const nn::NamedTensors&);  // validates before changing, throws xg::Error
// A plain xg::load(net, path) of such a file ignores the optimizer state.
#include <concepts>

#include "checkpoint.hpp"

namespace xgrad {

template <class Opt>
concept SavableOptimizer = requires(const Opt& optimizer) {
  { optimizer.state_dict() } -> std::convertible_to<nn::NamedTensors>;
};
template <class Opt>
concept LoadableOptimizer = requires(Opt& optimizer, const nn::NamedTensors& state) {
  optimizer.load_state_dict(state);
};

template <SavableOptimizer Opt>
void save(const nn::Module& module, const Opt& optimizer, const std::string& path, const Metadata& metadata = {}) {
  detail::save_checkpoint(module, optimizer.state_dict(), path, metadata);
}

// Order: the file and the module's part are validated and read (nothing changed yet), then the
// optimizer validates and takes its state (it changes nothing if it throws), then the module's new
// values are committed, which cannot fail.
template <LoadableOptimizer Opt>
void load(nn::Module& module, Opt& optimizer, const std::string& path, const LoadOptions& options = {}) {
  nn::NamedTensors state;
  detail::StagedLoad staged = detail::stage_load(module, path, options, &state);
  optimizer.load_state_dict(state);
  staged.commit();
}

}  // namespace xgrad
