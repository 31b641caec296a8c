#include "module.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <typeinfo>

#include "../autograd/dispatch.hpp"
#include "../ops/arithmetic.hpp"

namespace xgrad::nn {

namespace {
// While summary() runs, every Module::operator() reports here.
struct SummaryRow {
  std::size_t depth;
  std::string name, describe, shape;
  std::size_t params;
};
thread_local std::vector<SummaryRow>* summary_rows = nullptr;
thread_local const std::map<const Module*, std::string>* summary_names = nullptr;
thread_local std::size_t summary_depth = 0;

template <class Visit>
void walk(const Module& m, const std::string& prefix, Visit&& visit) {
  // Registration order: a module's own entries first, then each child's under "name.".
  visit(m, prefix);
  for (const auto& [name, child] : m.named_children()) walk(*child, prefix + name + ".", visit);
}
}  // namespace

Tensor Module::operator()(const Tensor& x_in, Site site) {
  // Ops recorded inside forward name this layer and the caller's line (autograd/tensor.hpp, CallFrame).
  struct Frame {
    std::shared_ptr<const CallFrame> outer = detail::current_call();
    ~Frame() { detail::set_current_call(std::move(outer)); }
  } frame;
  detail::set_current_call(std::make_shared<const CallFrame>(
      CallFrame{registered_name_.empty() ? describe() : fmt::format("{} '{}'", describe(), registered_name_), site,
                frame.outer}));

  const auto hooks = hooks_;  // a hook may remove itself or others while they run
  Tensor x = x_in;
  if (!hooks->pre.empty())
    for (const auto& hook : hooks->pre.snapshot())
      if (Tensor replaced = hook(*this, x); replaced.defined()) x = std::move(replaced);

  Tensor y;
  if (!summary_rows) {
    y = forward(x);
  } else {
    const std::size_t row = summary_rows->size();
    const auto name = summary_names->find(this);
    summary_rows->push_back({summary_depth, name == summary_names->end() ? "" : name->second, describe(), "", 0});
    for (const auto& [name, p] : params_) summary_rows->at(row).params += p.numel();
    ++summary_depth;
    y = forward(x);
    --summary_depth;
    summary_rows->at(row).shape = shape_str(y.shape());
  }

  if (!hooks->post.empty())
    for (const auto& hook : hooks->post.snapshot())
      if (Tensor replaced = hook(*this, x, y); replaced.defined()) y = std::move(replaced);
  return y;
}

HookHandle Module::register_forward_pre_hook(ForwardPreHook hook) {
  if (!hook) throw Error("{}: register_forward_pre_hook: the hook is empty", describe());
  const std::uint64_t id = hooks_->pre.add(std::move(hook));
  return HookHandle([weak = std::weak_ptr<Hooks>(hooks_), id] {
    if (auto h = weak.lock()) h->pre.remove(id);
  });
}
HookHandle Module::register_forward_hook(ForwardHook hook) {
  if (!hook) throw Error("{}: register_forward_hook: the hook is empty", describe());
  const std::uint64_t id = hooks_->post.add(std::move(hook));
  return HookHandle([weak = std::weak_ptr<Hooks>(hooks_), id] {
    if (auto h = weak.lock()) h->post.remove(id);
  });
}

// A user's module is described by its class name ("TwoLayer"), without namespaces.
std::string Module::describe() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                         std::free);
  std::string name = status == 0 && demangled ? demangled.get() : mangled;
  if (const auto colon = name.rfind("::"); colon != std::string::npos) name.erase(0, colon + 2);
  return name;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

namespace {
// Gives t the display name `path` unless it has a longer one already or one the user chose.
void extend_name(Tensor t, const std::string& path) {
  const std::string_view current = t.name();
  if (current == path) return;
  if (current.empty() ||
      (path.size() > current.size() && path.ends_with(current) && path[path.size() - current.size() - 1] == '.'))
    t.name(path);
}
}  // namespace

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  walk(*this, "", [&](const Module& m, const std::string& prefix) {
    for (const auto& [name, p] : m.params_) out.emplace_back(prefix + name, p);
  });
  for (const auto& [name, p] : out) extend_name(p, name);
  return out;
}

void Module::name_parameters_of(const std::string& prefix, const Module& child) {
  for (const auto& [name, p] : child.named_parameters()) extend_name(p, prefix + "." + name);
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  walk(*this, "", [&](const Module& m, const std::string& prefix) {
    for (const auto& [name, b] : m.buffers_) out.emplace_back(prefix + name, b);
  });
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  out.reserve(children_.size());
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

std::size_t Module::parameter_count() const {
  std::size_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  auto convert = [dtype](const Tensor& t) {
    if (t.dtype() == dtype) return;
    t.impl()->value = t.to(dtype).impl()->value;  // in place: every handle to t sees the new dtype
    Tensor(t).bump_version();
    t.impl()->grad = Tensor();
  };
  for (auto& [name, p] : named_parameters()) convert(p);
  for (auto& [name, b] : named_buffers()) convert(b);
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::requires_grad_(bool on) {
  for (auto& p : parameters()) p.requires_grad_(on);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  value.requires_grad_();
  extend_name(value, name);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::check_new_name(const std::string& name) const {
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& entry) { return entry.first == name; });
  };
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error("{}: '{}' is not a valid name (non-empty, no dots)", describe(), name);
  if (taken(params_) || taken(buffers_) || taken(children_))
    throw Error("{}: the name '{}' is already registered", describe(), name);
}

std::string Module::summary(const Shape& input_shape, DType dtype) {
  // Each module's own train/eval mode, and its dotted name for the rows.
  std::vector<std::pair<Module*, bool>> modes;
  std::map<const Module*, std::string> names;
  walk(*this, "", [&](const Module& m, const std::string& prefix) {
    modes.emplace_back(const_cast<Module*>(&m), m.training_);
    names.emplace(&m, prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1));
  });
  struct Restore {  // also when forward throws
    std::vector<std::pair<Module*, bool>>& modes;
    ~Restore() {
      for (auto [m, training] : modes) m->training_ = training;
      summary_rows = nullptr;
      summary_names = nullptr;
    }
  };
  std::vector<SummaryRow> rows;
  {
    Restore restore{modes};
    eval();  // a batch of one cannot be normalized with batch statistics; eval also draws no dropout masks
    NoGradGuard no_grad;
    summary_rows = &rows;
    summary_names = &names;
    summary_depth = 0;
    (*this)(zeros(input_shape, dtype));
  }
  std::size_t width = 5;
  auto label = [](const SummaryRow& r) {
    return std::string(2 * r.depth, ' ') + (r.name.empty() ? r.describe : fmt::format("{}: {}", r.name, r.describe));
  };
  for (const auto& r : rows) width = std::max(width, label(r).size());
  std::string out = fmt::format("{:<{}}  {:>16}  {:>10}\n", "layer", width, "output shape", "params");
  for (const auto& r : rows) out += fmt::format("{:<{}}  {:>16}  {:>10}\n", label(r), width, r.shape, r.params);
  out += fmt::format("input {}, total parameters: {}\n", shape_str(input_shape), parameter_count());
  return out;
}

}  // namespace xgrad::nn
