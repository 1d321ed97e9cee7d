#include "mcp/resource.hpp"

#include <regex>
#include <string_view>

namespace bookmcp::mcp {

json resource_contents::to_json() const {
  json out = {{"uri", uri}};
  if (!mime_type.empty()) out["mimeType"] = mime_type;
  if (text) out["text"] = *text;
  if (blob_base64) out["blob"] = *blob_base64;
  return out;
}

std::optional<std::map<std::string, std::string>> match_uri_template(
    const std::string& uri_template, const std::string& uri) {
  // Translate the template to a regular expression: {var} is one path segment, {+var} and
  // {var*} may span '/'. Backtracking lets a variable contain the next literal character
  // ("docs://{name}.md" matches "docs://release.notes.md" with name "release.notes").
  std::string pattern;
  std::vector<std::string> names;
  for (std::size_t t = 0; t < uri_template.size();) {
    if (uri_template[t] == '{') {
      const std::size_t close = uri_template.find('}', t);
      if (close == std::string::npos) return std::nullopt;
      std::string name = uri_template.substr(t + 1, close - t - 1);
      bool spans_slashes = false;
      if (!name.empty() && name.front() == '+') {
        spans_slashes = true;
        name.erase(0, 1);
      }
      if (!name.empty() && name.back() == '*') {
        spans_slashes = true;
        name.pop_back();
      }
      names.push_back(std::move(name));
      pattern += spans_slashes ? "(.+)" : "([^/]+)";
      t = close + 1;
      continue;
    }
    const char c = uri_template[t++];
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) pattern += '\\';
    pattern += c;
  }
  const std::regex expression(pattern);
  std::smatch match;
  if (!std::regex_match(uri, match, expression)) return std::nullopt;
  std::map<std::string, std::string> vars;
  for (std::size_t i = 0; i < names.size(); ++i) vars[names[i]] = match[i + 1].str();
  return vars;
}

}  // namespace bookmcp::mcp
