// nn/: every layer gradchecked through the module (input and parameters, f64), forward values
// against the formulas, train/eval behaviour, naming, freezing, summary, init statistics.
#include <cmath>

#include <doctest/doctest.h>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

namespace xg = xgrad;
namespace nn = xgrad::nn;
using doctest::Approx;
using doctest::Contains;

namespace {
// gradcheck of module m on a random input of `shape`: with respect to the input and every parameter.
// Finite differences of f64 losses carry ~1e-10 of absolute noise, so gradient entries of ~1e-4 can
// only be resolved to ~1e-6 relative error; smooth layers typically land near 1e-9.
void check_module(nn::Module& m, const xg::Shape& shape, double tolerance = 1e-6) {
  m.to(xg::f64);
  std::vector<xg::Tensor> inputs{xg::randn(shape, xg::f64).requires_grad_()};
  for (const auto& p : m.parameters()) inputs.push_back(p);
  const auto report = xg::gradcheck([&](const std::vector<xg::Tensor>& in) { return m(in[0]); }, inputs);
  INFO(m.describe(), ": ", fmt::format("{}", report));
  CHECK(report.ok);
  CHECK(report.max_rel_error < tolerance);
  CHECK(report.checked > 0);
}
double value(const xg::Tensor& t, std::size_t flat) {
  return t.dtype() == xg::f64 ? t.value<double>().data()[flat] : t.value<float>().data()[flat];
}
}  // namespace

TEST_CASE("gradcheck of every layer through the module") {
  xg::manual_seed(1);
  SUBCASE("Linear") {
    nn::Linear l(5, 3);
    check_module(l, {4, 5});
  }
  SUBCASE("Linear without bias on a 3-D input") {
    nn::Linear l(5, 3, false);
    check_module(l, {2, 4, 5});
  }
  SUBCASE("Conv2d with stride and padding") {
    nn::Conv2d c(2, 3, 3, {.stride = 2, .padding = 1});
    check_module(c, {2, 2, 5, 6});
  }
  SUBCASE("MaxPool2d and AvgPool2d") {
    nn::MaxPool2d mp(2);
    check_module(mp, {2, 2, 4, 6});
    nn::AvgPool2d ap(3, 2);
    check_module(ap, {1, 2, 7, 5});
  }
  SUBCASE("activations") {
    nn::ReLU relu;
    check_module(relu, {3, 4});
    nn::LeakyReLU leaky(0.1);
    check_module(leaky, {3, 4});
    nn::PReLU shared;
    check_module(shared, {3, 4});
    nn::PReLU per_channel(3);
    check_module(per_channel, {2, 3, 2, 2});
    nn::ELU elu(0.7);
    check_module(elu, {3, 4});
    nn::SELU selu;
    check_module(selu, {3, 4});
    nn::Sigmoid sig;
    check_module(sig, {3, 4});
    nn::Tanh th;
    check_module(th, {3, 4});
    nn::Softmax sm(1);
    check_module(sm, {3, 4});
  }
  SUBCASE("Maxout") {
    nn::Maxout m(4, 3, 2);
    check_module(m, {5, 4});
  }
  SUBCASE("Flatten and Dropout") {
    nn::Flatten f;
    check_module(f, {2, 3, 2});
    nn::Dropout d(0.3);
    check_module(d, {4, 5});  // gradcheck replays the same mask for every evaluation
  }
  SUBCASE("BatchNorm1d and BatchNorm2d in training mode") {
    nn::BatchNorm1d bn1(4);
    check_module(bn1, {6, 4});
    nn::BatchNorm2d bn2(3);
    check_module(bn2, {2, 3, 3, 2});
  }
  SUBCASE("a Sequential ConvNet") {
    nn::Sequential net{nn::Conv2d(1, 2, 3, {.padding = 1}),
                       nn::ReLU(),
                       nn::MaxPool2d(2),
                       nn::Flatten(),
                       nn::Linear(2 * 3 * 3, 4),
                       nn::Tanh(),
                       nn::Linear(4, 3)};
    check_module(net, {2, 1, 6, 6});
  }
}

TEST_CASE("Linear computes x W^T + b with W of shape [out in]") {
  nn::Linear l(2, 3);
  CHECK(l.weight.shape() == xg::Shape{3, 2});
  auto& w = l.named_parameters()[0].second.mutable_value<float>();
  w = xt::xarray<float>{{1, 2}, {3, 4}, {5, 6}};
  auto& b = l.named_parameters()[1].second.mutable_value<float>();
  b = xt::xarray<float>{10, 20, 30};
  auto y = l(xg::tensor({{1.0, 1.0}}));
  CHECK(y.value<float>() == xt::xarray<float>{{13, 27, 41}});
  CHECK_THROWS_WITH_AS(l(xg::zeros({2, 5})),
                       "Linear(in=2, out=3): expects 2 input features (an input [..., 2]), got [2,5] with 5",
                       xg::Error);
}

TEST_CASE("activation forward values and gradients at 0 follow PyTorch") {
  auto x = xg::tensor({-2.0, 0.0, 3.0}, xg::f64).requires_grad_();
  SUBCASE("LeakyReLU") {
    nn::LeakyReLU m(0.1);
    auto y = m(x);
    CHECK(y.value<double>()(0) == Approx(-0.2));
    CHECK(y.value<double>()(2) == Approx(3.0));
    xg::sum(y).backward();
    CHECK(x.grad().value<double>()(1) == Approx(0.1));  // slope at 0
  }
  SUBCASE("ELU") {
    nn::ELU m(0.5);
    auto y = m(x);
    CHECK(y.value<double>()(0) == Approx(0.5 * (std::exp(-2.0) - 1)));
    CHECK(y.value<double>()(2) == Approx(3.0));
    xg::sum(y).backward();
    CHECK(x.grad().value<double>()(1) == Approx(0.5));  // alpha at 0
    CHECK(x.grad().value<double>()(0) == Approx(0.5 * std::exp(-2.0)));
  }
  SUBCASE("ELU does not overflow for large inputs") {
    nn::ELU m;
    auto y = m(xg::tensor({1000.0}, xg::f32));
    CHECK(y.item() == 1000.0);
  }
  SUBCASE("SELU") {
    nn::SELU m;
    auto y = m(x);
    CHECK(y.value<double>()(2) == Approx(3.0 * nn::SELU::scale));
    CHECK(y.value<double>()(0) == Approx(nn::SELU::scale * nn::SELU::alpha * (std::exp(-2.0) - 1)));
  }
  SUBCASE("PReLU gradient of the slope is min(x 0)") {
    nn::PReLU m;
    m.to(xg::f64);
    xg::sum(m(x)).backward();
    CHECK(m.weight.grad().item() == Approx(-2.0));
    CHECK(m(x).value<double>()(0) == Approx(-0.5));  // 0.25 * -2
  }
}

TEST_CASE("Maxout takes the max over its pieces") {
  nn::Maxout m(1, 2, 3);
  m.to(xg::f64);
  m.linear->weight.mutable_value<double>() = xg::tensor({1, 2, -1, 0, 0, 0}, xg::f64).reshape({6, 1}).value<double>();
  m.linear->bias.mutable_value<double>() = xt::xarray<double>{0, 0, 0, 1, -1, 0.5};
  auto y = m(xg::tensor({3.0, -3.0}, xg::f64).reshape({2, 1}));
  CHECK(y.value<double>() == xt::xarray<double>{{6, 1}, {3, 1}});
}

TEST_CASE("Dropout is the identity in eval mode and rescales in training") {
  xg::manual_seed(3);
  nn::Dropout d(0.5);
  auto x = xg::ones({1000});
  auto y = d(x);
  std::size_t kept = 0;
  for (float v : y.value<float>()) {
    CHECK((v == 0.f || v == 2.f));
    kept += v != 0.f;
  }
  CHECK(kept > 400);
  CHECK(kept < 600);
  d.eval();
  CHECK(d(x).value<float>() == x.value<float>());
  CHECK_THROWS_WITH_AS(nn::Dropout(1.0), Contains("p = 1 is outside [0, 1)"), xg::Error);
}

TEST_CASE("BatchNorm normalizes with batch statistics in training and running statistics in eval") {
  nn::BatchNorm1d bn(2, {.momentum = 0.5});
  bn.to(xg::f64);
  auto x = xg::tensor({{1.0, 10.0}, {3.0, 30.0}}, xg::f64);
  auto y = bn(x);
  // batch mean [2, 20], biased variance [1, 100]: y = (x - mean) / sqrt(var + eps)
  CHECK(y.value<double>()(0, 0) == Approx(-1.0 / std::sqrt(1 + 1e-5)));
  CHECK(y.value<double>()(1, 1) == Approx(10.0 / std::sqrt(100 + 1e-5)));
  // running = 0.5 running + 0.5 batch, with the unbiased variance (n = 2: [2, 200])
  CHECK(bn.running_mean.value<double>()(0) == Approx(1.0));
  CHECK(bn.running_mean.value<double>()(1) == Approx(10.0));
  CHECK(bn.running_var.value<double>()(0) == Approx(0.5 + 0.5 * 2.0));
  CHECK(bn.running_var.value<double>()(1) == Approx(0.5 + 0.5 * 200.0));
  bn.eval();
  auto z = bn(x);
  CHECK(z.value<double>()(0, 1) == Approx((10.0 - 10.0) / std::sqrt(100.5 + 1e-5)));
  CHECK(z.value<double>()(1, 0) == Approx((3.0 - 1.0) / std::sqrt(1.5 + 1e-5)));
  CHECK(bn.running_mean.value<double>()(0) == Approx(1.0));  // eval does not update
  CHECK_THROWS_WITH_AS(bn(xg::zeros({2, 3}, xg::f64)), Contains("expected input [N, 2], got [2,3]"), xg::Error);
}

TEST_CASE("BatchNorm2d keeps per-channel statistics and registers buffers") {
  nn::BatchNorm2d bn(3);
  auto names = bn.named_buffers();
  REQUIRE(names.size() == 2);
  CHECK(names[0].first == "running_mean");
  CHECK(names[1].first == "running_var");
  xg::manual_seed(5);
  auto x = xg::randn({4, 3, 5, 5}) * 2.0 + 3.0;
  auto y = bn(x);
  auto per_channel_mean = xg::mean(xg::mean(xg::mean(y, 0), 1), 1);
  for (std::size_t c = 0; c < 3; ++c) CHECK(std::abs(value(per_channel_mean, c)) < 1e-5);
  nn::BatchNorm2d plain(3, {.affine = false});
  CHECK(plain.parameters().empty());
}

TEST_CASE("Sequential names its children 0 1 2 and supports push_back and indexing") {
  nn::Sequential net{nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 3)};
  net.push_back(nn::Softmax());
  CHECK(net.size() == 4);
  std::vector<std::string> names;
  for (auto& [name, p] : net.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(net.parameter_count() == 4 * 8 + 8 + 8 * 3 + 3);
  CHECK(net.at<nn::Linear>(2).weight.shape() == xg::Shape{3, 8});
  CHECK_THROWS_WITH_AS(net.at<nn::Linear>(1), Contains("layer 1 is ReLU"), xg::Error);
  CHECK_THROWS_WITH_AS(net[7], Contains("index 7 is out of range for 4 layers"), xg::Error);
  auto y = net(xg::randn({5, 4}));
  CHECK(y.shape() == xg::Shape{5, 3});
  nn::Sequential outer{nn::Sequential{nn::Linear(2, 2)}, nn::Linear(2, 1)};
  CHECK(outer.named_parameters()[0].first == "0.0.weight");
}

TEST_CASE("a user module registers parameters and submodules and composes them") {
  struct TwoLayer : nn::Module {
    std::shared_ptr<nn::Linear> fc1 = register_module("fc1", nn::Linear(3, 4));
    std::shared_ptr<nn::Linear> fc2 = register_module("fc2", nn::Linear(4, 2));
    xg::Tensor scale = register_parameter("scale", xg::ones({1}));
    xg::Tensor forward(const xg::Tensor& x) override { return (*fc2)(xg::relu((*fc1)(x))) * scale; }
  };
  TwoLayer net;
  std::vector<std::string> names;
  for (auto& [name, p] : net.named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(net.children().size() == 2);
  check_module(net, {2, 3});
}

TEST_CASE("train and eval propagate to children and to converts parameters in place") {
  nn::Sequential net{nn::Linear(2, 2), nn::Dropout(0.5)};
  net.eval();
  CHECK_FALSE(net[1].is_training());
  net.train();
  CHECK(net[1].is_training());
  auto held = net.parameters()[0];  // a handle held elsewhere, as by an optimizer
  net.to(xg::f64);
  CHECK(held.dtype() == xg::f64);
  CHECK(held.requires_grad());
}

TEST_CASE("frozen parameters get no gradient") {
  nn::Sequential net{nn::Linear(3, 3), nn::Linear(3, 1)};
  net[0].requires_grad_(false);
  xg::sum(net(xg::randn({2, 3}))).backward();
  CHECK_FALSE(net.at<nn::Linear>(0).weight.grad().defined());
  CHECK(net.at<nn::Linear>(1).weight.grad().defined());
  net.zero_grad();
  CHECK_FALSE(net.at<nn::Linear>(1).weight.grad().defined());
}

TEST_CASE("summary lists each layer with its output shape and parameter count") {
  nn::Sequential net{nn::Conv2d(1, 4, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(4 * 4 * 4, 10)};
  const std::string s = net.summary({2, 1, 8, 8});
  MESSAGE(s);
  CHECK(s.find("Conv2d(in=1, out=4, kernel=[3,3]") != std::string::npos);
  CHECK(s.find("[2,4,8,8]") != std::string::npos);
  CHECK(s.find("[2,4,4,4]") != std::string::npos);
  CHECK(s.find("[2,10]") != std::string::npos);
  CHECK(s.find("total parameters: 690") != std::string::npos);  // 4*9+4 + 64*10+10
}

namespace {
struct TwoLayer : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", nn::Linear(4, 3));
  std::shared_ptr<nn::ReLU> act = register_module("act", nn::ReLU());
  std::shared_ptr<nn::Linear> fc2 = register_module("fc2", nn::Linear(3, 2));
  std::shared_ptr<nn::BatchNorm1d> bn = register_module("bn", nn::BatchNorm1d(2));
  xg::Tensor forward(const xg::Tensor& x) override { return (*bn)((*fc2)((*act)((*fc1)(x)))); }
};
}  // namespace

TEST_CASE("summary names a user's module by its class and its children by their names, and keeps each mode") {
  TwoLayer net;
  net.bn->eval();  // the user froze the statistics of one layer
  const std::string s = net.summary({5, 4});
  MESSAGE(s);
  CHECK(s.find("TwoLayer") != std::string::npos);
  CHECK(s.find("fc1: Linear(in=4, out=3)") != std::string::npos);
  CHECK(s.find("act: ReLU") != std::string::npos);
  CHECK(s.find("fc2: Linear(in=3, out=2)") != std::string::npos);
  // summary() once put every child back in the parent's mode: bn came back training
  CHECK(net.is_training());
  CHECK(net.fc1->is_training());
  CHECK_FALSE(net.bn->is_training());
}

TEST_CASE("registering a name twice is an error") {
  struct Twice : nn::Module {
    Twice() {
      register_parameter("w", xg::ones({1}));
      register_parameter("w", xg::ones({1}));
    }
    xg::Tensor forward(const xg::Tensor& x) override { return x; }
  };
  CHECK_THROWS_WITH_AS(Twice(), Contains("the name 'w' is already registered"), xg::Error);
}

TEST_CASE("init statistics match their definitions") {
  xg::manual_seed(11);
  namespace init = nn::init;
  auto stats = [](const xg::Tensor& t) {
    const double m = xg::mean(t).item();
    const double v = xg::mean(xg::pow(t - m, 2)).item();
    return std::pair{m, v};
  };
  xg::Tensor w = xg::zeros({400, 500}, xg::f64);
  SUBCASE("gains") {
    CHECK(init::calculate_gain(init::Nonlinearity::relu) == Approx(std::sqrt(2.0)));
    CHECK(init::calculate_gain(init::Nonlinearity::tanh) == Approx(5.0 / 3.0));
    CHECK(init::calculate_gain(init::Nonlinearity::leaky_relu, 0.2) == Approx(std::sqrt(2.0 / 1.04)));
    CHECK(init::fans({16, 3, 5, 5}) == std::pair<std::size_t, std::size_t>{75, 400});
  }
  SUBCASE("normal and uniform") {
    init::normal_(w, 1.0, 2.0);
    auto [m, v] = stats(w);
    CHECK(m == Approx(1.0).epsilon(0.01));
    CHECK(v == Approx(4.0).epsilon(0.02));
    init::uniform_(w, -1, 3);
    std::tie(m, v) = stats(w);
    CHECK(m == Approx(1.0).epsilon(0.01));
    CHECK(v == Approx(16.0 / 12).epsilon(0.02));
    init::small_random_(w);
    CHECK(stats(w).second == Approx(1e-4).epsilon(0.02));
  }
  SUBCASE("xavier and kaiming") {
    init::xavier_uniform_(w);
    CHECK(stats(w).second == Approx(2.0 / 900).epsilon(0.02));
    init::xavier_normal_(w, 2.0);
    CHECK(stats(w).second == Approx(4 * 2.0 / 900).epsilon(0.02));
    init::kaiming_normal_(w, 0, init::FanMode::fan_in, init::Nonlinearity::relu);
    CHECK(stats(w).second == Approx(2.0 / 500).epsilon(0.02));
    init::kaiming_uniform_(w, 0, init::FanMode::fan_out, init::Nonlinearity::relu);
    CHECK(stats(w).second == Approx(2.0 / 400).epsilon(0.02));
  }
  SUBCASE("sparse connects each unit to k inputs") {
    init::sparse_(w, 7, 0.5);
    const auto& a = w.value<double>();
    for (std::size_t u = 0; u < 400; ++u) {
      std::size_t nonzero = 0;
      for (std::size_t i = 0; i < 500; ++i) nonzero += a(u, i) != 0.0;
      CHECK(nonzero == 7);
    }
  }
  SUBCASE("Linear default init is U(-1/sqrt(in) 1/sqrt(in))") {
    nn::Linear l(100, 300);
    CHECK(xg::max(l.weight).item() <= 0.1);
    CHECK(xg::min(l.weight).item() >= -0.1);
    CHECK(stats(l.weight).second == Approx(0.01 / 3).epsilon(0.05));
  }
}
