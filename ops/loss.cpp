// Losses composed from primitives (log_softmax, pick, maximum, abs, mean...), so their gradients come
// from the tape; binary_cross_entropy_with_logits is one fused op, because the composed stable form
// max(x,0) - x t + log(1 + e^-|x|) has the wrong one-sided derivatives exactly at x = 0.
#include "loss.hpp"

#include <cmath>

#include "../autograd/dispatch.hpp"
#include "arithmetic.hpp"
#include "elementwise.hpp"
#include "pick.hpp"
#include "reduce.hpp"
#include "shape.hpp"
#include "softmax.hpp"

namespace xgrad {

namespace {

// scores must be [N,C] with N >= 1, labels N indices in [0, C).
void check_labels(const char* op, const Tensor& scores, const std::vector<std::int64_t>& labels) {
  if (!scores.defined()) throw Error("{}: the scores are undefined", op);
  const Shape s = scores.shape();
  if (s.size() != 2) throw Error("{}: scores {} must be 2-D [N,C], one row per example", op, shape_str(s));
  if (s[0] == 0) throw Error("{}: scores {} hold an empty batch", op, shape_str(s));
  if (labels.size() != s[0])
    throw Error("{}: {} labels for scores {} with {} rows; expected one label per row", op, labels.size(), shape_str(s),
                s[0]);
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= s[1]) {
      if (s[1] == 0)  // not "0 classes: 0..18446744073709551615"
        throw Error("{}: label {} at position {} is out of range for scores {} (it has no classes)", op, labels[i], i,
                    shape_str(s));
      throw Error("{}: label {} at position {} is out of range for scores {} ({} classes: 0..{})", op, labels[i], i,
                  shape_str(s), s[1], s[1] - 1);
    }
}

// 1 everywhere except 0 at [i, labels[i]]: the j != y_i of the hinge sums.
Tensor off_label_mask(const Tensor& scores, const std::vector<std::int64_t>& labels) {
  Tensor mask = ones(scores.shape(), scores.dtype());
  const std::size_t c = scores.shape()[1];
  auto zero_labels = [&](auto t) {
    using T = decltype(t);
    T* p = mask.mutable_value<T>().data();
    for (std::size_t i = 0; i < labels.size(); ++i) p[i * c + std::size_t(labels[i])] = 0;
  };
  if (mask.dtype() == f32)
    zero_labels(float{});
  else
    zero_labels(double{});
  return mask;
}

// max(0, s_ij - s_iy_i + delta) for j != y_i, 0 at j == y_i; [N,C]
Tensor hinge_margins(const char* op, const Tensor& scores, const std::vector<std::int64_t>& labels, double delta,
                     Site site) {
  check_labels(op, scores, labels);
  const std::size_t n = scores.shape()[0];
  const Tensor correct = reshape(pick(scores, labels, site), {n, 1}, site);
  const Tensor margins = maximum(add(sub(scores, correct, site), scalar(delta, scores.dtype()), site), 0.0, site);
  return mul(margins, off_label_mask(scores, labels), site);
}

Tensor batch_mean(const Tensor& per_element, std::size_t n, Site site) {
  return mul(sum(per_element, site), scalar(1.0 / static_cast<double>(n), per_element.dtype()), site);
}

void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  if (!a.defined()) throw Error("{}: {} is undefined", op, a_name);
  if (!b.defined()) throw Error("{}: {} is undefined", op, b_name);
  if (a.shape() != b.shape())
    throw Error("{}: {} {} and {} {} differ in shape", op, a_name, shape_str(a.shape()), b_name, shape_str(b.shape()));
  if (a.dtype() != b.dtype())  // here, or the error would name the sub inside the loss
    throw Error("{}: {} {} is {} but {} {} is {}", op, a_name, shape_str(a.shape()), dtype_name(a.dtype()), b_name,
                shape_str(b.shape()), dtype_name(b.dtype()));
  if (a.numel() == 0) throw Error("{}: {} {} is empty", op, a_name, shape_str(a.shape()));
}

}  // namespace

// L = -1/N sum_i log_softmax(logits)[i, y_i]
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels, Site site) {
  check_labels("cross_entropy", logits, labels);
  const Tensor log_p = pick(log_softmax(logits, 1, site), labels, site);
  return neg(batch_mean(log_p, labels.size(), site), site);
}
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, Site site) {
  return cross_entropy(logits, class_indices("cross_entropy", labels), site);
}

// L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)
Tensor svm_loss(const Tensor& scores, const std::vector<std::int64_t>& labels, double delta, Site site) {
  return batch_mean(hinge_margins("svm_loss", scores, labels, delta, site), labels.size(), site);
}
Tensor svm_loss(const Tensor& scores, const Tensor& labels, double delta, Site site) {
  return svm_loss(scores, class_indices("svm_loss", labels), delta, site);
}

// L = 1/N sum_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)^2
Tensor svm_loss_squared(const Tensor& scores, const std::vector<std::int64_t>& labels, double delta, Site site) {
  const Tensor m = hinge_margins("svm_loss_squared", scores, labels, delta, site);
  return batch_mean(mul(m, m, site), labels.size(), site);
}
Tensor svm_loss_squared(const Tensor& scores, const Tensor& labels, double delta, Site site) {
  return svm_loss_squared(scores, class_indices("svm_loss_squared", labels), delta, site);
}

// L = 1/n sum max(x, 0) - x t + log(1 + e^-|x|);   dL/dx = (sigmoid(x) - t) / n,   dL/dt = -x / n
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets, Site site) {
  const char* op = "binary_cross_entropy_with_logits";
  check_same_shape(op, "logits", logits, "targets", targets);
  const double inv_n = 1.0 / static_cast<double>(logits.numel());
  Tensor y = detail::visit2(op, logits, targets, [&](const auto& x, const auto& t) {
    using T = value_t<decltype(x)>;
    double s = 0;
    for (std::size_t i = 0, n = x.size(); i < n; ++i) {
      const double v = x.data()[i];
      s += std::max(v, 0.0) - v * t.data()[i] + std::log1p(std::exp(-std::abs(v)));
    }
    return scalar(s * inv_n, dtype_of<T>());
  });
  return record(
      op, y, {logits, targets},
      [inv_n](Backward& node) {
        if (node.create_graph) {  // the same formulas as recorded ops
          const Tensor k = node.dy * inv_n;
          if (node.needs(0)) node.dx[0] = k * (sigmoid(node.x[0]) - node.x[1]);
          if (node.needs(1)) node.dx[1] = -(k * node.x[0]);
          return;
        }
        detail::visit2("binary_cross_entropy_with_logits", node.x[0], node.x[1], [&](const auto& x, const auto& t) {
          using Array = std::decay_t<decltype(x)>;
          using T = typename Array::value_type;
          const double k = node.dy.item() * inv_n;
          if (node.needs(0)) {
            Array dx = Array::from_shape(x.shape());
            for (std::size_t i = 0, n = x.size(); i < n; ++i) {
              const double v = x.data()[i];
              // sigmoid(v), written so that e^ never overflows
              const double sig = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
              dx.data()[i] = static_cast<T>(k * (sig - t.data()[i]));
            }
            node.dx[0] = Tensor(std::move(dx));
          }
          if (node.needs(1)) {
            Array dt = Array::from_shape(x.shape());
            for (std::size_t i = 0, n = x.size(); i < n; ++i) dt.data()[i] = static_cast<T>(-k * x.data()[i]);
            node.dx[1] = Tensor(std::move(dt));
          }
        });
      },
      site);
}

// L = mean((pred - target)^2)
Tensor mse_loss(const Tensor& pred, const Tensor& target, Site site) {
  check_same_shape("mse_loss", "pred", pred, "target", target);
  const Tensor d = sub(pred, target, site);
  return mean(mul(d, d, site), site);
}

// L = mean(|pred - target|)
Tensor l1_loss(const Tensor& pred, const Tensor& target, Site site) {
  check_same_shape("l1_loss", "pred", pred, "target", target);
  return mean(abs(sub(pred, target, site), site), site);
}

}  // namespace xgrad
