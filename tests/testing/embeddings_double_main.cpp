// bookmcp_embeddings_double: the embeddings test double (tests/testing/embeddings_double.hpp) as
// a program, for the benchmarks and for trying a client by hand. It serves an OpenAI-compatible
// POST /v1/embeddings on 127.0.0.1 with computed vectors (a double, not a model), prints
// "listening on http://127.0.0.1:<port>/v1" once it accepts connections, and runs until SIGINT,
// SIGTERM or the end of its standard input (so a parent that dies takes it along).
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include "tests/testing/double_program.hpp"
#include "tests/testing/embeddings_double.hpp"

namespace {

using bookmcp::testing::program_option;
using bookmcp::testing::take_number;

constexpr const char* usage =
    "usage: bookmcp_embeddings_double [--port N] [--dimensions D] [--api-key K] [--model M]\n"
    "                                 [--max-inputs N] [--max-input-chars N]\n"
    "                                 [--tls-cert PEM_FILE --tls-key PEM_FILE] [--ignore-stdin]\n"
    "A test double of an OpenAI-compatible embeddings endpoint (computed vectors, not a model).\n"
    "Runs until SIGINT, SIGTERM or end of standard input (unless --ignore-stdin).\n";

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
  const auto exit_status = bookmcp::testing::read_program_arguments(
      argc, argv, usage, watch_stdin, [](std::string_view) { return false; },
      [&](std::string_view flag, const std::string& value) {
        constexpr std::size_t any = std::numeric_limits<std::size_t>::max();
        if (flag == "--port")
          return take_number(value, 0, std::numeric_limits<std::uint16_t>::max(), options.port);
        if (flag == "--dimensions") return take_number(value, 1, 4096, options.dimensions);
        if (flag == "--max-inputs") return take_number(value, 1, any, options.max_inputs);
        if (flag == "--max-input-chars") return take_number(value, 0, any, options.max_input_chars);
        if (flag == "--api-key") {
          options.api_key = value;
        } else if (flag == "--model") {
          options.model = value;
        } else if (flag == "--tls-cert") {
          certificate_file = value;
        } else if (flag == "--tls-key") {
          key_file = value;
        } else {
          return program_option::unknown;
        }
        return program_option::taken;
      });
  if (exit_status) return *exit_status;
  if (certificate_file.empty() != key_file.empty()) {
    std::fprintf(stderr, "--tls-cert and --tls-key go together\n");
    return 2;
  }
  if (!certificate_file.empty() && (!read_file(certificate_file, options.tls_certificate_pem) ||
                                    !read_file(key_file, options.tls_private_key_pem))) {
    std::fprintf(stderr, "cannot read %s or %s\n", certificate_file.c_str(), key_file.c_str());
    return 2;
  }

  try {
    const bookmcp::testing::stop_signals stop;  // before the double starts its threads
    bookmcp::testing::embeddings_double server(std::move(options));
    stop.announce_and_wait(server.base_url(), watch_stdin);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bookmcp_embeddings_double: %s\n", error.what());
    return 1;
  }
  return 0;
}
