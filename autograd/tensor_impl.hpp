#pragma once
// TensorImpl: what a Tensor handle points to, the value and the tape node. The library's own code and
// custom ops with raw kernels read it (t.impl()->value); model code never needs it. It holds
// xtensor arrays, so it includes <xgrad/xtensor.hpp> and is not part of <xgrad/xgrad.hpp>.
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "../xtensor.hpp"
#include "tensor.hpp"

namespace xgrad {

using Value = std::variant<xt::xarray<float>, xt::xarray<double>>;

struct TensorImpl {
  Value value;
  Tensor grad;
  bool requires_grad = false;
  bool retains_grad = false;

  std::uint32_t version = 0;  // bumped by every in-place write of `value`

  // The tape node. Leaves have op == nullptr.
  const char* op = nullptr;
  std::vector<Tensor> inputs;
  BackwardFn backward;
  Site site;
  std::shared_ptr<const CallFrame> called_in;  // the layer call that recorded it, if any (nn::Module)
  // The versions of the inputs (first three) and of this output when the node was recorded.
  std::uint32_t input_versions[3] = {};
  std::vector<std::uint32_t> more_input_versions;  // inputs from the fourth on
  std::uint32_t recorded_version = 0;
  bool graph_freed = false;
  bool once_differentiable = false;  // declared by record(..., Differentiability::once)
  std::uint64_t visit = 0;           // traversal mark, so ordering needs no hash set

  std::unique_ptr<TensorHooks> hooks;  // null unless a hook was registered
  // The display name, null unless named: one pointer, so an op's output costs no more than before.
  std::unique_ptr<std::string> name;
  // The gradient of the running backward before it lands: a hooked leaf's (before its hooks), and in
  // xg::grad every tensor's (which leaves grad() alone).
  Tensor pass_grad;
  // Set on a stand-in for a leaf inside the graph of that leaf's own create_graph gradient: the graph
  // reads the stand-in's copy of the value and the engine sends its gradient on to the leaf, so the
  // leaf's grad() does not hold the leaf (no reference cycle; autograd/engine.cpp).
  std::weak_ptr<TensorImpl> stands_for;
  bool is_stand_in = false;

  explicit TensorImpl(Value v);
  ~TensorImpl();  // frees long chains of inputs without recursion
  std::uint32_t input_version(std::size_t i) const { return i < 3 ? input_versions[i] : more_input_versions[i - 3]; }
};

}  // namespace xgrad
