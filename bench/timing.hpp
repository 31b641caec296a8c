#pragma once
// Tiny timing helpers shared by the xgrad and libtorch halves of each benchmark. Neither xtensor
// nor torch is included here, so the torch translation units stay free of xtensor and vice versa.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

// A duration on two clocks: wall time (what a user waits) and the calling thread's CPU time (what
// the thread itself used). They agree on an idle machine; on a busy one (2 cores shared with
// compiles) the CPU time leaves out the time the thread sat preempted, so it is the steadier one.
struct Duration {
  double wall_ns = 0, cpu_ns = 0;
};

class Stopwatch {
 public:
  Stopwatch() { restart(); }
  void restart() {
    wall_ = std::chrono::steady_clock::now();
    cpu_ = thread_cpu_ns();
  }
  // The time since the last restart(), and restarts.
  Duration lap() {
    const auto wall = std::chrono::steady_clock::now();
    const double cpu = thread_cpu_ns();
    const Duration d{std::chrono::duration<double, std::nano>(wall - wall_).count(), cpu - cpu_};
    wall_ = wall;
    cpu_ = cpu;
    return d;
  }

 private:
  static double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  }
  std::chrono::steady_clock::time_point wall_;
  double cpu_ = 0;
};

// The median of a set of repetitions: robust to the odd run that a page-fault storm or another
// process on the 2 cores slows down.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One run of a chain benchmark, for the whole chain.
struct ChainRun {
  Duration forward;   // building the chain (recording the tape)
  Duration backward;  // backward() from the last tensor to the leaf
  Duration free;      // dropping the last reference to the graph after backward
  double grad = 0;    // the leaf's gradient, to check both libraries computed the same thing
  double value = 0;   // the last tensor's value
};

// Untimed runs for at least half a second (at least one: it grows the heap and faults its pages in).
// Half a second because on the 2-core VM a second core that sat idle can take ~100 ms to come up to
// speed: the first 1-7 two-thread conv2d runs went at one thread's speed (12 instead of 5 ms), for
// xgrad's pool and libtorch's OpenMP alike.
template <class F>
void warm_up(F&& run) {
  const auto start = std::chrono::steady_clock::now();
  do run();
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500));
}

// warm_up, then `reps` timed runs.
template <class F>
std::vector<ChainRun> warm_up_and_repeat(int reps, F&& run) {
  warm_up(run);
  std::vector<ChainRun> runs;
  for (int r = 0; r < reps; ++r) runs.push_back(run());
  return runs;
}

// Runs body() (returning std::vector<ChainRun>) in a forked child and hands its result back.
// Each library gets a heap of its own this way. Run in one process, whichever library goes
// second inherits the other's fragmented malloc free lists (measured: xgrad's forward went from
// ~330 to ~1300 ns/op after libtorch's runs, while libtorch's own runs got faster).
template <class F>
std::vector<ChainRun> in_child_process(F&& body) {
  static_assert(std::is_trivially_copyable_v<ChainRun>);
  std::fflush(stdout);  // or the child would inherit, and might print, buffered output twice
  int fd[2];
  if (pipe(fd) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fd[0]);
    int status = 0;
    try {
      const std::vector<ChainRun> runs = body();
      const char* p = reinterpret_cast<const char*>(runs.data());
      std::size_t left = runs.size() * sizeof(ChainRun);
      while (left > 0) {
        const ssize_t n = write(fd[1], p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "benchmark child failed: {}\n", e.what());
      status = 1;
    }
    close(fd[1]);
    _exit(status);
  }
  close(fd[1]);
  std::vector<char> bytes;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) bytes.insert(bytes.end(), buf, buf + n);
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("benchmark child process failed");
  std::vector<ChainRun> runs(bytes.size() / sizeof(ChainRun));
  std::copy_n(bytes.begin(), runs.size() * sizeof(ChainRun), reinterpret_cast<char*>(runs.data()));
  return runs;
}

// Medians over the repetitions, per op, on one of the two clocks.
struct PerOp {
  double forward = 0, backward = 0, free = 0;
  double total() const { return forward + backward + free; }
};

inline PerOp per_op_medians(const std::vector<ChainRun>& runs, std::size_t n_ops, double Duration::*clock) {
  std::vector<double> f, b, r;
  for (const auto& run : runs) {
    f.push_back(run.forward.*clock);
    b.push_back(run.backward.*clock);
    r.push_back(run.free.*clock);
  }
  const double n = static_cast<double>(n_ops);
  return {median(f) / n, median(b) / n, median(r) / n};
}

inline void print_header() {
  fmt::print("{:<10} {:>10} {:>10} {:>10} {:>10}\n", "", "forward", "backward", "free", "total");
}
inline void print_row(const std::string& name, const PerOp& p) {
  fmt::print("{:<10} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f}\n", name, p.forward, p.backward, p.free, p.total());
}
inline void print_ratio(const std::string& name, const PerOp& a, const PerOp& b) {
  auto r = [](double x, double y) { return y > 0 ? x / y : 0.0; };
  fmt::print("{:<10} {:>10.3f} {:>10.3f} {:>10} {:>10.3f}\n", name, r(a.forward, b.forward), r(a.backward, b.backward),
             "", r(a.total(), b.total()));
}

}  // namespace bench
