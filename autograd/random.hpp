#pragma once
// One seeded generator for all of xgrad's randomness (randn, rand, dropout masks, init, shuffling).
#include <cstdint>
#include <random>

namespace xgrad {

void manual_seed(std::uint64_t seed);
std::mt19937_64& generator();

}  // namespace xgrad
