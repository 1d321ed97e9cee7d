// bookmcp_llm_double: the LLM test double (tests/testing/llm_double.hpp) as a program, for the
// chat backend's end-to-end tests, the benchmarks and trying a client by hand. It serves an
// OpenAI-compatible POST /v1/chat/completions on 127.0.0.1 with computed answers (a double, not a
// model), prints "listening on http://127.0.0.1:<port>/v1" once it accepts connections, and runs
// until SIGINT, SIGTERM or the end of its standard input (so a parent that dies takes it along).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <string_view>

#include "tests/testing/double_program.hpp"
#include "tests/testing/llm_double.hpp"

namespace {

using bookmcp::testing::program_option;
using bookmcp::testing::take_number;

constexpr const char* usage =
    "usage: bookmcp_llm_double [--port N] [--style openai|gemini|ollama|vllm]\n"
    "                          [--policy assistant|echo] [--token-delay-ms MS]\n"
    "                          [--piece-chars N] [--fail-every N] [--api-key K] [--model M]\n"
    "                          [--ignore-stdin]\n"
    "A test double of an OpenAI-compatible Chat Completions endpoint (computed answers, not a\n"
    "model): POST /v1/chat/completions, GET /v1/models.\n"
    "  --style         how tool calls and usage are streamed (default openai)\n"
    "  --policy        assistant: search_book/todo_add calls and answers from their results;\n"
    "                  echo: \"You said: ...\" (default assistant)\n"
    "  --token-delay-ms  delay between streamed events (default 0)\n"
    "  --piece-chars   characters per streamed piece (default 4)\n"
    "  --fail-every    every Nth request gets 429 with Retry-After: 1 (default 0: never)\n"
    "  --api-key       require Authorization: Bearer K (default: none)\n"
    "  --model         the model served (default bookmcp-llm-double)\n"
    "Runs until SIGINT, SIGTERM or end of standard input (unless --ignore-stdin).\n";

}  // namespace

int main(int argc, char** argv) {
  bookmcp::testing::llm_double_options options;
  bool watch_stdin = true;
  const auto exit_status = bookmcp::testing::read_program_arguments(
      argc, argv, usage, watch_stdin, [](std::string_view) { return false; },
      [&](std::string_view flag, const std::string& value) {
        constexpr std::size_t any = std::numeric_limits<std::size_t>::max();
        if (flag == "--port")
          return take_number(value, 0, std::numeric_limits<std::uint16_t>::max(), options.port);
        if (flag == "--piece-chars") return take_number(value, 1, 1 << 20, options.piece_chars);
        if (flag == "--fail-every") return take_number(value, 0, any, options.fail_every);
        if (flag == "--token-delay-ms") {
          std::size_t milliseconds = 0;
          const auto taken = take_number(value, 0, 3'600'000, milliseconds);
          if (taken == program_option::taken)
            options.token_delay = std::chrono::milliseconds(milliseconds);
          return taken;
        }
        if (flag == "--style") {
          const auto style = bookmcp::testing::parse_llm_style(value);
          if (!style) return program_option::invalid;
          options.style = *style;
        } else if (flag == "--policy") {
          if (value == "assistant") {
            options.policy = bookmcp::testing::llm_policy::assistant;
          } else if (value == "echo") {
            options.policy = bookmcp::testing::llm_policy::echo;
          } else {
            return program_option::invalid;
          }
        } else if (flag == "--api-key") {
          options.api_key = value;
        } else if (flag == "--model") {
          if (value.empty()) return program_option::invalid;
          options.model = value;
        } else {
          return program_option::unknown;
        }
        return program_option::taken;
      });
  if (exit_status) return *exit_status;

  try {
    const bookmcp::testing::stop_signals stop;  // before the double starts its threads
    bookmcp::testing::llm_double server(std::move(options));
    stop.announce_and_wait(server.base_url(), watch_stdin);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bookmcp_llm_double: %s\n", error.what());
    return 1;
  }
  return 0;
}
