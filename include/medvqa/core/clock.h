// The one clock medvqa times things with (monotonic), and seconds since a point of it.
#pragma once

#include <chrono>

namespace medvqa {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace medvqa
