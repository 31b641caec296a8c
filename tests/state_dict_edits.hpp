#pragma once
// Shared by the optimizer tests that feed load_state_dict a damaged state (tests/test_optim.cpp,
// test_lbfgs.cpp): a copy of a state dict with one key removed or one value replaced.
#include <algorithm>
#include <string>

#include <xgrad/xgrad.hpp>

namespace state_dict_edits {

inline xgrad::NamedTensors without(xgrad::NamedTensors d, const std::string& key) {
  d.erase(std::remove_if(d.begin(), d.end(), [&](const auto& e) { return e.first == key; }), d.end());
  return d;
}

inline xgrad::NamedTensors replaced(xgrad::NamedTensors d, const std::string& key, const xgrad::Tensor& t) {
  for (auto& [k, value] : d)
    if (k == key) value = t;
  return d;
}

}  // namespace state_dict_edits
