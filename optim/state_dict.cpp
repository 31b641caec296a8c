#include "state_dict.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"

namespace xgrad::optim::state_io {

std::string describe(const Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  return fmt::format("{} {}", shape_str(t.shape()), dtype_name(t.dtype()));
}

Tensor copy_of(const Tensor& t) {
  return xgrad::detail::visit("state_dict", t, [](const auto& a) { return Tensor(a); });
}

Tensor f64_scalar(double v) { return scalar(v, f64); }

StateDictReader::StateDictReader(std::string who, const NamedTensors& dict) : who_(std::move(who)) {
  for (const auto& [k, t] : dict)
    if (!keys_.emplace(k, &t).second) fail(fmt::format("key '{}' appears twice", k));
}

void StateDictReader::fail(const std::string& why) const { throw Error("{}.load_state_dict: {}", who_, why); }

const Tensor& StateDictReader::take(const std::string& key) {
  auto it = keys_.find(key);
  if (it == keys_.end()) fail(fmt::format("missing key '{}'", key));
  const Tensor& t = *it->second;
  keys_.erase(it);
  return t;
}

double StateDictReader::scalar(const std::string& key) {
  const Tensor& t = take(key);
  if (!t.defined() || t.dim() != 0 || t.dtype() != f64)
    fail(fmt::format("'{}' is {}, expected a 0-d f64 tensor ([] f64)", key, describe(t)));
  return t.item();
}

std::int64_t StateDictReader::count(const std::string& key) {
  const double v = scalar(key);
  if (!(v >= 0.0) || v != std::floor(v) || v > 9.0e15) fail(fmt::format("'{}' is {}, not a count", key, v));
  return static_cast<std::int64_t>(v);
}

double StateDictReader::learning_rate(const std::string& key) {
  const double v = scalar(key);
  if (!(v >= 0.0) || !std::isfinite(v)) fail(fmt::format("'{}' is {}, not a valid learning rate", key, v));
  return v;
}

void StateDictReader::finish(std::string_view what_is_expected) const {
  if (keys_.empty()) return;
  if (what_is_expected.empty()) fail(fmt::format("unexpected key '{}'", keys_.begin()->first));
  fail(fmt::format("unexpected key '{}' ({})", keys_.begin()->first, what_is_expected));
}

}  // namespace xgrad::optim::state_io
