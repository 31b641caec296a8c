// A step-through page of one backward pass: one self-contained HTML file (no network, no external
// scripts) with the graph drawn once per backward step (the node being run highlighted, the
// gradients known so far filled in, the contributions it sends on its edges), the trace of that step
// under it, Previous/Next buttons and the arrow keys. The URL fragment #step=N opens step N
// (#step=last the last), which is how tests/stepper/check.sh screenshots it in headless Chromium.
//   backprop_stepper [--circuit gates|neuron|neuron-fused|max|reuse|diamond|twolayer] [--out page.html]
// Needs Graphviz's dot (the pictures are SVGs drawn by it and inlined).
#include <cstring>
#include <fstream>
#include <map>

#include <xgrad/xgrad.hpp>

#include "backprop/circuits.hpp"

namespace xg = xgrad;

namespace {
std::string html_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

// dot's SVG without its XML prolog and DOCTYPE, to sit inside the HTML.
std::string inline_svg(const std::string& svg) {
  const auto start = svg.find("<svg");
  return start == std::string::npos ? svg : svg.substr(start);
}

const char* page_script = R"(
const steps = document.querySelectorAll('.step');
let current = 1;
function show(k) {
  current = Math.max(1, Math.min(steps.length, k));
  steps.forEach((s, i) => { s.hidden = i + 1 !== current; });
  document.getElementById('where').textContent = 'step ' + current + ' of ' + steps.length;
  document.getElementById('prev').disabled = current === 1;
  document.getElementById('next').disabled = current === steps.length;
  document.body.dataset.current = current;
  history.replaceState(null, '', '#step=' + current);
}
function fromHash() {
  const m = /step=(\d+|last)/.exec(location.hash);
  show(m ? (m[1] === 'last' ? steps.length : parseInt(m[1], 10)) : 1);
}
document.getElementById('prev').onclick = () => show(current - 1);
document.getElementById('next').onclick = () => show(current + 1);
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowLeft') show(current - 1);
  if (e.key === 'ArrowRight') show(current + 1);
});
window.addEventListener('hashchange', fromHash);
fromHash();
)";
}  // namespace

int main(int argc, char** argv) {
  std::string circuit = "gates", out;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--circuit") == 0)
      circuit = argv[i + 1];
    else if (std::strcmp(argv[i], "--out") == 0)
      out = argv[i + 1];
    else
      return fmt::print(stderr, "backprop_stepper: unknown option {}\n", argv[i]), 2;
  }
  if (argc % 2 == 0) return fmt::print(stderr, "backprop_stepper: option {} needs a value\n", argv[argc - 1]), 2;
  const std::map<std::string, circuits::Circuit (*)()> simple{
      {"gates", circuits::gates},  {"neuron", circuits::neuron_staged}, {"neuron-fused", circuits::neuron_fused},
      {"max", circuits::max_gate}, {"reuse", circuits::reuse},          {"diamond", circuits::diamond},
  };
  circuits::Circuit c;
  if (circuit == "twolayer") {
    auto n = circuits::twolayer();
    c = {n.f, {n.x, n.W1, n.b1, n.W2, n.b2}};
  } else if (auto it = simple.find(circuit); it != simple.end()) {
    c = it->second();
  } else {
    return fmt::print(stderr,
                      "backprop_stepper: unknown circuit '{}' (gates, neuron, neuron-fused, max, reuse, "
                      "diamond, twolayer)\n",
                      circuit),
           2;
  }
  if (out.empty()) out = fmt::format("backprop_stepper_{}.html", circuit);

  xg::BackwardTrace trace;
  {
    xg::TraceBackward guard(trace);
    c.f.backward({}, true);  // retain_graph: every step is drawn from the graph afterwards
  }
  const std::size_t n = trace.steps().size();
  std::string steps;
  try {
    for (std::size_t k = 1; k <= n; ++k) {
      const xg::DotOptions options{.trace = &trace, .steps = k};
      std::string text = trace.step_to_string(k - 1);
      if (k == n) text += "\n" + trace.leaves_to_string();
      steps += fmt::format("<section class=\"step\" data-step=\"{}\" hidden>\n<div class=\"graph\">{}</div>\n"
                           "<pre>{}</pre>\n</section>\n",
                           k, inline_svg(xg::run_dot(xg::to_dot(c.f, options), "svg")), html_escaped(text));
    }
  } catch (const xg::Error& e) {
    fmt::print(stderr, "backprop_stepper: {}\n", e.what());
    return 1;
  }
  std::ofstream(out) << fmt::format(
      R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>backward of {circuit}, step by step</title>
<style>
body {{ font-family: sans-serif; margin: 1em 2em; }}
nav {{ margin: 0.5em 0; }} button {{ font-size: 1em; padding: 0.3em 1em; }}
#where {{ margin: 0 1em; font-weight: bold; }}
.graph svg {{ max-width: 100%; height: auto; }}
pre {{ background: #f6f8fa; padding: 0.8em; font-size: 14px; border-left: 4px solid #ffd54f; }}
</style></head>
<body data-steps="{n}">
<h1>backward of <code>{circuit}</code>, one node per step</h1>
<p>Yellow: the node this step runs. Blue: tensors whose gradient is known so far. Red edges: what this step
sends to each input (dy times the local gradient). Keys: left and right arrows.</p>
<nav><button id="prev">&larr; Previous</button><span id="where"></span><button id="next">Next &rarr;</button></nav>
{steps}<script>{script}</script>
</body></html>
)",
      fmt::arg("circuit", circuit), fmt::arg("n", n), fmt::arg("steps", steps), fmt::arg("script", page_script));
  fmt::print("{}: {} steps\n", out, n);
  return 0;
}
