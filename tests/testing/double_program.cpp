// The test doubles' programs' shared part. See the header for the contract.
#include "tests/testing/double_program.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <system_error>

namespace bookmcp::testing {

std::optional<int> read_program_arguments(
    int argc, char** argv, std::string_view usage, bool& watch_stdin,
    const std::function<bool(std::string_view flag)>& take_switch,
    const std::function<program_option(std::string_view flag, const std::string& value)>&
        take_option) {
  const std::string usage_text(usage);
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage_text.c_str(), stdout);
      return 0;
    }
    if (flag == "--ignore-stdin") {
      watch_stdin = false;
      continue;
    }
    if (take_switch(flag)) continue;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n%s", argv[i], usage_text.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    switch (take_option(flag, value)) {
      case program_option::taken:
        break;
      case program_option::unknown:
        std::fprintf(stderr, "unknown option %s\n%s", argv[i - 1], usage_text.c_str());
        return 2;
      case program_option::invalid:
        std::fprintf(stderr, "invalid value for %s: %s\n", argv[i - 1], value.c_str());
        return 2;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> parse_whole_number(std::string_view text, std::size_t max) {
  std::size_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() || value > max)
    return std::nullopt;
  return value;
}

stop_signals::stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (const int error = pthread_sigmask(SIG_BLOCK, &signals, nullptr); error != 0)
    throw std::system_error(error, std::generic_category(), "pthread_sigmask");
  signal_fd_ = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd_ < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
}

stop_signals::~stop_signals() {
  ::close(signal_fd_);
}

void stop_signals::announce_and_wait(const std::string& url, bool watch_stdin) const {
  std::printf("listening on %s\n", url.c_str());
  std::fflush(stdout);

  pollfd watched[2] = {{signal_fd_, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  const nfds_t count = watch_stdin ? 2 : 1;
  for (;;) {
    if (poll(watched, count, -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("poll");
      return;
    }
    if (watched[0].revents != 0) return;  // SIGINT or SIGTERM
    if (count == 2 && watched[1].revents != 0) {
      char scratch[4096];
      const ssize_t got = read(STDIN_FILENO, scratch, sizeof scratch);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) return;  // end of input
    }
  }
}

}  // namespace bookmcp::testing
