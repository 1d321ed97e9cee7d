#include "mcp/resource.hpp"

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
  std::map<std::string, std::string> vars;
  std::size_t t = 0;
  std::size_t u = 0;
  while (t < uri_template.size()) {
    if (uri_template[t] != '{') {
      if (u >= uri.size() || uri[u] != uri_template[t]) return std::nullopt;
      ++t;
      ++u;
      continue;
    }
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
    t = close + 1;
    // The variable extends to the next literal character of the template (or the end).
    const bool last = t >= uri_template.size();
    std::size_t end;
    if (last) {
      end = uri.size();
    } else {
      const char stop = uri_template[t];
      end = spans_slashes ? uri.rfind(stop) : uri.find(stop, u);
      if (end == std::string::npos || end < u) return std::nullopt;
    }
    std::string value = uri.substr(u, end - u);
    if (value.empty()) return std::nullopt;
    if (!spans_slashes && value.find('/') != std::string::npos) return std::nullopt;
    vars[name] = std::move(value);
    u = end;
  }
  if (u != uri.size()) return std::nullopt;
  return vars;
}

}  // namespace bookmcp::mcp
