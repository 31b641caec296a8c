#pragma once
// xg::optim::Optimizer: the base of every optimizer. An optimizer holds parameter groups (each
// group its own options, so a pretrained backbone and a fresh head can train at different learning
// rates) and per-parameter state (step count and moment buffers, created at a parameter's first
// update). step() updates every parameter that requires grad and has a gradient, in place and
// under NoGradGuard; frozen parameters and parameters no gradient reached are skipped.
//
//   xg::optim::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = 0.9, .nesterov = true});
//   xg::optim::Adam adam({{backbone.parameters(), {.lr = 1e-4}}, {head.parameters(), {.lr = 1e-3}}});
//   adam.zero_grad(); loss.backward(); adam.step();
//
// Checkpoints: state_dict() gives named tensors ("group.<g>.lr", "<i>.step", "<i>.<buffer>", where
// i is the parameter's index counting through the groups in order); load_state_dict() checks all
// of them before changing anything.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../autograd/tensor.hpp"

namespace xgrad::optim {

// A list of parameters trained with the same options.
template <class Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options{};
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;  // schedulers hold references to an optimizer
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every trainable parameter that has a gradient (each through update()).
  virtual void step();
  // Forgets every parameter's gradient (sets it undefined, like PyTorch's set_to_none).
  void zero_grad();

  virtual std::string_view name() const = 0;  // "SGD", "Adam", ...

  std::size_t group_count() const { return groups_.size(); }
  const std::vector<Tensor>& params(std::size_t group) const;
  std::vector<Tensor> parameters() const;  // all groups, in order (the flat index order)
  std::size_t param_count() const { return state_.size(); }
  virtual double lr(std::size_t group = 0) const = 0;
  virtual void set_lr(std::size_t group, double lr) = 0;  // for schedulers; lr >= 0

  // A parameter's state: how many updates it has had, and its buffers by name ("exp_avg", ...);
  // an undefined tensor if it has no such buffer (yet).
  std::int64_t step_count(std::size_t flat_index) const;
  Tensor state(std::size_t flat_index, std::string_view buffer) const;

  // Copies of the learning rates, step counts and buffers; load_state_dict() validates everything
  // (missing or unexpected key, shape, dtype, values) before changing anything, so a failed load
  // leaves the optimizer as it was. Other options come from the constructor, not the checkpoint.
  // Virtual so an optimizer with state of its own (LBFGS's history) saves and loads all of it when
  // held as an Optimizer& (the trainer, factories returning unique_ptr<Optimizer>).
  virtual NamedTensors state_dict() const;
  virtual void load_state_dict(const NamedTensors& state);

  // One parameter's state (for optimizer implementations).
  struct ParamState {
    std::int64_t step = 0;
    std::vector<std::pair<std::string, Tensor>> buffers;
    const Tensor* find(std::string_view name) const;
    // The named buffer as a raw array of like's shape and dtype, created filled with `init` if
    // absent (then *created is set).
    template <class T>
    T* buffer(std::string_view name, const Tensor& like, double init = 0.0, bool* created = nullptr);
  };

 protected:
  Optimizer() = default;

  // Registers a new group's parameters (checks: defined, leaf, not already registered).
  void add_group_params(std::vector<Tensor> params);
  // The update of one parameter of group g, whose state's step has just been incremented. w is
  // the parameter, grad its gradient (same shape and dtype).
  virtual void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) = 0;
  // The buffers a parameter of group g has once it has been updated (for load_state_dict).
  virtual std::vector<std::string> buffer_names(std::size_t group) const = 0;
  // Sets a validated lr without checks (load_state_dict must not throw halfway).
  virtual void assign_lr(std::size_t group, double lr) = 0;

  static void check_lr(std::string_view who, double lr);

 private:
  std::vector<std::vector<Tensor>> groups_;
  std::vector<ParamState> state_;  // one per parameter, flat index
};

// The part of every optimizer that depends on its options type: per-group options, lr access.
template <class Options>
class OptimizerWith : public Optimizer {
 public:
  const Options& options(std::size_t group = 0) const {
    check_group(group);
    return options_[group];
  }
  void set_options(std::size_t group, const Options& options) {
    check_group(group);
    check_options(options);
    options_[group] = options;
  }
  // Adds a group (for example layers unfrozen later in fine-tuning); its parameters get the
  // next flat indices.
  void add_param_group(ParamGroup<Options> group) {
    check_options(group.options);
    add_group_params(std::move(group.params));
    options_.push_back(group.options);
  }
  double lr(std::size_t group = 0) const override { return options(group).lr; }
  void set_lr(std::size_t group, double lr) override {
    check_group(group);
    check_lr(name(), lr);
    options_[group].lr = lr;
  }

 protected:
  // Throws xg::Error for invalid options.
  virtual void check_options(const Options& options) const = 0;
  // For constructors: call from the derived constructor (so check_options dispatches).
  void init(std::vector<ParamGroup<Options>> groups);
  void assign_lr(std::size_t group, double lr) override { options_[group].lr = lr; }
  void check_group(std::size_t group) const;

  std::vector<Options> options_;
};

// --- implementation ---------------------------------------------------------------------------
template <class T>
T* Optimizer::ParamState::buffer(std::string_view name, const Tensor& like, double init, bool* created) {
  for (auto& [n, b] : buffers)
    if (n == name) {
      if (created) *created = false;
      return b.template mutable_value<T>().data();
    }
  buffers.emplace_back(std::string(name), full(like.shape(), init, like.dtype()));
  if (created) *created = true;
  return buffers.back().second.template mutable_value<T>().data();
}

template <class Options>
void OptimizerWith<Options>::init(std::vector<ParamGroup<Options>> groups) {
  if (groups.empty()) throw Error("{}: no parameter groups", name());
  std::size_t total = 0;
  for (auto& g : groups) {
    total += g.params.size();
    add_param_group(std::move(g));
  }
  if (total == 0) throw Error("{}: got an empty parameter list", name());
}

template <class Options>
void OptimizerWith<Options>::check_group(std::size_t group) const {
  if (group >= options_.size())
    throw Error("{}: parameter group {} does not exist (the optimizer has {})", name(), group, options_.size());
}

}  // namespace xgrad::optim
