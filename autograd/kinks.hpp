#pragma once
// Kink tracking for gradcheck. Ops with a kink (relu, abs, maximum/minimum, max) call note() with
// the branch each element took (the sign of x, which input won, the argmax). gradcheck records the
// branches taken at x+h and at x-h: when they differ, the centered difference straddles a kink and
// says nothing about the derivative, so that element is reported as "kink crossed", not as a failure.
#include <cstdint>

#include "tensor.hpp"

namespace xgrad::kinks {

bool recording();  // true only inside a Recorder's scope
void note(const Tensor& branch);

class Recorder {
 public:
  Recorder();
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  std::uint64_t signature() const { return hash_; }  // a digest of every branch noted so far

 private:
  friend void note(const Tensor& branch);
  std::uint64_t hash_ = 1469598103934665603ull;
  Recorder* previous_;
};

}  // namespace xgrad::kinks
