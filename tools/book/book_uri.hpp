#pragma once
// The book's resource URIs: book://toc and book://doc/<path>[#<anchor>], where <path> is a
// document path relative to its docs root ('/'-separated) and <anchor> a heading anchor.
// Characters outside RFC 3986 unreserved and '/' are percent-encoded (UTF-8 bytes).

#include <optional>
#include <string>
#include <string_view>

namespace bookmcp::tools {

inline constexpr std::string_view book_toc_uri = "book://toc";
inline constexpr std::string_view book_document_uri_template = "book://doc/{+path}";
inline constexpr std::string_view book_document_uri_prefix = "book://doc/";

std::string document_uri(std::string_view path, std::string_view anchor = {});

struct document_reference {
  std::string path;
  std::string anchor;  // "" for the whole document
};

// Parses what follows "book://doc/" (the template's {+path}, fragment included). nullopt for
// a malformed escape, an empty path, or a NUL byte.
std::optional<document_reference> parse_document_reference(std::string_view encoded);

}  // namespace bookmcp::tools
