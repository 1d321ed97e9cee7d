// A reader's message through the chat backend's mode without an LLM: the todo grammar and the
// extractive answer, with any bytes as the message, the time zone and the sections' Markdown.
//
// Input: fields separated by NUL bytes: the message, the time zone, then up to 5 sections' text
// (made valid UTF-8 for the extractive answer, as they arrive in JSON; the grammar takes them raw).
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - understand_todo never throws; a todo's title is valid UTF-8 of at most 500 bytes, its due
//     is "YYYY-MM-DD" or an RFC 3339 date-time with an offset, and its tool arguments serialise;
//   - extractive_answer's Markdown is valid UTF-8 within its budget, and it cites only the
//     sections it was given, each once, in order of first use.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "examples/chat/extractive_answer.hpp"
#include "examples/chat/todo_intent.hpp"

namespace {

using namespace bookmcp::chat;

[[noreturn]] void broken(const char* what, const std::string& input) {
  std::fprintf(stderr, "invariant broken: %s\ninput: %.2000s\n", what, input.c_str());
  std::abort();
}

// Sections reach the answer as JSON strings (bookmcp's resources/read), so as valid UTF-8.
std::string as_json_string(const std::string& text) {
  return nlohmann::json::parse(nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

bool valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> fields;
  std::size_t from = 0;
  for (;;) {
    const auto nul = input.find('\0', from);
    fields.push_back(input.substr(from, nul == std::string::npos ? std::string::npos : nul - from));
    if (nul == std::string::npos) break;
    from = nul + 1;
  }
  const std::string& message = fields[0];
  const std::string zone = fields.size() > 1 ? fields[1] : "Europe/Berlin";

  // 2026-03-29 00:30 UTC: the night Berlin's clocks go forward.
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1774744200));
  const auto intent = understand_todo(message, now, zone);
  if (intent) {
    if (intent->title.size() > 500 || !valid_utf8(intent->title)) broken("title not UTF-8 within 500 bytes", input);
    static const std::regex due_form(
        R"(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z))?)");
    if (intent->due && !std::regex_match(*intent->due, due_form)) broken("due in no known form", input);
    try {
      (void)intent->tool_arguments().dump();
    } catch (const std::exception&) {
      broken("tool arguments do not serialise", input);
    }
  }
  (void)understand_confirmation(message);

  std::vector<source_section> sections;
  for (std::size_t i = 2; i < fields.size() && sections.size() < 5; ++i) {
    sections.push_back({static_cast<int>(sections.size() + 1), "Title", {"Chapter", "Section"}, "/docs/x#y",
                        as_json_string(fields[i])});
  }
  const std::size_t budget = 60 + (size % 900);
  const extractive_result answer = extractive_answer(as_json_string(message), sections, budget);
  if (!valid_utf8(answer.markdown)) broken("answer not UTF-8", input);
  if (answer.markdown.size() > std::max<std::size_t>(budget, 40)) broken("answer over its budget", input);
  std::set<int> seen;
  for (const int n : answer.cited) {
    if (n < 1 || n > static_cast<int>(sections.size())) broken("cites a section it was not given", input);
    if (!seen.insert(n).second) broken("cites a section twice in `cited`", input);
  }
  return 0;
}
