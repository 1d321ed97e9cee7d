// The LLM test double: the doubles' HTTP server (double_http_server.hpp) answering OpenAI's Chat
// Completions API from the published reference (https://platform.openai.com/docs/api-reference/
// chat, the chat.completion and chat.completion.chunk objects), with the provider styles of
// ../shared/design/chat.md section 3.2, answers computed by `llm_double::answer_for` and replies
// scripted by the test. See the header for the contract.
#include "tests/testing/llm_double.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/http.hpp>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "tests/testing/double_http_server.hpp"

namespace bookmcp::testing {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::ordered_json;  // keys in the order OpenAI writes them
using namespace std::chrono_literals;

constexpr std::uint64_t max_body_bytes = 8 * 1024 * 1024;
constexpr std::size_t kept_request_bodies = 256;
constexpr std::size_t max_query_chars = 200;
constexpr std::string_view server_name = "bookmcp-llm-double";
// Google's documented stand-in for a signature the client never had; Gemini accepts it.
constexpr std::string_view skip_signature = "skip_thought_signature_validator";

// ---- text -----------------------------------------------------------------------------------

// Text from the client may be invalid UTF-8; nlohmann would throw on it when dumping.
std::string json_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

char fold_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = fold_ascii(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return fold_ascii(x) == fold_ascii(y);
         });
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xc0u) == 0x80u;
}

std::size_t count_code_points(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation_byte(c); }));
}

// The first `count` code points of `text`.
std::string_view first_code_points(std::string_view text, std::size_t count) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_continuation_byte(text[i])) continue;
    if (seen == count) return text.substr(0, i);
    ++seen;
  }
  return text;
}

// `text` in pieces of `size` code points (the last may be shorter); one empty piece for "".
std::vector<std::string> pieces_of(std::string_view text, std::size_t size) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::string_view piece = first_code_points(text, size);
    out.emplace_back(piece);
    text.remove_prefix(piece.size());
  }
  if (out.empty()) out.emplace_back();
  return out;
}

std::string first_line(std::string_view text) {
  text = trim(text);
  return std::string(trim(text.substr(0, text.find('\n'))));
}

// FNV-1a 64 and MurmurHash3's finaliser: ids derived from the request, spread over all bits.
std::uint64_t hash_text(std::string_view text, std::uint64_t salt) {
  std::uint64_t hash = 14695981039346656037ull ^ salt;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return hash;
}

// `length` characters of `alphabet` drawn from hashes of `seed`.
std::string derived_text(std::string_view seed, std::uint64_t salt, std::string_view alphabet,
                         std::size_t length) {
  std::string out;
  std::uint64_t state = hash_text(seed, salt);
  while (out.size() < length) {
    out.push_back(alphabet[state % alphabet.size()]);
    state /= alphabet.size();
    if (state < alphabet.size()) state = hash_text(seed, salt + 0x9e3779b97f4a7c15ull * out.size());
  }
  return out;
}

constexpr std::string_view alphanumerics =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string tool_call_id(llm_style style, std::string_view request_body, std::size_t call) {
  const std::uint64_t salt = 0x51ed270b27f1a3c5ull + call;
  switch (style) {
    case llm_style::openai:
      return "call_" + derived_text(request_body, salt, alphanumerics, 24);
    case llm_style::gemini:
      return "function-call-" + derived_text(request_body, salt, "0123456789", 19);
    case llm_style::ollama:
      return "call_" + derived_text(request_body, salt, "abcdefghijklmnopqrstuvwxyz0123456789", 8);
    case llm_style::vllm:
      return "chatcmpl-tool-" + derived_text(request_body, salt, "0123456789abcdef", 32);
  }
  return {};
}

// ---- the messages -----------------------------------------------------------------------------

// A message's text: its content string, or its text parts joined by "\n".
std::string text_of(const json& message) {
  const auto content = message.find("content");
  if (content == message.end()) return {};
  if (content->is_string()) return content->get<std::string>();
  std::string out;
  if (content->is_array()) {
    for (const auto& part : *content) {
      if (!part.is_object()) continue;
      const auto text = part.find("text");
      if (text == part.end() || !text->is_string()) continue;
      if (!out.empty()) out += '\n';
      out += text->get<std::string>();
    }
  }
  return out;
}

std::string role_of(const json& message) {
  return message.is_object() ? message.value("role", std::string()) : std::string();
}

// The names of the function tools the request offers (none with tool_choice "none").
std::set<std::string> offered_tools(const json& body) {
  std::set<std::string> names;
  if (const auto choice = body.find("tool_choice"); choice != body.end() && *choice == "none")
    return names;
  const auto tools = body.find("tools");
  if (tools == body.end() || !tools->is_array()) return names;
  for (const auto& tool : *tools) {
    if (!tool.is_object()) continue;
    const auto function = tool.find("function");
    if (function == tool.end() || !function->is_object()) continue;
    if (const auto name = function->find("name"); name != function->end() && name->is_string())
      names.insert(name->get<std::string>());
  }
  return names;
}

// ---- the rules ------------------------------------------------------------------------------

bool ends_with_word(std::string_view lower, std::string_view phrase) {
  return lower.size() > phrase.size() && lower.ends_with(phrase);
}

bool is_due_word(std::string_view word) {
  if (!word.empty() && word.front() >= '0' && word.front() <= '9') return true;
  for (std::string_view day : {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                               "sunday", "today", "tonight", "tomorrow"})
    if (word == day) return true;
  return false;
}

// A todo title without its final punctuation and trailing due phrase.
std::string todo_title(std::string_view part) {
  part = trim(part);
  while (!part.empty() && (part.back() == '.' || part.back() == '!' || part.back() == '?'))
    part.remove_suffix(1);
  part = trim(part);
  const std::string lower = lower_ascii(part);
  for (std::string_view phrase : {" today", " tonight", " tomorrow", " next week"}) {
    if (ends_with_word(lower, phrase))
      return std::string(trim(part.substr(0, part.size() - phrase.size())));
  }
  // " by|on|before <a weekday, or a date starting with a digit>"
  if (const auto space = lower.rfind(' '); space != std::string::npos && space > 0 &&
                                           is_due_word(std::string_view(lower).substr(space + 1))) {
    const std::string_view before_word = std::string_view(lower).substr(0, space);
    for (std::string_view preposition : {" by", " on", " before"}) {
      if (ends_with_word(before_word, preposition))
        return std::string(trim(part.substr(0, space - preposition.size())));
    }
  }
  return std::string(part);
}

// The titles of a todo request ("remind me to X", ...), or nothing when `text` is not one.
std::optional<std::vector<std::string>> todo_request(std::string_view text) {
  text = trim(text);
  while (!text.empty() && (text.back() == '.' || text.back() == '!' || text.back() == '?'))
    text.remove_suffix(1);
  const std::string lower = lower_ascii(text);
  std::optional<std::string_view> what;
  for (std::string_view prefix : {"remind me to ", "add a todo:", "add todo:", "todo:"}) {
    if (lower.starts_with(prefix)) {
      what = text.substr(prefix.size());
      break;
    }
  }
  if (!what && lower.starts_with("add ")) {
    for (std::string_view suffix :
         {" to my list", " to my todo list", " to my to-do list", " to my todos"}) {
      if (lower.size() > 4 + suffix.size() && lower.ends_with(suffix)) {
        what = text.substr(4, text.size() - 4 - suffix.size());
        break;
      }
    }
  }
  if (!what) return std::nullopt;
  std::vector<std::string> titles;
  std::string_view rest = *what;
  for (;;) {
    const auto semicolon = rest.find(';');
    if (std::string title = todo_title(rest.substr(0, semicolon)); !title.empty())
      titles.push_back(std::move(title));
    if (semicolon == std::string_view::npos) break;
    rest.remove_prefix(semicolon + 1);
  }
  if (titles.empty()) return std::nullopt;
  return titles;
}

// One hit of the backend's presentation of search_book's results.
struct search_hit {
  std::string number;
  std::string heading;
  std::string snippet;
};

// Lines "[n] Heading › Path (url)", each followed by its snippet (up to a blank line or the next
// hit).
std::vector<search_hit> search_hits(std::string_view text) {
  std::vector<search_hit> hits;
  bool in_snippet = false;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t digits = 0;
    if (line.starts_with('[')) {
      while (1 + digits < line.size() && line[1 + digits] >= '0' && line[1 + digits] <= '9')
        ++digits;
    }
    if (digits > 0 && line.substr(1 + digits).starts_with("] ")) {
      search_hit hit;
      hit.number = std::string(line.substr(1, digits));
      std::string_view heading = trim(line.substr(digits + 3));
      if (heading.ends_with(')')) {
        if (const auto open = heading.rfind(" ("); open != std::string_view::npos)
          heading = trim(heading.substr(0, open));
      }
      hit.heading = std::string(heading);
      hits.push_back(std::move(hit));
      in_snippet = true;
      continue;
    }
    if (trim(line).empty()) {
      in_snippet = false;
      continue;
    }
    if (in_snippet) {
      std::string& snippet = hits.back().snippet;
      if (!snippet.empty()) snippet += ' ';
      snippet += trim(line);
    }
  }
  return hits;
}

// The first sentence of a snippet, bold markers and leading or trailing ellipses removed.
std::string first_sentence(std::string_view snippet) {
  std::string clean;
  for (std::size_t i = 0; i < snippet.size(); ++i) {
    if (snippet.substr(i, 2) == "**") {
      ++i;
      continue;
    }
    clean.push_back(snippet[i]);
  }
  std::string_view text = trim(clean);
  for (std::string_view ellipsis : {"\u2026", "..."}) {
    if (text.starts_with(ellipsis)) text = trim(text.substr(ellipsis.size()));
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == '!' || c == '?') && (i + 1 == text.size() || is_space(text[i + 1])) &&
        !(c == '.' && i > 0 && text[i - 1] == '.'))
      return std::string(text.substr(0, i + 1));
  }
  for (std::string_view ellipsis : {"\u2026", "..."}) {
    if (text.ends_with(ellipsis)) text = trim(text.substr(0, text.size() - ellipsis.size()));
  }
  return std::string(text);
}

// The paragraph answering one tool result.
std::string answer_tool_result(const std::string& name, std::string_view content) {
  const std::string_view trimmed = trim(content);
  if (lower_ascii(trimmed.substr(0, 5)) == "error") {
    const std::string whole_line = first_line(trimmed);
    std::string_view line = whole_line;
    line.remove_prefix(5);
    if (line.starts_with(':')) line.remove_prefix(1);
    const std::string what(trim(line));
    return "The tool " + (name.empty() ? std::string("call") : name) + " failed" +
           (what.empty() ? std::string(".") : ": " + what);
  }
  const auto hits = search_hits(trimmed);
  if (!hits.empty()) {
    const std::string sentence =
        hits[0].snippet.empty() ? hits[0].heading : first_sentence(hits[0].snippet);
    std::string out = "According to the book, \"" + sentence + "\" [" + hits[0].number + "].";
    if (hits.size() > 1) out += " See also " + hits[1].heading + " [" + hits[1].number + "].";
    return out;
  }
  if (name == "search_book") return "I couldn't find that in the book.";
  const std::string line = first_line(trimmed);
  return line.empty() ? std::string("Done.") : "Done: " + line;
}

llm_answer echo(const json& messages) {
  llm_answer answer;
  answer.rule = "echo";
  answer.text = "You said: " + (messages.empty() ? std::string() : text_of(messages.back()));
  return answer;
}

llm_answer compute_answer(const json& body, std::string_view body_text, llm_style style,
                          llm_policy policy) {
  if (!body.is_object()) throw std::invalid_argument("llm_double: the request is not an object");
  const auto found = body.find("messages");
  if (found == body.end() || !found->is_array() || found->empty())
    throw std::invalid_argument("llm_double: the request has no messages");
  const json& messages = *found;
  if (policy == llm_policy::echo) return echo(messages);

  const std::set<std::string> tools = offered_tools(body);
  const json& last = messages.back();
  llm_answer answer;
  auto add_call = [&](std::string name, json arguments) {
    llm_answer_call call;
    call.id = tool_call_id(style, body_text, answer.tool_calls.size());
    call.name = std::move(name);
    call.arguments = json_text(arguments);
    if (style == llm_style::gemini)
      call.thought_signature = llm_double::thought_signature(call.id, call.name, call.arguments);
    answer.tool_calls.push_back(std::move(call));
  };

  if (role_of(last) == "user") {
    const std::string text = text_of(last);
    if (tools.contains("todo_add")) {
      if (auto titles = todo_request(text)) {
        answer.rule = "todo";
        for (auto& title : *titles) add_call("todo_add", json{{"title", std::move(title)}});
        return answer;
      }
    }
    if (tools.contains("search_book")) {
      answer.rule = "search";
      add_call("search_book",
               json{{"query", std::string(first_code_points(trim(text), max_query_chars))}});
      return answer;
    }
    return echo(messages);
  }

  if (role_of(last) == "tool") {
    std::size_t first = messages.size();
    while (first > 0 && role_of(messages[first - 1]) == "tool") --first;
    // The names of the calls they answer, from the assistant messages before them.
    std::map<std::string, std::string> names;
    for (std::size_t i = 0; i < first; ++i) {
      const auto calls = messages[i].find("tool_calls");
      if (role_of(messages[i]) != "assistant" || calls == messages[i].end() || !calls->is_array())
        continue;
      for (const auto& call : *calls) {
        if (!call.is_object() || !call.value("id", json()).is_string()) continue;
        const json function = call.value("function", json::object());
        if (function.is_object() && function.value("name", json()).is_string())
          names[call["id"].get<std::string>()] = function["name"].get<std::string>();
      }
    }
    answer.rule = "tool_results";
    for (std::size_t i = first; i < messages.size(); ++i) {
      const json id = messages[i].value("tool_call_id", json());
      std::string name;
      if (id.is_string()) {
        if (auto named = names.find(id.get<std::string>()); named != names.end())
          name = named->second;
      }
      if (!answer.text.empty()) answer.text += "\n\n";
      answer.text += answer_tool_result(name, text_of(messages[i]));
    }
    return answer;
  }
  return echo(messages);
}

// ---- HTTP answers -------------------------------------------------------------------------

double_response make_response(http::status status, unsigned version, bool keep_alive,
                              std::string body,
                              std::string_view content_type = "application/json") {
  return double_whole_response(status, version, keep_alive, std::move(body), server_name, content_type);
}


std::string type_name(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "boolean";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  if (value.is_array()) return "array";
  return "object";
}

// A request the checks let through.
struct chat_request {
  json body;
  bool stream = false;
  bool include_usage = false;
};

// Either the request or the answer refusing it.
struct validation {
  std::optional<chat_request> request;
  http::status status = http::status::ok;
  std::string error_body;
};

validation refuse(http::status status, std::string body) {
  validation result;
  result.status = status;
  result.error_body = std::move(body);
  return result;
}

validation invalid(std::string_view message, std::string_view param = {},
                   std::string_view code = {}) {
  return refuse(http::status::bad_request,
                openai_error(message, "invalid_request_error", code, param));
}

bool valid_function_name(std::string_view name, bool dots) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [dots](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || (dots && c == '.');
  });
}

// The request fields of Chat Completions (OpenAI's reference, plus Gemini's extra_body); others
// are refused as OpenAI refuses them.
const std::set<std::string, std::less<>>& known_fields() {
  // clang-format off
  static const std::set<std::string, std::less<>> fields = {
      "model",           "messages",         "stream",           "stream_options",
      "tools",           "tool_choice",      "parallel_tool_calls", "temperature",
      "top_p",           "max_tokens",       "max_completion_tokens", "n",
      "stop",            "presence_penalty", "frequency_penalty", "logit_bias",
      "logprobs",        "top_logprobs",     "user",             "seed",
      "response_format", "reasoning_effort", "metadata",         "store",
      "service_tier",    "modalities",       "prediction",       "audio",
      "web_search_options", "safety_identifier", "prompt_cache_key", "verbosity",
      "extra_body"};
  // clang-format on
  return fields;
}

}  // namespace

// ---- public helpers -------------------------------------------------------------------------

std::optional<llm_style> parse_llm_style(std::string_view name) {
  for (llm_style style : {llm_style::openai, llm_style::gemini, llm_style::ollama, llm_style::vllm})
    if (name == llm_style_name(style)) return style;
  return std::nullopt;
}

std::string_view llm_style_name(llm_style style) {
  switch (style) {
    case llm_style::openai:
      return "openai";
    case llm_style::gemini:
      return "gemini";
    case llm_style::ollama:
      return "ollama";
    case llm_style::vllm:
      return "vllm";
  }
  return "openai";
}

llm_reply llm_whole_reply(int status, std::string body,
                          std::vector<std::pair<std::string, std::string>> headers) {
  llm_reply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.headers = std::move(headers);
  return reply;
}

llm_reply llm_error_reply(int status, std::string_view message, std::string_view type,
                          std::string_view code) {
  return llm_whole_reply(status, openai_error(message, type, code));
}

llm_reply llm_rate_limited_reply(std::chrono::seconds retry_after) {
  return llm_whole_reply(
      429,
      openai_error("Rate limit reached for requests (scripted by the LLM double). Please try "
                   "again in " +
                       std::to_string(retry_after.count()) + "s.",
                   "requests", "rate_limit_exceeded"),
      {{"Retry-After", std::to_string(retry_after.count())}});
}

llm_reply llm_event_stream(std::vector<std::string> payloads, std::chrono::milliseconds piece_delay,
                           llm_stream_end end) {
  llm_reply reply;
  reply.streamed = true;
  reply.pieces = std::move(payloads);
  reply.piece_delay = piece_delay;
  reply.end = end;
  return reply;
}

llm_reply llm_raw_stream(std::vector<std::string> pieces, std::chrono::milliseconds piece_delay,
                         llm_stream_end end) {
  llm_reply reply = llm_event_stream(std::move(pieces), piece_delay, end);
  reply.raw = true;
  return reply;
}

std::string llm_double::thought_signature(std::string_view id, std::string_view name,
                                          std::string_view arguments) {
  std::string input = "bookmcp-llm-double thought signature";
  for (std::string_view part : {id, name, arguments}) {
    input.push_back('\0');
    input.append(part);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(encoded, digest, SHA256_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(length));
}

llm_answer llm_double::answer_for(std::string_view request_body, llm_style style) {
  const json body = json::parse(request_body, nullptr, false);
  if (body.is_discarded()) throw std::invalid_argument("llm_double: the request is not JSON");
  return compute_answer(body, request_body, style, llm_policy::assistant);
}

// ---- the server -----------------------------------------------------------------------------

struct llm_double::impl final : double_http_handler {
  explicit impl(llm_double_options options_to_use)
      : options(checked(std::move(options_to_use))), server(server_options(options), *this) {}

  static llm_double_options checked(llm_double_options options) {
    if (options.piece_chars == 0)
      throw std::invalid_argument("llm_double: piece_chars must be at least 1");
    if (options.model.empty()) throw std::invalid_argument("llm_double: the model name is empty");
    return options;
  }

  static double_http_server_options server_options(const llm_double_options& options) {
    double_http_server_options out;
    out.name = "llm double";
    out.port = options.port;
    out.max_body_bytes = max_body_bytes;
    return out;
  }

  // ---- what the server asks ---------------------------------------------------------------

  double_response answer_failed(const double_request& request) override {
    return make_response(http::status::internal_server_error, request.version(),
                         request.keep_alive(),
                         openai_error("The double failed to answer the request.", "server_error"));
  }

  double_response refuse_too_large(const double_request_header&, bool) override {
    return make_response(http::status::payload_too_large, 11, false,
                         openai_error("Request body is larger than the double's limit of 8 MiB.",
                                      "invalid_request_error"));
  }

  std::optional<double_response> refuse_malformed(const boost::system::error_code& error) override {
    return make_response(
        http::status::bad_request, 11, false,
        openai_error("Malformed HTTP request: " + error.message(), "invalid_request_error"));
  }

  double_reply answer(const double_request& request) override {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    auto reply = [&](http::status status, std::string body) {
      double_reply result;
      result.response = make_response(status, version, keep_alive, std::move(body));
      return result;
    };
    auto wrong_method = [&](std::string_view allowed) {
      double_reply result =
          reply(http::status::method_not_allowed,
                openai_error("Invalid method for URL (" + std::string(request.method_string()) +
                                 " " + std::string(path) + ")",
                             "invalid_request_error"));
      result.response.set(http::field::allow, allowed);
      return result;
    };

    if (path == "/v1/models" || path == "/models") {
      if (request.method() != http::verb::get) return wrong_method("GET");
      if (auto refusal = check_key(request)) return reply(http::status::unauthorized, *refusal);
      json model = {
          {"id", options.model}, {"object", "model"}, {"created", 0}, {"owned_by", server_name}};
      return reply(http::status::ok,
                   json_text({{"object", "list"}, {"data", json::array({std::move(model)})}}));
    }
    if (path != "/v1/chat/completions" && path != "/chat/completions") {
      return reply(http::status::not_found,
                   openai_error("Invalid URL (" + std::string(request.method_string()) + " " +
                                    std::string(path) + ")",
                                "invalid_request_error"));
    }
    if (request.method() != http::verb::post) return wrong_method("POST");

    std::optional<llm_reply> scripted;
    std::size_t number = 0;
    {
      std::lock_guard lock(mutex);
      number = ++request_count;
      bodies.push_back(request.body());
      if (bodies.size() > kept_request_bodies) bodies.pop_front();
      if (!scripts.empty()) {
        scripted = std::move(scripts.front());
        scripts.pop_front();
      }
    }
    if (scripted) return play(*scripted, version, keep_alive);
    // The key first, as the real endpoints authenticate before they count a request's rate.
    if (auto refusal = check_key(request)) return reply(http::status::unauthorized, *refusal);
    if (options.fail_every > 0 && number % options.fail_every == 0) {
      double_reply result =
          reply(http::status::too_many_requests,
                openai_error("Rate limit reached for " + options.model +
                                 " in organization org-llm-double on requests per min (RPM): "
                                 "every " +
                                 std::to_string(options.fail_every) +
                                 "th request is refused (--fail-every). Please try again in 1s.",
                             "requests", "rate_limit_exceeded"));
      result.response.set(http::field::retry_after, "1");
      return result;
    }
    validation checked = validate(request);
    if (!checked.request) return reply(checked.status, std::move(checked.error_body));

    const chat_request& chat = *checked.request;
    const llm_answer answer =
        compute_answer(chat.body, request.body(), options.style, options.policy);
    const std::string id = "chatcmpl-" + derived_text(request.body(), 7, alphanumerics, 29);
    const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
    const std::size_t prompt_tokens = prompt_characters(chat.body) / 4;
    if (!chat.stream) {
      return reply(http::status::ok, completion(answer, id, created, prompt_tokens));
    }
    double_reply result = reply(http::status::ok, {});
    result.response.set(http::field::content_type, "text/event-stream; charset=utf-8");
    result.response.set(http::field::cache_control, "no-cache");
    double_stream stream;
    stream.delay = options.token_delay;
    stream.pieces = events(answer, chat.include_usage, id, created, prompt_tokens);
    result.stream = std::move(stream);
    return result;
  }

  // ---- scripted replies -------------------------------------------------------------------

  double_reply play(llm_reply& scripted, unsigned version, bool keep_alive) const {
    double_reply result;
    const auto status = static_cast<http::status>(scripted.status);
    if (!scripted.streamed) {
      result.response = make_response(status, version, keep_alive, std::move(scripted.body),
                                      scripted.content_type);
    } else {
      result.response =
          make_response(status, version, keep_alive, {}, "text/event-stream; charset=utf-8");
      result.response.set(http::field::cache_control, "no-cache");
      double_stream stream;
      stream.delay = scripted.piece_delay;
      for (auto& piece : scripted.pieces)
        stream.pieces.push_back(scripted.raw ? std::move(piece) : "data: " + piece + "\n\n");
      stream.ending = scripted.end == llm_stream_end::complete ? double_stream_ending::chunked
                      : scripted.end == llm_stream_end::cut    ? double_stream_ending::chunked_cut
                                                            : double_stream_ending::close_delimited;
      result.stream = std::move(stream);
    }
    for (const auto& [name, value] : scripted.headers) result.response.set(name, value);
    return result;
  }

  // ---- checks -------------------------------------------------------------------------------

  // The 401 body when the request lacks the configured key; nothing when it passes.
  std::optional<std::string> check_key(const double_request& request) const {
    if (options.api_key.empty()) return std::nullopt;
    const auto header = request.find(http::field::authorization);
    if (header == request.end()) {
      return openai_error(
          "You didn't provide an API key. You need to provide your API key in an Authorization "
          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
          "invalid_request_error", "invalid_api_key");
    }
    const std::string_view value = trim(header->value());
    std::string_view key;
    if (value.size() > 7 && iequals(value.substr(0, 7), "Bearer ")) key = trim(value.substr(7));
    if (key == options.api_key) return std::nullopt;
    return openai_error("Incorrect API key provided: " +
                            std::string(key.substr(0, std::min<std::size_t>(key.size(), 3))) +
                            "***. You can find your API key at "
                            "https://platform.openai.com/account/api-keys.",
                        "invalid_request_error", "invalid_api_key");
  }

  validation validate(const double_request& request) const {
    if (const auto header = request.find(http::field::content_type); header != request.end()) {
      std::string_view content_type = header->value();
      content_type = trim(content_type.substr(0, content_type.find(';')));
      if (!iequals(content_type, "application/json")) {
        return invalid("Invalid Content-Type header (" + std::string(content_type) +
                       "), expected application/json.");
      }
    }
    chat_request chat;
    chat.body = json::parse(request.body(), nullptr, false);
    const json& body = chat.body;
    if (body.is_discarded() || !body.is_object()) {
      return invalid(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
          "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
          "sent was not valid JSON.)");
    }
    for (const auto& [name, value] : body.items()) {
      if (!known_fields().contains(name))
        return invalid("Unrecognized request argument supplied: " + name, name);
    }

    const auto model = body.find("model");
    if (model == body.end() || model->is_null())
      return invalid("You must provide a model parameter.", "model");
    if (!model->is_string())
      return invalid(
          "Invalid type for 'model': expected a string, but got " + type_name(*model) + " instead.",
          "model", "invalid_type");
    if (model->get_ref<const std::string&>() != options.model) {
      return refuse(http::status::not_found,
                    openai_error("The model `" + model->get<std::string>() +
                                     "` does not exist or you do not have access to it.",
                                 "invalid_request_error", "model_not_found", "model"));
    }

    if (auto problem = check_messages(body)) return std::move(*problem);
    if (auto problem = check_tools(body)) return std::move(*problem);

    if (const auto stream = body.find("stream"); stream != body.end() && !stream->is_null()) {
      if (!stream->is_boolean())
        return invalid("Invalid type for 'stream': expected a boolean, but got " +
                           type_name(*stream) + " instead.",
                       "stream", "invalid_type");
      chat.stream = stream->get<bool>();
    }
    if (const auto stream_options = body.find("stream_options");
        stream_options != body.end() && !stream_options->is_null()) {
      if (!chat.stream)
        return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       "stream_options");
      if (!stream_options->is_object())
        return invalid("Invalid type for 'stream_options': expected an object, but got " +
                           type_name(*stream_options) + " instead.",
                       "stream_options", "invalid_type");
      if (const auto usage = stream_options->find("include_usage");
          usage != stream_options->end() && !usage->is_null()) {
        if (!usage->is_boolean())
          return invalid("Invalid type for 'stream_options.include_usage': expected a boolean.",
                         "stream_options.include_usage", "invalid_type");
        chat.include_usage = usage->get<bool>();
      }
    }
    if (const auto n = body.find("n"); n != body.end() && !n->is_null() && *n != 1)
      return invalid("The LLM double answers one choice only: 'n' must be 1.", "n");
    if (options.style == llm_style::gemini) {
      if (auto problem = check_signatures(body)) return std::move(*problem);
    }
    validation result;
    result.request = std::move(chat);
    return result;
  }

  std::optional<validation> check_messages(const json& body) const {
    const auto messages = body.find("messages");
    if (messages == body.end() || messages->is_null())
      return invalid("Missing required parameter: 'messages'.", "messages",
                     "missing_required_parameter");
    if (!messages->is_array())
      return invalid("Invalid type for 'messages': expected an array, but got " +
                         type_name(*messages) + " instead.",
                     "messages", "invalid_type");
    if (messages->empty())
      return invalid(
          "Invalid 'messages': empty array. Expected an array with minimum length 1, "
          "but got an empty array instead.",
          "messages", "empty_array");
    // Calls of the latest assistant message not answered yet by a tool message.
    std::vector<std::string> unanswered;
    std::size_t asked_at = 0;
    auto unanswered_problem = [&]() {
      std::string ids;
      for (const auto& id : unanswered) ids += (ids.empty() ? "" : ", ") + id;
      return invalid(
          "An assistant message with 'tool_calls' must be followed by tool messages "
          "responding to each 'tool_call_id'. The following tool_call_ids did not "
          "have response messages: " +
              ids,
          "messages.[" + std::to_string(asked_at) + "].role");
    };
    for (std::size_t i = 0; i < messages->size(); ++i) {
      const json& message = (*messages)[i];
      const std::string at = "messages[" + std::to_string(i) + "]";
      if (!message.is_object())
        return invalid("Invalid type for '" + at + "': expected an object, but got " +
                           type_name(message) + " instead.",
                       at, "invalid_type");
      const auto role = message.find("role");
      if (role == message.end() || role->is_null())
        return invalid("Missing required parameter: '" + at + ".role'.", at + ".role",
                       "missing_required_parameter");
      const std::string role_name = role->is_string() ? role->get<std::string>() : std::string();
      if (role_name != "system" && role_name != "developer" && role_name != "user" &&
          role_name != "assistant" && role_name != "tool")
        return invalid("Invalid value: '" + json_text(*role) +
                           "'. Supported values are: "
                           "'system', 'assistant', 'user', 'tool', and 'developer'.",
                       at + ".role", "invalid_value");
      if (!unanswered.empty() && role_name != "tool") return unanswered_problem();

      const auto content = message.find("content");
      const bool has_content = content != message.end() && !content->is_null();
      if (has_content && !content->is_string() && !content->is_array())
        return invalid("Invalid type for '" + at +
                           ".content': expected one of a string or array "
                           "of objects, but got " +
                           type_name(*content) + " instead.",
                       at + ".content", "invalid_type");
      if (has_content && content->is_array()) {
        for (std::size_t k = 0; k < content->size(); ++k) {
          const json& part = (*content)[k];
          const std::string part_at = at + ".content[" + std::to_string(k) + "]";
          if (!part.is_object() || !part.value("type", json()).is_string())
            return invalid("Missing required parameter: '" + part_at + ".type'.", part_at + ".type",
                           "missing_required_parameter");
          if (part["type"] == "text" && !part.value("text", json()).is_string())
            return invalid("Missing required parameter: '" + part_at + ".text'.", part_at + ".text",
                           "missing_required_parameter");
        }
      }

      if (role_name == "assistant") {
        const auto calls = message.find("tool_calls");
        const bool has_calls = calls != message.end() && !calls->is_null();
        if (!has_content && !has_calls)
          return invalid("Missing required parameter: '" + at + ".content'.", at + ".content",
                         "missing_required_parameter");
        if (!has_calls) continue;
        if (!calls->is_array() || calls->empty())
          return invalid("Invalid '" + at + ".tool_calls': expected a non-empty array.",
                         at + ".tool_calls", "invalid_value");
        // Gemini and Ollama refuse "" next to tool calls (null is what they take).
        if ((options.style == llm_style::gemini || options.style == llm_style::ollama) &&
            has_content && content->is_string() && content->get_ref<const std::string&>().empty())
          return invalid("Invalid value for '" + at +
                             ".content': an assistant message with tool "
                             "calls must have null or non-empty content, not an empty string.",
                         at + ".content", "invalid_value");
        for (std::size_t k = 0; k < calls->size(); ++k) {
          const json& call = (*calls)[k];
          const std::string call_at = at + ".tool_calls[" + std::to_string(k) + "]";
          if (!call.is_object() || !call.value("id", json()).is_string())
            return invalid("Missing required parameter: '" + call_at + ".id'.", call_at + ".id",
                           "missing_required_parameter");
          if (call.value("type", json()) != "function")
            return invalid("Invalid value for '" + call_at + ".type': expected 'function'.",
                           call_at + ".type", "invalid_value");
          const json function = call.value("function", json());
          if (!function.is_object() || !function.value("name", json()).is_string() ||
              !function.value("arguments", json()).is_string())
            return invalid("Invalid '" + call_at +
                               ".function': expected an object with string "
                               "'name' and 'arguments'.",
                           call_at + ".function", "invalid_value");
          unanswered.push_back(call["id"].get<std::string>());
        }
        asked_at = i;
        continue;
      }
      if (!has_content)
        return invalid("Invalid type for '" + at +
                           ".content': expected one of a string or array "
                           "of objects, but got " +
                           std::string(content == message.end() ? "nothing" : "null") + " instead.",
                       at + ".content", "invalid_type");
      if (role_name == "tool") {
        const json id = message.value("tool_call_id", json());
        if (!id.is_string())
          return invalid("Missing required parameter: '" + at + ".tool_call_id'.",
                         at + ".tool_call_id", "missing_required_parameter");
        const auto answered =
            std::find(unanswered.begin(), unanswered.end(), id.get<std::string>());
        if (answered == unanswered.end())
          return invalid(
              "Invalid parameter: messages with role 'tool' must be a response to a "
              "preceeding message with 'tool_calls'.",
              at + ".role");
        unanswered.erase(answered);
      }
    }
    if (!unanswered.empty()) return unanswered_problem();
    return std::nullopt;
  }

  std::optional<validation> check_tools(const json& body) const {
    const auto tools = body.find("tools");
    if (tools == body.end() || tools->is_null()) return std::nullopt;
    if (!tools->is_array())
      return invalid(
          "Invalid type for 'tools': expected an array, but got " + type_name(*tools) + " instead.",
          "tools", "invalid_type");
    for (std::size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const std::string at = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || tool.value("type", json()) != "function")
        return invalid("Invalid value for '" + at + ".type': expected 'function'.", at + ".type",
                       "invalid_value");
      const json function = tool.value("function", json());
      if (!function.is_object() || !function.value("name", json()).is_string())
        return invalid("Missing required parameter: '" + at + ".function.name'.",
                       at + ".function.name", "missing_required_parameter");
      const std::string name = function["name"].get<std::string>();
      if (!valid_function_name(name, options.style == llm_style::gemini))
        return invalid("Invalid '" + at +
                           ".function.name': string does not match pattern. "
                           "Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                       at + ".function.name", "invalid_value");
      if (const auto parameters = function.find("parameters");
          parameters != function.end() && !parameters->is_object())
        return invalid("Invalid type for '" + at + ".function.parameters': expected an object.",
                       at + ".function.parameters", "invalid_type");
      if (const auto description = function.find("description");
          description != function.end() && !description->is_string())
        return invalid("Invalid type for '" + at + ".function.description': expected a string.",
                       at + ".function.description", "invalid_type");
    }
    return std::nullopt;
  }

  // Gemini 3: every function call the model made must come back with its signature.
  std::optional<validation> check_signatures(const json& body) const {
    const json& messages = body["messages"];
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const json& message = messages[i];
      if (role_of(message) != "assistant" || !message.value("tool_calls", json()).is_array())
        continue;
      const json& calls = message["tool_calls"];
      for (std::size_t k = 0; k < calls.size(); ++k) {
        const json& call = calls[k];
        const json& function = call["function"];
        json signature;
        if (const auto extra = call.find("extra_content");
            extra != call.end() && extra->is_object()) {
          if (const auto google = extra->find("google");
              google != extra->end() && google->is_object())
            signature = google->value("thought_signature", json());
        }
        const std::string expected = llm_double::thought_signature(
            call["id"].get<std::string>(), function["name"].get<std::string>(),
            function["arguments"].get<std::string>());
        if (signature.is_string() && (signature == expected || signature == skip_signature))
          continue;
        const std::string problem = signature.is_null() ? "is missing a thought_signature"
                                                        : "has a thought_signature that is not "
                                                          "the one the model gave";
        return invalid("Function call `" + function["name"].get<std::string>() + "` in messages[" +
                           std::to_string(i) + "].tool_calls[" + std::to_string(k) + "] " +
                           problem +
                           ": send back each tool call's extra_content.google.thought_signature "
                           "unchanged (https://ai.google.dev/gemini-api/docs/thought-signatures).",
                       "messages[" + std::to_string(i) + "].tool_calls[" + std::to_string(k) +
                           "].extra_content",
                       "invalid_argument");
      }
    }
    return std::nullopt;
  }

  // ---- the answers --------------------------------------------------------------------------

  static std::size_t prompt_characters(const json& body) {
    std::size_t characters = 0;
    for (const auto& message : body["messages"]) characters += count_code_points(text_of(message));
    return characters;
  }

  json usage(std::size_t prompt_tokens, std::size_t completion_tokens) const {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}};
  }

  json call_object(const llm_answer_call& call) const {
    json out = {{"id", call.id},
                {"type", "function"},
                {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
    if (!call.thought_signature.empty())
      out["extra_content"] = {{"google", {{"thought_signature", call.thought_signature}}}};
    return out;
  }

  // The non-streamed chat.completion object.
  std::string completion(const llm_answer& answer, const std::string& id, std::int64_t created,
                         std::size_t prompt_tokens) const {
    json message = {{"role", "assistant"},
                    {"content", answer.tool_calls.empty() ? json(answer.text) : json(nullptr)}};
    if (options.style == llm_style::openai) message["refusal"] = nullptr;
    if (!answer.tool_calls.empty()) {
      message["tool_calls"] = json::array();
      for (const auto& call : answer.tool_calls) message["tool_calls"].push_back(call_object(call));
    }
    const std::size_t completion_tokens = answer.tool_calls.empty()
                                              ? pieces_of(answer.text, options.piece_chars).size()
                                              : answer.tool_calls.size();
    json choice = {{"index", 0},
                   {"message", std::move(message)},
                   {"logprobs", nullptr},
                   {"finish_reason", answer.tool_calls.empty() ? "stop" : "tool_calls"}};
    return json_text({{"id", id},
                      {"object", "chat.completion"},
                      {"created", created},
                      {"model", options.model},
                      {"choices", json::array({std::move(choice)})},
                      {"usage", usage(prompt_tokens, completion_tokens)}});
  }

  // The streamed answer's events ("data: ...\n\n" each): the deltas, the usage chunk, [DONE].
  std::vector<std::string> events(const llm_answer& answer, bool include_usage,
                                  const std::string& id, std::int64_t created,
                                  std::size_t prompt_tokens) const {
    const llm_style style = options.style;
    const bool openai_like = style == llm_style::openai || style == llm_style::vllm;
    std::vector<json> deltas;
    if (answer.tool_calls.empty()) {
      for (auto& piece : pieces_of(answer.text, options.piece_chars))
        deltas.push_back({{"content", std::move(piece)}});
    } else {
      for (std::size_t k = 0; k < answer.tool_calls.size(); ++k) {
        const llm_answer_call& call = answer.tool_calls[k];
        if (openai_like) {
          // The id, type and name first, then the arguments in pieces, under the call's index.
          deltas.push_back(
              {{"tool_calls",
                json::array({{{"index", k},
                              {"id", call.id},
                              {"type", "function"},
                              {"function", {{"name", call.name}, {"arguments", ""}}}}})}});
          for (auto& piece : pieces_of(call.arguments, options.piece_chars)) {
            deltas.push_back(
                {{"tool_calls",
                  json::array({{{"index", k}, {"function", {{"arguments", std::move(piece)}}}}})}});
          }
        } else {
          // Whole in one fragment: without index (gemini) or under index 0 (ollama).
          json fragment = call_object(call);
          if (style == llm_style::ollama) fragment["index"] = 0;
          deltas.push_back({{"tool_calls", json::array({std::move(fragment)})}});
        }
      }
      if (openai_like) deltas.front()["content"] = nullptr;
    }
    deltas.front()["role"] = "assistant";
    const std::string finish = !answer.tool_calls.empty() && openai_like ? "tool_calls" : "stop";

    auto chunk = [&](json choices) {
      json out = {{"id", id},
                  {"object", "chat.completion.chunk"},
                  {"created", created},
                  {"model", options.model},
                  {"choices", std::move(choices)}};
      if (style == llm_style::openai) out["system_fingerprint"] = "fp_llm_double";
      return out;
    };
    std::vector<std::string> out;
    for (std::size_t i = 0; i < deltas.size(); ++i) {
      json choice = {{"index", 0},
                     {"delta", std::move(deltas[i])},
                     {"finish_reason", i + 1 == deltas.size() ? json(finish) : json(nullptr)}};
      if (openai_like) choice["logprobs"] = nullptr;
      json event = chunk(json::array({std::move(choice)}));
      // OpenAI sends "usage": null on every chunk but the last when usage is asked for.
      if (include_usage && style == llm_style::openai) event["usage"] = nullptr;
      out.push_back("data: " + json_text(event) + "\n\n");
    }
    if (include_usage) {
      json event = chunk(style == llm_style::vllm ? json(nullptr) : json::array());
      event["usage"] = usage(prompt_tokens, deltas.size());
      out.push_back("data: " + json_text(event) + "\n\n");
    }
    out.push_back("data: [DONE]\n\n");
    return out;
  }

  const llm_double_options options;
  mutable std::mutex mutex;
  std::deque<llm_reply> scripts;
  std::deque<std::string> bodies;
  std::size_t request_count = 0;
  // Last: built once the state above exists, destroyed (connections closed, threads joined)
  // before it goes, so that no connection touches the state when it is not there.
  double_http_server server;
};

llm_double::llm_double(llm_double_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

llm_double::~llm_double() = default;

std::uint16_t llm_double::port() const {
  return impl_->server.port();
}

std::string llm_double::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/v1";
}

void llm_double::script(llm_reply reply) {
  std::lock_guard lock(impl_->mutex);
  impl_->scripts.push_back(std::move(reply));
}

std::size_t llm_double::scripted_left() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->scripts.size();
}

std::size_t llm_double::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->request_count;
}

std::string llm_double::last_request() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->bodies.empty() ? std::string() : impl_->bodies.back();
}

std::vector<std::string> llm_double::request_bodies() const {
  std::lock_guard lock(impl_->mutex);
  return {impl_->bodies.begin(), impl_->bodies.end()};
}

std::size_t llm_double::connections() const {
  return impl_->server.connections();
}

std::size_t llm_double::open_streams() const {
  return impl_->server.open_streams();
}

bool llm_double::wait_for_open_streams(std::size_t count, std::chrono::milliseconds timeout) const {
  return impl_->server.wait_for_open_streams(count, timeout);
}

}  // namespace bookmcp::testing
