#pragma once
// L-BFGS, PyTorch's torch.optim.LBFGS (itself minFunc's algorithm): a quasi-Newton method. It keeps
// the last history_size pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k and turns the gradient into a
// step direction d = -H g with the two-loop recursion, where H is the inverse-Hessian approximation
// those pairs define (scaled by H_diag = s.y / y.y from the newest pair). Unlike the other
// optimizers it needs to evaluate the loss several times per step, so step() takes a closure:
//
//   xg::optim::LBFGS lbfgs(net.parameters(), {.line_search_fn = "strong_wolfe"});
//   auto closure = [&] {
//     lbfgs.zero_grad();
//     auto loss = xg::mse_loss(net(x), y);
//     loss.backward();
//     return loss;
//   };
//   for (int k = 0; k < 10; ++k) lbfgs.step(closure);  // each step: up to max_iter iterations
//
// One step runs up to max_iter iterations: a direction from the history, then a step length, either
// lr (the first iteration ever: lr * min(1, 1/|g|_1)) or a strong-Wolfe line search from it, which
// re-evaluates the closure. It stops early when the largest |gradient| element is <= tolerance_grad,
// when the directional derivative g.d, the step or the loss change is within tolerance_change of 0
// (absolute tolerances, as torch's), or after max_eval closure calls.
//
// All parameters are treated as one flat vector (in parameters() order), so there is exactly one
// parameter group, and a parameter no gradient reached counts as a zero gradient (as torch's
// _gather_flat_grad). The parameters must share one dtype. Vectors (directions, the history,
// gradients) are kept in that dtype, as in torch; scalars (dot products, step lengths, losses,
// H_diag, ro) are computed in double, so f64 follows torch's f64 arithmetic (up to the order in
// which dot products are summed) and f32 is slightly more accurate than torch's f32.
//
// The plain Optimizer::step() is refused (L-BFGS cannot step without re-evaluating the loss). A step
// whose closure throws leaves the parameters and the optimizer's state as they were before it.
//
// Checkpoints: state_dict() gives torch's state as named tensors, "group.0.lr", "func_evals",
// "n_iter" and, once an iteration has run, "d", "t", "old_dirs.<k>", "old_stps.<k>", "ro.<k>"
// (k = 0 is the oldest pair), "H_diag", "prev_flat_grad", "prev_loss" and "al.<k>" (vectors [n] in
// the parameters' dtype, n their total element count; scalars 0-d f64). load_state_dict() checks all
// of them before changing anything. They override Optimizer's, so saving and loading through an
// Optimizer& (or xg::save/xg::load with one) keeps the whole state.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "optimizer.hpp"

namespace xgrad::optim {

struct LBFGSOptions {
  double lr = 1.0;
  int max_iter = 20;                           // iterations per step()
  std::optional<int> max_eval = std::nullopt;  // closure calls per step(); unset: max_iter * 5 / 4, as torch
  double tolerance_grad = 1e-7;                // stop when max |g_i| <= tolerance_grad
  double tolerance_change = 1e-9;              // stop when max |step_i| or |loss change| is below it
  int history_size = 100;                      // (s, y) pairs kept
  std::optional<std::string> line_search_fn = std::nullopt;  // unset (fixed step lr) or "strong_wolfe"
};

// Zeroes the gradients, computes the loss, calls backward() on it and returns it (one element).
using LossClosure = std::function<Tensor()>;

// What torch keeps in state[params[0]]. The vectors are [n] tensors in the parameters' dtype,
// undefined until the first iteration; they are never written in place once made, so copies of
// this struct share them safely.
struct LBFGSState {
  std::int64_t func_evals = 0;   // closure calls, over all steps
  std::int64_t n_iter = 0;       // iterations, over all steps
  Tensor d;                      // the last direction
  double t = 0.0;                // the last step length
  std::vector<Tensor> old_dirs;  // y_k = g_{k+1} - g_k, oldest first
  std::vector<Tensor> old_stps;  // s_k = t_k d_k, oldest first
  std::vector<double> ro;        // 1 / (y_k . s_k)
  double H_diag = 1.0;           // the initial inverse Hessian is H_diag * I
  Tensor prev_flat_grad;
  double prev_loss = 0.0;
  std::vector<double> al;  // the two-loop's coefficients of the last iteration (torch keeps them)
};

class LBFGS : public OptimizerWith<LBFGSOptions> {
 public:
  LBFGS(std::vector<Tensor> params, LBFGSOptions options = {});
  explicit LBFGS(std::vector<ParamGroup<LBFGSOptions>> groups);  // exactly one group
  std::string_view name() const override { return "LBFGS"; }

  // One optimization step (up to max_iter iterations); returns the loss the first call of the
  // closure returned, as torch does.
  Tensor step(const LossClosure& closure);
  // Throws: L-BFGS needs a closure.
  void step() override;

  // Throws: L-BFGS supports only one parameter group.
  void add_param_group(ParamGroup<LBFGSOptions> group);

  const LBFGSState& lbfgs_state() const { return lbfgs_; }

  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;

 protected:
  void check_options(const LBFGSOptions& o) const override;
  void update(std::size_t group, Tensor& w, const Tensor& grad, ParamState& state) override;  // unused
  std::vector<std::string> buffer_names(std::size_t) const override { return {}; }

 private:
  LBFGSState lbfgs_;
};

}  // namespace xgrad::optim
