// A test program whose test cases must FAIL: each checks a gradient with a planted mistake through a
// macro of <xgrad/testing.hpp>. check.cmake runs them one by one and asserts that each exits
// non-zero and prints the report (the values, the relative error, the op and line for the tape check).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <xgrad/testing.hpp>
#include <xgrad/xgrad.hpp>

#include <vector>

namespace {
using T = xg::Tensor;
using Inputs = std::vector<T>;

// y = x^2, whose backward forgets the 2 of dy/dx = 2x.
T planted_square(const T& x, xg::Site site = xg::Site::current()) {
  T y;
  {
    xg::NoGradGuard no_grad;
    y = x * x;
  }
  return xg::record(
      "planted_square", y, {x}, [](xg::Backward& node) { node.dx[0] = node.dy * node.x[0]; }, site);
}

T input() {
  xg::manual_seed(1);
  return xg::randn({2, 3}, xg::f64).requires_grad_();
}

T net(const Inputs& in) { return xg::mean(xg::tanh(planted_square(xg::tanh(in[0])))); }
}  // namespace

TEST_CASE("check") {
  XG_CHECK_GRADCHECK(net, {input()});
  MESSAGE("the test case went on after XG_CHECK_GRADCHECK");
}

TEST_CASE("require") {
  XG_REQUIRE_GRADCHECK(net, {input()}, {.h = 1e-5});
  MESSAGE("not reached: XG_REQUIRE_GRADCHECK ends the test case");
}

TEST_CASE("fast") { XG_CHECK_GRADCHECK(net, {input()}, {.fast = true}); }

TEST_CASE("tape") { XG_CHECK_GRADCHECK_TAPE(net, {input()}); }

TEST_CASE("f32") { XG_CHECK_GRADCHECK(net, {input().to(xg::f32)}); }
