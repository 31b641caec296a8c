#include "lbfgs.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "../autograd/dispatch.hpp"
#include "state_dict.hpp"

namespace xgrad::optim {

namespace {

using state_io::copy_of;
using state_io::describe;
using state_io::f64_scalar;

constexpr const char* kNeedsClosure =
    "LBFGS.step: L-BFGS needs a closure: it re-evaluates the loss several times per step. Call step(closure) with "
    "a closure that zeroes the gradients, computes the loss, calls backward() on it and returns it";

Tensor call(const LossClosure& closure) {
  EnableGradGuard grad_on;  // as torch's enable_grad: step() works inside a NoGradGuard scope too
  return closure();
}

double loss_value(const Tensor& loss) {
  if (!loss.defined())
    throw Error(
        "LBFGS.step: the closure returned an undefined tensor; it must return the loss it called backward() on");
  if (loss.numel() != 1)
    throw Error("LBFGS.step: the closure returned a {} tensor; the loss must have exactly one element", describe(loss));
  return loss.item();
}

// --- the parameters as one flat vector ---------------------------------------------------------------
struct Layout {
  DType dtype;
  std::size_t n;  // total element count
};

Layout flat_layout(const std::vector<Tensor>& params) {
  Layout layout{params.at(0).dtype(), 0};
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i].dtype() != layout.dtype)
      throw Error("LBFGS: parameter {} is {} but parameter 0 is {}; L-BFGS works on all parameters as one vector of "
                  "one dtype "
                  "(convert them with .to())",
                  i, describe(params[i]), describe(params[0]));
    layout.n += params[i].numel();
  }
  return layout;
}

// Flat vectors are [n] tensors; cdata reads, wdata writes (and bumps the version, which matters
// only for parameters).
template <class T>
const T* cdata(const Tensor& v) {
  return v.value<T>().data();
}
template <class T>
T* wdata(Tensor& v) {
  return v.mutable_value<T>().data();
}
template <class T>
Tensor flat_zeros(std::size_t n) {
  return zeros({n}, dtype_of<T>());
}

// The gradient of every parameter, concatenated; a parameter no gradient reached contributes zeros.
template <class T>
Tensor gather_grad(const std::vector<Tensor>& params, std::size_t n) {
  Tensor flat = flat_zeros<T>(n);
  T* out = wdata<T>(flat);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor& g = p.grad();
    if (g.defined()) {
      if (g.dtype() != p.dtype() || g.shape() != p.shape())
        throw Error("LBFGS.step: parameter {} is {} but its gradient is {}", i, describe(p), describe(g));
      const T* src = cdata<T>(g);
      std::copy(src, src + p.numel(), out + offset);
    }
    offset += p.numel();
  }
  return flat;
}

template <class T>
Tensor gather_params(const std::vector<Tensor>& params, std::size_t n) {
  Tensor flat = flat_zeros<T>(n);
  T* out = wdata<T>(flat);
  for (const Tensor& p : params) out = std::copy(cdata<T>(p), cdata<T>(p) + p.numel(), out);
  return flat;
}

template <class T>
void set_params(const std::vector<Tensor>& params, const Tensor& flat) {
  const T* src = cdata<T>(flat);
  for (Tensor p : params) {
    std::copy(src, src + p.numel(), wdata<T>(p));
    src += p.numel();
  }
}

// p += t * d, parameter by parameter (torch's _add_grad).
template <class T>
void add_to_params(const std::vector<Tensor>& params, double t, const Tensor& d) {
  const T step = static_cast<T>(t);
  const T* src = cdata<T>(d);
  for (Tensor p : params) {
    T* w = wdata<T>(p);
    for (std::size_t k = 0, m = p.numel(); k < m; ++k) w[k] = w[k] + step * src[k];
    src += p.numel();
  }
}

// --- vector arithmetic: results in T, reductions accumulated in double, in index order ----------------
template <class T>
double dot(const Tensor& a, const Tensor& b) {
  const T* x = cdata<T>(a);
  const T* y = cdata<T>(b);
  double s = 0.0;
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return s;
}

// max_i |c * a_i|; nan if any element is nan (as torch's max), so a nan never passes a tolerance test.
template <class T>
double max_abs(const Tensor& a, double c = 1.0) {
  const T* x = cdata<T>(a);
  const T scale = static_cast<T>(c);
  double m = 0.0;
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) {
    const double v = std::abs(static_cast<double>(c == 1.0 ? x[i] : scale * x[i]));
    if (std::isnan(v)) return v;
    m = std::max(m, v);
  }
  return m;
}

template <class T>
double sum_abs(const Tensor& a) {
  const T* x = cdata<T>(a);
  double s = 0.0;
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) s += std::abs(static_cast<double>(x[i]));
  return s;
}

template <class T>
Tensor scaled(const Tensor& a, double c) {  // c * a
  Tensor out = flat_zeros<T>(a.numel());
  const T* x = cdata<T>(a);
  T* y = wdata<T>(out);
  const T k = static_cast<T>(c);
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) y[i] = k * x[i];
  return out;
}

template <class T>
Tensor difference(const Tensor& a, const Tensor& b) {  // a - b
  Tensor out = flat_zeros<T>(a.numel());
  const T* x = cdata<T>(a);
  const T* z = cdata<T>(b);
  T* y = wdata<T>(out);
  for (std::size_t i = 0, n = a.numel(); i < n; ++i) y[i] = x[i] - z[i];
  return out;
}

template <class T>
void add_scaled(Tensor& y, double c, const Tensor& x) {  // y += c * x
  T* w = wdata<T>(y);
  const T* v = cdata<T>(x);
  const T k = static_cast<T>(c);
  for (std::size_t i = 0, n = y.numel(); i < n; ++i) w[i] = w[i] + k * v[i];
}

// --- the strong-Wolfe line search (torch's _strong_wolfe, from minFunc's lswolfe) -------------------------
// The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
// [lo, hi]; the midpoint of [lo, hi] when the cubic has no minimum.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return std::min(std::max(min_pos, lo), hi);
  }
  return (lo + hi) / 2.0;
}
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2) {
  return x1 <= x2 ? cubic_interpolate(x1, f1, g1, x2, f2, g2, x1, x2)
                  : cubic_interpolate(x1, f1, g1, x2, f2, g2, x2, x1);
}

struct Evaluation {
  double f;
  Tensor g;  // the flat gradient
};

struct LineSearchResult {
  double f;
  Tensor g;
  double t;
  int evals;
};

// obj(t) evaluates the loss and gradient at x + t d (and puts the parameters back to x). Finds a t
// with f(x + t d) <= f + c1 t gtd and |g(x + t d).d| <= c2 |gtd| (the strong Wolfe conditions):
// first brackets such a t, growing it by cubic extrapolation, then zooms into the bracket.
template <class T, class Obj>
LineSearchResult strong_wolfe(Obj&& obj, double t, const Tensor& d, double f, const Tensor& g, double gtd,
                              double tolerance_change) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  constexpr int max_ls = 25;
  const double d_norm = max_abs<T>(d);
  Evaluation now = obj(t);
  int evals = 1;
  double gtd_new = dot<T>(now.g, d);

  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  Tensor g_prev = g;
  bool done = false;
  int ls_iter = 0;
  // The bracket's two ends (one point, stored twice, when the first test already succeeds).
  std::array<double, 2> bracket{}, bracket_f{}, bracket_gtd{};
  std::array<Tensor, 2> bracket_g;
  auto bracket_with_previous = [&] {
    bracket = {t_prev, t};
    bracket_f = {f_prev, now.f};
    bracket_g = {g_prev, now.g};
    bracket_gtd = {gtd_prev, gtd_new};
  };
  while (ls_iter < max_ls) {
    if (now.f > f + c1 * t * gtd || (ls_iter > 1 && now.f >= f_prev)) {  // too far: the minimum is behind
      bracket_with_previous();
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {  // both conditions hold
      bracket = {t, t};
      bracket_f = {now.f, now.f};
      bracket_g = {now.g, now.g};
      done = true;
      break;
    }
    if (gtd_new >= 0) {  // the slope turned: the minimum lies between
      bracket_with_previous();
      break;
    }
    // still descending: extrapolate, at least 1% further and at most 10x
    const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10;
    const double tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, now.f, gtd_new, min_step, max_step);
    t_prev = tmp;
    f_prev = now.f;
    g_prev = now.g;
    gtd_prev = gtd_new;
    now = obj(t);
    ++evals;
    gtd_new = dot<T>(now.g, d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) {
    bracket = {0, t};
    bracket_f = {f, now.f};
    bracket_g = {g, now.g};
  }

  // Zoom: shrink the bracket until a point satisfies both conditions.
  bool insufficient_progress = false;
  int low = bracket_f[0] <= bracket_f[1] ? 0 : 1, high = 1 - low;
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;  // the bracket is too small
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    // A trial point too close to an end makes little progress: then (or at an end) move it to 10% of
    // the bracket's length from that end.
    const double b_max = std::max(bracket[0], bracket[1]), b_min = std::min(bracket[0], bracket[1]);
    const double eps = 0.1 * (b_max - b_min);
    if (std::min(b_max - t, t - b_min) < eps) {
      if (insufficient_progress || t >= b_max || t <= b_min) {
        t = std::abs(t - b_max) < std::abs(t - b_min) ? b_max - eps : b_min + eps;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    now = obj(t);
    ++evals;
    gtd_new = dot<T>(now.g, d);
    ++ls_iter;

    if (now.f > f + c1 * t * gtd || now.f >= bracket_f[low]) {  // not a sufficient decrease: new high end
      bracket[high] = t;
      bracket_f[high] = now.f;
      bracket_g[high] = now.g;
      bracket_gtd[high] = gtd_new;
      low = bracket_f[0] <= bracket_f[1] ? 0 : 1;
      high = 1 - low;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {  // the old low end becomes the high end
        bracket[high] = bracket[low];
        bracket_f[high] = bracket_f[low];
        bracket_g[high] = bracket_g[low];
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t;  // the new point is the new low end
      bracket_f[low] = now.f;
      bracket_g[low] = now.g;
      bracket_gtd[low] = gtd_new;
    }
  }
  return {bracket_f[low], bracket_g[low], bracket[low], evals};
}

// --- one step ---------------------------------------------------------------------------------------------
// torch.optim.LBFGS.step, line for line. Works on a copy of the state (sharing its tensors, which are
// never written in place) that is committed at the end, so a closure that throws changes nothing.
template <class T>
Tensor lbfgs_step(const std::vector<Tensor>& params, std::size_t n, const LBFGSOptions& o, LBFGSState& committed,
                  const LossClosure& closure) {
  LBFGSState s = committed;
  const Tensor x_start = gather_params<T>(params, n);
  try {
    const int max_eval = o.max_eval.value_or(o.max_iter * 5 / 4);
    const Tensor orig_loss = call(closure);
    double loss = loss_value(orig_loss);
    int current_evals = 1;
    ++s.func_evals;
    Tensor flat_grad = gather_grad<T>(params, n);
    bool opt_cond = max_abs<T>(flat_grad) <= o.tolerance_grad;
    if (opt_cond) {  // already optimal
      committed = std::move(s);
      return orig_loss;
    }

    int n_iter = 0;
    while (n_iter < o.max_iter) {
      ++n_iter;
      ++s.n_iter;

      // The direction: steepest descent the first time, then the two-loop recursion.
      if (s.n_iter == 1) {
        s.d = scaled<T>(flat_grad, -1.0);
        s.old_dirs.clear();
        s.old_stps.clear();
        s.ro.clear();
        s.H_diag = 1.0;
      } else {
        const Tensor y = difference<T>(flat_grad, s.prev_flat_grad);
        const Tensor step = scaled<T>(s.d, s.t);
        const double ys = dot<T>(y, step);
        if (ys > 1e-10) {  // keep the pair only where the curvature is positive (H stays positive definite)
          while (s.old_dirs.size() >= static_cast<std::size_t>(o.history_size)) {
            s.old_dirs.erase(s.old_dirs.begin());
            s.old_stps.erase(s.old_stps.begin());
            s.ro.erase(s.ro.begin());
          }
          s.old_dirs.push_back(y);
          s.old_stps.push_back(step);
          s.ro.push_back(1.0 / ys);
          s.H_diag = ys / dot<T>(y, y);
        }
        const std::size_t num_old = s.old_dirs.size();
        if (s.al.size() < num_old) s.al.resize(num_old);
        Tensor q = scaled<T>(flat_grad, -1.0);
        for (std::size_t i = num_old; i-- > 0;) {
          s.al[i] = dot<T>(s.old_stps[i], q) * s.ro[i];
          add_scaled<T>(q, -s.al[i], s.old_dirs[i]);
        }
        Tensor r = scaled<T>(q, s.H_diag);
        for (std::size_t i = 0; i < num_old; ++i) {
          const double be_i = dot<T>(s.old_dirs[i], r) * s.ro[i];
          add_scaled<T>(r, s.al[i] - be_i, s.old_stps[i]);
        }
        s.d = r;
      }
      s.prev_flat_grad = flat_grad;
      s.prev_loss = loss;

      // The step length: lr, and the first step ever no longer than 1 in the L1 norm of g.
      s.t = s.n_iter == 1 ? std::min(1.0, 1.0 / sum_abs<T>(flat_grad)) * o.lr : o.lr;
      const double gtd = dot<T>(flat_grad, s.d);
      if (gtd > -o.tolerance_change) break;  // not a descent direction (any more)

      int ls_func_evals = 0;
      if (o.line_search_fn) {
        const Tensor x_init = gather_params<T>(params, n);
        auto obj = [&](double t) {
          add_to_params<T>(params, t, s.d);
          const double f = loss_value(call(closure));
          Evaluation e{f, gather_grad<T>(params, n)};
          set_params<T>(params, x_init);
          return e;
        };
        LineSearchResult found = strong_wolfe<T>(obj, s.t, s.d, loss, flat_grad, gtd, o.tolerance_change);
        loss = found.f;
        flat_grad = found.g;
        s.t = found.t;
        ls_func_evals = found.evals;
        add_to_params<T>(params, s.t, s.d);
        opt_cond = max_abs<T>(flat_grad) <= o.tolerance_grad;
      } else {
        add_to_params<T>(params, s.t, s.d);
        if (n_iter != o.max_iter) {  // the last iteration does not re-evaluate (torch: no use on mini-batches)
          loss = loss_value(call(closure));
          flat_grad = gather_grad<T>(params, n);
          opt_cond = max_abs<T>(flat_grad) <= o.tolerance_grad;
          ls_func_evals = 1;
        }
      }
      current_evals += ls_func_evals;
      s.func_evals += ls_func_evals;

      if (n_iter == o.max_iter) break;
      if (current_evals >= max_eval) break;
      if (opt_cond) break;
      if (max_abs<T>(s.d, s.t) <= o.tolerance_change) break;  // lack of progress
      if (std::abs(loss - s.prev_loss) < o.tolerance_change) break;
    }
    committed = std::move(s);
    return orig_loss;
  } catch (...) {
    set_params<T>(params, x_start);
    throw;
  }
}

}  // namespace

LBFGS::LBFGS(std::vector<Tensor> params, LBFGSOptions options)
    : LBFGS({ParamGroup<LBFGSOptions>{std::move(params), std::move(options)}}) {}

LBFGS::LBFGS(std::vector<ParamGroup<LBFGSOptions>> groups) {
  if (groups.size() != 1)
    throw Error("LBFGS: got {} parameter groups; L-BFGS optimizes all its parameters as one vector and supports "
                "exactly one "
                "group (as torch.optim.LBFGS)",
                groups.size());
  init(std::move(groups));
  flat_layout(params(0));
}

void LBFGS::check_options(const LBFGSOptions& o) const {
  check_lr(name(), o.lr);
  if (o.max_iter < 1) throw Error("LBFGS: invalid max_iter {} (must be >= 1)", o.max_iter);
  if (o.max_eval && *o.max_eval < 1)
    throw Error("LBFGS: invalid max_eval {} (must be >= 1; unset means max_iter * 5 / 4)", *o.max_eval);
  if (!(o.tolerance_grad >= 0.0) || !std::isfinite(o.tolerance_grad))
    throw Error("LBFGS: invalid tolerance_grad {} (must be finite and >= 0)", o.tolerance_grad);
  if (!(o.tolerance_change >= 0.0) || !std::isfinite(o.tolerance_change))
    throw Error("LBFGS: invalid tolerance_change {} (must be finite and >= 0)", o.tolerance_change);
  if (o.history_size < 1) throw Error("LBFGS: invalid history_size {} (must be >= 1)", o.history_size);
  if (o.line_search_fn && *o.line_search_fn != "strong_wolfe")
    throw Error("LBFGS: unknown line_search_fn '{}' (use \"strong_wolfe\", or leave it unset for fixed steps of lr)",
                *o.line_search_fn);
}

void LBFGS::add_param_group(ParamGroup<LBFGSOptions>) {
  throw Error(
      "LBFGS.add_param_group: L-BFGS optimizes all its parameters as one vector and supports exactly one parameter "
      "group; make a new LBFGS with all the parameters instead");
}

void LBFGS::step() { throw Error("{}", kNeedsClosure); }

void LBFGS::update(std::size_t, Tensor&, const Tensor&, ParamState&) { throw Error("{}", kNeedsClosure); }

Tensor LBFGS::step(const LossClosure& closure) {
  if (!closure) throw Error("LBFGS.step: the closure is empty (an empty std::function)");
  if (group_count() != 1)
    throw Error("LBFGS.step: the optimizer has {} parameter groups; L-BFGS supports exactly one", group_count());
  const std::vector<Tensor>& ps = params(0);
  const Layout layout = flat_layout(ps);
  if (lbfgs_.d.defined() && (lbfgs_.d.dtype() != layout.dtype || lbfgs_.d.numel() != layout.n))
    throw Error("LBFGS.step: the parameters are now {} elements of {} but the optimizer's history is {} (the "
                "parameters "
                "changed dtype or size after steps were taken)",
                layout.n, dtype_name(layout.dtype), describe(lbfgs_.d));
  return xgrad::detail::with_dtype(layout.dtype, [&]<class T>() {
    return lbfgs_step<T>(ps, layout.n, options_[0], lbfgs_, closure);
  });
}

NamedTensors LBFGS::state_dict() const {
  const LBFGSState& s = lbfgs_;
  NamedTensors out;
  out.emplace_back("group.0.lr", f64_scalar(lr(0)));
  out.emplace_back("func_evals", f64_scalar(static_cast<double>(s.func_evals)));
  out.emplace_back("n_iter", f64_scalar(static_cast<double>(s.n_iter)));
  if (s.n_iter == 0) return out;
  out.emplace_back("d", copy_of(s.d));
  out.emplace_back("t", f64_scalar(s.t));
  for (std::size_t k = 0; k < s.old_dirs.size(); ++k)
    out.emplace_back(fmt::format("old_dirs.{}", k), copy_of(s.old_dirs[k]));
  for (std::size_t k = 0; k < s.old_stps.size(); ++k)
    out.emplace_back(fmt::format("old_stps.{}", k), copy_of(s.old_stps[k]));
  for (std::size_t k = 0; k < s.ro.size(); ++k) out.emplace_back(fmt::format("ro.{}", k), f64_scalar(s.ro[k]));
  out.emplace_back("H_diag", f64_scalar(s.H_diag));
  out.emplace_back("prev_flat_grad", copy_of(s.prev_flat_grad));
  out.emplace_back("prev_loss", f64_scalar(s.prev_loss));
  for (std::size_t k = 0; k < s.al.size(); ++k) out.emplace_back(fmt::format("al.{}", k), f64_scalar(s.al[k]));
  return out;
}

void LBFGS::load_state_dict(const NamedTensors& dict) {
  state_io::StateDictReader reader(std::string(name()), dict);
  const Layout layout = flat_layout(params(0));
  const double new_lr = reader.learning_rate("group.0.lr");
  LBFGSState next;
  next.func_evals = reader.count("func_evals");
  next.n_iter = reader.count("n_iter");

  auto vector = [&](const std::string& key) {
    const Tensor& t = reader.take(key);
    if (!t.defined() || t.dtype() != layout.dtype || t.shape() != Shape{layout.n})
      reader.fail(fmt::format("'{}' is {} but the parameters as one vector are [{}] {}", key, describe(t), layout.n,
                              dtype_name(layout.dtype)));
    return copy_of(t);
  };
  auto finite = [&](const std::string& key) {
    const double v = reader.scalar(key);
    if (!std::isfinite(v)) reader.fail(fmt::format("'{}' is {}, not a finite number", key, v));
    return v;
  };
  auto has = [&](const std::string& key) { return reader.remaining().contains(key); };

  if (next.n_iter == 0) {
    reader.finish("with n_iter 0 no iteration has run: the state is 'group.0.lr', 'func_evals' and 'n_iter'");
  } else {
    next.d = vector("d");
    next.t = finite("t");
    for (std::size_t k = 0; has(fmt::format("old_dirs.{}", k)); ++k) {
      next.old_dirs.push_back(vector(fmt::format("old_dirs.{}", k)));
      next.old_stps.push_back(vector(fmt::format("old_stps.{}", k)));
      next.ro.push_back(finite(fmt::format("ro.{}", k)));
    }
    next.H_diag = finite("H_diag");
    next.prev_flat_grad = vector("prev_flat_grad");
    next.prev_loss = reader.scalar("prev_loss");
    for (std::size_t k = 0; has(fmt::format("al.{}", k)); ++k) next.al.push_back(finite(fmt::format("al.{}", k)));
    reader.finish(fmt::format(
        "read {} history pairs 'old_dirs.<k>', 'old_stps.<k>', 'ro.<k>' and {} 'al.<k>', numbered from 0 without gaps; "
        "the other keys are 'group.0.lr', 'func_evals', 'n_iter', 'd', 't', 'H_diag', 'prev_flat_grad', 'prev_loss'",
        next.old_dirs.size(), next.al.size()));
  }

  // Everything checked: commit (nothing below throws).
  assign_lr(0, new_lr);
  lbfgs_ = std::move(next);
}

}  // namespace xgrad::optim
