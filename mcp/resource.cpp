#include "mcp/resource.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace bookmcp::mcp {

json resource_contents::to_json() const {
  json out = {{"uri", uri}};
  if (!mime_type.empty()) out["mimeType"] = mime_type;
  if (text) out["text"] = *text;
  if (blob_base64) out["blob"] = *blob_base64;
  return out;
}

namespace {

// One piece of a URI template: literal text, or a variable ({var}: one path segment; {+var}
// and {var*}: may span '/').
struct template_part {
  bool variable = false;
  bool spans_slashes = false;
  std::string text;  // the literal, or the variable's name
};

// Backtracking over the template's few parts (recursion depth: the number of parts, never
// the URI's length). A variable takes the longest text that lets the rest match, so that
// "docs://{name}.md" matches "docs://release.notes.md" with name "release.notes".
bool match_parts(const std::vector<template_part>& parts, std::size_t index, std::string_view uri,
                 std::size_t position, std::vector<std::string_view>& values) {
  if (index == parts.size()) return position == uri.size();
  const template_part& part = parts[index];
  if (!part.variable) {
    if (uri.substr(position, part.text.size()) != part.text) return false;
    return match_parts(parts, index + 1, uri, position + part.text.size(), values);
  }
  std::size_t last = uri.size();
  if (!part.spans_slashes) last = std::min(last, uri.find('/', position));
  for (std::size_t end = last; end > position; --end) {
    // A literal next must start here: skip ends where it does not.
    if (index + 1 < parts.size() && !parts[index + 1].variable &&
        uri.substr(end, parts[index + 1].text.size()) != parts[index + 1].text) {
      continue;
    }
    values[index] = uri.substr(position, end - position);
    if (match_parts(parts, index + 1, uri, end, values)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::map<std::string, std::string>> match_uri_template(
    const std::string& uri_template, const std::string& uri) {
  if (uri.size() > max_uri_length) return std::nullopt;
  std::vector<template_part> parts;
  for (std::size_t t = 0; t < uri_template.size();) {
    if (uri_template[t] == '{') {
      const std::size_t close = uri_template.find('}', t);
      if (close == std::string::npos) return std::nullopt;
      template_part part{.variable = true, .text = uri_template.substr(t + 1, close - t - 1)};
      if (!part.text.empty() && part.text.front() == '+') {
        part.spans_slashes = true;
        part.text.erase(0, 1);
      }
      if (!part.text.empty() && part.text.back() == '*') {
        part.spans_slashes = true;
        part.text.pop_back();
      }
      parts.push_back(std::move(part));
      t = close + 1;
      continue;
    }
    if (parts.empty() || parts.back().variable) parts.push_back({});
    parts.back().text += uri_template[t++];
  }
  std::vector<std::string_view> values(parts.size());
  if (!match_parts(parts, 0, uri, 0, values)) return std::nullopt;
  std::map<std::string, std::string> vars;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].variable) vars[parts[i].text] = std::string(values[i]);
  }
  return vars;
}

}  // namespace bookmcp::mcp
