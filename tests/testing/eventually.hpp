#pragma once

// Waiting for an event in a test without betting on how fast the machine is.
//
// `eventually(condition)` polls `condition()` until it holds, and gives up only after
// `hang_guard`: a bound against a hang, set far beyond any correct run, never a measure of
// speed. Tests that check that something happens "at once" rather than after a long timeout set
// that timeout well past the guard instead of timing the event.

#include <chrono>
#include <thread>

namespace bookmcp::testing {

inline constexpr std::chrono::seconds hang_guard{30};

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds guard = hang_guard) {
  const auto until = std::chrono::steady_clock::now() + guard;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace bookmcp::testing
