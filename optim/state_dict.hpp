#pragma once
// Internal to optim/: reading and writing the state dicts of optimizers, schedules and the EMA, so
// every load_state_dict checks keys, shapes and counts the same way and says the same things.
#include <cstdint>
#include <map>
#include <string>

#include "../autograd/tensor.hpp"

namespace xgrad::optim::state_io {

std::string describe(const Tensor& t);  // "[3,4] f32", or "an undefined tensor"
Tensor copy_of(const Tensor& t);        // a deep copy: saved state must not alias live buffers
Tensor f64_scalar(double v);            // how counts and rates are stored

// Takes a state dict's entries by key. Duplicate keys are refused at once; take() and its typed
// forms remove what they read, so finish() can report whatever is left as unexpected.
class StateDictReader {
 public:
  StateDictReader(std::string who, const NamedTensors& dict);

  const Tensor& take(const std::string& key);    // missing: an error naming the key
  double scalar(const std::string& key);         // a 0-d f64 tensor's value
  std::int64_t count(const std::string& key);    // a scalar that is a whole number >= 0
  double learning_rate(const std::string& key);  // a scalar that is finite and >= 0
  // The entries not taken yet, for dicts whose keys depend on their contents (per-parameter state).
  const std::map<std::string, const Tensor*>& remaining() const { return keys_; }
  void finish(std::string_view what_is_expected = "") const;  // refuses keys left over
  [[noreturn]] void fail(const std::string& why) const;       // "<who>.load_state_dict: <why>"

 private:
  std::string who_;
  std::map<std::string, const Tensor*> keys_;
};

}  // namespace xgrad::optim::state_io
