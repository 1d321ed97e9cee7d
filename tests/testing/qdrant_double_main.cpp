// bookmcp_qdrant_double: the Qdrant test double (tests/testing/qdrant_double.hpp) as a program,
// for the official-client cross-check (tests/testing/qdrant_crosscheck), the benchmarks and for
// trying a client by hand. It serves Qdrant 1.19's REST API on 127.0.0.1 from memory (a double,
// not Qdrant), prints "listening on http://127.0.0.1:<port>" once it accepts connections, and
// runs until SIGINT, SIGTERM or the end of its standard input (so a parent that dies takes it
// along). On exit it prints the requests that broke the published API ("violation: ...") and
// the answers that broke it ("response violation: ...") to standard error, and exits 3 when
// there were any (with --strict).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <string_view>

#include "tests/testing/qdrant_double.hpp"

namespace {

constexpr const char* usage =
    "usage: bookmcp_qdrant_double [--port N] [--api-key K] [--read-only-api-key K]\n"
    "                             [--version V] [--openapi FILE] [--strict] [--ignore-stdin]\n"
    "A test double of a Qdrant 1.19 REST server (in memory, exact search; not Qdrant).\n"
    "Runs until SIGINT, SIGTERM or end of standard input (unless --ignore-stdin).\n"
    "--strict: exit with status 3 when a request or an answer broke the OpenAPI description.\n";

bool parse_port(std::string_view text, std::uint16_t& out) {
  unsigned value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() ||
      value > std::numeric_limits<std::uint16_t>::max())
    return false;
  out = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bookmcp::testing::qdrant_double_options options;
  bool watch_stdin = true;
  bool strict = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (flag == "--ignore-stdin") {
      watch_stdin = false;
      continue;
    }
    if (flag == "--strict") {
      strict = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n%s", argv[i], usage);
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--port") {
      if (!parse_port(value, options.port)) {
        std::fprintf(stderr, "invalid value for --port: %s\n", value.c_str());
        return 2;
      }
    } else if (flag == "--api-key") {
      options.api_key = value;
    } else if (flag == "--read-only-api-key") {
      options.read_only_api_key = value;
    } else if (flag == "--version") {
      options.version = value;
    } else if (flag == "--openapi") {
      options.openapi_file = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n%s", argv[i - 1], usage);
      return 2;
    }
  }

  // Blocked before the double starts its threads, so that the signals reach the signalfd only.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return 1;
  const int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("signalfd");
    return 1;
  }

  std::size_t problems = 0;
  try {
    bookmcp::testing::qdrant_double server(std::move(options));
    std::printf("listening on %s\n", server.url().c_str());
    std::fflush(stdout);

    pollfd watched[2] = {{signal_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    const nfds_t count = watch_stdin ? 2 : 1;
    for (;;) {
      if (poll(watched, count, -1) < 0) {
        if (errno == EINTR) continue;
        std::perror("poll");
        break;
      }
      if (watched[0].revents != 0) break;  // SIGINT or SIGTERM
      if (count == 2 && watched[1].revents != 0) {
        char scratch[4096];
        const ssize_t got = read(STDIN_FILENO, scratch, sizeof scratch);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) break;  // end of input
      }
    }
    for (const auto& violation : server.violations())
      std::fprintf(stderr, "violation: %s\n", violation.c_str());
    for (const auto& violation : server.response_violations())
      std::fprintf(stderr, "response violation: %s\n", violation.c_str());
    problems = server.violations().size() + server.response_violations().size();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bookmcp_qdrant_double: %s\n", error.what());
    return 1;
  }
  return strict && problems > 0 ? 3 : 0;
}
