#pragma once
// Docusaurus docs-plugin rules: number prefixes, document URLs, sidebar positions and
// `_category_` folder metadata.
//
// Thread-safety: pure functions, callable from any thread.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "rag/markdown_parser.hpp"

namespace bookmcp::rag {

// "01-intro" gives {"intro", 1}; "2021-01-01-post" (a date-like prefix) and "intro" are left
// alone with no number. Same rule as Docusaurus' DefaultNumberPrefixParser.
struct number_prefix_split {
  std::string name;
  std::optional<double> number;
};
number_prefix_split split_number_prefix(std::string_view file_or_folder_name);

// Where a document lives on the site.
struct document_location {
  std::string id;   // doc id: unprefixed folders + (front matter id or unprefixed file stem)
  std::string url;  // absolute URL path under the base URL, e.g. "/docs/guide/setup"
  // Sidebar position: front matter sidebar_position, else the file's number prefix.
  std::optional<double> sidebar_position;
};

// `relative_path` is the file path under the docs root, '/'-separated, with its extension.
// `base_url` is the docs route ("/docs/" by default; leading/trailing '/' added if missing).
// Rules: an absolute front matter slug replaces the path; a relative slug is resolved against
// the (unprefixed) folder; index.md, README.md or <folder>/<folder>.md gives the folder URL
// (with a trailing '/'); otherwise folder + (front matter id or unprefixed file name).
document_location locate_document(std::string_view relative_path, const front_matter& meta,
                                  std::string_view base_url = "/docs/");

// Joins a base URL and a slug, normalising duplicate slashes: ("/docs/", "/intro") gives
// "/docs/intro".
std::string join_url(std::string_view base_url, std::string_view slug);

// A folder's `_category_.json` (or `_category_.yml`/`.yaml`): label and position.
// Missing file: both empty. Malformed file: both empty (Docusaurus would fail the build; for
// search we degrade to the folder name and number prefix).
struct category_metadata {
  std::optional<std::string> label;
  std::optional<double> position;
};
category_metadata read_category_metadata(const std::filesystem::path& folder);

// The text of a `_category_` file, JSON or YAML alike (JSON is a subset of YAML): its label
// (a string scalar; control characters become spaces, as in front matter titles) and its
// position (a finite number; .nan and .inf are left out). Throws parse_error when the text is
// not a YAML mapping or its position is not a number; read_category_metadata then degrades.
category_metadata parse_category_metadata(std::string_view text);

// True for names Docusaurus never turns into pages: hidden ("."), partials ("_"), node_modules.
bool is_ignored_name(std::string_view file_or_folder_name);

// True for ".md" and ".mdx" files.
bool is_markdown_file(const std::filesystem::path& path);

}  // namespace bookmcp::rag
