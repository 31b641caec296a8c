// k-nearest neighbours on Fashion-MNIST, the first classifier of the CS231n notes.
//
//   knn                                   # 5000 train, 1000 test, k in {1,3,5,8,10,12,15,20}: a few seconds
//   knn --train 500 --test 100 --check 5  # a smoke test: under a second
//
// 1. The L2 distance matrix three ways (CS231n's first assignment; the notes define only the
//    distance): two loops, one loop (one row of differences at a time), and no loops, through one
//    matrix product:
//        |x - y|^2 = |x|^2 + |y|^2 - 2 x.y     for all pairs at once: a column + a row - 2 X Y^T.
//    The three are checked equal (to float rounding) and timed.
// 2. k chosen by 5-fold cross-validation on the training subset, for L1 and L2 distance: the
//    accuracy of every fold and k, its mean and standard deviation.
// 3. The test accuracy of each distance with its chosen k (the whole training subset as the
//    reference set).
//
// Votes: the most frequent label among the k nearest; a tie goes to the tied label whose member
// is nearest.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include <CLI/CLI.hpp>
#include <xgrad/data.hpp>
#include <xgrad/xgrad.hpp>
#include <xtensor/xview.hpp>

#include "common/util.hpp"

namespace xg = xgrad;
using examples::Stopwatch;

namespace {

// Rows of [0, 1] floats as bytes 0..255 again, for the L1 distance's integer loop.
std::vector<std::uint8_t> to_bytes(const xg::Tensor& rows) {
  const auto& x = rows.value<float>();
  std::vector<std::uint8_t> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = std::uint8_t(std::lround(x.data()[i] * 255.0f));
  return out;
}

// --- L2: two loops, one loop, no loops ----------------------------------------------------------
// The reference: every pair, every coordinate, in double.
xt::xarray<double> l2_two_loops(const xg::Tensor& queries, const xg::Tensor& refs) {
  const auto& q = queries.value<float>();
  const auto& r = refs.value<float>();
  const std::size_t nq = q.shape()[0], nr = r.shape()[0], d = q.shape()[1];
  xt::xarray<double> dist = xt::zeros<double>({nq, nr});
  for (std::size_t i = 0; i < nq; ++i)
    for (std::size_t j = 0; j < nr; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < d; ++k) {
        const double diff = double(q.data()[i * d + k]) - double(r.data()[j * d + k]);
        s += diff * diff;
      }
      dist(i, j) = std::sqrt(s);
    }
  return dist;
}

// One loop: the differences of one query to all references at once, by broadcasting.
xt::xarray<float> l2_one_loop(const xg::Tensor& queries, const xg::Tensor& refs) {
  const auto& q = queries.value<float>();
  const auto& r = refs.value<float>();
  const std::size_t nq = q.shape()[0], nr = r.shape()[0];
  xt::xarray<float> dist = xt::zeros<float>({nq, nr});
  for (std::size_t i = 0; i < nq; ++i) {
    auto row = xt::view(q, i, xt::newaxis(), xt::all());  // [1, D]
    xt::view(dist, i, xt::all()) = xt::sqrt(xt::sum(xt::square(r - row), {1}));
  }
  return dist;
}

// No loops: |x|^2 + |y|^2 - 2 x.y, with all the x.y from one matrix product. Rounding can make a
// tiny squared distance negative, hence the max with 0 before the square root.
xg::Tensor l2_no_loops(const xg::Tensor& queries, const xg::Tensor& refs, bool take_sqrt = true) {
  xg::NoGradGuard no_grad;
  const xg::Tensor q2 = xg::sum(queries * queries, 1, /*keepdim=*/true);  // [Nq, 1]
  const xg::Tensor r2 = xg::sum(refs * refs, 1);                          // [Nr], broadcast as a row
  const xg::Tensor d2 = xg::maximum(q2 + r2 - 2.0 * xg::matmul(queries, xg::transpose(refs)), 0.0);
  return take_sqrt ? xg::sqrt(d2) : d2;
}

// --- L1 ----------------------------------------------------------------------------------------
// No matrix-product trick exists for |x - y|_1, so this is the two-loop version, on bytes (exact
// integer sums, which the compiler vectorizes).
xt::xarray<float> l1_distances(const std::vector<std::uint8_t>& q, const std::vector<std::uint8_t>& r, std::size_t d) {
  const std::size_t nq = q.size() / d, nr = r.size() / d;
  xt::xarray<float> dist = xt::zeros<float>({nq, nr});
  for (std::size_t i = 0; i < nq; ++i) {
    const std::uint8_t* a = q.data() + i * d;
    for (std::size_t j = 0; j < nr; ++j) {
      const std::uint8_t* b = r.data() + j * d;
      int s = 0;
      for (std::size_t k = 0; k < d; ++k) s += std::abs(int(a[k]) - int(b[k]));
      dist(i, j) = float(s);
    }
  }
  return dist;
}

// --- voting ------------------------------------------------------------------------------------
// Predictions for every k in ks (ascending), from a distance matrix [Nq, Nr] and the references'
// labels: result[t][i] is query i's prediction with k = ks[t].
std::vector<std::vector<std::size_t>> knn_predict(const xt::xarray<float>& dist,
                                                  const std::vector<std::int64_t>& labels,
                                                  const std::vector<std::size_t>& ks) {
  const std::size_t nq = dist.shape()[0], nr = dist.shape()[1];
  const std::size_t kmax = std::min(ks.back(), nr);
  std::vector<std::vector<std::size_t>> out(ks.size(), std::vector<std::size_t>(nq));
  std::vector<std::size_t> idx(nr);
  for (std::size_t i = 0; i < nq; ++i) {
    const float* row = dist.data() + i * nr;
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + kmax, idx.end(),
                      [&](std::size_t a, std::size_t b) { return row[a] < row[b] || (row[a] == row[b] && a < b); });
    for (std::size_t t = 0; t < ks.size(); ++t) {
      const std::size_t k = std::min(ks[t], kmax);
      std::array<std::size_t, 256> votes{};
      std::size_t best_votes = 0;
      for (std::size_t n = 0; n < k; ++n) best_votes = std::max(best_votes, ++votes[labels[idx[n]] & 255]);
      // The nearest neighbour whose label has the most votes: breaks ties by distance.
      for (std::size_t n = 0; n < k; ++n)
        if (votes[labels[idx[n]] & 255] == best_votes) {
          out[t][i] = std::size_t(labels[idx[n]]);
          break;
        }
    }
  }
  return out;
}

std::vector<std::int64_t> pick_labels(const std::vector<std::int64_t>& labels, const std::vector<std::size_t>& idx) {
  std::vector<std::int64_t> out;
  out.reserve(idx.size());
  for (auto i : idx) out.push_back(labels[i]);
  return out;
}

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_train = 5000, n_test = 1000, folds = 5, check = 20;
  std::vector<std::size_t> ks{1, 3, 5, 8, 10, 12, 15, 20};
  std::string data_dir = xg::data::default_mnist_dir;
  CLI::App app{"k-nearest neighbours on Fashion-MNIST: L1 and L2 distance, k by cross-validation"};
  app.add_option("--train", n_train, "training images (the first ones) used as references and for cross-validation")
      ->capture_default_str();
  app.add_option("--test", n_test, "test images classified at the end")->capture_default_str();
  app.add_option("--folds", folds, "cross-validation folds")->capture_default_str()->check(CLI::Range(2, 100));
  app.add_option("--k", ks, "values of k to cross-validate (comma separated)")->delimiter(',')->capture_default_str();
  app.add_option("--check", check, "test images on which the loop and no-loop L2 distances are compared")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "an MNIST-format directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Stopwatch total;
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    if (ks.empty() || ks.front() == 0) throw xg::Error("--k needs positive values");
    const auto train = examples::first(xg::data::load_mnist_dir(data_dir, "train"), n_train);
    const auto test = examples::first(xg::data::load_mnist_dir(data_dir, "test"), n_test);
    n_train = train.size(), n_test = test.size();
    if (n_train < folds) throw xg::Error("--train {} is smaller than --folds {}", n_train, folds);
    const xg::Tensor xtr = examples::flat_rows(train), xte = examples::flat_rows(test);
    const std::size_t d = train.example_numel();
    fmt::print("data: {} training and {} test images of {} pixels (in [0, 1]) from {}\n\n", n_train, n_test, d,
               data_dir);

    // 1. Three ways to the L2 distance matrix, checked equal.
    check = std::min(check, n_test);
    int status = 0;
    if (check > 0) {
      const xg::Tensor q = xg::Tensor(xt::xarray<float>(xt::view(xte.value<float>(), xt::range(0, check), xt::all())));
      Stopwatch sw;
      const auto two = l2_two_loops(q, xtr);
      const double t_two = sw.seconds();
      sw.restart();
      const auto one = l2_one_loop(q, xtr);
      const double t_one = sw.seconds();
      sw.restart();
      const auto none_all = l2_no_loops(xte, xtr);  // every test image at once
      const double t_none = sw.seconds();
      const auto& none = none_all.value<float>();
      double diff_one = 0, diff_none = 0, largest = 0;
      std::size_t same_nn = 0;
      for (std::size_t i = 0; i < check; ++i) {
        std::size_t nn_two = 0, nn_none = 0;
        for (std::size_t j = 0; j < n_train; ++j) {
          diff_one = std::max(diff_one, std::abs(double(one(i, j)) - two(i, j)));
          diff_none = std::max(diff_none, std::abs(double(none(i, j)) - two(i, j)));
          largest = std::max(largest, two(i, j));
          if (two(i, j) < two(i, nn_two)) nn_two = j;
          if (none(i, j) < none(i, nn_none)) nn_none = j;
        }
        same_nn += nn_two == nn_none;
      }
      const bool ok = diff_none <= 1e-4 * largest && diff_one <= 1e-4 * largest;
      fmt::print("L2 distances, {} test x {} training images (two loops, one loop, no loops):\n", check, n_train);
      fmt::print("  two loops (double)  {:8.3f} s  {:8.3f} ms per test image  (the reference)\n", t_two,
                 1e3 * t_two / double(check));
      fmt::print("  one loop            {:8.3f} s  {:8.3f} ms per test image  max |difference| {:.2e}\n", t_one,
                 1e3 * t_one / double(check), diff_one);
      fmt::print("  no loops (1 matmul) {:8.3f} s  {:8.3f} ms per test image  max |difference| {:.2e}"
                 "  (all {} test images at once)\n",
                 t_none, 1e3 * t_none / double(n_test), diff_none, n_test);
      fmt::print("  largest distance {:.2f}; the three agree to float rounding: {}; same nearest neighbour: {}/{}\n\n",
                 largest, ok ? "yes" : "NO", same_nn, check);
      if (!ok) status = 1;
    }

    // 2. Cross-validation of k, for each distance.
    const std::vector<std::uint8_t> btr = to_bytes(xtr), bte = to_bytes(xte);
    const std::size_t fold_size = n_train / folds;
    struct Choice {
      std::string name;
      std::size_t k = 0;
      double cv = 0, seconds = 0;
    };
    std::vector<Choice> choices;
    for (const std::string metric : {"L1", "L2"}) {
      Stopwatch sw;
      // acc[t][f]: accuracy with k = ks[t] on fold f.
      std::vector<std::vector<double>> acc(ks.size(), std::vector<double>(folds));
      for (std::size_t f = 0; f < folds; ++f) {
        std::vector<std::size_t> val_idx, tr_idx;
        for (std::size_t i = 0; i < folds * fold_size; ++i) (i / fold_size == f ? val_idx : tr_idx).push_back(i);
        const auto val_labels = pick_labels(train.labels(), val_idx);
        const auto tr_labels = pick_labels(train.labels(), tr_idx);
        xt::xarray<float> dist;
        if (metric == "L1") {
          std::vector<std::uint8_t> bq, br;
          for (auto i : val_idx) bq.insert(bq.end(), btr.begin() + i * d, btr.begin() + (i + 1) * d);
          for (auto i : tr_idx) br.insert(br.end(), btr.begin() + i * d, btr.begin() + (i + 1) * d);
          dist = l1_distances(bq, br, d);
        } else {
          std::vector<std::int64_t> vi(val_idx.begin(), val_idx.end()), ti(tr_idx.begin(), tr_idx.end());
          dist = l2_no_loops(xg::index_select(xtr, 0, vi), xg::index_select(xtr, 0, ti), false).value<float>();
        }
        const auto pred = knn_predict(dist, tr_labels, ks);
        for (std::size_t t = 0; t < ks.size(); ++t) acc[t][f] = examples::accuracy(pred[t], val_labels);
      }
      fmt::print("{}-fold cross-validation, {} distance, {} training images ({} per fold), accuracy %:\n", folds,
                 metric, folds * fold_size, fold_size);
      fmt::print("  {:>4}", "k");
      for (std::size_t f = 0; f < folds; ++f) fmt::print("  fold {:<2}", f + 1);
      fmt::print("  {:>7}  {:>5}\n", "mean", "std");
      Choice best{metric};
      best.cv = -1;
      for (std::size_t t = 0; t < ks.size(); ++t) {
        fmt::print("  {:>4}", ks[t]);
        for (double a : acc[t]) fmt::print("  {:7.2f}", 100 * a);
        const double m = mean_of(acc[t]);
        fmt::print("  {:7.2f}  {:5.2f}\n", 100 * m, 100 * std_of(acc[t]));
        if (m > best.cv + 1e-12) best.cv = m, best.k = ks[t];  // ties keep the smaller k
      }
      best.seconds = sw.seconds();
      fmt::print("  best k = {} (mean {:.2f}%), {:.1f} s\n\n", best.k, 100 * best.cv, best.seconds);
      choices.push_back(best);
    }

    // 3. Test accuracy with the chosen k, the whole training subset as references.
    fmt::print("test accuracy on {} test images, {} references:\n", n_test, n_train);
    for (const auto& c : choices) {
      Stopwatch sw;
      const xt::xarray<float> dist =
          c.name == "L1" ? l1_distances(bte, btr, d) : l2_no_loops(xte, xtr, false).value<float>();
      const auto pred = knn_predict(dist, train.labels(), {c.k});
      fmt::print("  {} distance, k = {:>2}: {:6.2f}%   ({:.2f} s)\n", c.name, c.k,
                 100 * examples::accuracy(pred[0], test.labels()), sw.seconds());
    }
    fmt::print("total {:.1f} s\n", total.seconds());
    return status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
