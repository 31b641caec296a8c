// The suite's main. XGRAD_TEST_THREADS=N runs every test with set_num_threads(N) (tests that set their
// own count still do): the ThreadSanitizer job uses 8, more threads than this machine has cores, so
// the pool's workers interleave as they would on a bigger machine.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include <xgrad/autograd/threads.hpp>

int main(int argc, char** argv) {
  if (const char* threads = std::getenv("XGRAD_TEST_THREADS")) xgrad::set_num_threads(std::atoi(threads));
  doctest::Context context(argc, argv);
  return context.run();
}
