#include "rag/docusaurus.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

namespace bookmcp::rag {

namespace {

bool is_separator(char c) {
  return c == '-' || c == '_' || c == '.';
}
bool is_space(char c) {
  return c == ' ' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// URL path resolution of `relative` against the folder URL `folder` (which ends in '/').
std::string resolve_pathname(std::string_view relative, std::string_view folder) {
  std::vector<std::string> parts;
  for (auto part : split_path(folder)) parts.emplace_back(part);
  bool trailing_slash = relative.ends_with('/');
  for (auto part : split_path(relative)) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  std::string out = "/";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  if (trailing_slash && out.size() > 1) out += '/';
  return out;
}

}  // namespace

number_prefix_split split_number_prefix(std::string_view name) {
  std::size_t i = 0;
  while (i < name.size() && is_digit(name[i])) ++i;
  if (i == 0) return {std::string(name), std::nullopt};
  // Date- or version-like names ("2021-01-01-post", "1.2-notes") keep their prefix.
  if (i < name.size() && is_separator(name[i]) && i + 1 < name.size() && is_digit(name[i + 1])) {
    return {std::string(name), std::nullopt};
  }
  std::size_t j = i;
  while (j < name.size() && is_space(name[j])) ++j;
  std::size_t separators = j;
  while (j < name.size() && is_separator(name[j])) ++j;
  if (j == separators) return {std::string(name), std::nullopt};
  while (j < name.size() && is_space(name[j])) ++j;
  if (j >= name.size() || is_separator(name[j]) || is_space(name[j])) {
    return {std::string(name), std::nullopt};
  }
  return {std::string(name.substr(j)), std::stod(std::string(name.substr(0, i)))};
}

std::string join_url(std::string_view base_url, std::string_view slug) {
  std::string out = "/";
  auto append = [&out](std::string_view part) {
    for (char c : part) {
      if (c == '/' && out.back() == '/') continue;
      out.push_back(c);
    }
  };
  append(base_url);
  if (out.back() != '/') out.push_back('/');
  append(slug);
  return out;
}

document_location locate_document(std::string_view relative_path, const front_matter& meta,
                                  std::string_view base_url) {
  std::vector<std::string_view> parts = split_path(relative_path);
  std::string_view file_name = parts.empty() ? std::string_view() : parts.back();
  if (!parts.empty()) parts.pop_back();
  std::string_view stem = file_name.substr(0, file_name.rfind('.'));

  std::string folder_slug = "/";  // unprefixed folders, with leading and trailing '/'
  for (auto folder : parts) folder_slug += split_number_prefix(folder).name + "/";

  number_prefix_split file = split_number_prefix(stem);
  document_location location;
  std::string base_id = meta.id ? *meta.id : file.name;
  location.id = folder_slug.substr(1) + base_id;
  location.sidebar_position = meta.sidebar_position ? meta.sidebar_position : file.number;

  std::string slug;
  if (meta.slug && meta.slug->starts_with('/')) {
    slug = *meta.slug;
  } else {
    std::string lowered = lowercase(stem);
    bool category_index = lowered == "index" || lowered == "readme" ||
                          (!parts.empty() && lowered == lowercase(parts.back()));
    if (!meta.slug && category_index) {
      slug = folder_slug;
    } else {
      slug = resolve_pathname(meta.slug ? *meta.slug : base_id, folder_slug);
    }
  }
  location.url = join_url(base_url, slug);
  return location;
}

category_metadata read_category_metadata(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  // Read only a small regular file of the folder itself: not a FIFO (a read that never ends),
  // not /dev/zero (one that never stops), not a symlink leading out of the book.
  constexpr std::uintmax_t max_bytes = 64 * 1024;
  category_metadata metadata;
  std::error_code error;
  const fs::path home = fs::canonical(folder, error);
  if (error) return metadata;
  for (const char* name : {"_category_.json", "_category_.yml", "_category_.yaml"}) {
    const fs::path file = fs::canonical(home / name, error);
    if (error || file.parent_path() != home || !fs::is_regular_file(file, error) ||
        fs::file_size(file, error) > max_bytes || error) {
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) continue;
    std::string content(max_bytes, '\0');
    in.read(content.data(), static_cast<std::streamsize>(max_bytes));
    content.resize(static_cast<std::size_t>(in.gcount()));
    try {
      return parse_category_metadata(content);
    } catch (const parse_error&) {
      return {};
    }
  }
  return metadata;
}

category_metadata parse_category_metadata(std::string_view text) {
  category_metadata metadata;
  try {
    // JSON is a subset of YAML, so one parser reads all three forms, once a lone CR (a line
    // break for YAML 1.2 and whitespace for JSON, but part of a plain scalar for yaml-cpp) is
    // made a LF: `{"label":<CR> "Basics"}` would otherwise be labelled `<CR> "Basics"`.
    std::string normalised(text);
    for (std::size_t i = 0; i < normalised.size(); ++i) {
      const bool lone_cr = normalised[i] == '\r' && (i + 1 == normalised.size() || normalised[i + 1] != '\n');
      if (lone_cr) normalised[i] = '\n';
    }
    const YAML::Node root = YAML::Load(normalised);
    if (!root.IsMap()) throw parse_error("a _category_ file is not a mapping");
    if (const YAML::Node label = root["label"]; label && label.IsScalar()) {
      metadata.label = label.as<std::string>();
      // An escape sequence or a NUL would reach the table of contents and the logs.
      for (char& c : *metadata.label) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
      }
    }
    if (const YAML::Node position = root["position"]; position && position.IsScalar()) {
      const double value = position.as<double>();
      if (std::isfinite(value)) metadata.position = value;  // NaN would break sorting
    }
  } catch (const YAML::Exception& error) {
    throw parse_error(std::string("malformed _category_ file: ") + error.what());
  }
  return metadata;
}

bool is_ignored_name(std::string_view name) {
  return name.empty() || name.front() == '.' || name.front() == '_' || name == "node_modules";
}

bool is_markdown_file(const std::filesystem::path& path) {
  auto extension = path.extension();
  return extension == ".md" || extension == ".mdx";
}

}  // namespace bookmcp::rag
