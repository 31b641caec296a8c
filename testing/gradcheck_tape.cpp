#include "gradcheck_tape.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>
#include <random>
#include <unordered_map>

#include "../autograd/dispatch.hpp"
#include "../autograd/kinks.hpp"
#include "../autograd/random.hpp"
#include "../ops/reduce.hpp"
#include "compare.hpp"

namespace xgrad {

namespace {

std::string where(std::size_t index, const char* op, const Site& site) {
  return fmt::format("node {} '{}' ({}:{})", index, op, std::filesystem::path(site.file_name()).filename().string(),
                     site.line());
}

// Installs an observer for one run of f; uninstalls it however the run ends.
class ObserverScope {
 public:
  explicit ObserverScope(detail::RecordObserver* observer) : previous_(detail::set_record_observer(observer)) {}
  ~ObserverScope() { detail::set_record_observer(previous_); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  detail::RecordObserver* previous_;
};

// The first run: every node f records, in creation order. Holding the outputs keeps the whole tape
// alive, so no address is reused and each TensorImpl pointer names one tensor.
class Lister final : public detail::RecordObserver {
 public:
  void recorded(Tensor& out) override {
    index.emplace(out.impl(), nodes.size());
    nodes.push_back(out);
  }
  std::vector<Tensor> nodes;
  std::unordered_map<const TensorImpl*, std::size_t> index;
};

// One distinct tensor among node k's inputs that require grad, with the input positions that hold it
// (x * x holds the same tensor twice: perturbing it moves both, so both gradients are summed).
struct Operand {
  std::vector<std::size_t> positions;
  std::optional<std::size_t> producer;  // the node that made it, or none: a leaf or a tensor f captured
  Tensor first_run;                     // the tensor node k read in the first run
};

std::vector<Operand> operands_of(const TensorImpl& node, const Lister& tape) {
  std::vector<Operand> operands;
  for (std::size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& x = node.inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    auto same = std::find_if(operands.begin(), operands.end(),
                             [&](const Operand& o) { return o.first_run.impl() == x.impl(); });
    if (same != operands.end()) {
      same->positions.push_back(i);
      continue;
    }
    const auto made_by = tape.index.find(x.impl());
    operands.push_back({{i}, made_by == tape.index.end() ? std::nullopt : std::optional(made_by->second), x});
  }
  return operands;
}

// Thrown by the replay observer once it has node k's output: the rest of f is not needed. Not an
// std::exception, so a catch in f's own code does not swallow it.
struct ReplayDone {};

// A replay of f for node k: as each producer of node k's inputs is recorded, its value is set to the
// first run's value, with `delta` added at one element of the perturbed operand. Node k thus sees
// exactly its first-run inputs, one element moved, whatever else that element also feeds.
class Replay final : public detail::RecordObserver {
 public:
  Replay(const Lister& tape, std::size_t k, const std::vector<Operand>& operands, std::size_t perturbed,
         std::size_t element, double delta)
      : tape_(tape), k_(k), operands_(operands), perturbed_(perturbed), element_(element), delta_(delta) {
    if (k_ == 0) window_.emplace();
  }

  void recorded(Tensor& out) override {
    const std::size_t n = next_++;
    const TensorImpl& first = *tape_.nodes[n].impl();
    if (std::strcmp(out.impl()->op, first.op) != 0)
      throw Error("gradcheck_tape: f recorded a different tape on replay: node {} was '{}' and is now '{}' (f must "
                  "build the same tape every call, given the random generator's state)",
                  n, first.op, out.op());
    for (std::size_t o = 0; o < operands_.size(); ++o)
      if (operands_[o].producer == n) {
        set_value(out, o);
        made_[o] = out.impl();
      }
    if (n + 1 == k_) window_.emplace();  // node k's own kinks are noted between here and its record
    if (n != k_) return;
    branches = window_->signature();
    window_.reset();
    for (std::size_t o = 0; o < operands_.size(); ++o) {
      const TensorImpl* expected = operands_[o].producer ? made_[o] : operands_[o].first_run.impl();
      if (out.impl()->inputs[operands_[o].positions[0]].impl() != expected)
        throw Error("gradcheck_tape: f recorded a different tape on replay: input {} of {} comes from elsewhere",
                    operands_[o].positions[0], where(k_, first.op, first.site));
    }
    output = out.value<double>();
    throw ReplayDone{};
  }

  xt::xarray<double> output;   // node k's output
  std::uint64_t branches = 0;  // digest of the kink branches node k took

 private:
  void set_value(Tensor& out, std::size_t o) {
    auto& value = out.mutable_value<double>();
    value = operands_[o].first_run.value<double>();
    if (o == perturbed_) value.data()[element_] += delta_;
  }

  const Lister& tape_;
  std::size_t k_;
  const std::vector<Operand>& operands_;
  std::size_t perturbed_, element_;
  double delta_;
  std::size_t next_ = 0;
  std::unordered_map<std::size_t, const TensorImpl*> made_;
  std::optional<kinks::Recorder> window_;
};

// The checker for one node: replays f with one element of one operand moved by +-h and compares
// the centered difference of sum(r * y_k) with the node's own backward applied to dy = r.
class NodeCheck {
 public:
  NodeCheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const Lister& tape, std::size_t k,
            const GradcheckTapeOptions& options, const std::mt19937_64& rng_state, std::mt19937_64& rng)
      : f_(f),
        inputs_(inputs),
        tape_(tape),
        k_(k),
        options_(options),
        rng_state_(rng_state),
        rng_(rng),
        node_(*tape.nodes[k].impl()) {}

  GradcheckTapeNode run() {
    GradcheckTapeNode report;
    report.index = k_;
    report.op = node_.op;
    report.site = node_.site;
    operands_ = operands_of(node_, tape_);
    report.skipped = why_skipped();
    if (!report.skipped.empty()) return report;
    draw_projection();
    std::vector<Tensor> dx;
    if (std::string error = analytic(dx); !error.empty()) {
      report.ok = false;
      report.error = std::move(error);
      return report;
    }
    for (std::size_t o = 0; o < operands_.size(); ++o) check_operand(o, dx, report);
    report.ok = report.max_rel_error <= options_.tolerance;
    return report;
  }

 private:
  std::string why_skipped() const {
    if (tape_.nodes[k_].dtype() != f64) return fmt::format("its output is {}", dtype_name(tape_.nodes[k_].dtype()));
    for (const Operand& o : operands_)
      if (o.first_run.dtype() != f64)
        return fmt::format("input {} is {}", o.positions[0], dtype_name(o.first_run.dtype()));
    if (operands_.empty()) return "no input requires grad";
    return "";
  }

  // r: a fixed random projection of y_k (1 for a one-element output), so one scalar covers all of y_k.
  void draw_projection() {
    const Tensor& y = tape_.nodes[k_];
    projection_ = xt::xarray<double>::from_shape(y.shape());
    if (y.numel() == 1) {
      projection_.fill(1.0);
      return;
    }
    std::normal_distribution<double> normal;
    for (auto& v : projection_) v = normal(rng_);
  }

  // The node's own backward on its first-run inputs, with dy = r; "" or what went wrong.
  std::string analytic(std::vector<Tensor>& dx) const {
    NoGradGuard no_grad;
    const Tensor& y = tape_.nodes[k_];
    const Tensor dy(projection_);
    dx.assign(node_.inputs.size(), Tensor());
    try {
      Backward step{y, dy, BackwardInputs(node_.inputs), dx};
      node_.backward(step);
    } catch (const std::exception& e) {
      return fmt::format("its backward threw: {}", e.what());
    }
    for (const Operand& o : operands_)
      for (std::size_t i : o.positions) {
        const Shape shape = node_.inputs[i].shape();
        if (!dx[i].defined()) {
          dx[i] = zeros(shape, f64);  // the engine reads an undefined dx as no gradient
          continue;
        }
        if (dx[i].dtype() != f64)
          return fmt::format("its backward gave dx[{}] in {} for an f64 input", i, dtype_name(dx[i].dtype()));
        if (dx[i].shape() == shape) continue;
        try {
          dx[i] = sum_to(dx[i], shape);  // as the engine does for a broadcast gradient
        } catch (const std::exception& e) {
          return fmt::format("its backward gave dx[{}] of shape {} for an input of shape {}: {}", i,
                             shape_str(dx[i].shape()), shape_str(shape), e.what());
        }
      }
    return "";
  }

  void check_operand(std::size_t o, const std::vector<Tensor>& dx, GradcheckTapeNode& report) {
    const Operand& operand = operands_[o];
    const Shape shape = operand.first_run.shape();
    std::vector<std::size_t> elements(operand.first_run.numel());
    std::iota(elements.begin(), elements.end(), 0);
    if (options_.max_elements && elements.size() > options_.max_elements) {
      std::shuffle(elements.begin(), elements.end(), rng_);
      elements.resize(options_.max_elements);
      std::sort(elements.begin(), elements.end());
    }
    for (std::size_t e : elements) {
      std::uint64_t branches_plus = 0, branches_minus = 0;
      const double plus = projected(o, e, options_.h, branches_plus);
      const double minus = projected(o, e, -options_.h, branches_minus);
      GradcheckElement el{operand.positions[0], detail::unravel(e, shape), 0, 0, (plus - minus) / (2 * options_.h), 0};
      for (std::size_t i : operand.positions) el.analytic += dx[i].value<double>().data()[e];
      testing_detail::score(el, options_.min_scale);
      testing_detail::tally(report, el, branches_plus != branches_minus);
    }
  }

  // sum(r * y_k) in a replay with element e of operand o moved by delta.
  double projected(std::size_t o, std::size_t e, double delta, std::uint64_t& branches) {
    const Operand& operand = operands_[o];
    Replay replay(tape_, k_, operands_, o, e, delta);
    // A leaf or captured tensor is not recorded in the run: it is moved before the run, and put back.
    struct Move {
      double* element = nullptr;
      double original = 0;
      ~Move() {
        if (element) *element = original;
      }
    } move;
    if (!operand.producer) {
      Tensor t = operand.first_run;
      move.element = t.mutable_value<double>().data() + e;
      move.original = *move.element;
      *move.element += delta;
    }
    generator() = rng_state_;
    try {
      ObserverScope scope(&replay);
      f_(inputs_);
    } catch (const ReplayDone&) {
      branches = replay.branches;
      if (replay.output.shape() != projection_.shape())
        throw Error("gradcheck_tape: f recorded a different tape on replay: {} gave {} and now {}",
                    where(k_, node_.op, node_.site), shape_str(projection_.shape()), shape_str(replay.output.shape()));
      return xt::sum(projection_ * replay.output)();
    }
    throw Error("gradcheck_tape: f recorded {} nodes on the first run but fewer on a replay (f must build the same "
                "tape every call, given the random generator's state)",
                tape_.nodes.size());
  }

  const GradcheckFn& f_;
  const std::vector<Tensor>& inputs_;
  const Lister& tape_;
  std::size_t k_;
  const GradcheckTapeOptions& options_;
  const std::mt19937_64& rng_state_;
  std::mt19937_64& rng_;
  const TensorImpl& node_;
  std::vector<Operand> operands_;
  xt::xarray<double> projection_;
};

}  // namespace

GradcheckTapeReport gradcheck_tape(const GradcheckFn& f, std::vector<Tensor> inputs,
                                   const GradcheckTapeOptions& options) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].dtype() != f64)
      throw Error("gradcheck_tape: input {} {} is {}; finite differences need f64 (use .to(xg::f64))", i,
                  shape_str(inputs[i].shape()), dtype_name(inputs[i].dtype()));
  if (!grad_mode::enabled()) throw Error("gradcheck_tape: called under NoGradGuard, so f records no tape to check");
  const std::mt19937_64 rng_state = generator();  // every run of f starts from this state
  struct RestoreGenerator {
    const std::mt19937_64& state;
    ~RestoreGenerator() { generator() = state; }
  } restore{rng_state};
  std::mt19937_64 rng(options.seed);

  Lister tape;
  {
    ObserverScope scope(&tape);
    f(inputs);
  }
  if (tape.nodes.empty())
    throw Error("gradcheck_tape: f recorded no node; mark the inputs to check with requires_grad_()");

  GradcheckTapeReport report;
  for (std::size_t k = 0; k < tape.nodes.size(); ++k)
    report.nodes.push_back(NodeCheck(f, inputs, tape, k, options, rng_state, rng).run());
  report.ok = std::all_of(report.nodes.begin(), report.nodes.end(), [](const GradcheckTapeNode& n) { return n.ok; });
  return report;
}

const GradcheckTapeNode* GradcheckTapeReport::first_failure() const {
  auto it = std::find_if(nodes.begin(), nodes.end(), [](const GradcheckTapeNode& n) { return !n.ok; });
  return it == nodes.end() ? nullptr : &*it;
}

std::string describe(const GradcheckTapeNode& node) { return where(node.index, node.op.c_str(), node.site); }

namespace {
// "relative error 0.41 at input 0 [2,3]: analytic 1.2 numeric 0.85", or why the node was not compared.
std::string verdict(const GradcheckTapeNode& n) {
  if (!n.error.empty()) return n.error;
  if (!n.skipped.empty()) return fmt::format("skipped: {}", n.skipped);
  std::string s =
      n.checked ? fmt::format("relative error {:.3g} at input {} {}: analytic {:.10g} numeric {:.10g}", n.max_rel_error,
                              n.worst.input, shape_str(n.worst.index), n.worst.analytic, n.worst.numeric)
                : std::string("no element compared");
  if (!n.kinks.empty()) {
    s += fmt::format("; {} kink crossed (not counted):", n.kinks.size());
    for (const auto& k : n.kinks)
      s += fmt::format(" input {} {} (analytic {:.6g}, numeric {:.6g})", k.input, shape_str(k.index), k.analytic,
                       k.numeric);
  }
  return s;
}
}  // namespace

std::string to_string(const GradcheckTapeReport& r) {
  std::size_t checked = 0;
  const GradcheckTapeNode* worst = nullptr;
  for (const auto& n : r.nodes) {
    if (!n.checked) continue;
    ++checked;
    if (!worst || n.max_rel_error > worst->max_rel_error) worst = &n;
  }
  std::string s;
  if (const GradcheckTapeNode* failed = r.first_failure())
    s = fmt::format("gradcheck_tape FAILED: {}: {}", describe(*failed), verdict(*failed));
  else
    s = fmt::format("gradcheck_tape ok: {} of {} nodes checked, max relative error {:.3g}{}", checked, r.nodes.size(),
                    worst ? worst->max_rel_error : 0.0, worst ? fmt::format(" at {}", describe(*worst)) : "");
  for (const auto& n : r.nodes) s += fmt::format("\n  {} {}: {}", n.ok ? "ok    " : "FAILED", describe(n), verdict(n));
  return s;
}

}  // namespace xgrad
