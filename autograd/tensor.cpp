// The Tensor handle's members, the recording switch, and tensor creation.
#include "tensor.hpp"

#include <algorithm>
#include <utility>

#include "allocation.hpp"
#include "anomaly.hpp"
#include "dispatch.hpp"
#include "hooks.hpp"
#include "malloc_tuning.hpp"
#include "random.hpp"

namespace xgrad {

// --- graph destruction ---------------------------------------------------------------------------
// A chain of a million ops is a million nested shared pointers; letting each destructor release its
// inputs would recurse a million deep. Instead the first destructor takes over the inputs of every
// node that is about to die and releases them from a work list.
TensorImpl::TensorImpl(Value v) : value(std::move(v)) {}

TensorImpl::~TensorImpl() {
  if (inputs.empty()) return;
  std::vector<std::shared_ptr<TensorImpl>> dying;
  auto take_inputs = [&dying](std::vector<Tensor>& in) {
    for (auto& t : in)
      if (t.defined()) dying.push_back(t.impl_ptr());
    in.clear();
  };
  take_inputs(inputs);
  while (!dying.empty()) {
    std::shared_ptr<TensorImpl> node = std::move(dying.back());
    dying.pop_back();
    if (node.use_count() == 1) take_inputs(node->inputs);
  }  // `node` dies here with no inputs left, so its destructor returns at once
}

// --- members -------------------------------------------------------------------------------------
// Every tensor starts here, so this is where malloc gets tuned for training (autograd/malloc_tuning.hpp).
std::shared_ptr<TensorImpl> detail::make_leaf(xt::xarray<float> value) {
  detail::tune_malloc_once();
  return std::make_shared<TensorImpl>(std::move(value));
}
std::shared_ptr<TensorImpl> detail::make_leaf(xt::xarray<double> value) {
  detail::tune_malloc_once();
  return std::make_shared<TensorImpl>(std::move(value));
}
template <class T>
const xt::xarray<T>* detail::array_if(const TensorImpl* impl) {
  return impl ? std::get_if<xt::xarray<T>>(&impl->value) : nullptr;
}
template const xt::xarray<float>* detail::array_if<float>(const TensorImpl*);
template const xt::xarray<double>* detail::array_if<double>(const TensorImpl*);
void detail::throw_value_dtype(const Tensor& t, DType wanted) {
  if (!t.defined()) throw Error("value: the tensor is undefined");
  throw Error("value<{}>: the tensor is {}", dtype_name(wanted), dtype_name(t.dtype()));
}

std::vector<double> Tensor::to_vector() const {
  return detail::visit("to_vector", *this, [](const auto& a) { return std::vector<double>(a.begin(), a.end()); });
}

Shape Tensor::shape() const {
  return detail::visit("shape", *this, [](const auto& a) { return detail::to_shape(a.shape()); });
}
std::size_t Tensor::numel() const {
  return detail::visit("numel", *this, [](const auto& a) { return a.size(); });
}
std::size_t Tensor::dim() const {
  return detail::visit("dim", *this, [](const auto& a) { return a.dimension(); });
}
DType Tensor::dtype() const {
  detail::checked_value("dtype", *this);
  return impl_->value.index() == 0 ? f32 : f64;
}
double Tensor::item() const {
  detail::checked_value("item", *this);
  if (numel() != 1)
    throw Error("item: tensor of shape {} has {} elements; item() needs exactly one", shape_str(shape()), numel());
  return detail::visit("item", *this, [](const auto& a) { return static_cast<double>(a.data()[0]); });
}

Tensor& Tensor::requires_grad_(bool on) {
  detail::checked_value("requires_grad_", *this);
  if (!is_leaf())
    throw Error("requires_grad_: '{}' output {} is not a leaf; only tensors you create can be marked "
                "(use detach() to make a leaf from it)",
                op(), shape_str(shape()));
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

std::uint32_t Tensor::version() const {
  detail::checked_value("version", *this);
  return impl_->version;
}
void Tensor::bump_version() {
  detail::checked_value("bump_version", *this);
  ++impl_->version;
}

// --- hooks ---------------------------------------------------------------------------------------
namespace {
TensorHooks& hooks_of(TensorImpl& t) {
  if (!t.hooks) t.hooks = std::make_unique<TensorHooks>();
  return *t.hooks;
}
// Unregisters through a weak pointer: the handle may outlive the tensor.
template <class List>
HookHandle handle_for(const std::shared_ptr<TensorImpl>& impl, List TensorHooks::*list, std::uint64_t id) {
  return HookHandle([weak = std::weak_ptr<TensorImpl>(impl), list, id] {
    if (auto t = weak.lock(); t && t->hooks) (t->hooks.get()->*list).remove(id);
  });
}
}  // namespace

HookHandle Tensor::register_hook(std::function<Tensor(const Tensor& grad)> fn) {
  detail::checked_value("register_hook", *this);
  if (!requires_grad())
    throw Error("register_hook: the tensor {} does not require grad, so no gradient will reach the hook",
                shape_str(shape()));
  if (!fn) throw Error("register_hook: the hook is empty");
  return handle_for(impl_, &TensorHooks::grad, hooks_of(*impl_).grad.add(std::move(fn)));
}

HookHandle Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor& leaf)> fn) {
  detail::checked_value("register_post_accumulate_grad_hook", *this);
  if (!is_leaf() || !requires_grad())
    throw Error("register_post_accumulate_grad_hook: only a leaf that requires grad accumulates a gradient; "
                "this tensor {} is {}",
                shape_str(shape()),
                is_leaf() ? "a leaf without requires_grad" : fmt::format("the output of '{}'", op()));
  if (!fn) throw Error("register_post_accumulate_grad_hook: the hook is empty");
  return handle_for(impl_, &TensorHooks::post_accumulate, hooks_of(*impl_).post_accumulate.add(std::move(fn)));
}
bool Tensor::is_leaf() const { return !impl_ || impl_->op == nullptr; }
const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  return impl_ ? impl_->grad : undefined;
}
void Tensor::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}
Tensor& Tensor::retain_grad() {
  if (impl_) impl_->retains_grad = true;
  return *this;
}
Tensor Tensor::detach() const { return Tensor(std::make_shared<TensorImpl>(detail::checked_value("detach", *this))); }
Tensor& Tensor::name(std::string display_name) {
  if (!impl_) throw Error("name: the tensor is undefined (cannot name it '{}')", display_name);
  impl_->name = std::make_unique<std::string>(std::move(display_name));
  return *this;
}

std::string_view Tensor::name() const { return impl_ && impl_->name ? std::string_view(*impl_->name) : ""; }

std::string_view Tensor::op() const { return impl_ && impl_->op ? impl_->op : ""; }
const Site& Tensor::site() const {
  static const Site none{};
  return impl_ ? impl_->site : none;
}

// to(dtype): y = x in another precision; dy/dx = 1, converted back.
Tensor Tensor::to(DType dtype, Site site) const {
  if (this->dtype() == dtype) return *this;
  Tensor y = detail::visit("to", *this, [dtype](const auto& a) {
    return dtype == f32 ? Tensor(xt::xarray<float>(xt::cast<float>(a)))
                        : Tensor(xt::xarray<double>(xt::cast<double>(a)));
  });
  return record(
      "to", y, {*this}, [](Backward& node) { node.dx[0] = node.dy.to(node.x.dtype(0)); }, site);
}

// --- recording -----------------------------------------------------------------------------------
namespace grad_mode {
namespace {
thread_local bool recording = true;
}
bool enabled() { return recording; }
void set_enabled(bool on) { recording = on; }
}  // namespace grad_mode

bool should_record(std::span<const Tensor> inputs) {
  return grad_mode::enabled() &&
         std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) { return t.requires_grad(); });
}

namespace {
thread_local detail::RecordObserver* record_observer = nullptr;
}

detail::RecordObserver* detail::set_record_observer(RecordObserver* observer) {
  return std::exchange(record_observer, observer);
}

namespace {
thread_local std::shared_ptr<const CallFrame> call_frame;
}

const std::shared_ptr<const CallFrame>& detail::current_call() { return call_frame; }
void detail::set_current_call(std::shared_ptr<const CallFrame> frame) { call_frame = std::move(frame); }

std::string detail::describe_node(const TensorImpl& node) {
  const std::string_view file = node.site.file_name();
  const std::string_view base = file.substr(file.find_last_of('/') + 1);
  if (!node.called_in)
    return fmt::format("'{}' recorded at {}:{}", node.op ? node.op : "leaf", node.site.file_name(), node.site.line());
  std::string out = fmt::format("'{}' in {} ({}:{})", node.op, node.called_in->layer, base, node.site.line());
  for (const CallFrame* f = node.called_in.get(); f; f = f->outer.get()) {
    out += fmt::format(", called from {}:{}", f->called_from.file_name(), f->called_from.line());
    if (f->outer) out += fmt::format(" in {}", f->outer->layer);
  }
  return out;
}

void attach_node(Tensor& out, const char* op, std::vector<Tensor> inputs, BackwardFn backward, Site site,
                 Differentiability differentiability) {
  TensorImpl& node = *out.impl();
  node.op = op;
  node.inputs = std::move(inputs);
  node.backward = std::move(backward);
  node.site = site;
  node.requires_grad = true;
  node.called_in = call_frame;
  node.once_differentiable = differentiability == Differentiability::once;
  const std::size_t n = node.inputs.size();
  for (std::size_t i = 0; i < n && i < 3; ++i)
    node.input_versions[i] = node.inputs[i].defined() ? node.inputs[i].impl()->version : 0;
  for (std::size_t i = 3; i < n; ++i)
    node.more_input_versions.push_back(node.inputs[i].defined() ? node.inputs[i].impl()->version : 0);
  node.recorded_version = node.version;
  if (is_anomaly_enabled()) detail::check_forward_anomaly(node);
  if (record_observer) record_observer->recorded(out);
}

// --- creation ------------------------------------------------------------------------------------
namespace {
// Builds a tensor of the requested dtype from f(T{}), which returns an xt::xarray<T>.
template <class F>
Tensor make(DType dtype, F&& f) {
  return dtype == f32 ? Tensor(f(float{})) : Tensor(f(double{}));
}
template <class Dist>
Tensor sample(const char* op, const Shape& shape, DType dtype, Dist dist) {
  detail::check_allocation(op, shape, dtype);
  // Drawn in double and rounded, so one seed gives the same numbers in f32 and f64.
  return make(dtype, [&](auto t) {
    using T = decltype(t);
    xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
    for (auto& v : a) v = static_cast<T>(dist(generator()));
    return a;
  });
}
}  // namespace

Tensor tensor(const std::vector<double>& values, DType dtype) {
  return make(dtype, [&](auto t) {
    using T = decltype(t);
    xt::xarray<T> a = xt::xarray<T>::from_shape({values.size()});
    std::copy(values.begin(), values.end(), a.begin());
    return a;
  });
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype) {
  const std::size_t cols = rows.size() ? rows.begin()->size() : 0;
  for (const auto& r : rows)
    if (r.size() != cols) throw Error("tensor: rows have different lengths ({} and {})", cols, r.size());
  return make(dtype, [&](auto t) {
    using T = decltype(t);
    xt::xarray<T> a = xt::xarray<T>::from_shape({rows.size(), cols});
    auto out = a.begin();
    for (const auto& r : rows) out = std::copy(r.begin(), r.end(), out);
    return a;
  });
}

namespace {
// `op` is the factory the caller used, for the error about a shape too large for this machine.
Tensor filled(const char* op, const Shape& shape, double value, DType dtype) {
  detail::check_allocation(op, shape, dtype);
  return make(dtype, [&](auto t) {
    using T = decltype(t);
    xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
    a.fill(static_cast<T>(value));
    return a;
  });
}
}  // namespace
Tensor full(const Shape& shape, double value, DType dtype) { return filled("full", shape, value, dtype); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }
Tensor zeros(const Shape& shape, DType dtype) { return filled("zeros", shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return filled("ones", shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor arange(std::size_t n, DType dtype) {
  detail::check_allocation("arange", {n}, dtype);
  return make(dtype, [&](auto t) {
    using T = decltype(t);
    xt::xarray<T> a = xt::xarray<T>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) a.data()[i] = static_cast<T>(i);
    return a;
  });
}
Tensor randn(const Shape& shape, DType dtype) {
  return sample("randn", shape, dtype, std::normal_distribution<double>(0, 1));
}
Tensor rand(const Shape& shape, DType dtype) {
  return sample("rand", shape, dtype, std::uniform_real_distribution<double>(0, 1));
}

// --- random --------------------------------------------------------------------------------------
std::mt19937_64& generator() {
  static thread_local std::mt19937_64 gen(5489u);
  return gen;
}
void manual_seed(std::uint64_t seed) { generator().seed(seed); }

namespace detail {
std::size_t normalize_axis(const char* op, long axis, std::size_t rank, const Shape& shape) {
  const long r = static_cast<long>(rank);
  if (axis < -r || axis >= r)
    throw Error("{}: axis {} is out of range for a tensor of shape {} (rank {})", op, axis, shape_str(shape), rank);
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}
}  // namespace detail

}  // namespace xgrad
