// Preprocessing fitted on the training set (mean image, per-channel normalization, PCA / whitening)
// and batch augmentation. Raw loops over contiguous [N, ...] data; BLAS for the covariance and the
// projection.
#include "transforms.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../autograd/random.hpp"
#include "eigen.hpp"

namespace xgrad::data {

namespace {

Shape tail(const xt::xarray<float>& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

// x must be [N, ...example] with the fitted example shape (or, when `flat_ok`, any shape with the
// same number of values per example).
void check_examples(const char* op, const xt::xarray<float>& x, const Shape& example, bool flat_ok = false) {
  if (x.dimension() < 2)
    throw Error("{}: input {} must be [N, ...] with at least 2 dimensions", op, shape_str(x.shape()));
  const Shape t = tail(x);
  if (t == example) return;
  std::size_t a = 1, b = 1;
  for (auto d : t) a *= d;
  for (auto d : example) b *= d;
  if (flat_ok && a == b) return;
  throw Error("{}: input {} does not match the examples {} it was fitted on", op, shape_str(x.shape()),
              shape_str(example));
}

void check_fitted(const char* op, bool fitted) {
  if (!fitted) throw Error("{}: not fitted; call fit(training set) first", op);
}

void check_train(const char* op, const Dataset& train) {
  if (train.empty()) throw Error("{}: cannot fit on an empty dataset", op);
}

}  // namespace

// --- MeanImage ---------------------------------------------------------------------------------------
MeanImage& MeanImage::fit(const Dataset& train) {
  check_train("MeanImage", train);
  const std::size_t n = train.size(), d = train.example_numel();
  std::vector<double> sum(d, 0.0);
  std::vector<float> buffer;
  for (std::size_t i = 0; i < n; ++i) {
    const float* x = train.example(i, buffer);
    for (std::size_t j = 0; j < d; ++j) sum[j] += x[j];
  }
  mean_ = xt::xarray<float>::from_shape(train.example_shape());
  for (std::size_t j = 0; j < d; ++j) mean_.data()[j] = static_cast<float>(sum[j] / static_cast<double>(n));
  return *this;
}

xt::xarray<float> MeanImage::transform(xt::xarray<float> x) const {
  check_fitted("MeanImage", fitted());
  check_examples("MeanImage", x, Shape(mean_.shape().begin(), mean_.shape().end()));
  const std::size_t d = mean_.size(), n = x.shape()[0];
  float* p = x.data();
  const float* m = mean_.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) p[i * d + j] -= m[j];
  return x;
}

Dataset MeanImage::transform(Dataset d) const {
  if (d.stores_bytes()) d = d.to_float();
  d.mutable_images() = transform(std::move(d.mutable_images()));
  return d;
}

void MeanImage::operator()(Batch& batch) const {
  batch.images.mutable_value<float>() = transform(std::move(batch.images.mutable_value<float>()));
}

// --- ChannelNormalize --------------------------------------------------------------------------------
ChannelNormalize::ChannelNormalize(std::vector<float> mean, std::vector<float> stddev)
    : mean_(std::move(mean)), std_(std::move(stddev)) {
  if (mean_.empty() || mean_.size() != std_.size())
    throw Error("ChannelNormalize: {} means and {} standard deviations; need one of each per channel", mean_.size(),
                std_.size());
  for (std::size_t c = 0; c < std_.size(); ++c)
    if (!(std_[c] > 0))
      throw Error("ChannelNormalize: standard deviation {} of channel {} is not positive", std_[c], c);
}

ChannelNormalize& ChannelNormalize::fit(const Dataset& train) {
  check_train("ChannelNormalize", train);
  const Shape ex = train.example_shape();
  const std::size_t n = train.size(), channels = ex[0], spatial = train.example_numel() / channels;
  const double count = static_cast<double>(n) * static_cast<double>(spatial);
  std::vector<double> sum(channels, 0.0), sq(channels, 0.0);
  std::vector<float> buffer;
  for (std::size_t i = 0; i < n; ++i) {
    const float* x = train.example(i, buffer);
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t s = 0; s < spatial; ++s) sum[c] += x[c * spatial + s];
  }
  for (std::size_t i = 0; i < n; ++i) {  // second pass, around the mean: no cancellation
    const float* x = train.example(i, buffer);
    for (std::size_t c = 0; c < channels; ++c) {
      const double mean = sum[c] / count;
      for (std::size_t s = 0; s < spatial; ++s) sq[c] += (x[c * spatial + s] - mean) * (x[c * spatial + s] - mean);
    }
  }
  mean_.assign(channels, 0.f);
  std_.assign(channels, 1.f);
  for (std::size_t c = 0; c < channels; ++c) {
    const double sd = std::sqrt(sq[c] / count);
    mean_[c] = static_cast<float>(sum[c] / count);
    std_[c] = sd < 1e-8 ? 1.f : static_cast<float>(sd);
  }
  return *this;
}

xt::xarray<float> ChannelNormalize::transform(xt::xarray<float> x) const {
  check_fitted("ChannelNormalize", fitted());
  if (x.dimension() < 2 || x.shape()[1] != mean_.size())
    throw Error("ChannelNormalize: input {} must be [N, C, ...] with the {} channels it was fitted on",
                shape_str(x.shape()), mean_.size());
  const std::size_t n = x.shape()[0], channels = mean_.size(), spatial = n == 0 ? 0 : x.size() / (n * channels);
  float* p = x.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t c = 0; c < channels; ++c) {
      const float m = mean_[c], inv = 1.f / std_[c];
      float* q = p + (i * channels + c) * spatial;
      for (std::size_t s = 0; s < spatial; ++s) q[s] = (q[s] - m) * inv;
    }
  return x;
}

Dataset ChannelNormalize::transform(Dataset d) const {
  if (d.stores_bytes()) d = d.to_float();
  d.mutable_images() = transform(std::move(d.mutable_images()));
  return d;
}

void ChannelNormalize::operator()(Batch& batch) const {
  batch.images.mutable_value<float>() = transform(std::move(batch.images.mutable_value<float>()));
}

// --- PCA ---------------------------------------------------------------------------------------------
PCA& PCA::fit(const Dataset& train) {
  check_train("PCA", train);
  const std::size_t n = train.size(), d = train.example_numel();
  const std::size_t k = options_.components == 0 ? d : options_.components;
  if (k > d) throw Error("PCA: {} components requested from {}-dimensional examples", k, d);
  if (!(options_.eps >= 0)) throw Error("PCA: eps {} must be non-negative", options_.eps);
  std::vector<float> buffer;

  // X -= mean(X, axis=0)
  std::vector<double> mean(d, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const float* x = train.example(i, buffer);
    for (std::size_t j = 0; j < d; ++j) mean[j] += x[j];
  }
  for (auto& m : mean) m /= static_cast<double>(n);

  // cov = X^T X / N, accumulated over row blocks in double (upper triangle by dsyrk, then mirrored).
  xt::xarray<double> cov = xt::zeros<double>({d, d});
  constexpr std::size_t block = 512;
  std::vector<double> rows(block * d);
  for (std::size_t i0 = 0; i0 < n; i0 += block) {
    const std::size_t b = std::min(block, n - i0);
    for (std::size_t i = 0; i < b; ++i) {
      const float* x = train.example(i0 + i, buffer);
      for (std::size_t j = 0; j < d; ++j) rows[i * d + j] = x[j] - mean[j];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(d), static_cast<int>(b), 1.0, rows.data(),
                static_cast<int>(d), 1.0, cov.data(), static_cast<int>(d));
  }
  double* c = cov.data();
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i; j < d; ++j) c[j * d + i] = c[i * d + j] = c[i * d + j] / static_cast<double>(n);

  // U, S = eig(cov); Xrot = X U[:, :k]; Xwhite = Xrot / sqrt(S + eps)
  const SymmetricEigen eig = symmetric_eigen(cov);
  variances_.assign(eig.values.begin(), eig.values.end());
  mean_ = xt::xarray<float>::from_shape({d});
  for (std::size_t j = 0; j < d; ++j) mean_.data()[j] = static_cast<float>(mean[j]);
  components_ = xt::xarray<float>::from_shape({d, k});
  projection_ = xt::xarray<float>::from_shape({d, k});
  for (std::size_t col = 0; col < k; ++col) {
    const double scale = options_.whiten ? 1.0 / std::sqrt(std::max(variances_[col], 0.0) + options_.eps) : 1.0;
    if (!std::isfinite(scale))
      throw Error("PCA: whitening component {} with variance {} and eps {} divides by zero; use eps > 0", col,
                  variances_[col], options_.eps);
    for (std::size_t row = 0; row < d; ++row) {
      const double u = eig.vectors.data()[row * d + col];
      components_.data()[row * k + col] = static_cast<float>(u);
      projection_.data()[row * k + col] = static_cast<float>(u * scale);
    }
  }
  return *this;
}

double PCA::explained_variance_ratio() const {
  check_fitted("PCA", fitted());
  double kept = 0, total = 0;
  for (std::size_t j = 0; j < variances_.size(); ++j) {
    const double v = std::max(variances_[j], 0.0);
    total += v;
    if (j < components_.shape()[1]) kept += v;
  }
  return total > 0 ? kept / total : 1.0;
}

xt::xarray<float> PCA::transform(const xt::xarray<float>& x) const {
  check_fitted("PCA", fitted());
  const std::size_t d = components_.shape()[0], k = components_.shape()[1];
  check_examples("PCA", x, Shape{d}, /*flat_ok=*/true);
  const std::size_t n = x.shape()[0];
  xt::xarray<float> out = xt::xarray<float>::from_shape({n, k});
  constexpr std::size_t block = 1024;
  std::vector<float> rows(std::min(block, n) * d);
  const float* m = mean_.data();
  for (std::size_t i0 = 0; i0 < n; i0 += block) {
    const std::size_t b = std::min(block, n - i0);
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t j = 0; j < d; ++j) rows[i * d + j] = x.data()[(i0 + i) * d + j] - m[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(b), static_cast<int>(k),
                static_cast<int>(d), 1.f, rows.data(), static_cast<int>(d), projection_.data(), static_cast<int>(k),
                0.f, out.data() + i0 * k, static_cast<int>(k));
  }
  return out;
}

Dataset PCA::transform(const Dataset& d) const {
  return Dataset(transform(d.stores_bytes() ? d.to_float().images() : d.images()), d.labels());
}

void PCA::operator()(Batch& batch) const { batch.images = Tensor(transform(batch.images.value<float>())); }

// --- augmentation ------------------------------------------------------------------------------------
namespace {
void check_images(const char* op, const xt::xarray<float>& images) {
  if (images.dimension() != 4) throw Error("{}: images {} must be [B, C, H, W]", op, shape_str(images.shape()));
}
}  // namespace

void random_horizontal_flip(xt::xarray<float>& images, double p) {
  check_images("random_horizontal_flip", images);
  if (!(p >= 0 && p <= 1)) throw Error("random_horizontal_flip: probability {} is not in [0, 1]", p);
  const std::size_t batch = images.shape()[0], planes = images.shape()[1] * images.shape()[2], w = images.shape()[3];
  auto& rng = generator();
  for (std::size_t b = 0; b < batch; ++b) {
    if (!(uniform01(rng) < p)) continue;
    float* img = images.data() + b * planes * w;
    for (std::size_t r = 0; r < planes; ++r) std::reverse(img + r * w, img + (r + 1) * w);
  }
}

void random_crop(xt::xarray<float>& images, std::size_t padding) {
  check_images("random_crop", images);
  if (padding == 0) return;
  const std::size_t batch = images.shape()[0], channels = images.shape()[1], h = images.shape()[2],
                    w = images.shape()[3], plane = h * w;
  auto& rng = generator();
  std::vector<float> src(channels * plane);
  for (std::size_t b = 0; b < batch; ++b) {
    // The window's top-left corner in the padded (h + 2 pad) x (w + 2 pad) image, as an offset into the original.
    const long oy = static_cast<long>(detail::uniform_below(rng, 2 * padding + 1)) - static_cast<long>(padding);
    const long ox = static_cast<long>(detail::uniform_below(rng, 2 * padding + 1)) - static_cast<long>(padding);
    if (oy == 0 && ox == 0) continue;
    float* img = images.data() + b * channels * plane;
    std::memcpy(src.data(), img, src.size() * sizeof(float));
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t y = 0; y < h; ++y) {
        float* out = img + c * plane + y * w;
        const long sy = static_cast<long>(y) + oy;
        if (sy < 0 || sy >= static_cast<long>(h)) {
          std::fill(out, out + w, 0.f);
          continue;
        }
        const float* in = src.data() + c * plane + static_cast<std::size_t>(sy) * w;
        for (std::size_t x = 0; x < w; ++x) {
          const long sx = static_cast<long>(x) + ox;
          out[x] = sx < 0 || sx >= static_cast<long>(w) ? 0.f : in[sx];
        }
      }
  }
}

void RandomHorizontalFlip::operator()(Batch& batch) const {
  random_horizontal_flip(batch.images.mutable_value<float>(), p);
}
void RandomCrop::operator()(Batch& batch) const { random_crop(batch.images.mutable_value<float>(), padding); }

BatchTransform compose(std::vector<BatchTransform> transforms) {
  return [transforms = std::move(transforms)](Batch& batch) {
    for (const auto& t : transforms)
      if (t) t(batch);
  };
}

}  // namespace xgrad::data
