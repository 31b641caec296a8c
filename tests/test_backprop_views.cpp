// The teaching views of issue 16: names, the tape printout, the traced backward, DOT, expect_grad.
// The traces of the notes' circuits (examples/backprop/circuits.hpp) are compared with golden files
// in tests/golden/ exactly; XGRAD_UPDATE_GOLDEN=1 rewrites them (then read the diff).
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <doctest/doctest.h>

#include <xgrad/autograd/tensor_impl.hpp>
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

TEST_CASE("views: the graph of (x + y) z as DOT (golden), rendered to SVG where Graphviz is installed") {
  auto c = circuits::gates();
  xg::BackwardTrace trace;
  {
    xg::TraceBackward guard(trace);
    c.f.backward({}, true);
  }
  std::string dot = xg::to_dot(c.f, {.trace = &trace});
  // node ids are addresses: replaced by their order of appearance, so the text is stable
  std::map<std::string, std::string> ids;
  std::string stable;
  for (std::size_t i = 0; i < dot.size();) {
    if (dot.compare(i, 3, "t0x") == 0) {
      std::size_t j = i + 3;
      while (j < dot.size() && std::isxdigit(static_cast<unsigned char>(dot[j]))) ++j;
      auto [it, fresh] = ids.try_emplace(dot.substr(i, j - i), fmt::format("n{}", ids.size()));
      stable += it->second;
      i = j;
    } else {
      stable += dot[i++];
    }
  }
  CHECK(golden("dot_gates.dot", stable) == stable);
  CHECK(contains(stable, "n2 -> n4_op [label=\"local -4\"]"));
  CHECK(contains(stable, "q  []\\nvalue 3\\ngrad -4"));
  if (!xg::have_dot()) {
    MESSAGE("skipped rendering: Graphviz's dot is not installed");
    return;
  }
  const auto path = std::filesystem::temp_directory_path() / "xgrad_test_gates.svg";
  xg::render(c.f, path.string(), {.trace = &trace});
  std::ifstream in(path);
  std::stringstream svg;
  svg << in.rdbuf();
  CHECK(contains(svg.str(), "<svg"));
  CHECK(contains(svg.str(), "grad &#45;4"));
  std::filesystem::remove(path);
  CHECK_THROWS_WITH_AS(xg::render(c.f, "graph.txt"), doctest::Contains("use .svg, .png or .pdf"), xg::Error);
}

TEST_CASE("views: expect_grad catches a wrong factor in a hand derivation and names the tensor and line") {
  auto c = circuits::gates();
  auto q = c.f.impl()->inputs[0];  // q = x + y
  q.retain_grad();
  c.f.backward();
  const auto& z = c.leaves[2];
  xg::expect_grad(q, z.detach());            // df/dq = z: right
  xg::expect_grad(c.leaves[0], z.detach());  // df/dx = df/dq dq/dx = z
  const int line = __LINE__ + 1;
  CHECK_THROWS_WITH_AS(xg::expect_grad(q, 2.0 * z.detach()),  // a factor 2 too many
                       doctest::Contains(fmt::format("expect_grad at test_backprop_views.cpp:{}: the hand-derived "
                                                     "gradient of q (recorded at circuits.hpp:",
                                                     line)
                                             .c_str()),
                       xg::Error);
  try {
    xg::expect_grad(q, 2.0 * z.detach());
  } catch (const xg::Error& e) {
    CHECK(contains(e.what(), "first at []: hand -8, tape -4, hand / tape = 2"));
  }
  auto unkept = xg::scalar(1.0).requires_grad_() * 2.0;
  CHECK_THROWS_WITH_AS(xg::expect_grad(unkept.name("u"), xg::scalar(2.0)), doctest::Contains("call .retain_grad()"),
                       xg::Error);
}
