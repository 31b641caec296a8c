#pragma once
// xg::Tensor: a cheap handle (one shared pointer) to a TensorImpl, which holds the value, the
// accumulated gradient and, for tensors computed by an op while recording, the tape node:
// the op's name, its inputs, its local-gradient function and the line of model code that made it
// (autograd/tensor_impl.hpp).
//
// This header, like every header <xgrad/xgrad.hpp> includes, names no xtensor type: a program that
// only builds models compiles without parsing or instantiating xtensor. The members that take or
// give xtensor arrays (the constructor from an array, value<T>(), mutable_value<T>()) are declared
// here and defined in <xgrad/xtensor.hpp>, which a program includes to use them.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "dtype.hpp"
#include "error.hpp"

namespace xgrad {

using Shape = std::vector<std::size_t>;
using Site = std::source_location;

struct TensorImpl;
struct Backward;
struct TensorHooks;
struct CallFrame;
using BackwardFn = std::function<void(Backward&)>;

namespace detail {
// xt::xarray<T>, for T = float or double. Complete only where <xgrad/xtensor.hpp> is included: a
// program that calls value<T>() without it fails to compile naming this incomplete type.
template <class T>
struct XtensorArray_include_xgrad_xtensor_hpp;
template <class T>
using Array = typename XtensorArray_include_xgrad_xtensor_hpp<T>::type;
// An xtensor array or lazy expression (they all name their expression_tag).
template <class E>
concept XtensorExpression = requires {
  typename std::remove_cvref_t<E>::expression_tag;
};
}  // namespace detail

// What registering a hook returns: remove() unregisters it (twice is harmless); dropping the handle
// leaves the hook registered. autograd/hooks.hpp says when hooks run.
class HookHandle {
 public:
  HookHandle() = default;
  explicit HookHandle(std::function<void()> remover) : remover_(std::move(remover)) {}
  void remove() {
    if (auto r = std::exchange(remover_, nullptr)) r();
  }

 private:
  std::function<void()> remover_;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (for example the grad of a tensor no gradient reached)
  // Wraps an xtensor array or expression of float or double, evaluated into a new leaf
  // (defined in <xgrad/xtensor.hpp>).
  template <detail::XtensorExpression E>
  explicit Tensor(E&& array);
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  Shape shape() const;
  std::size_t numel() const;
  std::size_t dim() const;
  DType dtype() const;
  double item() const;  // the value of a one-element tensor

  // The value as an xtensor array (xt::xarray<T>, with <xgrad/xtensor.hpp>); throws unless T
  // matches dtype().
  template <class T>
  const detail::Array<T>& value() const&;
  // On a temporary (`f(x).value<float>()`) the value comes as a copy: a reference into a tensor that
  // dies at the end of the statement would dangle (`const auto& v = model(x).value<float>();`).
  template <class T>
  detail::Array<T> value() const&&;
  // Writable access for code that updates tensors in place outside the tape (optimizers, init).
  // Only on a named tensor: a write into a temporary is either lost or dangles.
  template <class T>
  detail::Array<T>& mutable_value() &;
  template <class T>
  detail::Array<T>& mutable_value() && = delete;
  // The values as doubles in row-major order, whatever the dtype (no xtensor needed).
  std::vector<double> to_vector() const;

  Tensor to(DType dtype, Site site = Site::current()) const;
  // x.reshape(...) and x.transpose() as PyTorch spells them, the two shape ops that model code chains
  // most. They are the ops xg::reshape / xg::transpose, so they are defined with them in ops/shape.cpp:
  // the one place where this header names something a higher layer implements.
  Tensor reshape(const Shape& shape, Site site = Site::current()) const;
  Tensor transpose(Site site = Site::current()) const;

  // --- autograd ---
  Tensor& requires_grad_(bool on = true);
  bool requires_grad() const;
  bool is_leaf() const;  // made by the user, not recorded by an op
  // The accumulated gradient; undefined until a backward reaches it. A reference, as in PyTorch, so
  // `x.grad().value<double>()` reads the gradient in place.
  const Tensor& grad() const;
  void zero_grad();       // forget the accumulated gradient
  Tensor& retain_grad();  // keep this non-leaf tensor's gradient after backward
  Tensor detach() const;  // same value, cut from the tape
  // Back-propagates from this tensor. A scalar seeds with 1; otherwise pass dL/dthis as `grad`.
  // The graph is freed afterwards unless retain_graph is set (it defaults to create_graph, as in
  // PyTorch). With create_graph the backward pass is itself recorded: the gradients it leaves are
  // tensors with a graph of their own, which can be differentiated again (docs/autograd.md, 10).
  void backward(const Tensor& grad = {}, std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;

  // --- hooks (autograd/hooks.hpp has the details and the order they run in) ---
  // fn sees this tensor's gradient once backward has summed every use of it, and may return a
  // replacement (an undefined Tensor, or a void fn, leaves it as it is). Leaves and intermediates.
  HookHandle register_hook(std::function<Tensor(const Tensor& grad)> fn);
  template <class F>
  requires std::is_void_v<std::invoke_result_t<F&, const Tensor&>> HookHandle register_hook(F fn) {
    return register_hook(std::function<Tensor(const Tensor&)>([fn = std::move(fn)](const Tensor& grad) mutable {
      fn(grad);
      return Tensor();
    }));
  }
  // Leaves only: fn runs right after this backward has added its gradient into grad().
  HookHandle register_post_accumulate_grad_hook(std::function<void(const Tensor& leaf)> fn);

  // How many times the value was written in place (mutable_value, optimizer steps, init, load):
  // backward refuses a node whose inputs changed after it was recorded.
  std::uint32_t version() const;
  void bump_version();  // for code that writes impl()->value directly

  // A display name for printouts, traces and drawings (autograd/print.hpp, trace.hpp, dot.hpp):
  // `auto q = (x + y).name("q");`. It changes nothing else; a Module names its parameters.
  Tensor& name(std::string display_name);
  std::string_view name() const;  // "" when unnamed

  // The tape node behind this tensor: its op name ("" for a leaf) and where it was recorded.
  std::string_view op() const;
  const Site& site() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Tensors by name, in order: parameters, buffers, state dicts of modules and optimizers.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Where a node was recorded when it was recorded inside a layer: the layer ("Linear 'fc1'") and the
// line that called it, with the frame of the enclosing layer call (a layer inside a model).
struct CallFrame {
  std::string layer;
  Site called_from;
  std::shared_ptr<const CallFrame> outer;
};
namespace detail {
// The innermost layer call running on this thread (set by nn::Module::operator()).
const std::shared_ptr<const CallFrame>& current_call();
void set_current_call(std::shared_ptr<const CallFrame> frame);
// "'matmul' in Linear 'fc1' (linear.cpp:21), called from model.cpp:40" or "'mul' recorded at model.cpp:12".
std::string describe_node(const TensorImpl& node);
}  // namespace detail

// A node's inputs as its local-gradient function sees them. Reading one (x[i]) is noted, so that the
// engine can check that no input the backward read was modified in place after it was recorded;
// shape(i) and dtype(i) read only what an in-place write cannot change. The note is atomic: a local
// gradient may read its inputs from the parts of a parallel_for (the engine looks at it after the
// function returned, so relaxed order is enough), and a bit already set is not written again.
class BackwardInputs {
 public:
  explicit BackwardInputs(std::span<const Tensor> x) : x_(x) {}
  const Tensor& operator[](std::size_t i) const {
    const std::uint64_t bit = i < 63 ? std::uint64_t{1} << i : ~std::uint64_t{0};
    if ((read_.load(std::memory_order_relaxed) & bit) != bit) read_.fetch_or(bit, std::memory_order_relaxed);
    return x_[i];
  }
  std::size_t size() const { return x_.size(); }
  Shape shape(std::size_t i) const { return x_[i].shape(); }
  DType dtype(std::size_t i) const { return x_[i].dtype(); }
  bool requires_grad(std::size_t i) const { return x_[i].requires_grad(); }
  bool was_read(std::size_t i) const {
    return (read_.load(std::memory_order_relaxed) >> std::min<std::size_t>(i, 63)) & 1;
  }

 private:
  std::span<const Tensor> x_;
  mutable std::atomic<std::uint64_t> read_{0};
};

// What a node's local-gradient function sees: its output y, the gradient dy flowing into y, its
// inputs x, and dx to fill. dx[i] may be left undefined when !needs(i); the engine sums a dx[i]
// that has the broadcast shape back to x[i]'s shape. Ops name it `node`:
//   [](Backward& node) { node.dx[0] = node.dy * node.x[1]; }
//
// With create_graph the engine runs this function with recording on, so dx is itself recorded and
// can be differentiated again. A function that computes dx with a raw kernel checks
// node.create_graph and then takes a path made of recorded ops (ops/conv.cpp is an example).
struct Backward {
  const Tensor& y;
  const Tensor& dy;
  BackwardInputs x;
  std::vector<Tensor>& dx;
  bool create_graph = false;
  bool needs(std::size_t i) const { return x.requires_grad(i); }
};

// --- recording ---------------------------------------------------------------------------------
namespace grad_mode {
bool enabled();
void set_enabled(bool on);
}  // namespace grad_mode

// Stops recording for its scope (evaluation, optimizer steps, the backward pass itself).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_mode::enabled()) { grad_mode::set_enabled(false); }
  ~NoGradGuard() { grad_mode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording back on for its scope, inside a NoGradGuard (torch::AutoGradMode(true)): code that
// differentiates inside a function evaluated without recording, such as a gradient penalty under
// gradcheck's finite differences, or autograd/functional.hpp.
class EnableGradGuard {
 public:
  EnableGradGuard() : previous_(grad_mode::enabled()) { grad_mode::set_enabled(true); }
  ~EnableGradGuard() { grad_mode::set_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

bool should_record(std::span<const Tensor> inputs);

namespace detail {
// Sees every node recorded on this thread while installed, right after it is attached: gradcheck_tape
// (testing/) replays a function and perturbs the value of one chosen node. One observer per thread.
class RecordObserver {
 public:
  virtual void recorded(Tensor& out) = 0;

 protected:
  ~RecordObserver() = default;
};
RecordObserver* set_record_observer(RecordObserver* observer);  // returns the previous one
}  // namespace detail
// Whether an op's local gradient may itself be differentiated. A local gradient written with
// differentiable ops is `any_order`; one written as raw loops over arrays declares `once`, so that
// differentiating through it a second time (create_graph) can refuse with the op's name and line
// instead of giving silent zero second derivatives. The node keeps the declaration
// (TensorImpl::once_differentiable) and tape_to_string shows it.
enum class Differentiability { any_order, once };

void attach_node(Tensor& out, const char* op, std::vector<Tensor> inputs, BackwardFn backward, Site site,
                 Differentiability differentiability = Differentiability::any_order);

// Makes `out` the output of op `name` on the tape when recording is on and an input needs a
// gradient. `backward` computes the local gradients; it must not capture input or output
// tensors (it reads them from Backward), so the tape holds no cycles.
template <class F>
Tensor record(const char* name, Tensor out, std::initializer_list<Tensor> inputs, F&& backward, Site site,
              Differentiability differentiability = Differentiability::any_order) {
  if (should_record(std::span<const Tensor>(inputs.begin(), inputs.size())))
    attach_node(out, name, std::vector<Tensor>(inputs), BackwardFn(std::forward<F>(backward)), site, differentiability);
  return out;
}
template <class F>
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, F&& backward, Site site,
              Differentiability differentiability = Differentiability::any_order) {
  if (should_record(inputs))
    attach_node(out, name, std::move(inputs), BackwardFn(std::forward<F>(backward)), site, differentiability);
  return out;
}

// --- creation ----------------------------------------------------------------------------------
// 1-D from {1.0, 2.0, 3.0} (or any vector); 2-D from nested lists, one per row: {{1.0}, {2.0}} is a
// column [2, 1]. (The 1-D form takes a vector, not an initializer_list<double>: with two
// initializer_list overloads, {{1.0}, {2.0}} would match both equally and not compile.)
Tensor tensor(const std::vector<double>& values, DType dtype = f32);
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype = f32);
Tensor scalar(double value, DType dtype = f32);
Tensor zeros(const Shape& shape, DType dtype = f32);
Tensor ones(const Shape& shape, DType dtype = f32);
Tensor full(const Shape& shape, double value, DType dtype = f32);
Tensor arange(std::size_t n, DType dtype = f32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor randn(const Shape& shape, DType dtype = f32);  // standard normal
Tensor rand(const Shape& shape, DType dtype = f32);   // uniform on [0, 1)

}  // namespace xgrad
