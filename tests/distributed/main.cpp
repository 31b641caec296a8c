// The MPI test program: doctest under `mpirun -np 2` (every rank runs every test case, and the cases
// call the same collectives in the same order), or alone as a world of one.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <xgrad/distributed/distributed.hpp>

int main(int argc, char** argv) {
  xgrad::dist::init(argc, argv);
  doctest::Context context(argc, argv);
  return context.run();
}
