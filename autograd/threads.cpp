// A fixed pool of workers for detail::parallel_for. Between jobs a worker spins for 100 us, then
// sleeps on a condition variable: long enough to catch the next GEMM of a training step, short
// enough not to hold a core that OpenBLAS or another process needs for long.
#include "threads.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <cblas.h>

#include "error.hpp"

namespace xgrad {

int num_threads() { return openblas_get_num_threads(); }

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: {} threads requested; at least 1 is needed", n);
  openblas_set_num_threads(n);
}

namespace detail {
namespace {

thread_local bool inside_part = false;

using Job = std::function<void(std::size_t, std::size_t, std::size_t)>;

// Spin for about this long before sleeping: an MLP step runs its GEMMs a few microseconds apart, and
// waking a sleeping thread takes 10-50 us in a VM, as long as the GEMM half it would do.
constexpr auto kSpin = std::chrono::microseconds(100);

template <class Ready>
bool spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= until) return ready();
  }
}

class Pool {
 public:
  // Runs parts 1..parts-1 of job on the workers and part 0 here.
  void run(std::size_t parts, std::size_t n, const Job& job) {
    Ticket ticket;
    {
      std::lock_guard lock(mutex_);
      while (workers_.size() + 1 < parts) {
        const std::size_t id = workers_.size() + 1;
        workers_.emplace_back([this, id] { work(id); });
      }
      current_ = {&job, n, parts, current_.generation + 1};
      ticket = current_;
      error_ = nullptr;
      pending_.store(parts - 1);
      generation_.store(current_.generation);  // lets spinning workers know without taking the lock
    }
    wake_.notify_all();

    std::exception_ptr mine;  // part 0's error
    try {
      run_part(ticket, 0);
    } catch (...) {
      mine = std::current_exception();
    }
    if (!spin_until([&] { return pending_.load() == 0; })) {
      std::unique_lock lock(mutex_);
      done_.wait(lock, [&] { return pending_.load() == 0; });
    }
    std::lock_guard lock(mutex_);
    current_.job = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // One job as a worker sees it. Each worker copies it under the lock: a worker that is not needed
  // for a job may look at it late, while `run` is already writing the next one, and a copy made
  // piecemeal could mix two jobs (a part run twice, another never, and a caller that waits forever).
  struct Ticket {
    const Job* job = nullptr;
    std::size_t n = 0, parts = 1;
    std::uint64_t generation = 0;
  };

  static void run_part(const Ticket& t, std::size_t part) {
    const std::size_t begin = t.n * part / t.parts, end = t.n * (part + 1) / t.parts;
    inside_part = true;
    struct Reset {
      ~Reset() { inside_part = false; }
    } reset;
    (*t.job)(part, begin, end);
  }

  void work(std::size_t id) {
    std::uint64_t seen = 0;
    for (;;) {
      Ticket t;
      spin_until([&] { return generation_.load() != seen; });
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return current_.generation != seen; });
        t = current_;
      }
      seen = t.generation;
      // Not needed for this job: the caller does not wait for this worker, so it must not touch
      // the job, which may already be finished.
      if (id >= t.parts || !t.job) continue;
      std::exception_ptr err;
      try {
        run_part(t, id);
      } catch (...) {
        err = std::current_exception();
      }
      if (err) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = err;
      }
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard lock(mutex_);  // the caller may be between its check and its wait
        done_.notify_one();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  Ticket current_;  // written by `run` under mutex_; read by workers under mutex_
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::uint64_t> generation_{0};  // current_.generation, for spinning without the lock
  std::exception_ptr error_;
};

// The workers of a forked child do not exist (fork copies only the calling thread): from then on
// that process runs every region serially.
std::atomic<bool> forked_child{false};

// Never destroyed: the workers sleep until the process ends, and no static destructor (of this or
// of a user's object that still runs ops) can find the pool gone.
Pool& pool() {
  static Pool* p = [] {
    pthread_atfork(nullptr, nullptr, [] { forked_child.store(true); });
    return new Pool;
  }();
  return *p;
}
std::mutex& region() {  // one parallel region at a time; a second caller runs serially
  static std::mutex m;
  return m;
}

}  // namespace

std::size_t parallel_parts(std::size_t n) {
  if (inside_part || forked_child.load(std::memory_order_relaxed)) return 1;
  return std::max<std::size_t>(1, std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, num_threads()))));
}

void parallel_for(std::size_t n, std::size_t parts, const Job& fn) {
  if (n == 0) return;
  parts = std::min(parts, n);
  std::unique_lock busy(region(), std::try_to_lock);
  if (parts <= 1 || inside_part || forked_child.load() || !busy.owns_lock()) {
    fn(0, 0, n);
    return;
  }
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  struct Restore {
    int n;
    ~Restore() { openblas_set_num_threads(n); }
  } restore{blas_threads};
  pool().run(parts, n, fn);
}

}  // namespace detail
}  // namespace xgrad
