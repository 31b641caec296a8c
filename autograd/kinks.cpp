#include "kinks.hpp"

#include "dispatch.hpp"

namespace xgrad::kinks {

namespace {
thread_local Recorder* active = nullptr;
}

Recorder::Recorder() : previous_(active) { active = this; }
Recorder::~Recorder() { active = previous_; }

bool recording() { return active != nullptr; }

void note(const Tensor& branch) {
  if (!active) return;
  detail::visit("kinks::note", branch, [](const auto& a) {
    for (auto v : a) {  // FNV-1a over the branch values
      active->hash_ ^= static_cast<std::uint64_t>(static_cast<std::int64_t>(v) + 3);
      active->hash_ *= 1099511628211ull;
    }
  });
}

}  // namespace xgrad::kinks
