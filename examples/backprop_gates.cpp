// The backprop examples of the CS231n notes, exactly as the notes write them, run on xgrad's tape
// and shown three ways: the tape printout, the traced backward (every chain-rule step with its
// numbers) and the graph drawn (DOT, and SVG where Graphviz's dot is installed).
//   1. f(x, y, z) = (x + y) z with x = -2, y = 5, z = -4
//   2. the sigmoid neuron f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), staged gate by gate and as
//      one sigmoid gate
//   3. the max gate routing its gradient
//   4. a variable used more than once: x x + x, and a diamond
//   5. note 002's two-layer net f(x) = ||tanh(W2 tanh(W1 x + b1) + b2)||^2 with its hand derivation,
//      checked by xg::expect_grad: the note's dL/dy3 misses a factor, and the check says where.
// The circuits are in examples/backprop/circuits.hpp. Every number printed is also checked: the
// program exits with status 1 if one differs. Usage: backprop_gates [output directory for graphs]
#include <cmath>
#include <filesystem>
#include <fstream>

#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "backprop/circuits.hpp"

namespace xg = xgrad;

namespace {
int failures = 0;
std::filesystem::path out_dir = "backprop_gates";

void expect(const char* what, double got, double want, double tol = 1e-9) {
  if (std::abs(got - want) <= tol) return;
  fmt::print("MISMATCH: {} = {} but the notes say {}\n", what, got, want);
  ++failures;
}

// The tape before backward, the trace of backward, and the graph with every gradient.
void show(const char* stem, const circuits::Circuit& c) {
  fmt::print("tape:\n{}\n", xg::tape_to_string(c.f));
  xg::BackwardTrace trace;
  {
    xg::TraceBackward guard(trace);
    c.f.backward({}, true);  // retain_graph: the graph is drawn afterwards
  }
  fmt::print("backward, step by step:\n{}\n", trace.to_string());
  std::filesystem::create_directories(out_dir);
  const xg::DotOptions options{.trace = &trace, .title = stem};
  std::ofstream(out_dir / fmt::format("{}.dot", stem)) << xg::to_dot(c.f, options);
  if (xg::have_dot()) {
    xg::render(c.f, (out_dir / fmt::format("{}.svg", stem)).string(), options);
    xg::render(c.f, (out_dir / fmt::format("{}.png", stem)).string(), options);
    fmt::print("graph: {}/{}.{{dot,svg,png}}\n\n", out_dir.string(), stem);
  } else {
    fmt::print("graph: {}/{}.dot (Graphviz's dot is not installed: no SVG/PNG)\n\n", out_dir.string(), stem);
  }
}

double grad(const xg::Tensor& t) { return t.grad().item(); }
}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) out_dir = argv[1];

  fmt::print("== 1. f(x, y, z) = (x + y) z with x = -2, y = 5, z = -4 ==\n");
  {
    auto c = circuits::gates();
    show("gates", c);
    const auto& [x, y, z] = std::tie(c.leaves[0], c.leaves[1], c.leaves[2]);
    const double q = x.item() + y.item();
    fmt::print("q = {}, f = {}; df/dx = {}, df/dy = {}, df/dz = {}\n\n", q, c.f.item(), grad(x), grad(y), grad(z));
    expect("q", q, 3);
    expect("f", c.f.item(), -12);
    expect("df/dx", grad(x), -4);
    expect("df/dy", grad(y), -4);
    expect("df/dz", grad(z), 3);
  }

  fmt::print("== 2. the sigmoid neuron, w = [2, -3, -3], x = [-1, -2] ==\n");
  {
    fmt::print("-- staged gate by gate: *, *, +, +, *-1, exp, +1, 1/x --\n");
    auto s = circuits::neuron_staged();
    show("neuron_staged", s);
    const auto& l = s.leaves;  // w0, x0, w1, x1, w2
    const double f = s.f.item();
    const std::array<double, 2> dx{grad(l[1]), grad(l[3])};
    const std::array<double, 3> dw{grad(l[0]), grad(l[2]), grad(l[4])};
    fmt::print("staged: f = {:.2f}, dx = [{:.2f}, {:.2f}], dw = [{:.2f}, {:.2f}, {:.2f}]\n\n", f, dx[0], dx[1], dw[0],
               dw[1], dw[2]);

    fmt::print("-- one sigmoid gate, local gradient (1 - f) f --\n");
    auto g = circuits::neuron_fused();
    show("neuron_fused", g);
    const auto& gw = g.leaves[0].grad().value<double>();
    const auto& gx = g.leaves[1].grad().value<double>();
    fmt::print("fused:  f = {:.2f}, dx = [{:.2f}, {:.2f}], dw = [{:.2f}, {:.2f}, {:.2f}]\n\n", g.f.item(), gx(0), gx(1),
               gw(0), gw(1), gw(2));
    // the notes' rounded figures, and the two ways agreeing to rounding error
    expect("f", f, 0.73, 0.005);
    expect("dx0", dx[0], 0.39, 0.005);
    expect("dx1", dx[1], -0.59, 0.005);
    expect("dw0", dw[0], -0.2, 0.005);
    expect("dw1", dw[1], -0.39, 0.005);
    expect("dw2", dw[2], 0.2, 0.005);
    expect("fused f", g.f.item(), f, 1e-12);
    for (std::size_t i = 0; i < 2; ++i) expect("fused dx", gx(i), dx[i], 1e-12);
    for (std::size_t i = 0; i < 3; ++i) expect("fused dw", gw(i), dw[i], 1e-12);
  }

  fmt::print("== 3. the max gate: f = 2 (x y + max(z, w)), x = 3, y = -4, z = 2, w = -1 ==\n");
  {
    auto c = circuits::max_gate();
    show("max_gate", c);
    fmt::print("df/dx = {}, df/dy = {}, df/dz = {}, df/dw = {}: max routed all of its gradient to z\n\n",
               grad(c.leaves[0]), grad(c.leaves[1]), grad(c.leaves[2]), grad(c.leaves[3]));
    expect("f", c.f.item(), -20);
    expect("df/dx", grad(c.leaves[0]), -8);
    expect("df/dy", grad(c.leaves[1]), 6);
    expect("df/dz", grad(c.leaves[2]), 2);
    expect("df/dw", grad(c.leaves[3]), 0);
  }

  fmt::print("== 4. a variable used more than once: the gradients of its uses add up ==\n");
  {
    fmt::print("-- f = x x + x at x = 3 --\n");
    auto r = circuits::reuse();
    show("reuse", r);
    fmt::print("df/dx = {} = 2x + 1\n\n", grad(r.leaves[0]));
    expect("df/dx", grad(r.leaves[0]), 7);
    fmt::print("-- a diamond: f = (x y)(x + y) at x = 3, y = 2 --\n");
    auto d = circuits::diamond();
    show("diamond", d);
    fmt::print("df/dx = {} = y (x + y) + x y, df/dy = {} = x (x + y) + x y\n\n", grad(d.leaves[0]), grad(d.leaves[1]));
    expect("df/dx", grad(d.leaves[0]), 16);
    expect("df/dy", grad(d.leaves[1]), 21);
  }

  fmt::print("== 5. note 002: f(x) = ||tanh(W2 tanh(W1 x + b1) + b2)||^2 ==\n");
  {
    auto n = circuits::twolayer();
    show("twolayer", {n.f, {n.x, n.W1, n.b1, n.W2, n.b2}});
    xg::NoGradGuard no_grad;  // the hand derivation is plain arithmetic on tensors
    const auto T = [](const xg::Tensor& t) { return t.transpose(); };
    fmt::print("-- the note's derivation as written: df/dy3 = 2 (1 + y4)(1 - y4) --\n");
    const xg::Tensor note_dy3 = 2.0 * (1.0 + n.y4) * (1.0 - n.y4);
    bool caught = false;
    try {
      xg::expect_grad(n.y3, note_dy3);
    } catch (const xg::Error& e) {
      caught = true;
      fmt::print("{}\n", e.what());
    }
    if (!caught) {
      fmt::print("MISMATCH: expect_grad accepted the note's df/dy3, which misses the factor y4\n");
      ++failures;
    }
    fmt::print("(d||y4||^2/dy4 = 2 y4, so df/dy3 = 2 y4 (1 + y4)(1 - y4): the note drops the factor y4)\n\n");
    fmt::print("-- the derivation corrected, every step checked against the tape --\n");
    const xg::Tensor dy4 = 2.0 * n.y4;
    const xg::Tensor dy3 = dy4 * (1.0 + n.y4) * (1.0 - n.y4);
    const xg::Tensor dy2 = xg::matmul(T(n.W2), dy3);
    const xg::Tensor dW2 = xg::matmul(dy3, T(n.y2));
    const xg::Tensor dy1 = dy2 * (1.0 + n.y2) * (1.0 - n.y2);
    const xg::Tensor dx = xg::matmul(T(n.W1), dy1);
    const xg::Tensor dW1 = xg::matmul(dy1, T(n.x));
    const std::vector<std::tuple<const char*, xg::Tensor, xg::Tensor>> checks{
        {"df/dy4 = 2 y4", n.y4, dy4},        {"df/dy3 = 2 y4 (1 + y4)(1 - y4)", n.y3, dy3},
        {"df/db2 = df/dy3", n.b2, dy3},      {"df/dW2 = df/dy3 y2^T", n.W2, dW2},
        {"df/dy2 = W2^T df/dy3", n.y2, dy2}, {"df/dy1 = df/dy2 (1 + y2)(1 - y2)", n.y1, dy1},
        {"df/db1 = df/dy1", n.b1, dy1},      {"df/dW1 = df/dy1 x^T", n.W1, dW1},
        {"df/dx = W1^T df/dy1", n.x, dx},
    };
    for (const auto& [formula, t, hand] : checks) {
      try {
        xg::expect_grad(t, hand);
        fmt::print("{:<36} hand {}\n{:<36} tape {}\n", formula, xg::value_summary(hand), "",
                   xg::value_summary(t.grad()));
      } catch (const xg::Error& e) {
        fmt::print("MISMATCH: {}\n", e.what());
        ++failures;
      }
    }
  }

  if (failures > 0) {
    fmt::print("\n{} numbers differ from the notes\n", failures);
    return 1;
  }
  fmt::print("\nevery number agrees with the notes (and with the corrected derivation)\n");
  return 0;
}
