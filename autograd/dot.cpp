#include "dot.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "dispatch.hpp"
#include "engine.hpp"
#include "local_gradient.hpp"
#include "print.hpp"
#include "trace.hpp"

namespace xgrad {

namespace {
// A DOT string literal.
std::string dot_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return out + "\"";
}

std::string id_of(const void* p) { return fmt::format("t{}", fmt::ptr(p)); }

// A scratch file that the destructor removes.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(std::string_view suffix) {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / fmt::format("xgrad-dot-{:x}{}", rd(), suffix);
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// dot -T<format> in -o out; the error names the command and repeats what dot said.
void dot_to_file(const std::string& dot_text, std::string_view format, const std::string& out_path,
                 const char* caller) {
  if (!have_dot())
    throw Error("{}: Graphviz's 'dot' is not installed (Debian: apt-get install graphviz, or run "
                "scripts/install-deps.sh); xg::to_dot gives the DOT text without it",
                caller);
  TempFile in(".dot"), err(".err");
  std::ofstream(in.path) << dot_text;
  const std::string command = fmt::format("dot -T{} {} -o {} 2> {}", format, shell_quoted(in.path.string()),
                                          shell_quoted(out_path), shell_quoted(err.path.string()));
  if (const int status = std::system(command.c_str()); status != 0)
    throw Error("{}: '{}' failed (status {}): {}", caller, command, status, read_file(err.path));
}
}  // namespace

bool have_dot() { return std::system("command -v dot > /dev/null 2>&1") == 0; }

std::string to_dot(const Tensor& root, const DotOptions& options) {
  if (!root.defined()) throw Error("to_dot: the tensor is undefined");
  const auto order = root.requires_grad() ? topological_order(root) : std::vector{root.impl_ptr()};
  const detail::NodeLabels label(order);
  const BackwardTrace* trace = options.trace;
  const std::size_t known = trace ? options.steps.value_or(trace->steps().size()) : 0;
  const TraceStep* current =
      trace && options.steps && known > 0 && known <= trace->steps().size() ? &trace->steps()[known - 1] : nullptr;
  const std::size_t m = options.max_full;

  // Left to right reads like the notes' circuits; a longer chain goes top to bottom, so that the
  // drawing stays readable at page width.
  std::string out = fmt::format("digraph tape {{\n  rankdir={};\n  node [fontname=\"Helvetica\", fontsize=11];\n"
                                "  edge [fontname=\"Helvetica\", fontsize=10];\n",
                                order.size() > 10 ? "TB" : "LR");
  if (!options.title.empty()) out += fmt::format("  labelloc=t; label={};\n", dot_string(options.title));
  auto tensor_box = [&](const Tensor& t) {
    std::string text = fmt::format("{}  {}\nvalue {}", label(t), shape_str(t.shape()), value_summary(t, m));
    std::optional<Tensor> g;
    if (trace)
      g = trace->grad_after(t.impl(), known);
    else if (t.grad().defined())
      g = t.grad();
    if (g) text += fmt::format("\ngrad {}", value_summary(*g, m));
    const bool here = current && current->node == t.impl();
    std::string style = here ? "style=\"filled,bold\", fillcolor=\"#ffd54f\", penwidth=3"
                        : g  ? "style=filled, fillcolor=\"#e3f2fd\""
                             : "style=filled, fillcolor=\"#ffffff\"";
    if (!t.requires_grad()) style = "style=\"filled,dashed\", fillcolor=\"#f5f5f5\", fontcolor=\"#616161\"";
    out += fmt::format("  {} [shape=box, label={}, {}];\n", id_of(t.impl()), dot_string(text), style);
  };
  for (const auto& node : order) {
    const Tensor t(node);
    tensor_box(t);
    if (!node->op) continue;
    const std::string op_id = id_of(node.get()) + "_op";
    const bool here = current && current->node == node.get();
    out += fmt::format("  {} [shape=ellipse, label={}{}];\n", op_id, dot_string(node->op),
                       here ? ", style=\"filled,bold\", fillcolor=\"#ffd54f\", penwidth=3" : "");
    out += fmt::format("  {} -> {};\n", op_id, id_of(node.get()));
    std::vector<std::string> inputs;
    for (const Tensor& in : node->inputs) inputs.push_back(label(in));
    const TraceStep* step = nullptr;
    if (trace)
      if (auto s = trace->step_of(node.get()); s && *s < known) step = &trace->steps()[*s];
    for (std::size_t i = 0; i < node->inputs.size(); ++i) {
      const Tensor& in = node->inputs[i];
      if (!in.requires_grad()) tensor_box(in);  // a constant: drawn where it is used
      std::string text;
      if (options.edge_labels && in.requires_grad()) {
        const TraceEdge* edge = nullptr;
        if (step)
          for (const TraceEdge& e : step->edges)
            if (e.input == in.impl() && !edge) edge = &e;
        if (edge && edge->local)
          text = fmt::format("local {}", value_summary(*edge->local, m));
        else if (std::string f = detail::local_gradient_formula(node->op, i, inputs, label(t)); !f.empty())
          text = fmt::format("local {}", f);
        if (edge && here) text += fmt::format("\nsends {}", value_summary(edge->sent, m));
      }
      out += fmt::format("  {} -> {} [label={}{}];\n", id_of(in.impl()), op_id, dot_string(text),
                         here ? ", color=\"#d32f2f\", fontcolor=\"#d32f2f\", penwidth=2" : "");
    }
  }
  if (root.impl()->graph_freed)
    out += "  freed [shape=note, label=\"the graph was freed by backward:\\npass retain_graph = true to draw it "
           "afterwards\"];\n";
  return out + "}\n";
}

std::string run_dot(const std::string& dot_text, std::string_view format) {
  TempFile result(".out");
  dot_to_file(dot_text, format, result.path.string(), "run_dot");
  return read_file(result.path);
}

void render(const Tensor& root, const std::string& path, const DotOptions& options) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext != ".svg" && ext != ".png" && ext != ".pdf")
    throw Error("render: '{}' has extension '{}'; use .svg, .png or .pdf (or xg::to_dot for the DOT text)", path, ext);
  dot_to_file(to_dot(root, options), ext.substr(1), path, "render");
}

}  // namespace xgrad
