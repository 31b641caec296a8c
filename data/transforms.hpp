#pragma once
// Preprocessing, fitted on the training set only and then applied unchanged to every split (the CS231n
// notes: "any preprocessing statistics must only be computed on the training data, and then applied to
// the validation / test data"), and batch augmentation drawing from xgrad::generator().
//
//   xg::data::MeanImage mean(train);          // or ChannelNormalize / PCA
//   train = mean.transform(std::move(train));
//   test = mean.transform(std::move(test));   // the training mean, not the test set's
//
// Each preprocessor offers transform(array [N, ...]), transform(Dataset) and operator()(Batch&), so it
// can also run per batch as a DataLoader transform.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../xtensor.hpp"

#include "dataloader.hpp"
#include "dataset.hpp"

namespace xgrad::data {

// Mean subtraction: x - mean image, the mean over the training examples of every value.
class MeanImage {
 public:
  MeanImage() = default;
  explicit MeanImage(const Dataset& train) { fit(train); }
  MeanImage& fit(const Dataset& train);
  bool fitted() const { return mean_.dimension() > 0; }
  const xt::xarray<float>& mean() const { return mean_; }  // the example shape

  xt::xarray<float> transform(xt::xarray<float> x) const;  // [N, ...example shape]
  Dataset transform(Dataset d) const;
  void operator()(Batch& batch) const;

 private:
  xt::xarray<float> mean_;
};

// Per-channel normalization: (x - mean[c]) / std[c], over axis 1 of [N, C, ...] (for [N, D] data
// every feature is a channel: standardization). A channel with std below 1e-8 is only centered.
class ChannelNormalize {
 public:
  ChannelNormalize() = default;
  explicit ChannelNormalize(const Dataset& train) { fit(train); }
  ChannelNormalize(std::vector<float> mean, std::vector<float> stddev);  // known statistics
  ChannelNormalize& fit(const Dataset& train);
  bool fitted() const { return !mean_.empty(); }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& stddev() const { return std_; }  // population std (divides by the count)

  xt::xarray<float> transform(xt::xarray<float> x) const;
  Dataset transform(Dataset d) const;
  void operator()(Batch& batch) const;

 private:
  std::vector<float> mean_, std_;
};

// PCA and whitening as in the CS231n notes: center with the training mean, cov = X^T X / N of the
// flattened [N, D] training data, eigendecomposition cov = U diag(S) U^T (eigenvalues decreasing),
// project onto the first k columns of U (Xrot = X U[:, :k]) and, when whitening, divide each
// coordinate by sqrt(S + eps). The output is [N, k].
struct PCAOptions {
  std::size_t components = 0;  // k; 0 keeps all D
  bool whiten = false;
  double eps = 1e-5;
};

class PCA {
 public:
  PCA() = default;
  explicit PCA(PCAOptions options) : options_(options) {}
  PCA(const Dataset& train, PCAOptions options) : options_(options) { fit(train); }
  PCA& fit(const Dataset& train);
  bool fitted() const { return components_.dimension() > 0; }
  const PCAOptions& options() const { return options_; }

  const xt::xarray<float>& mean() const { return mean_; }              // [D]
  const xt::xarray<float>& components() const { return components_; }  // [D, k], unit columns
  const std::vector<double>& variances() const { return variances_; }  // all D eigenvalues, decreasing
  double explained_variance_ratio() const;                             // kept / total variance

  xt::xarray<float> transform(const xt::xarray<float>& x) const;  // [N, ...] with D values each -> [N, k]
  Dataset transform(const Dataset& d) const;
  void operator()(Batch& batch) const;

 private:
  PCAOptions options_;
  xt::xarray<float> mean_, components_, projection_;  // projection_ = components_ (/ sqrt(S + eps))
  std::vector<double> variances_;
};

// --- augmentation of [B, C, H, W] batches (random draws from xgrad::generator()) ---------------------
// Mirrors each image left-right with probability p.
void random_horizontal_flip(xt::xarray<float>& images, double p = 0.5);
// Pads each image with `padding` zeros on every side and crops a random H x W window back out.
void random_crop(xt::xarray<float>& images, std::size_t padding);

struct RandomHorizontalFlip {
  double p = 0.5;
  void operator()(Batch& batch) const;
};
struct RandomCrop {
  std::size_t padding = 4;
  void operator()(Batch& batch) const;
};

// Runs transforms one after the other.
BatchTransform compose(std::vector<BatchTransform> transforms);

}  // namespace xgrad::data
