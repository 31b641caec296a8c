// DataParallel on MPI: N steps on W ranks with batch b each equal N steps of one process with batch
// W*b (f64, 1e-12 relative), ranks bitwise identical after every step, unused parameters, models
// that differ across ranks, the sharding sampler.
#include <doctest/doctest.h>

#include <mpi.h>
#include <algorithm>
#include <cmath>
#include <set>
#include <xgrad/data.hpp>
#include <xgrad/distributed/distributed.hpp>
#include <xgrad/xgrad.hpp>

namespace xg = xgrad;
namespace dist = xgrad::dist;

namespace {

std::shared_ptr<xg::nn::Sequential> make_mlp(std::uint64_t seed) {
  xg::manual_seed(seed);
  auto net = std::make_shared<xg::nn::Sequential>(xg::nn::Sequential{xg::nn::Linear(6, 16), xg::nn::Tanh(),
                                                                     xg::nn::Linear(16, 8), xg::nn::Tanh(),
                                                                     xg::nn::Linear(8, 3)});
  net->to(xg::f64);
  return net;
}

// Step s's global batch of `rows` examples: the same on every rank.
std::pair<xg::Tensor, std::vector<std::int64_t>> global_batch(std::size_t step, std::size_t rows) {
  xg::manual_seed(1000 + step);
  xg::Tensor x = xg::randn({rows, 6}, xg::f64);
  std::vector<std::int64_t> labels(rows);
  for (std::size_t i = 0; i < rows; ++i) labels[i] = std::int64_t((i * 7 + step) % 3);
  return {x, labels};
}

// The largest |a - b| / max |b| over the model's parameters.
double relative_difference(const xg::nn::Module& a, const xg::nn::Module& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  double worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto& va = pa[i].value<double>();
    const auto& vb = pb[i].value<double>();
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < va.size(); ++k) {
      diff = std::max(diff, std::abs(va.flat(k) - vb.flat(k)));
      scale = std::max(scale, std::abs(vb.flat(k)));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

std::vector<unsigned long long> gather(unsigned long long mine) {
  std::vector<unsigned long long> all(dist::world_size());
  MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD);
  return all;
}

template <class Optimizer, class Options>
void check_equivalence(Options options, dist::DataParallelOptions ddp_options) {
  const std::size_t world = dist::world_size(), rank = dist::rank(), b = 5, steps = 6;
  // Rank 0's initialization everywhere: the other ranks start from other weights on purpose.
  auto model = make_mlp(rank == 0 ? 1 : 77 + rank);
  auto reference = make_mlp(1);
  dist::DataParallel ddp(*model, ddp_options);
  CHECK(relative_difference(*model, *reference) == 0.0);
  Optimizer opt(model->parameters(), options), ref_opt(reference->parameters(), options);
  double worst = 0;
  for (std::size_t step = 0; step < steps; ++step) {
    auto [x, labels] = global_batch(step, world * b);
    // One process, the global batch.
    ref_opt.zero_grad();
    xg::cross_entropy((*reference)(x), labels).backward();
    ref_opt.step();
    // This rank's rows [rank * b, (rank + 1) * b).
    opt.zero_grad();
    const xg::Tensor mine = xg::narrow(x, 0, rank * b, b);
    const std::vector<std::int64_t> my_labels(labels.begin() + std::ptrdiff_t(rank * b),
                                              labels.begin() + std::ptrdiff_t((rank + 1) * b));
    xg::cross_entropy((*model)(mine), my_labels).backward();
    ddp.synchronize();
    opt.step();
    worst = std::max(worst, relative_difference(*model, *reference));
    const auto hashes = gather(ddp.state_hash());
    CHECK_MESSAGE(std::all_of(hashes.begin(), hashes.end(), [&](auto h) { return h == hashes[0]; }), "step ", step,
                  ": the ranks' parameters differ");
  }
  MESSAGE("world ", world, ", ", ddp.bucket_count(), " buckets, largest relative difference from one process ", worst);
  CHECK(worst < 1e-12);
  if (world > 1) CHECK(worst > 0.0);  // not trivially equal: the sums were split across the ranks
}

}  // namespace

TEST_CASE("DataParallel: SGD on W ranks with batch b equals one process with batch W*b (f64)") {
  check_equivalence<xg::optim::SGD>(xg::optim::SGDOptions{.lr = 0.3, .momentum = 0.9}, {});
}

TEST_CASE("DataParallel: Adam on W ranks with batch b equals one process with batch W*b (f64), small buckets") {
  // Buckets of ~100 bytes: every layer's tensors in buckets of their own, launched one by one.
  check_equivalence<xg::optim::Adam>(xg::optim::AdamOptions{.lr = 0.01}, {.first_bucket_mb = 1e-4, .bucket_mb = 2e-4});
}

TEST_CASE("DataParallel: buckets in reverse parameter order, the first one small") {
  auto model = make_mlp(1);
  dist::DataParallel ddp(*model, {.first_bucket_mb = 100.0 / (1024 * 1024), .bucket_mb = 1.0});
  // 2.bias (3) and 2.weight (24) are 216 bytes: more than the 100-byte first bucket, so 2.bias alone.
  CHECK(ddp.bucket_count() == 2);
  CHECK(ddp.describe_buckets().starts_with("bucket 0: 1 tensors, 0.0 KB f64 (4.bias); bucket 1: 5 tensors"));
}

namespace {
// Three weights: `always` used by every rank, `rank0` only on rank 0, `never` by nobody.
struct Branches : xg::nn::Module {
  xg::Tensor always = register_parameter("always", xg::Tensor(xt::xarray<double>(xt::zeros<double>({4}))));
  xg::Tensor rank0 = register_parameter("rank0", xg::Tensor(xt::xarray<double>(xt::zeros<double>({4}))));
  xg::Tensor never = register_parameter("never", xg::Tensor(xt::xarray<double>(xt::zeros<double>({4}))));
  xg::Tensor forward(const xg::Tensor& x) override {
    xg::Tensor loss = xg::sum(always * x);
    if (dist::rank() == 0) loss = loss + xg::sum(rank0 * x);
    return loss;
  }
};
}  // namespace

TEST_CASE("DataParallel: a parameter some ranks do not use gets zeros from them; one nobody uses keeps no grad") {
  const double world = double(dist::world_size()), r = double(dist::rank());
  Branches net;
  dist::DataParallel ddp(net, {.first_bucket_mb = 1e-5});  // each weight in a bucket of its own
  for (int step = 0; step < 3; ++step) {                   // no hang, step after step
    net.zero_grad();
    net(xg::Tensor(xt::xarray<double>(xt::ones<double>({4}) * (r + 1)))).backward();
    ddp.synchronize();
    REQUIRE(net.always.grad().defined());
    REQUIRE(net.rank0.grad().defined());
    CHECK(net.always.grad().value<double>()(0) == doctest::Approx((world + 1) / 2).epsilon(1e-15));  // mean of 1..W
    CHECK(net.rank0.grad().value<double>()(3) == doctest::Approx(1 / world).epsilon(1e-15));  // rank 0's 1, others 0
    CHECK_FALSE(net.never.grad().defined());                                                  // as in one process
  }
  // Without zero_grad the gradient accumulates as in one process: mean + mean.
  net(xg::Tensor(xt::xarray<double>(xt::ones<double>({4}) * (r + 1)))).backward();
  ddp.synchronize();
  CHECK(net.always.grad().value<double>()(1) == doctest::Approx(world + 1).epsilon(1e-15));
  CHECK(net.rank0.grad().value<double>()(2) == doctest::Approx(2 / world).epsilon(1e-15));
}

TEST_CASE("DataParallel: a second backward before synchronize() is refused, naming the parameter") {
  Branches net;
  dist::DataParallel ddp(net);
  if (dist::world_size() == 1) return;  // a world of one reduces nothing and checks nothing
  const xg::Tensor x(xt::xarray<double>(xt::ones<double>({4})));
  net(x).backward();
  CHECK_THROWS_WITH_AS(net(x).backward(), doctest::Contains("received a second gradient before synchronize()"),
                       xg::Error);
  ddp.synchronize();
}

TEST_CASE("DataParallel: models that differ across ranks are an error on every rank, naming the difference") {
  if (dist::world_size() < 2) return;
  const std::size_t rank = dist::rank();
  SUBCASE("a different shape") {
    xg::nn::Sequential net{xg::nn::Linear(4, rank == 1 ? 5 : 3)};
    CHECK_THROWS_WITH_AS(dist::DataParallel{net},
                         "xg::dist::DataParallel: the model differs across ranks: rank 1 has '0.weight' [5,4] f32 "
                         "where rank 0 has '0.weight' [3,4] f32 (parameter or buffer 0); every rank must build the "
                         "same model (the same layers, shapes and dtypes) before wrapping it",
                         xg::Error);
  }
  SUBCASE("an extra layer") {
    xg::nn::Sequential net{xg::nn::Linear(4, 3)};
    if (rank == 1) net.push_back(xg::nn::Linear(3, 2));
    CHECK_THROWS_WITH_AS(dist::DataParallel{net},
                         doctest::Contains("rank 1 has 4 parameters and buffers, rank 0 has 2"), xg::Error);
  }
  SUBCASE("a different dtype") {
    xg::nn::Sequential net{xg::nn::Linear(4, 3)};
    if (rank == 1) net.to(xg::f64);
    CHECK_THROWS_WITH_AS(dist::DataParallel{net}, doctest::Contains("rank 1 has '0.weight' [3,4] f64 where rank 0"),
                         xg::Error);
  }
  // The ranks are still in step: a matching model wraps fine afterwards.
  xg::nn::Sequential same{xg::nn::Linear(4, 3)};
  CHECK_NOTHROW(dist::DataParallel{same});
}

TEST_CASE("DataParallel: buffers come from rank 0 at wrap time and in every synchronize()") {
  xg::manual_seed(dist::rank());
  xg::nn::Sequential net{xg::nn::Linear(3, 4, false), xg::nn::BatchNorm1d(4)};
  dist::DataParallel ddp(net);
  xg::manual_seed(50 + dist::rank());  // each rank its own data: its own batch statistics
  xg::cross_entropy(net(xg::randn({8, 3})), std::vector<std::int64_t>(8, 1)).backward();
  const double before = net.named_buffers()[0].second.value<float>()(0);
  const auto differ = gather(std::hash<double>{}(before));
  if (dist::world_size() > 1) CHECK(differ[0] != differ[1]);  // per-process statistics in forward
  ddp.synchronize();
  const auto hashes = gather(ddp.state_hash());
  CHECK(std::all_of(hashes.begin(), hashes.end(), [&](auto h) { return h == hashes[0]; }));
}

TEST_CASE("xg::dist::shard: disjoint equal shards covering the data, a new order each epoch, no set_epoch") {
  const std::size_t world = dist::world_size(), n = 12 * world;
  xg::data::Dataset data(xt::xarray<float>(xt::zeros<float>({n, std::size_t(2)})), std::vector<std::int64_t>(n, 0));
  // Rank 0's seed wins: the others pass another one.
  xg::data::DataLoader loader(data, {.batch_size = 5, .sampler = dist::shard(data, {.seed = 7 + dist::rank()})});
  CHECK(loader.size() == 3);  // 12 examples per rank: 5 + 5 + 2
  std::vector<std::size_t> first_epoch;
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> mine(n, 0);
    std::vector<std::size_t> seen;
    for (auto& batch : loader)
      for (std::size_t i : batch.indices) mine[i] += 1, seen.push_back(i);
    CHECK(seen.size() == 12);
    std::vector<int> all(n, 0);
    MPI_Allreduce(mine.data(), all.data(), int(n), MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(std::all_of(all.begin(), all.end(), [](int c) { return c == 1; }));  // disjoint and covering
    if (epoch == 0)
      first_epoch = seen;
    else
      CHECK(seen != first_epoch);  // the loader's epoch counter reshuffles
  }
}
