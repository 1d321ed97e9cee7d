// Parsing JSON text into the nlohmann::json tree the rest of the program works with.
//
// Every message the transports receive goes through parse_json_text, so its speed is the
// speed of a request: nlohmann's own lexer costs ~10 ns a byte, three quarters of a small
// call's parse. rapidjson's reader is about twice as fast at the same job, so it reads the
// text here and a small handler builds the nlohmann tree from its events.
//
// The tree must be exactly the one nlohmann::json::parse builds, and the same texts refused
// (tests/mcp/json_text_test.cpp; tests/fuzz/json_text_fuzz.cpp compares the two parsers):
//  - numbers reach the handler as text (kParseNumbersAsStringsFlag) and are converted by
//    nlohmann's rules: no '.', 'e' or 'E' and no '-' is an unsigned integer, with '-' a signed
//    one, either falling back to a double when it does not fit; a double must be finite;
//  - strings are checked as UTF-8 here, on the decoded text (rapidjson's own check costs more,
//    and lets a \u escape of a lone low surrogate through): ASCII at once, anything else as
//    well-formed UTF-8, which refuses a lone surrogate whether it came raw or escaped;
//  - a repeated key keeps its last value;
//  - a NUL byte after the value ends the text, as it does for nlohmann's lexer;
//  - arrays and objects nest at most max_json_depth deep.
// The text is copied into a per-thread buffer and parsed in place (strings are unescaped where
// they lie instead of being copied a character at a time). Whatever rapidjson refuses, or the
// handler declines (a number it does not convert as nlohmann would: out of range), goes
// through the depth check and then to nlohmann::json::parse, which decides. So the rare odd
// input (a byte-order mark, 1e-400) costs two parses, and no input is judged differently.
#include <rapidjson/reader.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

namespace {

// A string as nlohmann accepts it: ASCII (one pass the compiler vectorises), else UTF-8.
bool acceptable_string(const char* text, std::size_t size) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text);
  unsigned char any = 0;
  for (std::size_t i = 0; i < size; ++i) any |= bytes[i];
  return any < 0x80 || is_valid_utf8(std::string_view(text, size));
}

// rapidjson's SAX events → a nlohmann tree. Returning false stops the reader (the text then
// goes to nlohmann, which decides).
class tree_builder {
 public:
  json take() { return std::move(root_); }

  bool Null() { return put(json(nullptr)); }
  bool Bool(bool value) { return put(json(value)); }
  // With kParseNumbersAsStringsFlag every number arrives through RawNumber.
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }

  // `text` is the number where it lies in the text (not NUL-terminated), already checked
  // against JSON's number grammar.
  bool RawNumber(const char* text, rapidjson::SizeType size, bool) {
    const char* const end = text + size;
    const bool integral =
        std::none_of(text, end, [](char c) { return c == '.' || c == 'e' || c == 'E'; });
    if (integral) {
      if (text[0] == '-') {
        std::int64_t value = 0;
        const auto [stop, error] = std::from_chars(text, end, value);
        if (error == std::errc() && stop == end) return put(json(value));
      } else {
        std::uint64_t value = 0;
        const auto [stop, error] = std::from_chars(text, end, value);
        if (error == std::errc() && stop == end) return put(json(value));
      }
      // Too big for a 64-bit integer: a double, as nlohmann makes it.
    }
    double value = 0;
    const auto [stop, error] = std::from_chars(text, end, value);
    // Out of range (past DBL_MAX, or below the smallest subnormal): nlohmann refuses the one
    // and reads the other as 0; let it.
    if (error != std::errc() || stop != end || !std::isfinite(value)) return false;
    return put(json(value));
  }

  bool String(const char* text, rapidjson::SizeType size, bool) {
    if (!acceptable_string(text, size)) return false;
    return put(json(std::string(text, size)));
  }
  bool Key(const char* text, rapidjson::SizeType size, bool) {
    if (!acceptable_string(text, size)) return false;
    key_.assign(text, size);
    return true;
  }

  bool StartObject() { return open(json::value_t::object); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(json::value_t::array); }
  bool EndArray(rapidjson::SizeType) { return close(); }

 private:
  // Puts a value where the reader is (the root, the open array's end, the open object's
  // current key) and returns where it went.
  json* place(json&& value) {
    if (depth_ == 0) {
      root_ = std::move(value);
      return &root_;
    }
    json& container = *open_[depth_ - 1];
    if (container.is_array()) {
      auto& items = container.get_ref<json::array_t&>();
      items.push_back(std::move(value));
      return &items.back();
    }
    // A repeated key keeps its last value, as nlohmann::json::parse does.
    auto& members = container.get_ref<json::object_t&>();
    return &members.insert_or_assign(std::move(key_), std::move(value)).first->second;
  }
  bool put(json&& value) {
    place(std::move(value));
    return true;
  }
  bool open(json::value_t type) {
    // Deeper than max_json_depth: refused (and the reader's recursion stays bounded).
    if (depth_ == open_.size()) return false;
    open_[depth_] = place(json(type));
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  json root_;
  std::string key_;
  // The open arrays and objects, outermost first. Only the innermost one grows, so the
  // pointers to the others stay valid.
  std::array<json*, max_json_depth> open_{};
  std::size_t depth_ = 0;
};

}  // namespace

// Unicode's table 3-7 of well-formed byte sequences.
bool is_valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    std::size_t continuation = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the first continuation byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuation = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuation = 2;
      if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
      if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuation = 3;
      if (lead == 0xF0) low = 0x90;   // overlong below U+10000
      if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= continuation) return false;
    if (p[1] < low || p[1] > high) return false;
    for (std::size_t i = 2; i <= continuation; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += continuation + 1;
  }
  return true;
}

bool json_depth_within(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const char c = *p++;
    if (c == '"') {
      // Skip the string: to the next quote that no backslash escapes.
      for (;;) {
        const void* quote = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (!quote) return true;  // unterminated: the parser will say so
        const char* q = static_cast<const char*>(quote);
        std::size_t backslashes = 0;
        while (q - backslashes > p && q[-1 - static_cast<std::ptrdiff_t>(backslashes)] == '\\')
          ++backslashes;
        p = q + 1;
        if (backslashes % 2 == 0) break;
      }
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

std::optional<json> parse_json_text(std::string_view text, bool* too_deep) {
  if (too_deep) *too_deep = false;
  {
    // Parsed in place in a copy: rapidjson unescapes strings where they lie. The buffer is
    // the thread's, kept for its next message unless a big one made it big.
    constexpr std::size_t keep_bytes = 64 * 1024;
    thread_local std::string buffer;
    buffer.assign(text);
    constexpr unsigned flags = rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag;
    tree_builder builder;
    rapidjson::Reader reader;
    rapidjson::InsituStringStream stream(buffer.data());
    const bool parsed = !reader.Parse<flags>(stream, builder).IsError();
    if (buffer.capacity() > keep_bytes) std::string().swap(buffer);
    if (parsed) return builder.take();
  }
  // Refused, or declined by the handler: the depth first (nlohmann's parser recurses), then
  // nlohmann decides.
  if (!json_depth_within(text)) {
    if (too_deep) *too_deep = true;
    return std::nullopt;
  }
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return std::nullopt;
  return body;
}

}  // namespace bookmcp::mcp
