// bookmcp_embeddings_double: the embeddings test double (tests/testing/embeddings_double.hpp) as
// a program, for the benchmarks and for trying a client by hand. It serves an OpenAI-compatible
// POST /v1/embeddings on 127.0.0.1 with computed vectors (a double, not a model), prints
// "listening on http://127.0.0.1:<port>/v1" once it accepts connections, and runs until SIGINT,
// SIGTERM or the end of its standard input (so a parent that dies takes it along).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "tests/testing/embeddings_double.hpp"

namespace {

constexpr const char* usage =
    "usage: bookmcp_embeddings_double [--port N] [--dimensions D] [--api-key K] [--model M]\n"
    "                                 [--max-inputs N] [--max-input-chars N]\n"
    "                                 [--tls-cert PEM_FILE --tls-key PEM_FILE] [--ignore-stdin]\n"
    "A test double of an OpenAI-compatible embeddings endpoint (computed vectors, not a model).\n"
    "Runs until SIGINT, SIGTERM or end of standard input (unless --ignore-stdin).\n";

bool parse_number(std::string_view text, std::size_t max, std::size_t& out) {
  std::size_t value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() || value > max)
    return false;
  out = value;
  return true;
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::ostringstream text;
  text << file.rdbuf();
  out = text.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bookmcp::testing::embeddings_double_options options;
  bool watch_stdin = true;
  std::string certificate_file;
  std::string key_file;
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
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n%s", argv[i], usage);
      return 2;
    }
    const std::string value = argv[++i];
    std::size_t number = 0;
    bool ok = true;
    if (flag == "--port") {
      ok = parse_number(value, std::numeric_limits<std::uint16_t>::max(), number);
      options.port = static_cast<std::uint16_t>(number);
    } else if (flag == "--dimensions") {
      ok = parse_number(value, 4096, number) && number > 0;
      options.dimensions = number;
    } else if (flag == "--max-inputs") {
      ok = parse_number(value, std::numeric_limits<std::size_t>::max(), number) && number > 0;
      options.max_inputs = number;
    } else if (flag == "--max-input-chars") {
      ok = parse_number(value, std::numeric_limits<std::size_t>::max(), number);
      options.max_input_chars = number;
    } else if (flag == "--api-key") {
      options.api_key = value;
    } else if (flag == "--model") {
      options.model = value;
    } else if (flag == "--tls-cert") {
      certificate_file = value;
    } else if (flag == "--tls-key") {
      key_file = value;
    } else {
      std::fprintf(stderr, "unknown option %s\n%s", argv[i - 1], usage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "invalid value for %s: %s\n", argv[i - 1], value.c_str());
      return 2;
    }
  }
  if (certificate_file.empty() != key_file.empty()) {
    std::fprintf(stderr, "--tls-cert and --tls-key go together\n");
    return 2;
  }
  if (!certificate_file.empty() && (!read_file(certificate_file, options.tls_certificate_pem) ||
                                    !read_file(key_file, options.tls_private_key_pem))) {
    std::fprintf(stderr, "cannot read %s or %s\n", certificate_file.c_str(), key_file.c_str());
    return 2;
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

  try {
    bookmcp::testing::embeddings_double server(std::move(options));
    std::printf("listening on %s\n", server.base_url().c_str());
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
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bookmcp_embeddings_double: %s\n", error.what());
    return 1;
  }
  return 0;
}
