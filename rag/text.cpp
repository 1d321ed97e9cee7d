#include "rag/text.hpp"

#include <utf8proc.h>

namespace bookmcp::rag {

bool is_valid_utf8(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    // ASCII fast path, eight bytes at a time when aligned runs allow it.
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int length = 0;
    std::uint32_t code_point = 0;
    if ((*p & 0xE0) == 0xC0) {
      length = 2;
      code_point = *p & 0x1F;
    } else if ((*p & 0xF0) == 0xE0) {
      length = 3;
      code_point = *p & 0x0F;
    } else if ((*p & 0xF8) == 0xF0) {
      length = 4;
      code_point = *p & 0x07;
    } else {
      return false;
    }
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (p[i] & 0x3F);
    }
    if ((length == 2 && code_point < 0x80) || (length == 3 && code_point < 0x800) ||
        (length == 4 && code_point < 0x10000) || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    p += length;
  }
  return true;
}

std::uint64_t stable_hash(std::string_view bytes, std::uint64_t seed) noexcept {
  std::uint64_t hash = seed;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string to_hex(std::uint64_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = digits[value & 0xF];
    value >>= 4;
  }
  return out;
}

bool is_letter_mark_or_number(std::int32_t code_point) noexcept {
  switch (utf8proc_category(code_point)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

std::string slugify(std::string_view heading_text) {
  std::string out;
  out.reserve(heading_text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(heading_text.data());
  auto remaining = static_cast<utf8proc_ssize_t>(heading_text.size());
  while (remaining > 0) {
    utf8proc_int32_t code_point = 0;
    utf8proc_ssize_t used = utf8proc_iterate(p, remaining, &code_point);
    if (used <= 0) {  // invalid byte: github-slugger never sees one; drop it
      ++p;
      --remaining;
      continue;
    }
    p += used;
    remaining -= used;
    if (code_point == ' ') {
      out.push_back('-');
      continue;
    }
    if (code_point == '-') {
      out.push_back('-');
      continue;
    }
    if (is_letter_mark_or_number(code_point) ||
        utf8proc_category(code_point) == UTF8PROC_CATEGORY_PC) {
      // JavaScript's toLowerCase, code point by code point.
      utf8proc_uint8_t buffer[4];
      utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_tolower(code_point), buffer);
      out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    }
  }
  return out;
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}
}  // namespace

heading_id_split split_explicit_heading_id(std::string_view heading_text) {
  std::string_view text = trim(heading_text);
  if (!text.empty() && text.back() == '}') {
    auto open = text.rfind("{#");
    if (open != std::string_view::npos) {
      std::string_view id = text.substr(open + 2, text.size() - open - 3);
      bool valid = !id.empty() && id.find_first_of(" \t{}") == std::string_view::npos;
      if (valid) return {std::string(trim(text.substr(0, open))), std::string(id)};
    }
  }
  return {std::string(text), {}};
}

std::string heading_slugger::slug(std::string_view heading_text) {
  std::string original = slugify(heading_text);
  std::string result = original;
  while (occurrences_.contains(result)) {
    int& count = occurrences_[original];
    ++count;
    result = original + "-" + std::to_string(count);
  }
  occurrences_[result] = 0;
  return result;
}

}  // namespace bookmcp::rag
