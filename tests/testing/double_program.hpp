// What the test doubles' programs (bookmcp_embeddings_double, bookmcp_qdrant_double) share: the
// common part of their command lines, and how they tell their parent where they listen and wait
// to be stopped.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bookmcp::testing {

// What a program made of one of its own options (`read_program_arguments`).
enum class program_option { taken, unknown, invalid };

// Reads a double's command line. `--help` and `-h` print `usage` on standard output;
// `--ignore-stdin` clears `watch_stdin`; a flag for which `take_switch` returns true takes no
// value; every other flag takes the next argument as its value and goes to `take_option`.
// Returns the status to exit with at once (0 after --help; 2, after a message on standard error,
// for a flag without its value, an unknown flag or an invalid value), or nothing to go on.
std::optional<int> read_program_arguments(
    int argc, char** argv, std::string_view usage, bool& watch_stdin,
    const std::function<bool(std::string_view flag)>& take_switch,
    const std::function<program_option(std::string_view flag, const std::string& value)>&
        take_option);

// `text` as a whole decimal number no greater than `max`; nothing when it is not one.
std::optional<std::size_t> parse_whole_number(std::string_view text, std::size_t max);

// For `take_option`: stores `value` in `target` when it is a whole decimal number from `low` to
// `high` (`high` no more than `Number` holds); `invalid`, with `target` untouched, when not.
template <class Number>
program_option take_number(std::string_view value, std::size_t low, std::size_t high,
                           Number& target) {
  const auto number = parse_whole_number(value, high);
  if (!number || *number < low) return program_option::invalid;
  target = static_cast<Number>(*number);
  return program_option::taken;
}

// SIGINT and SIGTERM, taken out of their usual delivery and read from a signalfd, so that a
// program can wait for them and for the end of its standard input at once.
class stop_signals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts afterwards:
  // construct it before the double, whose threads must not take the signals. Throws
  // std::system_error when it cannot.
  stop_signals();
  // Closes the signalfd; the signals stay blocked.
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  // Prints "listening on <url>" and a newline on standard output, flushed (the parent reads it to
  // learn the port), then returns on SIGINT or SIGTERM or, when `watch_stdin`, at the end of
  // standard input (so a parent that dies takes the program along). A poll error is reported on
  // standard error and ends the wait too.
  void announce_and_wait(const std::string& url, bool watch_stdin) const;

 private:
  int signal_fd_ = -1;
};

}  // namespace bookmcp::testing
