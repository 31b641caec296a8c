#pragma once
// The CS231n Solver in C++: trains a model with an optimizer on minibatches and keeps the records
// the notes use to watch training: the loss of every iteration, train and validation accuracy per
// epoch, the update/weight ratio of every parameter (the ~1e-3 heuristic), and the parameters with
// the best validation accuracy.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>

namespace trainer {

namespace xg = xgrad;

struct SolverOptions {
  std::size_t epochs = 5;
  std::size_t batch_size = 64;
  std::string loss = "cross_entropy";    // or "svm"
  double reg = 0.0;                      // L2 strength: loss += reg/2 * sum of squared weights (not biases)
  std::size_t accuracy_samples = 10000;  // train accuracy is measured on this many training images
  std::uint64_t seed = 0;
  bool augment = false;  // random flips and 2-pixel crops of the training batches
  // applied to every batch first, in training and in accuracy() (e.g. a ChannelNormalize fitted on the
  // training set): the datasets can stay as they were loaded, bytes, instead of a float copy each
  xg::data::BatchTransform preprocess;
  bool verbose = true;
  // Stop train() at the first nan or inf loss, before its backward pass and update, and fill
  // Solver::diverged (the other examples keep training and judge the final loss themselves).
  bool stop_on_nonfinite_loss = false;
  // Data-parallel training (train --distributed): this rank's shard of every epoch, what to run after
  // every backward (DataParallel::synchronize), and an in-place sum over the ranks. With them the
  // iteration losses, the epoch's counts and the accuracies are global (every rank sees the same and
  // stops at the same nan), and accuracy() evaluates a 1/world_size slice of the data on each rank.
  // Kept as plain functions so the Solver needs no MPI.
  xg::data::Sampler sampler = {};
  std::function<void()> after_backward = {};
  std::function<void(std::vector<double>&)> sum_over_ranks = {};
  std::size_t rank = 0, world_size = 1;
};

// Where training stopped on a nan or inf loss.
struct Divergence {
  std::size_t epoch = 0;       // 1-based, as printed
  std::size_t iteration = 0;   // 1-based, within the epoch
  std::size_t iterations = 0;  // batches per epoch
  double loss = 0, lr = 0;
};

struct EpochRecord {
  std::size_t epoch = 0;
  double loss = 0, train_acc = 0, val_acc = 0, lr = 0, seconds = 0;
  std::map<std::string, double> update_ratio;  // parameter name -> |update| / |weight|
};

class Solver {
 public:
  Solver(xg::nn::Module& model, xg::optim::Optimizer& optimizer, const xg::data::Dataset& train,
         const xg::data::Dataset& validation, SolverOptions options);

  // Called after every epoch (e.g. to step an LR schedule or write a checkpoint).
  std::function<void(const EpochRecord&)> on_epoch_end;

  void train();
  double accuracy(const xg::data::Dataset& data, std::size_t max_samples = 0);
  xg::Tensor loss(const xg::Tensor& scores, const std::vector<std::int64_t>& labels) const;

  std::vector<double> loss_history;  // every iteration
  std::vector<EpochRecord> epochs;   // every epoch
  double best_val_acc = -1;
  xg::nn::NamedTensors best_params;    // copies of the best parameters and buffers
  std::size_t start_epoch = 0;         // > 0 when resuming
  std::optional<Divergence> diverged;  // set when stop_on_nonfinite_loss stopped training

  void restore_best();  // copies best_params back into the model

 private:
  xg::nn::Module& model_;
  xg::optim::Optimizer& optimizer_;
  const xg::data::Dataset& train_;
  const xg::data::Dataset& validation_;
  SolverOptions options_;
};

}  // namespace trainer
