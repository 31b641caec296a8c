// Model code with <xgrad/xgrad.hpp> alone: it must compile without xtensor's headers (they are what
// made a user translation unit slow to compile) and read its results without xtensor arrays.
#include <xgrad/xgrad.hpp>

#ifdef XTENSOR_VERSION_MAJOR
#error "<xgrad/xgrad.hpp> included an xtensor header"
#endif

int main() {
  xg::manual_seed(0);
  xg::nn::Sequential net{xg::nn::Linear(4, 8), xg::nn::Tanh(), xg::nn::Linear(8, 1)};
  xg::optim::SGD sgd(net.parameters(), {.lr = 0.1});
  const xg::Tensor x = xg::randn({16, 4}), target = xg::sum(x, 1, /*keepdim=*/true);
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    sgd.zero_grad();
    xg::Tensor loss = xg::mse_loss(net(x), target);
    loss.backward();
    sgd.step();
    (step == 0 ? first : last) = loss.item();
  }
  const std::vector<double> out = net(x).to_vector();  // row-major values, no xtensor needed
  const bool ok = last < 0.2 * first && out.size() == 16;
  fmt::print("model_only: loss {:.4f} -> {:.4f}, {} outputs -> {}\n", first, last, out.size(), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
