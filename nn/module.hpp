#pragma once
// xg::nn::Module: the base of every layer and model. A module owns named parameters (leaf tensors
// that require grad), named buffers (state that is saved but not trained, like batchnorm's running
// statistics) and named child modules, and computes forward() from ops only: no module writes a
// backward. Writing a new module is a short class:
//
//   struct TwoLayer : xg::nn::Module {
//     std::shared_ptr<xg::nn::Linear> fc1 = register_module("fc1", xg::nn::Linear(784, 100));
//     std::shared_ptr<xg::nn::Linear> fc2 = register_module("fc2", xg::nn::Linear(100, 10));
//     xg::Tensor forward(const xg::Tensor& x) override { return (*fc2)(xg::relu((*fc1)(x))); }
//   };
//
// Copying a module copies handles: the copy shares its parameters with the original.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../autograd/hooks.hpp"
#include "../autograd/tensor.hpp"

namespace xgrad::nn {

using xgrad::NamedTensors;

class Module {
 public:
  virtual ~Module() = default;

  // The layer's computation. Call it through operator(), which runs the forward hooks, feeds
  // summary(), and makes every op recorded inside name this layer and the caller's line:
  // "'linear' in Linear(in=784, out=100) 'fc1' (linear.cpp:21), called from model.cpp:40".
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x_in, Site site = Site::current());

  // Forward hooks (for capturing activations per layer): a pre-hook sees the input before forward
  // and may return a replacement; a hook sees input and output after it and may replace the output.
  // Returning an undefined Tensor (or a void fn) keeps the value. Hooks run in registration order;
  // the handle's remove() unregisters.
  using ForwardPreHook = std::function<Tensor(Module& module, const Tensor& input)>;
  using ForwardHook = std::function<Tensor(Module& module, const Tensor& input, const Tensor& output)>;
  HookHandle register_forward_pre_hook(ForwardPreHook hook);
  HookHandle register_forward_hook(ForwardHook hook);
  template <class F>
  requires std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&>> HookHandle
  register_forward_pre_hook(F hook) {
    return register_forward_pre_hook(ForwardPreHook([hook = std::move(hook)](Module& m, const Tensor& x) mutable {
      hook(m, x);
      return Tensor();
    }));
  }
  template <class F>
  requires std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&, const Tensor&>> HookHandle
  register_forward_hook(F hook) {
    return register_forward_hook(
        ForwardHook([hook = std::move(hook)](Module& m, const Tensor& x, const Tensor& y) mutable {
          hook(m, x, y);
          return Tensor();
        }));
  }

  // The name this module was registered under in its parent ("fc1", "0"); empty for a top level.
  const std::string& name() const { return registered_name_; }

  // A short description of the layer and its settings, e.g. "Linear(in=4, out=8)" or
  // "Linear(in=4, out=8, no bias)". The default is the class name ("TwoLayer").
  virtual std::string describe() const;

  // Parameters of this module and all its descendants, in registration order; names are dotted
  // paths like "features.0.weight". Parameters with requires_grad off (frozen) are included.
  std::vector<Tensor> parameters() const;
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const;
  std::size_t parameter_count() const;  // number of scalar parameters

  void train(bool on = true);  // recursively
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Converts every parameter and buffer in place, so tensor handles held elsewhere (an
  // optimizer's parameter list) stay valid.
  void to(DType dtype);
  void zero_grad();
  // Turns requires_grad off (or on) for every parameter: frozen parameters get no gradient and
  // optimizers skip them (transfer learning).
  void requires_grad_(bool on);

  // One line per module called: its dotted name ("fc1", "features.0"), description, output shape
  // for an input of `input_shape`, and parameter count; computed by running forward on zeros under
  // NoGradGuard in eval mode. Every module's own train/eval mode is restored afterwards.
  std::string summary(const Shape& input_shape, DType dtype = f32);

 protected:
  Tensor register_parameter(const std::string& name, Tensor value);  // marks it requires_grad
  Tensor register_buffer(const std::string& name, Tensor value);
  // register_parameter as a callable, for helpers that register on a module's behalf (the recurrent
  // layers' detail::register_cell).
  std::function<Tensor(const std::string&, Tensor)> parameter_registrar() {
    return [this](const std::string& name, Tensor value) { return register_parameter(name, std::move(value)); };
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_new_name(name);
    if (module && module->Module::registered_name_.empty()) module->Module::registered_name_ = name;
    children_.emplace_back(name, module);
    if (module) name_parameters_of(name, *module);
    return module;
  }
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, M module) {
    return register_module(name, std::make_shared<M>(std::move(module)));
  }

 private:
  void check_new_name(const std::string& name) const;
  // Display names (Tensor::name) for printouts: a parameter is named at registration ("weight") and
  // its name grows to the dotted path as its module is registered in a parent ("fc1.weight") and
  // whenever named_parameters() runs on an ancestor, so a submodule registered late is named too.
  // A name the user gave (not a suffix of the path) is kept.
  static void name_parameters_of(const std::string& prefix, const Module& child);
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::string registered_name_;
  struct Hooks {
    HookList<ForwardPreHook> pre;
    HookList<ForwardHook> post;
  };
  std::shared_ptr<Hooks> hooks_ = std::make_shared<Hooks>();
};

}  // namespace xgrad::nn
