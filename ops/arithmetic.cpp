// Elementwise arithmetic: each op computes its value and records its local gradient beside it.
#include "arithmetic.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <functional>

#include "../autograd/kinks.hpp"
#include "broadcast.hpp"

namespace xgrad {

namespace {
// out = f(a, b) with broadcasting, in the dtype of a and b.
template <class F>
Tensor elementwise(const char* op, const Tensor& a, const Tensor& b, F f) {
  return detail::visit2(op, a, b, [&](const auto& x, const auto& y) {
    using T = value_t<decltype(x)>;
    return Tensor(detail::map2<T>(op, x, y, f));
  });
}
// The 0-d tensor for a double operand (x * 2.0). Loops repeat the same few constants, and a fresh
// tensor for every use costs more than a small op itself (two allocations, one of them aligned),
// so the last few made on this thread are handed out again. Sharing one is safe: a constant is a
// leaf that needs no gradient, and ops only ever read their inputs.
Tensor constant_like(const Tensor& t, double v) {
  struct Entry {
    std::uint64_t bits = 0;  // v's bits: -0.0 and 0.0 are different constants
    Tensor constant;
  };
  thread_local std::array<Entry, 8> recent;
  thread_local std::size_t next = 0;
  const DType dtype = t.dtype();
  const auto bits = std::bit_cast<std::uint64_t>(v);
  for (const Entry& e : recent)
    if (e.constant.defined() && e.bits == bits && e.constant.dtype() == dtype) return e.constant;
  Entry& e = recent[next++ % recent.size()];
  e = {bits, scalar(v, dtype)};
  return e.constant;
}
}  // namespace

// z = a + b;   dz/da = 1,  dz/db = 1
Tensor add(const Tensor& a, const Tensor& b, Site site) {
  return record(
      "add", elementwise("add", a, b, std::plus<>()), {a, b},
      [](Backward& node) {
        node.dx[0] = node.dy;
        node.dx[1] = node.dy;
      },
      site);
}

// z = a - b;   dz/da = 1,  dz/db = -1
Tensor sub(const Tensor& a, const Tensor& b, Site site) {
  return record(
      "sub", elementwise("sub", a, b, std::minus<>()), {a, b},
      [](Backward& node) {
        node.dx[0] = node.dy;
        if (node.needs(1)) node.dx[1] = -node.dy;
      },
      site);
}

// z = a * b;   dz/da = b,  dz/db = a
Tensor mul(const Tensor& a, const Tensor& b, Site site) {
  return record(
      "mul", elementwise("mul", a, b, std::multiplies<>()), {a, b},
      [](Backward& node) {
        if (node.needs(0)) node.dx[0] = node.dy * node.x[1];
        if (node.needs(1)) node.dx[1] = node.dy * node.x[0];
      },
      site);
}

// z = a / b;   dz/da = 1/b,  dz/db = -a/b^2 = -z/b
Tensor div(const Tensor& a, const Tensor& b, Site site) {
  return record(
      "div", elementwise("div", a, b, std::divides<>()), {a, b},
      [](Backward& node) {
        if (node.needs(0)) node.dx[0] = node.dy / node.x[1];
        if (node.needs(1)) node.dx[1] = -node.dy * node.y / node.x[1];
      },
      site);
}

// z = -a;   dz/da = -1
Tensor neg(const Tensor& a, Site site) {
  Tensor z = detail::visit("neg", a, [](const auto& x) { return Tensor(std::decay_t<decltype(x)>(-x)); });
  return record(
      "neg", z, {a}, [](Backward& node) { node.dx[0] = -node.dy; }, site);
}

// z = max(a, b): the max gate routes the gradient to the larger input; a tie splits it in half.
Tensor maximum(const Tensor& a, const Tensor& b, Site site) {
  if (kinks::recording()) kinks::note(gt(a, b) - lt(a, b));
  auto larger = [](auto p, auto q) { return p > q ? p : q; };
  return record(
      "maximum", elementwise("maximum", a, b, larger), {a, b},
      [](Backward& node) {
        const Tensor a_wins = gt(node.x[0], node.x[1]) + 0.5 * eq(node.x[0], node.x[1]);
        if (node.needs(0)) node.dx[0] = node.dy * a_wins;
        if (node.needs(1)) node.dx[1] = node.dy * (1.0 - a_wins);
      },
      site);
}

// z = min(a, b): the gradient goes to the smaller input; a tie splits it in half.
Tensor minimum(const Tensor& a, const Tensor& b, Site site) {
  if (kinks::recording()) kinks::note(gt(a, b) - lt(a, b));
  auto smaller = [](auto p, auto q) { return p < q ? p : q; };
  return record(
      "minimum", elementwise("minimum", a, b, smaller), {a, b},
      [](Backward& node) {
        const Tensor a_wins = lt(node.x[0], node.x[1]) + 0.5 * eq(node.x[0], node.x[1]);
        if (node.needs(0)) node.dx[0] = node.dy * a_wins;
        if (node.needs(1)) node.dx[1] = node.dy * (1.0 - a_wins);
      },
      site);
}

Tensor maximum(const Tensor& a, double b, Site site) { return maximum(a, constant_like(a, b), site); }
Tensor minimum(const Tensor& a, double b, Site site) { return minimum(a, constant_like(a, b), site); }

Tensor gt(const Tensor& a, const Tensor& b) {
  return elementwise("gt", a, b, [](auto p, auto q) { return decltype(p)(p > q); });
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return elementwise("lt", a, b, [](auto p, auto q) { return decltype(p)(p < q); });
}
Tensor eq(const Tensor& a, const Tensor& b) {
  return elementwise("eq", a, b, [](auto p, auto q) { return decltype(p)(p == q); });
}

Tensor operator+(Here a, const Tensor& b) { return add(a.t, b, a.site); }
Tensor operator-(Here a, const Tensor& b) { return sub(a.t, b, a.site); }
Tensor operator*(Here a, const Tensor& b) { return mul(a.t, b, a.site); }
Tensor operator/(Here a, const Tensor& b) { return div(a.t, b, a.site); }
Tensor operator-(Here a) { return neg(a.t, a.site); }
Tensor operator+(Here a, double b) { return add(a.t, constant_like(a.t, b), a.site); }
Tensor operator-(Here a, double b) { return sub(a.t, constant_like(a.t, b), a.site); }
Tensor operator*(Here a, double b) { return mul(a.t, constant_like(a.t, b), a.site); }
Tensor operator/(Here a, double b) { return div(a.t, constant_like(a.t, b), a.site); }
Tensor operator+(double a, Here b) { return add(constant_like(b.t, a), b.t, b.site); }
Tensor operator-(double a, Here b) { return sub(constant_like(b.t, a), b.t, b.site); }
Tensor operator*(double a, Here b) { return mul(constant_like(b.t, a), b.t, b.site); }
Tensor operator/(double a, Here b) { return div(constant_like(b.t, a), b.t, b.site); }
Tensor operator>(const Tensor& a, double b) { return gt(a, constant_like(a, b)); }
Tensor operator<(const Tensor& a, double b) { return lt(a, constant_like(a, b)); }
Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }

}  // namespace xgrad
