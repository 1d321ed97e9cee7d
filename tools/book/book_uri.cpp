#include "tools/book/book_uri.hpp"

namespace bookmcp::tools {

namespace {

void append_encoded(std::string& out, std::string_view text, bool keep_slash) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  if (out.find('\0') != std::string::npos) return std::nullopt;
  return out;
}

}  // namespace

std::string document_uri(std::string_view path, std::string_view anchor) {
  std::string out(book_document_uri_prefix);
  append_encoded(out, path, true);
  if (!anchor.empty()) {
    out.push_back('#');
    append_encoded(out, anchor, false);
  }
  return out;
}

std::optional<document_reference> parse_document_reference(std::string_view encoded) {
  std::string_view path = encoded;
  std::string_view anchor;
  if (auto hash = encoded.find('#'); hash != std::string_view::npos) {
    path = encoded.substr(0, hash);
    anchor = encoded.substr(hash + 1);
  }
  auto decoded_path = decode(path);
  auto decoded_anchor = decode(anchor);
  if (!decoded_path || !decoded_anchor || decoded_path->empty()) return std::nullopt;
  return document_reference{std::move(*decoded_path), std::move(*decoded_anchor)};
}

}  // namespace bookmcp::tools
