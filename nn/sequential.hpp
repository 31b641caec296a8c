#pragma once
// Sequential: runs its modules one after another. Children are named "0", "1", ... so parameters
// are "0.weight", "0.bias", "2.weight", ...
//
//   xg::nn::Sequential net{xg::nn::Linear(4, 8), xg::nn::ReLU(), xg::nn::Linear(8, 3)};
//   net.push_back(xg::nn::Softmax());
//   xg::nn::Linear& first = net.at<xg::nn::Linear>(0);
#include <type_traits>

#include "module.hpp"

namespace xgrad::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... Modules>
  requires(sizeof...(Modules) > 0 && (std::is_base_of_v<Module, std::decay_t<Modules>> && ...) &&
           !(sizeof...(Modules) == 1 && (std::is_same_v<std::decay_t<Modules>, Sequential> && ...)))
      Sequential(Modules&&... modules) {  // NOLINT: implicit, so Sequential{...} reads naturally
    (push_back(std::forward<Modules>(modules)), ...);
  }

  template <class M>
  requires std::is_base_of_v<Module, std::decay_t<M>>
  void push_back(M&& module) { push_back(std::make_shared<std::decay_t<M>>(std::forward<M>(module))); }
  void push_back(std::shared_ptr<Module> module);

  std::size_t size() const { return layers_.size(); }
  Module& operator[](std::size_t i);
  template <class M>
  M& at(std::size_t i) {
    auto* m = dynamic_cast<M*>(&(*this)[i]);
    if (!m) throw Error("Sequential::at: layer {} is {}, not the requested type", i, (*this)[i].describe());
    return *m;
  }

  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace xgrad::nn
