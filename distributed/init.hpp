#pragma once
// The MPI process group xgrad trains on: every process runs the same program, `rank()` of
// `world_size()`, launched by `mpirun -np N ./program` (or run alone: a world of one).
//
//   int main(int argc, char** argv) {
//     xg::dist::init(argc, argv);   // MPI_Init_thread; finalized at exit
//     ...
//   }
//
// Errors. A collective (a broadcast, a gradient all-reduce) waits for every rank, so a rank that dies
// alone would leave the others waiting forever. init() therefore installs a std::terminate handler:
// an exception nobody catches prints "xg::dist: rank R of N: <message>" and calls MPI_Abort, which
// makes mpirun end every rank. A program that catches exceptions itself (to print them and return 1)
// must end with xg::dist::abort(message) instead of returning while other ranks may still wait.
#include <cstddef>
#include <string_view>

namespace xgrad::dist {

// Initializes MPI (MPI_THREAD_SERIALIZED: any one thread at a time may call MPI; xgrad calls it from
// the thread that runs backward) unless something else did, and registers MPI_Finalize at exit.
// Without mpirun the program is a world of one and everything below still works. Calling it again
// is harmless.
void init(int& argc, char**& argv);
void init();  // the same without the command line (MPI allows null arguments)

bool initialized();        // init() has run (and MPI is not finalized)
std::size_t rank();        // 0 .. world_size() - 1; 0 before init()
std::size_t world_size();  // 1 before init()
bool is_main_process();    // rank() == 0: the one that prints progress and writes files

// Prints "xg::dist: rank R of N: <message>" to stderr and ends every rank (MPI_Abort with exit code
// `code`). For errors caught by the program; uncaught exceptions get here by themselves.
[[noreturn]] void abort(std::string_view message, int code = 1);

// Every rank waits here until all arrived (MPI_Barrier); for tests and benchmarks.
void barrier();

}  // namespace xgrad::dist
