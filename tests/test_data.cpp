// data/: the IDX reader on files the tests write (gz and plain, good and broken), MNIST directories,
// DataLoader batching and seeded shuffling, the train/validation split, preprocessing fitted on the
// training split only, PCA / whitening, augmentation, and the real Fashion-MNIST test split when the
// Debian package is installed.
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <ranges>
#include <set>

#include <doctest/doctest.h>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

#include "temp_dir.hpp"

namespace xg = xgrad;
namespace xd = xgrad::data;
namespace fs = std::filesystem;
using doctest::Approx;
using doctest::Contains;

static_assert(std::ranges::input_range<xd::DataLoader>);

namespace {

struct TempDir : test_support::TempDir {
  TempDir() : test_support::TempDir("xgrad-test-data") {}
};

// count images of rows x cols with pseudo-random pixels (so gzip cannot shrink them much).
xd::IdxImages make_images(std::size_t count, std::size_t rows, std::size_t cols, std::uint32_t seed = 1) {
  xd::IdxImages im{count, rows, cols, std::vector<std::uint8_t>(count * rows * cols)};
  std::mt19937 rng(seed);
  for (auto& p : im.pixels) p = static_cast<std::uint8_t>(rng() & 0xff);
  return im;
}
std::vector<std::uint8_t> make_labels(std::size_t count) {
  std::vector<std::uint8_t> labels(count);
  for (std::size_t i = 0; i < count; ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  return labels;
}

std::vector<std::uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// N examples of shape [1, 1, 1] whose value is the index and whose label is the index.
xd::Dataset indexed_dataset(std::size_t n) {
  xt::xarray<float> images = xt::xarray<float>::from_shape({n, std::size_t(1), std::size_t(1), std::size_t(1)});
  std::vector<std::int64_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) {
    images.data()[i] = static_cast<float>(i);
    labels[i] = static_cast<std::int64_t>(i);
  }
  return xd::Dataset(std::move(images), std::move(labels));
}

// The example order of one full pass over the loader.
std::vector<std::size_t> one_epoch(xd::DataLoader& loader) {
  std::vector<std::size_t> order;
  for (auto& batch : loader) order.insert(order.end(), batch.indices.begin(), batch.indices.end());
  return order;
}

// A dataset of n examples of `shape` drawn from N(mean, sd^2) (values are not clipped to [0, 1]).
xd::Dataset normal_dataset(std::size_t n, xg::Shape shape, float mean, float sd, std::uint32_t seed) {
  shape.insert(shape.begin(), n);
  xt::xarray<float> images = xt::xarray<float>::from_shape(shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, sd);
  for (auto& v : images) v = dist(rng);
  return xd::Dataset(std::move(images), std::vector<std::int64_t>(n, 0));
}

// The [k, k] covariance of [N, k] data (population, like the notes).
std::vector<double> covariance(const xt::xarray<float>& x) {
  const std::size_t n = x.shape()[0], k = x.shape()[1];
  std::vector<double> mean(k, 0.0), cov(k * k, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < k; ++a) mean[a] += x.data()[i * k + a] / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < k; ++a)
      for (std::size_t b = 0; b < k; ++b)
        cov[a * k + b] += (x.data()[i * k + a] - mean[a]) * (x.data()[i * k + b] - mean[b]) / static_cast<double>(n);
  return cov;
}

}  // namespace

// --- IDX ---------------------------------------------------------------------------------------------
TEST_CASE("IDX reader round-trips gz and plain files") {
  TempDir dir;
  const auto images = make_images(5, 3, 4);
  const auto labels = make_labels(5);
  for (const std::string ext : {"", ".gz"}) {
    CAPTURE(ext);
    const auto ip = dir / ("images-idx3-ubyte" + ext), lp = dir / ("labels-idx1-ubyte" + ext);
    xd::write_idx_images(ip, images);
    xd::write_idx_labels(lp, labels);
    const auto head = file_bytes(ip);
    REQUIRE(head.size() > 4);
    if (ext.empty()) {
      CHECK(head.size() == 16 + 60);
      CHECK(std::vector<std::uint8_t>(head.begin(), head.begin() + 4) == std::vector<std::uint8_t>{0, 0, 8, 3});
    } else {
      CHECK((head[0] == 0x1f && head[1] == 0x8b));  // gzip magic
    }
    const auto back = xd::read_idx_images(ip);
    CHECK(back.count == 5);
    CHECK(back.rows == 3);
    CHECK(back.cols == 4);
    CHECK(back.pixels == images.pixels);
    CHECK(xd::read_idx_labels(lp) == labels);

    const auto ds = xd::load_idx_pair(ip, lp);
    CHECK(ds.size() == 5);
    CHECK(ds.example_shape() == xg::Shape{1, 3, 4});
    REQUIRE(ds.stores_bytes());  // the file's bytes, read as byte / 255
    CHECK(ds.bytes().data()[7] == images.pixels[7]);
    CHECK(ds.to_float().images().data()[7] == static_cast<float>(images.pixels[7]) * (1.f / 255.f));
    CHECK(ds.labels()[3] == 3);
    const auto ex = ds.get(2);
    CHECK(ex.label == 2);
    CHECK(ex.image(0, 1, 2) == Approx(images.pixels[2 * 12 + 1 * 4 + 2] / 255.0));
  }
}

TEST_CASE("IDX reader rejects a truncated file") {
  TempDir dir;
  const auto images = make_images(100, 28, 28);  // 78400 bytes of pixels
  SUBCASE("plain file cut inside the pixels") {
    const auto p = dir / "train-images-idx3-ubyte";
    xd::write_idx_images(p, images);
    fs::resize_file(p, 16 + 1000);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p),
                         Contains(
                             fmt::format("idx: {}: expected 78400 bytes of pixels, file ends after 1000", p.string())
                                 .c_str()),
                         xg::Error);
  }
  SUBCASE("plain file cut inside the header") {
    const auto p = dir / "train-images-idx3-ubyte";
    xd::write_idx_images(p, images);
    fs::resize_file(p, 6);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("file ends after 6 bytes, inside the 16-byte header"),
                         xg::Error);
    fs::resize_file(p, 0);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("file ends after 0 bytes, inside the 4-byte magic number"),
                         xg::Error);
  }
  SUBCASE("label file cut short") {
    const auto p = dir / "labels-idx1-ubyte";
    xd::write_idx_labels(p, make_labels(100));
    fs::resize_file(p, 8 + 40);
    CHECK_THROWS_WITH_AS(xd::read_idx_labels(p), Contains("expected 100 bytes of labels, file ends after 40"),
                         xg::Error);
  }
  SUBCASE("gzip file cut in the middle") {
    const auto p = dir / "train-images-idx3-ubyte.gz";
    xd::write_idx_images(p, images);
    const auto size = fs::file_size(p);
    fs::resize_file(p, size / 2);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("expected 78400 bytes of pixels, file ends after"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("the gzip stream is cut short"), xg::Error);
  }
  SUBCASE("gzip file missing its trailer") {
    const auto p = dir / "train-images-idx3-ubyte.gz";
    xd::write_idx_images(p, images);
    fs::resize_file(p, fs::file_size(p) - 4);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("cut short"), xg::Error);
  }
  SUBCASE("more data than the header says") {
    const auto p = dir / "train-images-idx3-ubyte";
    xd::write_idx_images(p, images);
    auto bytes = file_bytes(p);
    bytes.push_back(0);
    write_bytes(p, bytes);
    CHECK_THROWS_WITH_AS(xd::read_idx_images(p), Contains("more data after the 78400 bytes of pixels"), xg::Error);
  }
}

TEST_CASE("IDX reader rejects a wrong magic number") {
  TempDir dir;
  const auto labels_path = dir / "t10k-labels-idx1-ubyte.gz";
  const auto images_path = dir / "t10k-images-idx3-ubyte";
  xd::write_idx_labels(labels_path, make_labels(10));
  xd::write_idx_images(images_path, make_images(10, 2, 2));
  CHECK_THROWS_WITH_AS(xd::read_idx_images(labels_path),
                       Contains(fmt::format("idx: {}: bad magic number 0x00000801, expected 0x00000803",
                                            labels_path.string())
                                    .c_str()),
                       xg::Error);
  CHECK_THROWS_WITH_AS(xd::read_idx_images(labels_path), Contains("this is a label file"), xg::Error);
  CHECK_THROWS_WITH_AS(xd::read_idx_labels(images_path), Contains("bad magic number 0x00000803, expected 0x00000801"),
                       xg::Error);

  const auto text = dir / "notes.txt";
  write_bytes(text, {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!', '!', '!', '!', '!'});
  CHECK_THROWS_WITH_AS(xd::read_idx_images(text), Contains("not an IDX file"), xg::Error);
  const std::array<std::uint32_t, 3> dims{1, 1, 2};
  const std::array<std::uint8_t, 2> data{1, 2};
  const auto floats = dir / "floats-idx3";
  xd::write_idx(floats, dims, data);
  auto bytes = file_bytes(floats);
  bytes[2] = 0x0d;  // element type float
  write_bytes(floats, bytes);
  CHECK_THROWS_WITH_AS(xd::read_idx_images(floats), Contains("element type 0x0d, not unsigned bytes"), xg::Error);
  CHECK_THROWS_WITH_AS(xd::read_idx_images(dir / "missing.gz"), Contains("missing.gz: no such file"), xg::Error);
}

TEST_CASE("IDX reader rejects corrupt gzip data") {
  TempDir dir;
  const auto p = dir / "train-images-idx3-ubyte.gz";
  xd::write_idx_images(p, make_images(20, 8, 8));
  auto bytes = file_bytes(p);
  bytes[bytes.size() - 8] ^= 0xff;  // the CRC-32 of the uncompressed data
  write_bytes(p, bytes);
  CHECK_THROWS_WITH_AS(xd::read_idx_images(p),
                       Contains(fmt::format("idx: {}: corrupt gzip data (incorrect data check)", p.string()).c_str()),
                       xg::Error);
}

TEST_CASE("IDX image and label files with different counts are an error") {
  TempDir dir;
  const auto ip = dir / "t10k-images-idx3-ubyte.gz", lp = dir / "t10k-labels-idx1-ubyte.gz";
  xd::write_idx_images(ip, make_images(5, 2, 2));
  xd::write_idx_labels(lp, make_labels(4));
  const std::string expected = fmt::format("idx: {} has 5 images but {} has 4 labels", ip.string(), lp.string());
  CHECK_THROWS_WITH_AS(xd::load_idx_pair(ip, lp), Contains(expected.c_str()), xg::Error);
  CHECK_THROWS_WITH_AS(xd::load_mnist_dir(dir.path(), xd::Split::test), Contains(expected.c_str()), xg::Error);
}

TEST_CASE("load_mnist_dir finds IDX files in an MNIST-format directory") {
  TempDir dir;
  xd::write_idx_images(dir / "train-images-idx3-ubyte.gz", make_images(6, 4, 5, 1));
  xd::write_idx_labels(dir / "train-labels-idx1-ubyte.gz", make_labels(6));
  xd::write_idx_images(dir / "t10k-images.idx3-ubyte", make_images(3, 4, 5, 2));  // the unpacked spelling
  xd::write_idx_labels(dir / "t10k-labels.idx1-ubyte", make_labels(3));
  const auto train = xd::load_mnist_dir(dir.path(), "train");
  const auto test = xd::load_mnist_dir(dir.path(), xd::Split::test);
  CHECK(train.size() == 6);
  CHECK(test.size() == 3);
  CHECK(train.example_shape() == xg::Shape{1, 4, 5});
  CHECK(test.labels() == std::vector<std::int64_t>{0, 1, 2});

  CHECK_THROWS_WITH_AS(xd::load_mnist_dir(dir.path(), "valid"), Contains("unknown split 'valid'"), xg::Error);
  CHECK_THROWS_WITH_AS(xd::load_mnist_dir(dir / "nope", "train"), Contains("is not a directory"), xg::Error);
  fs::remove(dir / "t10k-labels.idx1-ubyte");
  CHECK_THROWS_WITH_AS(xd::load_mnist_dir(dir.path(), "test"),
                       Contains("no labels file for this split (looked for t10k-labels-idx1-ubyte"), xg::Error);
}

// --- Dataset / DataLoader ----------------------------------------------------------------------------
TEST_CASE("DataLoader batch sizes with a partial last batch and drop_last") {
  const auto ds = indexed_dataset(10);
  SUBCASE("keep the partial batch") {
    xd::DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
    CHECK(loader.size() == 3);
    std::vector<std::size_t> sizes;
    std::int64_t expected = 0;
    for (auto& batch : loader) {
      sizes.push_back(batch.size());
      CHECK(batch.images.shape() == xg::Shape{batch.size(), 1, 1, 1});
      CHECK(batch.images.dtype() == xg::f32);
      for (std::size_t j = 0; j < batch.size(); ++j) {
        CHECK(batch.labels[j] == expected);
        CHECK(batch.images.value<float>().data()[j] == static_cast<float>(expected));
        ++expected;
      }
    }
    CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
  }
  SUBCASE("drop_last") {
    xd::DataLoader loader(ds, {.batch_size = 4, .shuffle = true, .drop_last = true, .seed = 3});
    CHECK(loader.size() == 2);
    std::vector<std::size_t> sizes;
    for (const auto& batch : loader) sizes.push_back(batch.size());
    CHECK(sizes == std::vector<std::size_t>{4, 4});
  }
  SUBCASE("batch larger than the dataset and exact multiples") {
    CHECK(xd::DataLoader(ds, {.batch_size = 64}).size() == 1);
    CHECK(xd::DataLoader(ds, {.batch_size = 64, .drop_last = true}).size() == 0);
    CHECK(xd::DataLoader(ds, {.batch_size = 5, .drop_last = true}).size() == 2);
    xd::DataLoader none(ds, {.batch_size = 64, .drop_last = true});
    CHECK(one_epoch(none).empty());
  }
  CHECK_THROWS_WITH_AS(xd::DataLoader(ds, {.batch_size = 0}), Contains("batch_size must be at least 1"), xg::Error);
}

TEST_CASE("DataLoader shuffling is seeded and redrawn every epoch") {
  const auto ds = indexed_dataset(50);
  xd::DataLoader a(ds, {.batch_size = 8, .seed = 7}), b(ds, {.batch_size = 8, .seed = 7});
  const auto a0 = one_epoch(a), a1 = one_epoch(a), b0 = one_epoch(b), b1 = one_epoch(b);
  CHECK(a.epoch() == 2);
  CHECK(a0 == b0);  // same seed, same order
  CHECK(a1 == b1);
  CHECK(a0 != a1);                        // a new order every epoch
  for (const auto* order : {&a0, &a1}) {  // every index exactly once per epoch
    auto sorted = *order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::size_t> all(50);
    std::iota(all.begin(), all.end(), 0);
    CHECK(sorted == all);
  }
  CHECK(a.order(1) == a1);
  xd::DataLoader c(ds, {.batch_size = 8, .seed = 8});
  CHECK(one_epoch(c) != a0);  // another seed, another order
  c.set_epoch(1);             // resuming a run reproduces its order
  xd::DataLoader d(ds, {.batch_size = 8, .seed = 8});
  one_epoch(d);
  CHECK(one_epoch(c) == one_epoch(d));
  // The order does not depend on xgrad::generator().
  xg::manual_seed(123);
  const auto e0 = a.order(0);
  xg::manual_seed(456);
  CHECK(a.order(0) == e0);
  CHECK(e0 == a0);
  // Without shuffling the order is the dataset's, every epoch.
  xd::DataLoader plain(ds, {.batch_size = 8, .shuffle = false});
  const auto p0 = one_epoch(plain);
  CHECK(std::is_sorted(p0.begin(), p0.end()));
  CHECK(one_epoch(plain) == p0);
}

TEST_CASE("DataLoader applies the batch transform to every batch") {
  const auto ds = indexed_dataset(10);
  int calls = 0;
  xd::DataLoader loader(ds, {.batch_size = 3, .shuffle = false}, [&calls](xd::Batch& batch) {
    ++calls;
    auto& v = batch.images.mutable_value<float>();
    for (auto& x : v) x *= 2.f;
  });
  float total = 0;
  for (auto& batch : loader)
    for (float x : batch.images.value<float>()) total += x;
  CHECK(calls == 4);
  CHECK(total == Approx(2 * 45.0));
  CHECK(ds.images().data()[9] == 9.f);  // the dataset itself is untouched
}

TEST_CASE("Dataset subset and train_validation_split sizes and disjointness") {
  const auto ds = indexed_dataset(100);
  const auto [train, validation] = xd::train_validation_split(ds, 20, 5);
  CHECK(train.size() == 80);
  CHECK(validation.size() == 20);
  std::set<std::int64_t> seen;
  for (auto l : train.labels()) seen.insert(l);
  for (auto l : validation.labels()) CHECK(seen.insert(l).second);  // disjoint
  CHECK(seen.size() == 100);                                        // and together everything
  CHECK(std::is_sorted(train.labels().begin(), train.labels().end()));
  for (std::size_t i = 0; i < validation.size(); ++i)  // images travel with their labels
    CHECK(validation.images().data()[i] == static_cast<float>(validation.labels()[i]));
  CHECK(xd::train_validation_split(ds, 20, 5).validation.labels() == validation.labels());
  CHECK(xd::train_validation_split(ds, 20, 6).validation.labels() != validation.labels());
  CHECK(xd::train_validation_split(ds, 0, 1).train.size() == 100);
  CHECK_THROWS_WITH_AS(xd::train_validation_split(ds, 101, 1),
                       Contains("101 validation examples requested from a dataset of 100"), xg::Error);

  const std::vector<std::size_t> pick{5, 2, 5};
  const auto sub = ds.subset(pick);
  CHECK(sub.labels() == std::vector<std::int64_t>{5, 2, 5});
  CHECK(ds.subset(10, 13).labels() == std::vector<std::int64_t>{10, 11, 12});
  const std::vector<std::size_t> bad{1, 100};
  CHECK_THROWS_WITH_AS(ds.subset(bad), Contains("index 100 (position 1) out of range for 100 examples"), xg::Error);
  CHECK_THROWS_WITH_AS(xd::Dataset(xt::xarray<float>::from_shape({3, 2}), {0, 1}),
                       Contains("3 images [3,2] but 2 labels"), xg::Error);
  CHECK(ds.num_classes() == 100);
}

// --- preprocessing -----------------------------------------------------------------------------------
TEST_CASE("preprocessing is fitted on the training split only") {
  const auto train = normal_dataset(400, {3, 4, 4}, 0.3f, 0.1f, 1);
  const auto test = normal_dataset(100, {3, 4, 4}, 0.7f, 0.3f, 2);

  SUBCASE("mean image subtraction") {
    const xd::MeanImage mean(train);
    const xt::xarray<float> fitted = mean.mean();
    CHECK(fitted.shape() == xt::xarray<float>::shape_type{3, 4, 4});
    const auto train_t = mean.transform(train);
    const auto test_t = mean.transform(test);
    CHECK(mean.mean() == fitted);  // applying it changes nothing it learned
    double train_sum = 0, test_sum = 0;
    for (float v : train_t.images()) train_sum += v;
    for (float v : test_t.images()) test_sum += v;
    CHECK(train_sum / static_cast<double>(train_t.images().size()) == Approx(0.0).epsilon(1e-6));
    CHECK(test_sum / static_cast<double>(test_t.images().size()) == Approx(0.4).epsilon(0.05));  // 0.7 - 0.3
    CHECK(test_t.images().data()[17] == Approx(test.images().data()[17] - fitted.data()[17]));
    CHECK_THROWS_WITH_AS(mean.transform(normal_dataset(2, {3, 4, 5}, 0, 1, 3)),
                         Contains("does not match the examples [3,4,4] it was fitted on"), xg::Error);
    CHECK_THROWS_WITH_AS(xd::MeanImage().transform(test), Contains("MeanImage: not fitted"), xg::Error);
    CHECK(xd::Dataset().subset(std::vector<std::size_t>{}).size() == 0);
  }
  SUBCASE("per-channel normalization") {
    xd::ChannelNormalize norm(train);
    const auto mean = norm.mean(), sd = norm.stddev();
    REQUIRE(mean.size() == 3);
    CHECK(mean[1] == Approx(0.3).epsilon(0.02));
    CHECK(sd[1] == Approx(0.1).epsilon(0.02));
    const auto train_t = norm.transform(train);
    const auto test_t = norm.transform(test);
    CHECK(norm.mean() == mean);
    CHECK(norm.stddev() == sd);
    const xd::ChannelNormalize check_train(train_t), check_test(test_t);
    for (std::size_t c = 0; c < 3; ++c) {
      CHECK(check_train.mean()[c] == Approx(0.0).epsilon(1e-5));
      CHECK(check_train.stddev()[c] == Approx(1.0).epsilon(1e-4));
      CHECK(check_test.mean()[c] == Approx((0.7 - mean[c]) / sd[c]).epsilon(0.1));  // train statistics
    }
    // Channel c of an example is (x - mean[c]) / std[c] with the training statistics.
    const std::size_t flat = 1 * 48 + 2 * 16 + 5;  // example 1, channel 2
    CHECK(test_t.images().data()[flat] == Approx((test.images().data()[flat] - mean[2]) / sd[2]));
    // As a batch transform it gives the same values.
    xd::DataLoader loader(test, {.batch_size = 100, .shuffle = false}, norm);
    for (auto& batch : loader) CHECK(batch.images.value<float>() == test_t.images());
  }
}

TEST_CASE("PCA and whitening on a small synthetic set") {
  // x = 3 z1 u1 + 1 z2 u2 + 0.2 z3 u3 + offset in 3-D, u an orthonormal basis, z standard normal.
  const double s = 1 / std::sqrt(2.0), t = 1 / std::sqrt(3.0), r = 1 / std::sqrt(6.0);
  const double u[3][3] = {{s, s, 0}, {t, -t, t}, {-r, r, 2 * r}};
  const double scale[3] = {3, 1, 0.2};
  auto make = [&](std::size_t n, std::uint32_t seed) {
    xt::xarray<float> x = xt::xarray<float>::from_shape({n, std::size_t(3)});
    std::mt19937 rng(seed);
    std::normal_distribution<double> z(0, 1);
    for (std::size_t i = 0; i < n; ++i) {
      double v[3] = {5, -2, 1};
      for (int k = 0; k < 3; ++k) {
        const double zk = scale[k] * z(rng);
        for (int j = 0; j < 3; ++j) v[j] += zk * u[k][j];
      }
      for (int j = 0; j < 3; ++j) x(i, j) = static_cast<float>(v[j]);
    }
    return xd::Dataset(std::move(x), std::vector<std::int64_t>(n, 0));
  };
  const auto train = make(4000, 1), test = make(500, 2);

  SUBCASE("rotation into the eigenbasis decorrelates") {
    xd::PCA pca(train, {});
    const auto& var = pca.variances();
    REQUIRE(var.size() == 3);
    CHECK(var[0] == Approx(9.0).epsilon(0.08));
    CHECK(var[1] == Approx(1.0).epsilon(0.08));
    CHECK(var[2] == Approx(0.04).epsilon(0.08));
    for (int k = 0; k < 2; ++k) {  // principal directions match the generating ones (up to sign)
      double dot = 0;
      for (int j = 0; j < 3; ++j) dot += pca.components()(j, k) * u[k][j];
      CHECK(std::abs(dot) > 0.99);
    }
    const auto rot = pca.transform(train.images());
    const auto cov = covariance(rot);
    CHECK(cov[0] == Approx(var[0]).epsilon(1e-3));
    CHECK(std::abs(cov[1]) < 1e-3);
    CHECK(std::abs(cov[5]) < 1e-3);
  }
  SUBCASE("whitened covariance is the identity") {
    const xd::PCA pca(train, {.whiten = true});
    const auto white = pca.transform(train);
    CHECK(white.images().shape() == xt::xarray<float>::shape_type{4000, 3});
    const auto cov = covariance(white.images());
    for (std::size_t a = 0; a < 3; ++a)
      for (std::size_t b = 0; b < 3; ++b) CHECK(cov[a * 3 + b] == Approx(a == b ? 1.0 : 0.0).epsilon(1e-3));
    // Applied to another split it uses the training mean and basis: the test set is only roughly white.
    const xt::xarray<float> mean = pca.mean(), components = pca.components();
    const auto test_white = pca.transform(test);
    CHECK(pca.mean() == mean);
    CHECK(pca.components() == components);
    const auto tcov = covariance(test_white.images());
    CHECK(tcov[0] == Approx(1.0).epsilon(0.15));
    CHECK(tcov[0] != Approx(1.0).epsilon(1e-4));
    CHECK(test_white.labels().size() == 500);
  }
  SUBCASE("reduction to k dimensions") {
    const xd::PCA pca(train, {.components = 2});
    const auto reduced = pca.transform(test.images());
    CHECK(reduced.shape() == xt::xarray<float>::shape_type{500, 2});
    const auto& v = pca.variances();
    CHECK(pca.explained_variance_ratio() == Approx((v[0] + v[1]) / (v[0] + v[1] + v[2])));
    CHECK(pca.explained_variance_ratio() > 0.99);
    CHECK_THROWS_WITH_AS(xd::PCA(train, {.components = 4}), Contains("4 components requested from 3-dimensional"),
                         xg::Error);
    CHECK_THROWS_WITH_AS(xd::PCA().transform(test), Contains("not fitted"), xg::Error);
  }
}

TEST_CASE("symmetric_eigen of a known matrix for PCA") {
  xt::xarray<double> a = {{2.0, 1.0}, {1.0, 2.0}};
  const auto e = xd::symmetric_eigen(a);
  CHECK(e.values(0) == Approx(3.0));
  CHECK(e.values(1) == Approx(1.0));
  CHECK(e.vectors(0, 0) == Approx(1 / std::sqrt(2.0)));
  CHECK(e.vectors(1, 0) == Approx(1 / std::sqrt(2.0)));
  CHECK(std::abs(e.vectors(0, 1)) == Approx(1 / std::sqrt(2.0)));
  CHECK(e.vectors(0, 1) == Approx(-e.vectors(1, 1)));
}

// --- augmentation ------------------------------------------------------------------------------------
TEST_CASE("augmentation keeps shapes and flips correctly") {
  // Two images of 2 channels of 2 x 3: values 1..24.
  xt::xarray<float> images = xt::xarray<float>::from_shape({2, 2, 2, 3});
  std::iota(images.begin(), images.end(), 1.f);
  const xt::xarray<float> original = images;

  SUBCASE("horizontal flip") {
    xd::random_horizontal_flip(images, 1.0);
    CHECK(images.shape() == original.shape());
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t c = 0; c < 2; ++c)
        for (std::size_t y = 0; y < 2; ++y)
          for (std::size_t x = 0; x < 3; ++x) CHECK(images(b, c, y, x) == original(b, c, y, 2 - x));
    xd::random_horizontal_flip(images, 0.0);
    CHECK(images(0, 0, 0, 0) == 3.f);
    xd::random_horizontal_flip(images, 1.0);
    CHECK(images == original);
    // p = 0.5 flips about half of many images, reproducibly from xgrad::generator().
    xt::xarray<float> many = xt::zeros<float>({1000, 1, 1, 2});
    for (std::size_t i = 0; i < 1000; ++i) many(i, 0, 0, 1) = 1.f;
    xt::xarray<float> again = many;
    xg::manual_seed(11);
    xd::random_horizontal_flip(many);
    xg::manual_seed(11);
    xd::random_horizontal_flip(again);
    CHECK(many == again);
    int flipped = 0;
    for (std::size_t i = 0; i < 1000; ++i) flipped += many(i, 0, 0, 0) == 1.f;
    CHECK(flipped > 430);
    CHECK(flipped < 570);
  }
  SUBCASE("random crop with zero padding") {
    xd::random_crop(images, 0);
    CHECK(images == original);
    xg::manual_seed(3);
    bool moved = false;
    for (int trial = 0; trial < 20; ++trial) {
      xt::xarray<float> crop = original;
      xd::random_crop(crop, 1);
      CHECK(crop.shape() == original.shape());
      // Each image is the original shifted by one offset in [-1, 1]^2 for all channels, zeros outside.
      for (std::size_t b = 0; b < 2; ++b) {
        bool found = false;
        for (int oy = -1; oy <= 1 && !found; ++oy)
          for (int ox = -1; ox <= 1 && !found; ++ox) {
            bool match = true;
            for (std::size_t c = 0; c < 2; ++c)
              for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 3; ++x) {
                  const int sy = y + oy, sx = x + ox;
                  const float want = sy < 0 || sy >= 2 || sx < 0 || sx >= 3 ? 0.f : original(b, c, sy, sx);
                  match = match && crop(b, c, y, x) == want;
                }
            found = match;
            moved = moved || (match && (oy != 0 || ox != 0));
          }
        CHECK(found);
      }
    }
    CHECK(moved);
  }
  SUBCASE("as DataLoader transforms") {
    const xd::Dataset ds(original, {3, 4});
    xd::DataLoader loader(ds, {.batch_size = 2, .shuffle = false},
                          xd::compose({xd::RandomCrop{.padding = 1}, xd::RandomHorizontalFlip{.p = 0.5}}));
    for (int epoch = 0; epoch < 3; ++epoch)
      for (auto& batch : loader) {
        CHECK(batch.images.shape() == xg::Shape{2, 2, 2, 3});
        CHECK(batch.labels == std::vector<std::int64_t>{3, 4});
      }
    xt::xarray<float> flat = xt::zeros<float>({2, 6});
    CHECK_THROWS_WITH_AS(xd::random_crop(flat, 1), Contains("images [2,6] must be [B, C, H, W]"), xg::Error);
  }
}

// --- the real data -----------------------------------------------------------------------------------
TEST_CASE("Fashion-MNIST test split loads from the Debian package") {
  const fs::path dir = xd::default_mnist_dir;
  if (!fs::is_directory(dir)) {
    MESSAGE("skipped: " << dir.string() << " is missing (apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto test = xd::load_mnist_dir(dir, xd::Split::test);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("loaded the Fashion-MNIST test split in " << seconds << " s");
  CHECK(test.size() == 10000);
  CHECK(test.example_shape() == xg::Shape{1, 28, 28});
  CHECK(test.labels()[0] == 9);  // an ankle boot
  CHECK(test.labels()[1] == 2);
  CHECK(test.num_classes() == 10);
  const auto [lo, hi] = std::minmax_element(test.labels().begin(), test.labels().end());
  CHECK(*lo == 0);
  CHECK(*hi == 9);
  CHECK(test.stores_bytes());
  CHECK(test.bytes().size() == 10000 * 784);  // 7.8 MB, not 31 MB of floats
  const xd::Dataset floats = test.to_float();
  const auto [pmin, pmax] = std::minmax_element(floats.images().begin(), floats.images().end());
  CHECK(*pmin == 0.f);
  CHECK(*pmax == 1.f);
  double first = 0;
  for (std::size_t i = 0; i < 784; ++i) first += floats.images().data()[i];
  CHECK(first == Approx(33456.0 / 255.0).epsilon(1e-5));  // the sum of the first image's bytes
}

TEST_CASE("a dataset of bytes reads as byte * scale everywhere, and images() says to use to_float()") {
  xt::xarray<std::uint8_t> bytes = xt::xarray<std::uint8_t>::from_shape({6, 2, 2, 3});
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes.data()[k] = static_cast<std::uint8_t>((k * 37) % 256);
  const std::vector<std::int64_t> labels{0, 1, 2, 0, 1, 2};
  const xd::Dataset ds(bytes, labels, 0.5f);
  CHECK(ds.stores_bytes());
  CHECK(ds.byte_scale() == 0.5f);
  CHECK(ds.example_shape() == xg::Shape{2, 2, 3});
  CHECK(ds.example_numel() == 12);
  auto value = [&](std::size_t i, std::size_t k) { return static_cast<float>(bytes.data()[i * 12 + k]) * 0.5f; };

  const auto ex = ds.get(4);
  CHECK(ex.label == 1);
  for (std::size_t k = 0; k < 12; ++k) CHECK(ex.image.data()[k] == value(4, k));
  std::vector<float> buffer;
  const float* p = ds.example(5, buffer);
  CHECK(p == buffer.data());
  CHECK(p[11] == value(5, 11));

  const xd::Dataset f = ds.to_float();
  CHECK_FALSE(f.stores_bytes());
  REQUIRE(f.images().shape() == xt::xarray<float>::shape_type{6, 2, 2, 3});
  for (std::size_t k = 0; k < 72; ++k) CHECK(f.images().data()[k] == value(k / 12, k % 12));
  CHECK(f.example(2, buffer) == f.images().data() + 24);  // floats: a pointer into the dataset

  const std::vector<std::size_t> pick{5, 0, 5};
  const xd::Dataset sub = ds.subset(pick);
  CHECK(sub.stores_bytes());
  CHECK(sub.labels() == std::vector<std::int64_t>{2, 0, 2});
  CHECK(sub.get(0).image.data()[3] == value(5, 3));
  CHECK(sub.get(1).image.data()[3] == value(0, 3));

  xd::DataLoader loader(ds, {.batch_size = 4, .shuffle = false});
  std::size_t seen = 0;
  for (auto& batch : loader) {
    const auto& x = batch.images.value<float>();
    for (std::size_t j = 0; j < batch.size(); ++j, ++seen)
      for (std::size_t k = 0; k < 12; ++k) CHECK(x.data()[j * 12 + k] == value(seen, k));
  }
  CHECK(seen == 6);

  // preprocessing fitted on bytes equals preprocessing fitted on the same values as floats
  const xd::ChannelNormalize from_bytes(ds), from_floats(f);
  CHECK(from_bytes.mean() == from_floats.mean());
  CHECK(from_bytes.stddev() == from_floats.stddev());
  const xd::MeanImage mean_bytes(ds), mean_floats(f);
  CHECK(mean_bytes.mean() == mean_floats.mean());
  CHECK(mean_bytes.transform(ds).images() == mean_floats.transform(f).images());

  const std::string images_error = [&] {
    try {
      (void)ds.images();
    } catch (const xg::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  }();
  CHECK(images_error ==
        "Dataset::images: this dataset [6,2,2,3] stores bytes (value = byte * 0.5); use to_float() for a float "
        "copy, or read it batch by batch through a DataLoader");
  CHECK_THROWS_AS(f.bytes(), xg::Error);
  CHECK_THROWS_AS(xd::Dataset(bytes, {0, 1}), xg::Error);  // 6 examples, 2 labels
}
