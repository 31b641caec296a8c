#include "optimizer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "../autograd/dispatch.hpp"
#include "state_dict.hpp"

namespace xgrad::optim {

namespace {

using state_io::copy_of;
using state_io::describe;
using state_io::f64_scalar;

bool parse_index(std::string_view s, std::size_t& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

const Tensor* Optimizer::ParamState::find(std::string_view name) const {
  for (const auto& [n, b] : buffers)
    if (n == name) return &b;
  return nullptr;
}

void Optimizer::check_lr(std::string_view who, double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw Error("{}: invalid learning rate {} (must be finite and >= 0)", who, lr);
}

void Optimizer::add_group_params(std::vector<Tensor> params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p.defined()) throw Error("{}: parameter {} of the new group is undefined", name(), i);
    if (!p.is_leaf())
      throw Error("{}: parameter {} of the new group ({} {}) is the output of op '{}', not a leaf; an optimizer "
                  "can only update tensors you created",
                  name(), i, shape_str(p.shape()), dtype_name(p.dtype()), p.op());
    auto same = [&](const Tensor& q) { return q.impl() == p.impl(); };
    bool seen = std::any_of(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(i), same);
    for (const auto& g : groups_) seen = seen || std::any_of(g.begin(), g.end(), same);
    if (seen)
      throw Error("{}: parameter {} of the new group ({} {}) appears more than once in the parameter groups", name(), i,
                  shape_str(p.shape()), dtype_name(p.dtype()));
  }
  state_.resize(state_.size() + params.size());
  groups_.push_back(std::move(params));
}

const std::vector<Tensor>& Optimizer::params(std::size_t group) const {
  if (group >= groups_.size())
    throw Error("{}: parameter group {} does not exist (the optimizer has {})", name(), group, groups_.size());
  return groups_[group];
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.begin(), g.end());
  return out;
}

std::int64_t Optimizer::step_count(std::size_t i) const {
  if (i >= state_.size())
    throw Error("{}: parameter {} does not exist (the optimizer has {})", name(), i, state_.size());
  return state_[i].step;
}

Tensor Optimizer::state(std::size_t i, std::string_view buffer) const {
  if (i >= state_.size())
    throw Error("{}: parameter {} does not exist (the optimizer has {})", name(), i, state_.size());
  const Tensor* b = state_[i].find(buffer);
  return b ? *b : Tensor();
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g) p.zero_grad();
}

void Optimizer::step() {
  NoGradGuard no_grad;
  std::size_t flat = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (Tensor& p : groups_[g]) {
      const std::size_t i = flat++;
      if (!p.requires_grad()) continue;  // frozen
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;  // no gradient reached it
      if (grad.dtype() != p.dtype() || grad.shape() != p.shape())
        throw Error("{}.step: parameter {} is {} but its gradient is {}", name(), i, describe(p), describe(grad));
      ParamState& s = state_[i];
      ++s.step;
      update(g, p, grad, s);
    }
  }
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (std::size_t g = 0; g < groups_.size(); ++g) out.emplace_back(fmt::format("group.{}.lr", g), f64_scalar(lr(g)));
  for (std::size_t i = 0; i < state_.size(); ++i) {
    const ParamState& s = state_[i];
    if (s.step == 0 && s.buffers.empty()) continue;
    out.emplace_back(fmt::format("{}.step", i), f64_scalar(static_cast<double>(s.step)));
    for (const auto& [n, b] : s.buffers) out.emplace_back(fmt::format("{}.{}", i, n), copy_of(b));
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& dict) {
  state_io::StateDictReader reader(std::string(name()), dict);

  // The group of each flat parameter index.
  std::vector<std::size_t> group_of;
  for (std::size_t g = 0; g < groups_.size(); ++g) group_of.insert(group_of.end(), groups_[g].size(), g);
  const std::vector<Tensor> flat = parameters();

  // 1. Learning rates.
  std::vector<double> lrs(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string key = fmt::format("group.{}.lr", g);
    if (!reader.remaining().contains(key))
      reader.fail(fmt::format("missing key '{}' (the optimizer has {} parameter groups)", key, groups_.size()));
    lrs[g] = reader.learning_rate(key);
  }

  // 2. Per-parameter state: every remaining key must be "<i>.step" or "<i>.<buffer of i's group>".
  std::map<std::size_t, std::map<std::string, const Tensor*>> per_param;
  for (const auto& [k, t] : reader.remaining()) {
    const auto dot = k.find('.');
    std::size_t i = 0;
    if (dot == std::string::npos || !parse_index(std::string_view(k).substr(0, dot), i))
      reader.fail(fmt::format("unexpected key '{}' (expected 'group.<g>.lr', '<i>.step' or '<i>.<buffer>')", k));
    if (i >= flat.size())
      reader.fail(fmt::format("unexpected key '{}': the optimizer has {} parameters", k, flat.size()));
    const std::string buffer = k.substr(dot + 1);
    if (buffer != "step") {
      const auto names = buffer_names(group_of[i]);
      if (std::find(names.begin(), names.end(), buffer) == names.end())
        reader.fail(
            fmt::format("unexpected key '{}': parameter {} (group {}) has buffers [{}] with the current options", k, i,
                        group_of[i], fmt::join(names, ", ")));
    }
    per_param[i][buffer] = t;
  }

  std::vector<ParamState> next(flat.size());
  for (const auto& [i, entries] : per_param) {
    const std::string step_key = fmt::format("{}.step", i);
    if (!entries.contains("step")) reader.fail(fmt::format("missing key '{}'", step_key));
    next[i].step = reader.count(step_key);
    for (const auto& n : buffer_names(group_of[i])) {
      const std::string key = fmt::format("{}.{}", i, n);
      auto b = entries.find(n);
      if (b == entries.end())
        reader.fail(fmt::format("missing key '{}' (expected {}, like parameter {})", key, describe(flat[i]), i));
      const Tensor& t = *b->second;
      if (!t.defined() || t.dtype() != flat[i].dtype() || t.shape() != flat[i].shape())
        reader.fail(fmt::format("'{}' is {} but parameter {} is {}", key, describe(t), i, describe(flat[i])));
      next[i].buffers.emplace_back(n, copy_of(t));
    }
  }

  // 3. Everything checked: commit (nothing below throws).
  for (std::size_t g = 0; g < groups_.size(); ++g) assign_lr(g, lrs[g]);
  state_ = std::move(next);
}

}  // namespace xgrad::optim
