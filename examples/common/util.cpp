#include "util.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <xgrad/data.hpp>

namespace examples {

xg::data::Dataset first(const xg::data::Dataset& data, std::size_t n) {
  if (n == 0 || n >= data.size()) return data;
  return data.subset(0, n);
}

xg::Tensor flat_rows(const xg::data::Dataset& data) {
  xt::xarray<float> x = data.to_float().images();
  x.reshape({data.size(), data.example_numel()});
  return xg::Tensor(std::move(x));
}

double accuracy(const std::vector<std::size_t>& predicted, const std::vector<std::int64_t>& labels) {
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += std::int64_t(predicted[i]) == labels[i];
  return predicted.empty() ? 0.0 : double(correct) / double(predicted.size());
}

double accuracy(xg::nn::Module& model, const xg::data::Dataset& data, std::size_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  xg::NoGradGuard no_grad;
  std::size_t correct = 0;
  xg::data::DataLoader loader(data, {.batch_size = batch_size, .shuffle = false});
  for (auto& batch : loader) {
    const auto predicted = xg::argmax(model(batch.images), 1);
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += std::int64_t(predicted[i]) == batch.labels[i];
  }
  model.train(was_training);
  return data.empty() ? 0.0 : double(correct) / double(data.size());
}

xt::xarray<float> probabilities(xg::nn::Module& model, const xg::data::Dataset& data, std::size_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  xg::NoGradGuard no_grad;
  xt::xarray<float> out;
  std::size_t row = 0;
  xg::data::DataLoader loader(data, {.batch_size = batch_size, .shuffle = false});
  for (auto& batch : loader) {
    const xt::xarray<float> p = xg::softmax(model(batch.images), 1).value<float>();
    if (out.dimension() == 0) out = xt::xarray<float>::from_shape({data.size(), p.shape()[1]});
    std::copy(p.begin(), p.end(), out.data() + row * p.shape()[1]);
    row += p.shape()[0];
  }
  model.train(was_training);
  return out;
}

bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

bool run_gnuplot(const std::string& script_path, const std::string& script) {
  {
    const std::filesystem::path parent = std::filesystem::path(script_path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    std::ofstream f(script_path);
    f << script;
  }
  if (!have_gnuplot()) {
    fmt::print("gnuplot not found (apt-get install gnuplot-nox): no PNG plot, the CSV has the data\n");
    return false;
  }
  if (std::system(fmt::format("gnuplot '{}'", script_path).c_str()) != 0) {
    fmt::print("gnuplot failed on {}: no PNG plot, the CSV has the data\n", script_path);
    return false;
  }
  return true;
}

}  // namespace examples
