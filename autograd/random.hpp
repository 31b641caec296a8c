#pragma once
// One seeded generator for all of xgrad's randomness (randn, rand, dropout masks, init, shuffling).
//
// What one seed reproduces: the generator (mt19937_64) is the same everywhere, and so are dropout
// masks and data permutations, which xgrad draws with its own code. randn, rand and nn/init draw
// through std::normal_distribution and std::uniform_real_distribution, whose algorithms the C++
// standard leaves to each standard library: with libstdc++ (GCC, Debian) a seed always gives the same
// numbers, but libc++ or MSVC give other numbers for the same seed.
#include <cstdint>
#include <random>

namespace xgrad {

// Each thread has its own generator, starting from the same default seed (5489): threads never share
// draws, so two threads training their own models are as reproducible as one. manual_seed seeds the
// calling thread's generator.
void manual_seed(std::uint64_t seed);
std::mt19937_64& generator();

// Uniform on [0, 1) from the top 53 bits of one draw: the same number with every standard library
// (dropout masks, random augmentation).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace xgrad
