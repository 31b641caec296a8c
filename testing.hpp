#pragma once
// <xgrad/testing.hpp>: gradient checks as doctest assertions (XG_CHECK_GRADCHECK, XG_REQUIRE_GRADCHECK,
// XG_CHECK_GRADCHECK_TAPE, ...) for the tests of a project that uses xgrad. Includes doctest itself;
// include it from test files only. The macros are in testing/testing.hpp.
#include "testing/testing.hpp"
