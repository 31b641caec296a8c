#pragma once
// CLI11 validators for the trainer's numeric options. They check the text before CLI11 converts it,
// because CLI11's own conversion turns "-1" into 2^64 - 1 for a std::size_t, and its Range lets
// "nan" through (every comparison with nan is false).
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

namespace trainer {

// A finite number in [lo, hi] (an open end when lo_open / hi_open); `rule` is said when it is not,
// e.g. "must be > 0": "--lr: -1 is out of range (must be > 0)". `range` is shown by --help.
inline CLI::Validator finite_number(double lo, double hi, bool lo_open, bool hi_open, const std::string& rule,
                                    const std::string& range) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return fmt::format("'{}' is not a number", text);
        if (!std::isfinite(v)) return fmt::format("{} is not a finite number ({})", text, rule);
        const bool above = lo_open ? v > lo : v >= lo, below = hi_open ? v < hi : v <= hi;
        return above && below ? "" : fmt::format("{} is out of range ({})", text, rule);
      },
      range);
}

inline CLI::Validator positive_number() {
  return finite_number(0, std::numeric_limits<double>::max(), true, false, "must be > 0", "POSITIVE");
}
inline CLI::Validator non_negative_number() {
  return finite_number(0, std::numeric_limits<double>::max(), false, false, "must be >= 0", "NONNEGATIVE");
}

// A whole number in [lo, hi], parsed as a signed integer so that a negative one is seen as such.
inline CLI::Validator whole_number(long long lo, long long hi) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        long long v = 0;
        const std::string rule = fmt::format("must be a whole number from {} to {}", lo, hi);
        if (!CLI::detail::lexical_cast(text, v)) return fmt::format("'{}' is not a whole number ({})", text, rule);
        return v >= lo && v <= hi ? "" : fmt::format("{} is out of range ({})", text, rule);
      },
      fmt::format("{}..{}", lo, hi));
}

// For a std::uint64_t whose every value is valid (a seed): only a minus sign is refused.
inline CLI::Validator not_negative() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return text.starts_with('-') ? fmt::format("{} is negative (must be a whole number >= 0)", text) : "";
      },
      "");
}

}  // namespace trainer
