#pragma once
// Shared by the tests that look at an error's text after the fact (tests/test_optim.cpp, test_schedule.cpp).
#include <string>

#include <xgrad/xgrad.hpp>

namespace error_text {

// The message of the xg::Error that f throws, or "(no xg::Error)".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const xgrad::Error& e) {
    return e.what();
  }
  return "(no xg::Error)";
}
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace error_text
