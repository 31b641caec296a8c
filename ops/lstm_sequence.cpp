// lstm_sequence: one LSTM layer and direction over a whole sequence as one op (the header says why).
#include "lstm_sequence.hpp"

#include <algorithm>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "../autograd/dispatch.hpp"
#include "../autograd/engine.hpp"
#include "arithmetic.hpp"
#include "blas.hpp"
#include "elementwise.hpp"
#include "matmul.hpp"
#include "shape.hpp"
#include "simd_map.hpp"

namespace xgrad {

namespace {

struct Dims {
  std::size_t t, n, i, h;
};

Dims check(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
           const Tensor& bias) {
  constexpr const char* op = "lstm_sequence";
  auto defined = [&](const Tensor& t, const char* name) {
    if (!t.defined()) throw Error("{}: {} is undefined", op, name);
  };
  defined(x, "x");
  defined(h0, "h0");
  defined(c0, "c0");
  defined(w_ih, "w_ih");
  defined(w_hh, "w_hh");
  const Shape sx = x.shape(), swi = w_ih.shape(), swh = w_hh.shape();
  if (sx.size() != 3 || sx[0] == 0)
    throw Error("{}: x {} must be [T, N, I] with T > 0 (a 3-D sequence)", op, shape_str(sx));
  if (swi.size() != 2 || swi[0] == 0 || swi[0] % 4 != 0)
    throw Error("{}: w_ih {} must be [4H, I] with H > 0 (four gate blocks i, f, g, o)", op, shape_str(swi));
  const Dims d{sx[0], sx[1], sx[2], swi[0] / 4};
  if (swi[1] != d.i)
    throw Error("{}: x {} and w_ih {}: input sizes {} and {} differ", op, shape_str(sx), shape_str(swi), d.i, swi[1]);
  if (swh != Shape{4 * d.h, d.h})
    throw Error("{}: w_hh {} does not match w_ih {}: expected [{}, {}] ([4H, H] with H = {})", op, shape_str(swh),
                shape_str(swi), 4 * d.h, d.h, d.h);
  auto check_state = [&](const Tensor& t, const char* name) {
    if (t.shape() != Shape{d.n, d.h})
      throw Error("{}: {} {} does not match x {} and w_ih {}: expected [{}, {}] ([N, H])", op, name,
                  shape_str(t.shape()), shape_str(sx), shape_str(swi), d.n, d.h);
  };
  check_state(h0, "h0");
  check_state(c0, "c0");
  if (bias.defined() && bias.shape() != Shape{4 * d.h})
    throw Error("{}: bias {} does not match w_ih {}: expected [{}] (b_ih + b_hh)", op, shape_str(bias.shape()),
                shape_str(swi), 4 * d.h);
  auto check_dtype = [&](const Tensor& t, const char* name) {
    if (t.defined() && t.dtype() != x.dtype())
      throw Error("{}: {} {} is {} but x {} is {} (convert one with .to())", op, name, shape_str(t.shape()),
                  dtype_name(t.dtype()), shape_str(sx), dtype_name(x.dtype()));
  };
  check_dtype(h0, "h0");
  check_dtype(c0, "c0");
  check_dtype(w_ih, "w_ih");
  check_dtype(w_hh, "w_hh");
  check_dtype(bias, "bias");
  return d;
}

// The gate activations in place, with the same kernels as the sigmoid and tanh ops (ops/simd_map.hpp).
template <class T>
void sigmoid_inplace(T* p, std::size_t n) {
  detail::simd::transform(p, p, n, [](auto b) { return detail::simd::sigmoid(b); });
}
template <class T>
void tanh_inplace(T* p, std::size_t n) {
  detail::simd::transform(p, p, n, [](auto b) { return xsimd::tanh(b); });
}

// c' = f c + i g into c and tc (tanh is applied to tc next), then h' = o tanh(c'); one row each.
template <class T>
void new_cell(std::size_t H, const T* __restrict gr, const T* __restrict cp, T* __restrict c, T* __restrict tc) {
  for (std::size_t j = 0; j < H; ++j) c[j] = tc[j] = gr[H + j] * cp[j] + gr[j] * gr[2 * H + j];
}
template <class T>
void new_hidden(std::size_t H, const T* __restrict o, const T* __restrict tc, T* __restrict h) {
  for (std::size_t j = 0; j < H; ++j) h[j] = o[j] * tc[j];
}

// One row of the backward's gate math: from the saved gates i f g o (gr), tanh(c_t) (tc), c_{t-1} (cp), the
// output's gradient [dh, dc] (dy) and the gradients dh, dc that the later steps sent back, the gradient of
// the gates' pre-activations (dg) and, in place in dc, the gradient sent on to c_{t-1}. Restrict pointers
// so the compiler vectorizes it.
template <class T>
void gate_gradients(std::size_t H, const T* __restrict gr, const T* __restrict tc, const T* __restrict cp,
                    const T* __restrict dy, const T* __restrict dh, T* __restrict dc, T* __restrict dg) {
  for (std::size_t j = 0; j < H; ++j) {
    const T i = gr[j], f = gr[H + j], g = gr[2 * H + j], o = gr[3 * H + j], t = tc[j];
    const T dht = dy[j] + dh[j];
    const T dct = dy[H + j] + dc[j] + dht * o * (T(1) - t * t);
    dg[j] = dct * g * i * (T(1) - i);
    dg[H + j] = dct * cp[j] * f * (T(1) - f);
    dg[2 * H + j] = dct * i * (T(1) - g * g);
    dg[3 * H + j] = dht * t * o * (T(1) - o);
    dc[j] = dct * f;
  }
}

// The step read before step t (t-1, or t+1 in reverse), for s = 1..T-1 steps taken.
std::size_t previous(std::size_t t, bool reverse) { return reverse ? t + 1 : t - 1; }

}  // namespace

namespace detail {
// The composed form, op by op: per step gates = [x, h] [W_ih, W_hh]^T + b, blocks i f g o;
// c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c'). The same math as LSTMCell
// (nn/rnn_cell.cpp), written here with ops so that ops/ needs nothing from nn/; test_rnn checks that
// nn::LSTM (this op) equals its cells unrolled by hand.
Tensor lstm_sequence_composed(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                              const Tensor& w_hh, const Tensor& bias, bool reverse, Site site) {
  const std::size_t T = x.shape()[0], H = w_hh.shape()[1];
  const Tensor w = concat({w_ih, w_hh}, 1, site);
  const Shape step{x.shape()[1], x.shape()[2]};
  std::vector<Tensor> ys(T);
  Tensor h = h0, c = c0;
  for (std::size_t s = 0; s < T; ++s) {
    const std::size_t t = reverse ? T - 1 - s : s;
    const Tensor gates = linear(concat({reshape(narrow(x, 0, t, 1, site), step, site), h}, 1, site), w, bias, site);
    const Tensor i = sigmoid(narrow(gates, 1, 0, H, site), site), f = sigmoid(narrow(gates, 1, H, H, site), site);
    const Tensor g = tanh(narrow(gates, 1, 2 * H, H, site), site), o = sigmoid(narrow(gates, 1, 3 * H, H, site), site);
    c = f * c + i * g;
    h = o * tanh(c, site);
    ys[t] = concat({h, c}, 1, site);
  }
  return stack(ys, 0, site);
}
}  // namespace detail

Tensor lstm_sequence(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih, const Tensor& w_hh,
                     const Tensor& bias, bool reverse, Site site) {
  const Dims d = check(x, h0, c0, w_ih, w_hh, bias);
  const std::size_t T = d.t, N = d.n, I = d.i, H = d.h, G = 4 * H, R = T * N;

  // Saved for backward: the activated gates i f g o of every step [T*N, 4H] and tanh(c_t) [T, N, H].
  // h_t and c_t are in the output Y, which backward reads from the node.
  Tensor gates, tanh_c;
  Tensor y = detail::with_dtype(x.dtype(), [&]<class T_>() {
    using A = detail::Array<T_>;
    const T_* px = x.value<T_>().data();
    const T_* ph0 = h0.value<T_>().data();
    const T_* pc0 = c0.value<T_>().data();
    const T_* pwih = w_ih.value<T_>().data();
    const T_* pwhh = w_hh.value<T_>().data();
    const T_* pb = bias.defined() ? bias.value<T_>().data() : nullptr;
    A P = A::from_shape({R, G});
    A Y = A::from_shape({T, N, 2 * H});
    A TC = A::from_shape({T, N, H});
    T_* pp = P.data();
    T_* py = Y.data();
    T_* ptc = TC.data();
    // P = X W_ih^T + b for every step at once
    detail::gemm({false, true, R, G, I}, px, I, pwih, I, pp, G);  // + b comes in the gate loop
    for (std::size_t s = 0; s < T; ++s) {
      const std::size_t t = reverse ? T - 1 - s : s;
      const T_* hprev = s == 0 ? ph0 : py + previous(t, reverse) * N * 2 * H;
      const T_* cprev = s == 0 ? pc0 : py + previous(t, reverse) * N * 2 * H + H;
      const std::size_t ld = s == 0 ? H : 2 * H;
      T_* g = pp + t * N * G;
      detail::gemm({false, true, N, G, H}, hprev, ld, pwhh, H, g, G, true);  // gates_t += h_{t-1} W_hh^T
      for (std::size_t n = 0; n < N; ++n) {
        T_* gr = g + n * G;  // i f g o
        if (pb)
          for (std::size_t k = 0; k < G; ++k) gr[k] += pb[k];
        sigmoid_inplace(gr, 2 * H);
        tanh_inplace(gr + 2 * H, H);
        sigmoid_inplace(gr + 3 * H, H);
        T_* yr = py + (t * N + n) * 2 * H;
        T_* tcr = ptc + (t * N + n) * H;
        const T_* cp = cprev + n * ld;
        new_cell(H, gr, cp, yr + H, tcr);
        tanh_inplace(tcr, H);
        new_hidden(H, gr + 3 * H, tcr, yr);
      }
    }
    gates = Tensor(std::move(P));
    tanh_c = Tensor(std::move(TC));
    return Tensor(std::move(Y));
  });

  std::vector<Tensor> inputs{x, h0, c0, w_ih, w_hh};
  if (bias.defined()) inputs.push_back(bias);
  return record(
      "lstm_sequence", y, std::move(inputs),
      [d, reverse, site, gates = std::move(gates), tanh_c = std::move(tanh_c)](Backward& node) {
        if (node.create_graph) {
          // Second order: differentiate the composed form, rebuilt from recorded ops on the inputs.
          std::vector<Tensor> wrt;
          std::vector<std::size_t> which;
          for (std::size_t k = 0; k < node.x.size(); ++k)
            if (node.needs(k)) wrt.push_back(node.x[k]), which.push_back(k);
          const Tensor composed =
              detail::lstm_sequence_composed(node.x[0], node.x[1], node.x[2], node.x[3], node.x[4],
                                             node.x.size() > 5 ? node.x[5] : Tensor(), reverse, site);
          const std::vector<Tensor> g = grad({composed}, wrt, {node.dy}, true, true, true);
          for (std::size_t k = 0; k < which.size(); ++k) node.dx[which[k]] = g[k];
          return;
        }
        detail::with_dtype(node.dy.dtype(), [&]<class T_>() {
          using A = detail::Array<T_>;
          const std::size_t T = d.t, N = d.n, I = d.i, H = d.h, G = 4 * H, R = T * N;
          const T_* pdy = node.dy.value<T_>().data();
          const T_* py = node.y.value<T_>().data();
          const T_* pg = gates.value<T_>().data();
          const T_* ptc = tanh_c.value<T_>().data();
          const T_* pc0 = node.x[2].value<T_>().data();
          const T_* pwhh = node.x[4].value<T_>().data();
          A dG = A::from_shape({R, G});
          T_* pdg = dG.data();
          A dh = A::from_shape({N, H}), dc = A::from_shape({N, H});  // into step t from the steps after it
          std::fill_n(dh.data(), N * H, T_(0));
          std::fill_n(dc.data(), N * H, T_(0));
          for (std::size_t s = T; s-- > 0;) {
            const std::size_t t = reverse ? T - 1 - s : s;
            const T_* cprev = s == 0 ? pc0 : py + previous(t, reverse) * N * 2 * H + H;
            const std::size_t ld = s == 0 ? H : 2 * H;
            for (std::size_t n = 0; n < N; ++n) {
              const std::size_t row = t * N + n;
              const T_* gr = pg + row * G;
              const T_* dyr = pdy + row * 2 * H;
              const T_* tcr = ptc + row * H;
              const T_* cp = cprev + n * ld;
              gate_gradients(H, gr, tcr, cp, dyr, dh.data() + n * H, dc.data() + n * H, pdg + row * G);
            }
            detail::gemm({false, false, N, H, G}, pdg + t * N * G, G, pwhh, H, dh.data(), H);  // dh = dG_t W_hh
          }
          auto from = [](const Shape& shape) { return A::from_shape(shape); };
          if (node.needs(0)) {  // dX = dG W_ih
            A dx = from({T, N, I});
            detail::gemm({false, false, R, I, G}, pdg, G, node.x[3].value<T_>().data(), I, dx.data(), I);
            node.dx[0] = Tensor(std::move(dx));
          }
          if (node.needs(1)) node.dx[1] = Tensor(std::move(dh));  // what reached h0
          if (node.needs(2)) node.dx[2] = Tensor(std::move(dc));
          if (node.needs(3)) {  // dW_ih = dG^T X
            A dw = from({G, I});
            detail::gemm({true, false, G, I, R}, pdg, G, node.x[0].value<T_>().data(), I, dw.data(), I);
            node.dx[3] = Tensor(std::move(dw));
          }
          if (node.needs(4)) {  // dW_hh = sum_t dG_t^T h_{t-1}: one GEMM over the steps after the first, + h0's
            A dw = from({G, H});
            const T_* ph0 = node.x[1].value<T_>().data();
            const std::size_t rows = (T - 1) * N;
            const std::size_t first = reverse ? T - 1 : 0;  // the step that read h0
            if (T > 1)  // forward: dG[1..T-1] with h[0..T-2];  reverse: dG[0..T-2] with h[1..T-1]
              detail::gemm({true, false, G, H, rows}, reverse ? pdg : pdg + N * G, G, reverse ? py + N * 2 * H : py,
                           2 * H, dw.data(), H);
            detail::gemm({true, false, G, H, N}, pdg + first * N * G, G, ph0, H, dw.data(), H, T > 1);
            node.dx[4] = Tensor(std::move(dw));
          }
          if (node.x.size() > 5 && node.needs(5)) {  // dbias = column sums of dG
            A db = from({G});
            T_* pdb = db.data();
            std::fill_n(pdb, G, T_(0));
            for (std::size_t r = 0; r < R; ++r) {
              const T_* dgr = pdg + r * G;
              for (std::size_t k = 0; k < G; ++k) pdb[k] += dgr[k];
            }
            node.dx[5] = Tensor(std::move(db));
          }
        });
      },
      site);
}

}  // namespace xgrad
