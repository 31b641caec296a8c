// The teaching views of issue 16: names, the tape printout, the traced backward, DOT, expect_grad.
// The traces of the notes' circuits (examples/backprop/circuits.hpp) are compared with golden files
// in tests/golden/ exactly; XGRAD_UPDATE_GOLDEN=1 rewrites them (then read the diff).
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include <xgrad/xgrad.hpp>

#include "../examples/backprop/circuits.hpp"

namespace xg = xgrad;

namespace {
std::string golden(const std::string& file, const std::string& actual) {
  const std::string path = std::string(XGRAD_GOLDEN_DIR) + "/" + file;
  if (std::getenv("XGRAD_UPDATE_GOLDEN")) std::ofstream(path) << actual;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string traced(const circuits::Circuit& c) {
  xg::BackwardTrace trace;
  {
    xg::TraceBackward guard(trace);
    c.f.backward();
  }
  return trace.to_string();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("views: a tensor carries a display name; a Module names its parameters with dotted paths") {
  auto x = xg::scalar(2.0).name("x");
  CHECK(x.name() == "x");
  CHECK(xg::scalar(1.0).name().empty());
  struct Net : xg::nn::Module {
    std::shared_ptr<xg::nn::Linear> fc1 = register_module("fc1", xg::nn::Linear(3, 4));
    std::shared_ptr<xg::nn::Sequential> body = register_module("body", xg::nn::Sequential());
    xg::Tensor forward(const xg::Tensor& in) override { return (*body)((*fc1)(in)); }
  };
  Net net;
  CHECK(net.fc1->named_parameters()[0].second.name() == "fc1.weight");  // named when fc1 was registered
  net.body->push_back(xg::nn::Linear(4, 2));  // registered after body joined net: named_parameters names it
  for (const auto& [path, p] : net.named_parameters()) CHECK(p.name() == path);
  CHECK(net.named_parameters().back().second.name() == "body.0.bias");
  auto mine = net.fc1->named_parameters()[1].second;
  mine.name("b");  // a name the user chose is kept
  (void)net.named_parameters();
  CHECK(mine.name() == "b");
}

TEST_CASE("views: the tape printout names inputs, shows values and, after backward, gradients") {
  auto c = circuits::gates();
  const std::string before = xg::tape_to_string(c.f);
  CHECK(contains(before, "#2 q = add(x, y)"));
  CHECK(contains(before, "#4 f = mul(q, z)"));
  CHECK(contains(before, "value -12"));
  xg::BackwardTrace trace;
  {
    xg::TraceBackward guard(trace);
    c.f.backward({}, true);  // the graph kept, so it can be printed afterwards
  }
  // leaves show grad(); q and f, whose gradients backward does not keep, show the trace's
  CHECK(contains(xg::tape_to_string(c.f), "#0 x leaf"));
  CHECK(!contains(xg::tape_to_string(c.f), "value 3    grad -4"));
  const std::string after = xg::tape_to_string(c.f, {.trace = &trace});
  CHECK(contains(after, "#2 q = add(x, y)  []     value 3    grad -4   (circuits.hpp:"));
  CHECK(golden("tape_gates.txt", after) == after);
  // a large value prints as shape and min/mean/max
  CHECK(xg::value_summary(xg::arange(20, xg::f64)) == "[20] min 0 mean 9.5 max 19");
  CHECK(xg::value_summary(xg::tensor({{1.0, 2.0}, {3.0, 4.0}}, xg::f64)) == "[[1, 2], [3, 4]]");
}

TEST_CASE("views: traced backward of the notes' circuits (golden files)") {
  const std::string gates = traced(circuits::gates());
  CHECK(golden("trace_gates.txt", gates) == gates);
  CHECK(contains(gates, "local df/dq = z = -4"));
  const std::string staged = traced(circuits::neuron_staged());
  CHECK(golden("trace_neuron_staged.txt", staged) == staged);
  const std::string fused = traced(circuits::neuron_fused());
  CHECK(golden("trace_neuron_fused.txt", fused) == fused);
  const std::string max = traced(circuits::max_gate());
  CHECK(golden("trace_max_gate.txt", max) == max);
  const std::string reuse = traced(circuits::reuse());
  CHECK(golden("trace_reuse.txt", reuse) == reuse);
  CHECK(contains(reuse, "x: 3rd of 3 uses, total 7"));
  const std::string diamond = traced(circuits::diamond());
  CHECK(golden("trace_diamond.txt", diamond) == diamond);
  CHECK(contains(diamond, "x: 2nd of 2 uses, total 16"));
}
