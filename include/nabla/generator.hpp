// nabla/generator.hpp — explicit, seeded random numbers.
//
// A Generator is a counter-free xoshiro256** stream seeded through splitmix64;
// uniform and normal draws are computed here (not by <random>'s
// distributions, whose algorithms differ between standard libraries), so a
// seed gives the same numbers everywhere.
#pragma once

#include <cstdint>

namespace nabla {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t next_u64();
  double uniform01();           // [0, 1), 53 random bits
  double normal();              // N(0, 1), Box–Muller with a cached second draw
  uint64_t below(uint64_t n);   // uniform integer in [0, n), unbiased

  struct State {
    uint64_t s[4];
    bool has_spare;
    double spare;
  };
  State state() const { return {{s_[0], s_[1], s_[2], s_[3]}, has_spare_, spare_}; }
  void set_state(const State& st);

 private:
  uint64_t s_[4] = {};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace nabla
