#pragma once
// Hooks: user code that runs while backward runs, to see or change a gradient (the teaching views,
// per-parameter clipping, and starting a gradient's all-reduce while backward continues).
//
// When they run, for one backward():
//   1. A tensor's gradient hooks (Tensor::register_hook) run once its gradient for this backward is
//      complete, i.e. summed over every use of it, in registration order, each seeing the previous
//      one's result. An intermediate's (possibly replaced) gradient then flows into its node's local
//      gradient function; retain_grad() keeps the replaced one.
//   2. For a leaf, the result is then added into grad() (accumulating across backward calls as
//      always), and right after that its post-accumulate hooks run (once per backward per leaf).
//   Leaves are complete when every node that used them has run, so the last layer's parameters
//   (used late in the forward) come first.
//
// Every register_* returns a HookHandle (autograd/tensor.hpp); handle.remove() unregisters (calling it
// twice is harmless; a handle that is simply dropped leaves its hook registered, as in PyTorch).
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "tensor.hpp"

namespace xgrad {

// A list of hooks in registration order, removable by id; shared by tensor and module hooks.
template <class Fn>
class HookList {
 public:
  std::uint64_t add(Fn fn) {
    entries_.emplace_back(next_id_, std::move(fn));
    return next_id_++;
  }
  void remove(std::uint64_t id) {
    std::erase_if(entries_, [id](const auto& e) { return e.first == id; });
  }
  bool empty() const { return entries_.empty(); }
  // A copy, so a hook may remove itself (or register another) while the list runs.
  std::vector<Fn> snapshot() const {
    std::vector<Fn> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.push_back(e.second);
    return out;
  }

 private:
  std::vector<std::pair<std::uint64_t, Fn>> entries_;
  std::uint64_t next_id_ = 0;
};

struct TensorHooks {
  HookList<std::function<Tensor(const Tensor&)>> grad;
  HookList<std::function<void(const Tensor&)>> post_accumulate;
};

}  // namespace xgrad
