// Data-parallel benchmarks (bench/README.md, "Data-parallel training on MPI"). Run under mpirun:
//
//   dist_bench overlap  [--model convnet|wide] [--steps N]   backward + synchronize, four ways
//   dist_bench scaling  [--threads T] [--steps N]            ConvNet training steps, samples/s
//   dist_bench allreduce                                      osu-style MPI_Allreduce latency and bandwidth
//
// overlap times the part of a step that differs, backward plus the gradient average, as:
//   hooks      DataParallel: buckets launched from the gradient hooks, MPI_Test from the hooks
//   no-test    DataParallel launching from the hooks but never testing: progress only in synchronize()
//   thread     no-test plus a communication thread calling MPI (MPI_THREAD_MULTIPLE) while backward runs
//   blocking   plain backward, then one blocking MPI_Allreduce per gradient (libtorch's C++ example)
//   flat       plain backward, then one blocking MPI_Allreduce of all gradients copied into one buffer
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>
#include <xgrad/distributed/distributed.hpp>
#include <xgrad/xgrad.hpp>
#include <xgrad/xtensor.hpp>

#include "models.hpp"

namespace xg = xgrad;
namespace nn = xgrad::nn;

namespace {

std::shared_ptr<nn::Sequential> make_model(const std::string& name) {
  xg::manual_seed(1);
  auto net = std::make_shared<nn::Sequential>();
  if (name == "wide")  // 8.4M parameters, 34 MB of gradients: communication-heavy
    *net = nn::Sequential{nn::Flatten(), nn::Linear(784, 2048),  nn::ReLU(), nn::Linear(2048, 2048),
                          nn::ReLU(),    nn::Linear(2048, 2048), nn::ReLU(), nn::Linear(2048, 10)};
  else  // the main job's ConvNet (examples/train/models.cpp), 207k parameters, 0.8 MB of gradients
    *net = bench::model("convnet");
  return net;
}

double now() { return MPI_Wtime(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The slowest rank's value (a step is as slow as its slowest rank).
double max_over_ranks(double x) {
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return x;
}

void overlap(const std::string& model_name, int steps) {
  const std::size_t batch = 32;
  const std::vector<std::string> modes{"hooks", "no-test", "thread", "blocking", "flat"};
  xg::manual_seed(7 + xg::dist::rank());
  const xg::Tensor x = xg::randn({batch, 1, 28, 28});
  const std::vector<std::int64_t> labels(batch, 3);
  if (xg::dist::is_main_process())
    fmt::print("overlap, model {}, batch {} per rank, {} ranks, {} steps per mode (median ms of backward + gradient "
               "average, slowest rank)\n",
               model_name, batch, xg::dist::world_size(), steps);
  for (int round = 0; round < 2; ++round)  // the first round warms up; the second is reported
    for (const auto& mode : modes) {
      auto net = make_model(model_name);
      const bool ddp_mode = mode == "hooks" || mode == "no-test" || mode == "thread";
      std::unique_ptr<xg::dist::DataParallel> ddp;
      if (ddp_mode)
        ddp = std::make_unique<xg::dist::DataParallel>(*net, xg::dist::DataParallelOptions{.progress_in_hooks =
                                                                                               mode == "hooks"});
      const auto params = net->parameters();
      std::vector<float> flat;
      std::vector<double> times, backward_only;
      for (int s = 0; s < steps; ++s) {
        net->zero_grad();
        const xg::Tensor loss = xg::cross_entropy((*net)(x), labels);
        xg::dist::barrier();
        std::atomic<bool> running{true};
        std::thread progress;
        if (mode == "thread")
          progress = std::thread([&] {
            int flag = 0;
            while (running.load(std::memory_order_relaxed)) {
              MPI_Iprobe(MPI_ANY_SOURCE, 999, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);  // drives the progress engine
              std::this_thread::yield();
            }
          });
        const double t0 = now();
        loss.backward();
        const double t1 = now();
        if (ddp) {
          ddp->synchronize();
        } else if (mode == "blocking") {
          for (auto& p : params) {
            xg::Tensor g = p.grad();
            auto& v = g.mutable_value<float>();
            MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            v *= 1.0f / float(xg::dist::world_size());
          }
        } else {
          std::size_t n = 0;
          for (auto& p : params) n += p.numel();
          flat.resize(n);
          std::size_t at = 0;
          for (auto& p : params) {
            const auto& v = p.grad().value<float>();
            std::memcpy(flat.data() + at, v.data(), v.size() * sizeof(float));
            at += v.size();
          }
          MPI_Allreduce(MPI_IN_PLACE, flat.data(), int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
          at = 0;
          for (auto& p : params) {
            xg::Tensor g = p.grad();
            auto& v = g.mutable_value<float>();
            for (std::size_t k = 0; k < v.size(); ++k) v.flat(k) = flat[at + k] / float(xg::dist::world_size());
            at += v.size();
          }
        }
        const double t2 = now();
        running = false;
        if (progress.joinable()) progress.join();
        times.push_back(max_over_ranks(t2 - t0) * 1e3);
        backward_only.push_back(max_over_ranks(t1 - t0) * 1e3);
      }
      if (round == 1 && xg::dist::is_main_process())
        fmt::print("  {:9} {:8.2f} ms   (of which in backward() {:6.2f} ms){}\n", mode, median(times),
                   median(backward_only), ddp ? fmt::format(", {} buckets", ddp->bucket_count()) : "");
    }
}

void scaling(int threads, int steps) {
  xg::set_num_threads(threads);
  const std::size_t world = xg::dist::world_size(), global = 64, batch = global / world;
  auto net = make_model("convnet");
  xg::dist::DataParallel ddp(*net);
  xg::optim::Adam opt(net->parameters(), {.lr = 1e-3});
  xg::manual_seed(11 + xg::dist::rank());
  const xg::Tensor x = xg::randn({batch, 1, 28, 28});
  std::vector<std::int64_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = std::int64_t(i % 10);
  auto step = [&] {
    opt.zero_grad();
    xg::cross_entropy((*net)(x), labels).backward();
    ddp.synchronize();
    opt.step();
  };
  for (int s = 0; s < 10; ++s) step();  // warm-up
  xg::dist::barrier();
  const double t0 = now();
  for (int s = 0; s < steps; ++s) step();
  const double seconds = max_over_ranks(now() - t0);
  if (xg::dist::is_main_process())
    fmt::print("scaling: {} rank(s) x {} thread(s), global batch {}: {:.0f} samples/s ({:.2f} ms per step, {} steps)\n",
               world, threads, global, double(steps * global) / seconds, seconds / steps * 1e3, steps);
}

// As osu_allreduce: the average time of MPI_Allreduce (float sum) by message size, and the
// bandwidth an all-reduce achieves, counted as algorithm bandwidth (bytes / time) and as bus
// bandwidth (2 (n - 1) / n bytes / time, what each rank's link carries in a ring).
void allreduce() {
  const double n = double(xg::dist::world_size());
  if (xg::dist::is_main_process())
    fmt::print("MPI_Allreduce (float sum), {} ranks\n{:>10} {:>12} {:>14} {:>14}\n", n, "bytes", "us", "algo GB/s",
               "bus GB/s");
  for (std::size_t bytes = 4; bytes <= (std::size_t(64) << 20); bytes *= 4) {
    std::vector<float> buffer(bytes / sizeof(float), 1.0f);
    const int reps = bytes <= (1 << 16) ? 1000 : bytes <= (4 << 20) ? 100 : 20;
    for (int w = 0; w < 10; ++w)
      MPI_Allreduce(MPI_IN_PLACE, buffer.data(), int(buffer.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    xg::dist::barrier();
    const double t0 = now();
    for (int r = 0; r < reps; ++r)
      MPI_Allreduce(MPI_IN_PLACE, buffer.data(), int(buffer.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double t = max_over_ranks((now() - t0) / reps);
    if (xg::dist::is_main_process())
      fmt::print("{:>10} {:>12.2f} {:>14.3f} {:>14.3f}\n", bytes, t * 1e6, double(bytes) / t / 1e9,
                 2 * (n - 1) / n * double(bytes) / t / 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // MPI_THREAD_MULTIPLE for the overlap bench's communication thread; xg::dist::init then keeps it.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  xg::dist::init(argc, argv);
  const std::string what = argc > 1 ? argv[1] : "overlap";
  std::string model = "convnet";
  int steps = 30, threads = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--model") model = argv[i + 1];
    if (flag == "--steps") steps = std::stoi(argv[i + 1]);
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
  }
  if (what == "overlap") {
    xg::set_num_threads(threads);
    overlap(model, steps);
  } else if (what == "scaling") {
    scaling(threads, steps);
  } else if (what == "allreduce") {
    allreduce();
  } else {
    xg::dist::abort("usage: dist_bench overlap|scaling|allreduce [--model convnet|wide] [--steps N] [--threads T]");
  }
  MPI_Finalize();  // initialized here, so finalized here (xg::dist::init registers it only when it initializes)
  return 0;
}
