#pragma once
// doctest assertions for gradients, for xgrad's tests and yours (#include <xgrad/testing.hpp>):
//
//   XG_CHECK_GRADCHECK(f, {x, W});                         // xg::gradcheck, options optional:
//   XG_REQUIRE_GRADCHECK(f, {x}, {.h = 1e-5, .fast = true});
//   XG_CHECK_GRADCHECK_TAPE(f, {x, W});                    // xg::gradcheck_tape: names the wrong node
//   XG_REQUIRE_GRADCHECK_TAPE(f, {x, W});
//   XG_CHECK_GRADGRADCHECK(f, {x, W});                     // xg::gradgradcheck: second derivatives
//   XG_REQUIRE_GRADGRADCHECK(f, {x, W});
//
// They pass silently; a failure prints the whole report through doctest (the element, analytic and
// numeric values, the relative error, the kinks crossed; for the tape check the failing node's op and
// line). An xg::Error from the check (an f32 input, say) fails the assertion with its message.
// CHECK goes on with the test case, REQUIRE ends it. The arguments are passed on unchanged, so braces
// with commas ({x, W}) and designated initializers need no extra parentheses.
//
// This header includes doctest and is not part of <xgrad/xgrad.hpp>: only test code depends on it.
#include <doctest/doctest.h>

#include <exception>
#include <string>

#include <fmt/format.h>

#include "gradcheck.hpp"
#include "gradcheck_tape.hpp"
#include "gradgradcheck.hpp"

namespace xgrad::testing_detail {
// "" when the check passed, else what doctest prints: the assertion as written and the report.
template <class Check>
std::string failure(const char* assertion, const char* arguments, Check&& check) {
  try {
    const auto report = check();
    return report.ok ? std::string() : fmt::format("{}({}) failed:\n{}", assertion, arguments, report);
  } catch (const std::exception& e) {
    return fmt::format("{}({}) threw: {}", assertion, arguments, e.what());
  }
}
}  // namespace xgrad::testing_detail

// DOCTEST_FAIL_CHECK / DOCTEST_FAIL report at the line of the macro's use. A passing check is counted
// as one passed assertion, as a CHECK would be.
#define XG_DETAIL_GRADCHECK_ASSERT_(assertion, on_failure, call, ...)                                 \
  do {                                                                                                \
    const std::string xg_failure_ =                                                                   \
        ::xgrad::testing_detail::failure(assertion, #__VA_ARGS__, [&] { return call(__VA_ARGS__); }); \
    if (xg_failure_.empty())                                                                          \
      DOCTEST_CHECK_UNARY(xg_failure_.empty());                                                       \
    else                                                                                              \
      on_failure(xg_failure_);                                                                        \
  } while (false)

#define XG_CHECK_GRADCHECK(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_CHECK_GRADCHECK", DOCTEST_FAIL_CHECK, ::xgrad::gradcheck, __VA_ARGS__)
#define XG_REQUIRE_GRADCHECK(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_REQUIRE_GRADCHECK", DOCTEST_FAIL, ::xgrad::gradcheck, __VA_ARGS__)
#define XG_CHECK_GRADCHECK_TAPE(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_CHECK_GRADCHECK_TAPE", DOCTEST_FAIL_CHECK, ::xgrad::gradcheck_tape, __VA_ARGS__)
#define XG_REQUIRE_GRADCHECK_TAPE(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_REQUIRE_GRADCHECK_TAPE", DOCTEST_FAIL, ::xgrad::gradcheck_tape, __VA_ARGS__)
#define XG_CHECK_GRADGRADCHECK(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_CHECK_GRADGRADCHECK", DOCTEST_FAIL_CHECK, ::xgrad::gradgradcheck, __VA_ARGS__)
#define XG_REQUIRE_GRADGRADCHECK(...) \
  XG_DETAIL_GRADCHECK_ASSERT_("XG_REQUIRE_GRADGRADCHECK", DOCTEST_FAIL, ::xgrad::gradgradcheck, __VA_ARGS__)
