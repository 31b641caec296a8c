#include "solver.hpp"

#include <cmath>

#include <xgrad/autograd/tensor_impl.hpp>
#include <xgrad/data.hpp>
#include "progress.hpp"

namespace trainer {

namespace {
xg::Tensor copy_of(const xg::Tensor& t) { return t.detach(); }

double norm(const xg::Tensor& t) {
  xg::NoGradGuard no_grad;
  return std::sqrt(xg::sum(t * t).item());
}
}  // namespace

Solver::Solver(xg::nn::Module& model, xg::optim::Optimizer& optimizer, const xg::data::Dataset& train,
               const xg::data::Dataset& validation, SolverOptions options)
    : model_(model), optimizer_(optimizer), train_(train), validation_(validation), options_(options) {}

xg::Tensor Solver::loss(const xg::Tensor& scores, const std::vector<std::int64_t>& labels) const {
  xg::Tensor data_loss = options_.loss == "svm" ? xg::svm_loss(scores, labels) : xg::cross_entropy(scores, labels);
  if (options_.reg == 0) return data_loss;
  std::vector<xg::Tensor> weights;  // the notes regularize weights, not biases
  for (auto& [name, p] : model_.named_parameters())
    if (name.ends_with("weight") && p.dim() >= 2) weights.push_back(p);
  return data_loss + xg::l2_penalty(weights, /*half=*/true) * options_.reg;
}

double Solver::accuracy(const xg::data::Dataset& data, std::size_t max_samples) {
  const bool was_training = model_.is_training();
  model_.eval();
  xg::NoGradGuard no_grad;
  const std::size_t n = max_samples && max_samples < data.size() ? max_samples : data.size();
  // Distributed: this rank's slice of the n examples; the counts are summed over the ranks.
  const std::size_t begin = n * options_.rank / options_.world_size,
                    end = n * (options_.rank + 1) / options_.world_size;
  const xg::data::Dataset part = begin > 0 || end < data.size() ? data.subset(begin, end) : data;
  // 100 images at a time: an evaluation batch's peak (the conv layers' outputs and Winograd transforms,
  // ~0.2 MB per image) then stays near the training step's. With 500 the main job peaked at 196 MB
  // after one epoch instead of 110 MB, for the same epoch time.
  xg::data::DataLoader loader(part, {.batch_size = 100, .shuffle = false}, options_.preprocess);
  std::size_t correct = 0;
  for (auto& batch : loader) {
    const auto predicted = xg::argmax(model_(batch.images), 1);
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += std::int64_t(predicted[i]) == batch.labels[i];
  }
  model_.train(was_training);
  std::vector<double> count{double(correct)};
  if (options_.sum_over_ranks) options_.sum_over_ranks(count);
  return n ? count[0] / double(n) : 0.0;
}

void Solver::train() {
  std::vector<xg::data::BatchTransform> transforms;
  if (options_.preprocess) transforms.push_back(options_.preprocess);
  if (options_.augment)
    transforms.push_back([](xg::data::Batch& b) {
      xg::data::random_horizontal_flip(b.images.mutable_value<float>());
      xg::data::random_crop(b.images.mutable_value<float>(), 2);
    });
  xg::data::DataLoader loader(train_,
                              {.batch_size = options_.batch_size,
                               .shuffle = true,
                               .seed = options_.seed,
                               .sampler = options_.sampler},
                              xg::data::compose(std::move(transforms)));
  const auto named = model_.named_parameters();
  for (std::size_t epoch = start_epoch; epoch < options_.epochs; ++epoch) {
    model_.train();
    loader.set_epoch(epoch);
    Progress progress(epoch + 1, options_.epochs, loader.size());
    EpochRecord record;
    record.epoch = epoch + 1;
    record.lr = optimizer_.lr(0);
    double loss_sum = 0;
    std::size_t seen = 0, correct = 0, batch_index = 0;
    for (auto& batch : loader) {
      optimizer_.zero_grad();
      const xg::Tensor scores = model_(batch.images);
      const xg::Tensor l = loss(scores, batch.labels);
      double value = l.item();
      if (options_.sum_over_ranks) {  // the mean over the global batch (equal shards), the same on every rank
        std::vector<double> sum{value};
        options_.sum_over_ranks(sum);
        value = sum[0] / double(options_.world_size);
      }
      if (options_.stop_on_nonfinite_loss && !std::isfinite(value)) {
        // Before backward() and step(): the parameters stay those that produced the last finite loss.
        progress.finish();
        loss_history.push_back(value);
        diverged = Divergence{epoch + 1, batch_index + 1, loader.size(), value, optimizer_.lr(0)};
        return;
      }
      l.backward();
      if (options_.after_backward) options_.after_backward();
      // The update/weight ratio, measured on the first batch of each epoch.
      std::vector<xg::Tensor> before;
      if (batch_index == 0)
        for (auto& [name, p] : named) before.push_back(copy_of(p));
      optimizer_.step();
      if (batch_index == 0)
        for (std::size_t i = 0; i < named.size(); ++i) {
          const double w = norm(before[i]);
          if (w > 0) record.update_ratio[named[i].first] = norm(named[i].second - before[i]) / w;
        }
      loss_history.push_back(value);
      loss_sum += value * double(batch.size());
      const auto predicted = xg::argmax(scores, 1);
      for (std::size_t i = 0; i < predicted.size(); ++i) correct += std::int64_t(predicted[i]) == batch.labels[i];
      seen += batch.size();
      ++batch_index;
      if (options_.verbose)
        progress.update(batch_index, loss_sum / double(seen), double(correct) / double(seen),
                        seen * options_.world_size);
    }
    if (options_.verbose) progress.finish();
    if (options_.sum_over_ranks) {  // the epoch's counts over every rank's shard
      std::vector<double> counts{loss_sum, double(seen), double(correct)};
      options_.sum_over_ranks(counts);
      loss_sum = counts[0], seen = std::size_t(counts[1]), correct = std::size_t(counts[2]);
    }
    record.loss = loss_sum / double(std::max<std::size_t>(seen, 1));
    record.seconds = progress.elapsed();
    record.train_acc = accuracy(train_, options_.accuracy_samples);
    record.val_acc = validation_.empty() ? 0.0 : accuracy(validation_);
    if (record.val_acc > best_val_acc) {
      best_val_acc = record.val_acc;
      best_params.clear();
      for (auto& [name, p] : model_.named_parameters()) best_params.emplace_back(name, copy_of(p));
      for (auto& [name, b] : model_.named_buffers()) best_params.emplace_back(name, copy_of(b));
    }
    if (options_.verbose) {
      double max_ratio = 0;
      for (auto& [name, r] : record.update_ratio) max_ratio = std::max(max_ratio, r);
      fmt::print("epoch {}/{}  loss {:.4f}  train acc {:.2f}%  val acc {:.2f}%  lr {:.3g}  update/weight <= {:.1e}  "
                 "{:.1f} s ({:.0f} img/s)\n",
                 record.epoch, options_.epochs, record.loss, 100 * record.train_acc, 100 * record.val_acc, record.lr,
                 max_ratio, record.seconds, double(seen) / record.seconds);
      std::fflush(stdout);
    }
    epochs.push_back(record);
    if (on_epoch_end) on_epoch_end(record);
  }
}

void Solver::restore_best() {
  if (best_params.empty()) return;
  xg::NoGradGuard no_grad;
  auto current = model_.named_parameters();
  for (auto& b : model_.named_buffers()) current.push_back(b);
  for (std::size_t i = 0; i < current.size() && i < best_params.size(); ++i)
    current[i].second.impl()->value = best_params[i].second.impl()->value;
}

}  // namespace trainer
