#pragma once
// Anomaly mode: find the first NaN or Inf where it is made, not at the end of training.
//
//   xg::DetectAnomalyGuard anomaly;   // or xg::set_detect_anomaly(true) for the whole program
//   loss = model(x); loss.backward();
//
// While it is on, every recorded op's output is checked in the forward, and every gradient an op's
// local-gradient function produces is checked in the backward. The first NaN or Inf raises xg::Error
// naming the op, which output or input, the element, the line of model code that recorded the op
// (and the layer, for ops inside one), and the chain of recording sites back to the leaves that fed it.
// Off by default, and then it costs one load of a flag per op.
#include <atomic>

#include "tensor.hpp"

namespace xgrad {

namespace detail {
inline std::atomic<bool> anomaly_mode{false};
}  // namespace detail

inline bool is_anomaly_enabled() { return detail::anomaly_mode.load(std::memory_order_relaxed); }
inline void set_detect_anomaly(bool on) { detail::anomaly_mode.store(on, std::memory_order_relaxed); }

// Turns anomaly mode on (or off) for its scope and puts back what was there. The mode is
// process-wide, as in PyTorch's C++ API.
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool on = true) : previous_(is_anomaly_enabled()) { set_detect_anomaly(on); }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

namespace detail {
// Throws when the node's output holds a NaN or Inf.
void check_forward_anomaly(const TensorImpl& node);
// Throws when dx, the gradient the node produced for its input `input`, holds a NaN or Inf.
void check_backward_anomaly(const TensorImpl& node, std::size_t input, const Tensor& dx);
// The ops that fed the node, one "'op' at file:line" per line, breadth first, at most max_lines.
std::string recording_chain(const TensorImpl& node, std::size_t max_lines = 8);
}  // namespace detail

}  // namespace xgrad
