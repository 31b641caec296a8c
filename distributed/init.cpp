// MPI start-up, the world's size and rank, and ending every rank on an error.
#include "init.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>

#include "mpi_call.hpp"

namespace xgrad::dist {

namespace {
bool mpi_active() {
  int started = 0, finished = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&finished);
  return started && !finished;
}

void finalize_at_exit() {
  if (mpi_active()) MPI_Finalize();
}

// An exception nobody caught, on one rank: say which rank and what, then end every rank. Without
// this, std::terminate would end this rank alone and the others would wait in their next collective.
[[noreturn]] void terminate_handler() {
  std::string message = "terminate called without an active exception";
  if (const std::exception_ptr e = std::current_exception()) try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      message = error.what();
    } catch (...) {
      message = "an exception that is not a std::exception";
    }
  abort(message);
}
}  // namespace

void init(int& argc, char**& argv) {
  if (!mpi_active()) {
    int provided = 0;
    XG_MPI("xg::dist::init", MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided));
    if (provided < MPI_THREAD_SERIALIZED) {
      MPI_Finalize();
      throw Error("xg::dist::init: MPI provides thread level {}, xgrad needs MPI_THREAD_SERIALIZED ({})", provided,
                  int(MPI_THREAD_SERIALIZED));
    }
    std::atexit(finalize_at_exit);
  }
  std::set_terminate(terminate_handler);
}

void init() {
  int argc = 0;
  char** argv = nullptr;
  init(argc, argv);
}

bool initialized() { return mpi_active(); }

std::size_t rank() {
  if (!mpi_active()) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return static_cast<std::size_t>(r);
}

std::size_t world_size() {
  if (!mpi_active()) return 1;
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return static_cast<std::size_t>(n);
}

bool is_main_process() { return rank() == 0; }

void abort(std::string_view message, int code) {
  std::fflush(stdout);  // what this rank printed so far comes before the message
  fmt::print(stderr, "xg::dist: rank {} of {}: {}\n", rank(), world_size(), message);
  std::fflush(stderr);
  if (mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void barrier() {
  if (mpi_active()) XG_MPI("xg::dist::barrier", MPI_Barrier(MPI_COMM_WORLD));
}

}  // namespace xgrad::dist
