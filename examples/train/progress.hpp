#pragma once
// A progress line for one epoch: on a terminal it redraws itself
//   epoch 3/10 [#########.........] 412/938  loss 0.3121  acc 88.6%  5120 img/s  ETA 0:07
// and elsewhere (a log file, CI) it prints nothing until the epoch's summary line.
#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

namespace trainer {

class Progress {
 public:
  Progress(std::size_t epoch, std::size_t epochs, std::size_t batches)
      : epoch_(epoch), epochs_(epochs), batches_(batches), start_(Clock::now()), tty_(isatty(fileno(stdout))) {}

  // After each batch: running averages over the epoch so far.
  void update(std::size_t batch, double running_loss, double running_acc, std::size_t samples) {
    if (!tty_) return;
    const double seconds = elapsed();
    const double rate = samples / std::max(seconds, 1e-9);
    const double eta = seconds / batch * (batches_ - batch);
    const std::size_t width = 24, filled = width * batch / batches_;
    fmt::print("\repoch {}/{} [{}{}] {}/{}  loss {:.4f}  acc {:5.1f}%  {:.0f} img/s  ETA {}:{:02d} ", epoch_, epochs_,
               std::string(filled, '#'), std::string(width - filled, '.'), batch, batches_, running_loss,
               100 * running_acc, rate, int(eta) / 60, int(eta) % 60);
    std::fflush(stdout);
  }
  void finish() {
    if (tty_) fmt::print("\r{}\r", std::string(110, ' '));
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t epoch_, epochs_, batches_;
  Clock::time_point start_;
  bool tty_;
};

}  // namespace trainer
