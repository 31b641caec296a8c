#pragma once
// xg::gradgradcheck: checks second derivatives, the gradients of gradients that create_graph
// records, by centered differences of the first derivatives (PyTorch's gradgradcheck).
//
// With a fixed random r of f's output shape and a fixed random u_i per input, it builds the scalar
//   G(x) = sum_i <g_i(x), u_i>,   g = xg::grad({f(x)}, x, {r}, create_graph = true)   (g = J_f^T r)
// and runs xg::gradcheck on G. The analytic side is then backward through the recorded backward of
// f, the numeric side (G(x + h) - G(x - h)) / 2h differences first derivatives, which are exact, so
// the check is as sharp as gradcheck's. A wrong second derivative shows up as a wrong dG/dx whatever
// r and u are, except with probability 0.
//
// The report is gradcheck's (testing/gradcheck.hpp): an element (input i, index) is dG/dx_i[index],
// i.e. the second derivatives of <f, r> at that element, projected on u. options mean what they mean
// for gradcheck, and options.seed also seeds r and u.
//
// An input f's first derivative does not depend on (f linear in it) has second derivative 0 there, and
// is compared against 0. An op whose local gradient is declared Differentiability::once is refused by
// the engine with its name and line, which gradgradcheck passes on as it is.
#include <vector>

#include "../autograd/tensor.hpp"
#include "gradcheck.hpp"

namespace xgrad {

// f maps the inputs to a tensor; every input that requires grad is checked (f64 leaves, as for
// gradcheck). The global random generator is restored before each evaluation of f, so dropout draws
// the same mask every time.
GradcheckReport gradgradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& options = {});

}  // namespace xgrad
