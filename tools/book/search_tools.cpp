#include "tools/book/search_tools.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "rag/tokenizer.hpp"
#include "tools/book/book_uri.hpp"

namespace bookmcp::tools {

namespace {

using mcp::json;

constexpr std::size_t default_limit = 5;
constexpr std::size_t max_limit = 50;
constexpr std::size_t snippet_bytes = 240;
constexpr std::string_view markdown_mime = "text/markdown";

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

// "./part-1/", "/part-1" and "part-1" all mean the folder part-1 of a root. ".." is refused so
// that a prefix can never name something outside the book.
std::string normalise_prefix(std::string_view raw) {
  std::string prefix = trim(raw);
  std::replace(prefix.begin(), prefix.end(), '\\', '/');
  while (prefix.starts_with("./")) prefix.erase(0, 2);
  while (prefix.starts_with('/')) prefix.erase(0, 1);
  while (prefix.ends_with('/')) prefix.pop_back();
  if (prefix == ".") prefix.clear();
  for (const auto& part : std::filesystem::path(prefix)) {
    if (part == "..") {
      throw mcp::tool_error(
          "path_prefix must not contain \"..\": give a chapter or part folder "
          "relative to the book root, as listed in book://toc (e.g. \"" +
          std::string("part-1-foundations") + "\")");
    }
  }
  return prefix;
}

bool has_search_terms(std::string_view query) {
  thread_local rag::tokenizer tokenizer;
  return !tokenizer.tokenize(query).empty();
}

void collect_paths(const std::vector<rag::toc_entry>& entries, std::vector<std::string>& out) {
  for (const auto& entry : entries) {
    if (!entry.path.empty()) out.push_back(entry.path);
    collect_paths(entry.children, out);
  }
}

bool under_prefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || path == prefix) return true;
  if (!path.starts_with(prefix)) return false;
  const char next = path[prefix.size()];
  return next == '/' || next == '.';  // "part-1/a.md" or "part-1.md"
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string format_score(double score) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", score);
  return buffer;
}

json search_input_schema() {
  return {{"type", "object"},
          {"properties",
           {{"query",
             {{"type", "string"},
              {"minLength", 1},
              {"maxLength", 1000},
              {"description",
               "What to look for, in words (e.g. \"how to tune a PID controller\"). Matching is "
               "by words after stemming; no operators."}}},
            {"limit",
             {{"type", "integer"},
              {"minimum", 1},
              {"maximum", static_cast<int>(max_limit)},
              {"default", static_cast<int>(default_limit)},
              {"description", "How many sections to return, best first (1-50, default 5)."}}},
            {"path_prefix",
             {{"type", "string"},
              {"maxLength", 1000},
              {"description",
               "Only search this chapter or part: a folder or document path relative to the book "
               "root, as in book://toc (e.g. \"part-2-nervous-system\")."}}},
            {"mode",
             {{"type", "string"},
              {"enum", {"auto", "lexical", "dense", "hybrid"}},
              {"default", "auto"},
              {"description",
               "How to match: \"lexical\" by words (BM25), \"dense\" by meaning (embeddings), "
               "\"hybrid\" both fused; \"auto\" (default) is hybrid when the server has "
               "embeddings configured, lexical otherwise."}}}}},
          {"required", {"query"}},
          {"additionalProperties", false}};
}

json search_output_schema() {
  json hit = {
      {"type", "object"},
      {"properties",
       {{"rank", {{"type", "integer"}}},
        {"score", {{"type", "number"}}},
        {"title", {{"type", "string"}}},
        {"heading_path", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"path", {{"type", "string"}}},
        {"anchor", {{"type", "string"}}},
        {"url", {{"type", "string"}}},
        {"uri", {{"type", "string"}}},
        {"snippet", {{"type", "string"}}},
        {"chunk_id", {{"type", "string"}}},
        {"lexical_rank", {{"type", "integer"}}},
        {"dense_rank", {{"type", "integer"}}},
        {"dense_score", {{"type", "number"}}}}},
      {"required",
       {"rank", "score", "title", "heading_path", "path", "anchor", "url", "uri", "snippet"}}};
  return {
      {"type", "object"},
      {"properties",
       {{"query", {{"type", "string"}}},
        {"path_prefix", {{"type", "string"}}},
        {"limit", {{"type", "integer"}}},
        {"index_generation", {{"type", "integer"}}},
        {"mode", {{"type", "string"}, {"enum", {"lexical", "dense", "hybrid"}}}},
        {"signals",
         {{"type", "object"},
          {"properties", {{"lexical", {{"type", "boolean"}}}, {"dense", {{"type", "boolean"}}}}},
          {"required", {"lexical", "dense"}}}},
        {"degraded", {{"type", "boolean"}}},
        {"degraded_reason", {{"type", "string"}}},
        {"hits", {{"type", "array"}, {"items", hit}}}}},
      {"required", {"query", "mode", "signals", "degraded", "hits"}}};
}

mcp::tool_result search_book(rag::indexer& indexer, rag::book_searcher& searcher,
                             const json& arguments, const std::function<bool()>& indexing,
                             std::stop_token stop) {
  const std::string query = trim(arguments.value("query", std::string()));
  if (query.empty()) {
    throw mcp::tool_error(
        "query is empty: pass the words to look for, e.g. {\"query\": \"PID tuning\"}");
  }
  const auto limit = arguments.value("limit", static_cast<std::int64_t>(default_limit));
  if (limit < 1 || limit > static_cast<std::int64_t>(max_limit)) {
    throw mcp::tool_error("limit must be between 1 and 50 (got " + std::to_string(limit) + ")");
  }
  const std::string prefix = normalise_prefix(arguments.value("path_prefix", std::string()));
  if (!has_search_terms(query)) {
    throw mcp::tool_error("query \"" + query +
                          "\" has no searchable words (only punctuation, common words like "
                          "\"the\", or words over 64 bytes): add the topic's own words, e.g. "
                          "\"inverse kinematics\"");
  }

  const std::string mode_name = arguments.value("mode", std::string("auto"));
  const auto mode = rag::parse_retrieval_mode(mode_name);
  if (!mode) {
    throw mcp::tool_error("mode must be one of auto, lexical, dense, hybrid (got \"" + mode_name +
                          "\")");
  }
  rag::search_request request;
  request.query = query;
  request.limit = static_cast<std::size_t>(limit);
  request.path_prefix = prefix;
  request.snippet_bytes = snippet_bytes;
  rag::book_search_result found;
  try {
    found = searcher.search(request, *mode, stop);
  } catch (const std::invalid_argument& error) {
    throw mcp::tool_error(error.what());
  }
  const auto& snapshot = found.snapshot;
  const std::vector<rag::ranked_hit>& hits = found.hits;

  if (hits.empty() && !prefix.empty()) {
    std::vector<std::string> paths;
    collect_paths(indexer.table_of_contents(), paths);
    if (std::none_of(paths.begin(), paths.end(),
                     [&](const std::string& path) { return under_prefix(path, prefix); })) {
      throw mcp::tool_error("no indexed document under path_prefix \"" + prefix +
                            "\": read book://toc for the book's chapter and part paths, or "
                            "leave path_prefix out to search the whole book");
    }
  }

  // Nothing indexed yet while a run is in progress: the first indexing after a start with an
  // empty data directory. "No section matches" would tell a model the book lacks the topic.
  if (hits.empty() && snapshot->document_count() == 0 && indexing && indexing()) {
    throw mcp::tool_error(
        "the book is still being indexed, so nothing can be found yet; retry "
        "in a few seconds (index_status shows the progress)");
  }

  json structured_hits = json::array();
  json links = json::array();
  std::string text;
  if (hits.empty()) {
    text = "No section of the book matches \"" + query + "\"" +
           (prefix.empty() ? std::string() : " under " + prefix) +
           ". Try other words or a broader path_prefix.";
  } else {
    text = std::to_string(hits.size()) + (hits.size() == 1 ? " result" : " results") + " for \"" +
           query + "\"" + (prefix.empty() ? std::string() : " under " + prefix) + ":\n";
  }
  if (found.degraded) text += "\n(Degraded: " + found.degraded_reason + ".)\n";
  int rank = 0;
  for (const auto& ranked : hits) {
    const rag::search_hit& hit = ranked.hit;
    ++rank;
    const std::string uri = document_uri(hit.document_path, hit.anchor);
    const std::string section = join(hit.heading_path, " > ");
    json structured_hit = {{"rank", rank},
                           {"score", hit.score},
                           {"title", hit.title},
                           {"heading_path", hit.heading_path},
                           {"path", hit.document_path},
                           {"anchor", hit.anchor},
                           {"url", hit.url},
                           {"uri", uri},
                           {"snippet", hit.snippet},
                           {"chunk_id", hit.chunk_id}};
    if (ranked.lexical_rank >= 0) structured_hit["lexical_rank"] = ranked.lexical_rank + 1;
    if (ranked.dense_rank >= 0) {
      structured_hit["dense_rank"] = ranked.dense_rank + 1;
      structured_hit["dense_score"] = ranked.dense_score;
    }
    structured_hits.push_back(std::move(structured_hit));
    text += "\n" + std::to_string(rank) + ". " + (section.empty() ? hit.title : section) +
            "  (score " + format_score(hit.score) + ")\n   " + hit.url + "  [" + uri + "]\n   " +
            hit.snippet + "\n";
    json link = {
        {"type", "resource_link"},
        {"uri", uri},
        {"name", hit.anchor.empty() ? hit.document_path : hit.document_path + "#" + hit.anchor},
        {"title", section.empty() ? hit.title : section},
        {"mimeType", markdown_mime}};
    if (!hit.snippet.empty()) link["description"] = hit.snippet;
    links.push_back(std::move(link));
  }
  json structured = {{"query", query},
                     {"limit", limit},
                     {"index_generation", snapshot->generation()},
                     {"mode", rag::to_string(found.mode)},
                     {"signals", {{"lexical", found.lexical}, {"dense", found.dense}}},
                     {"degraded", found.degraded},
                     {"hits", std::move(structured_hits)}};
  if (found.degraded) structured["degraded_reason"] = found.degraded_reason;
  if (!prefix.empty()) structured["path_prefix"] = prefix;
  mcp::tool_result result = mcp::tool_result::structured(std::move(structured), std::move(text));
  for (auto& link : links) result.content.push_back(std::move(link));
  return result;
}

void render_entries(const std::vector<rag::toc_entry>& entries, int depth, std::string& out) {
  for (const auto& entry : entries) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out += "- ";
    if (!entry.path.empty()) {
      out += "[" + entry.label + "](" + document_uri(entry.path) + ")";
      if (!entry.url.empty()) out += " — " + entry.url;
    } else {
      out += entry.label;
    }
    out += "\n";
    render_entries(entry.children, depth + 1, out);
  }
}

std::vector<mcp::resource_contents> read_document_resource(rag::indexer& indexer,
                                                           const std::string& uri,
                                                           const std::string& encoded) {
  auto reference = parse_document_reference(encoded);
  if (!reference) {
    throw mcp::rpc_error(mcp::error_code::invalid_params,
                         "malformed book URI " + uri + ": expected book://doc/<path>[#<anchor>]");
  }
  rag::resolved_path target;
  try {
    target = indexer.resolve(reference->path);
  } catch (const rag::request_error& error) {
    throw mcp::rpc_error(mcp::error_code::invalid_params, error.what());
  }
  std::error_code missing;
  if (!std::filesystem::is_regular_file(target.absolute, missing))
    throw mcp::resource_not_found(uri);
  rag::document_content document;
  try {
    document = indexer.read_document(reference->path, reference->anchor);
  } catch (const rag::request_error& error) {
    throw mcp::rpc_error(mcp::error_code::invalid_params, error.what());
  }
  mcp::resource_contents contents;
  contents.uri = uri;
  contents.mime_type = std::string(markdown_mime);
  contents.text = std::move(document.markdown);
  return {std::move(contents)};
}

}  // namespace

std::string render_table_of_contents(const std::vector<rag::toc_entry>& entries) {
  std::string out = "# Table of contents\n\n";
  if (entries.empty()) {
    out += "(nothing is indexed yet: run the index_documents tool)\n";
    return out;
  }
  render_entries(entries, 0, out);
  return out;
}

void register_search_tools(mcp::server& server, rag::indexer& indexer, rag::book_searcher& searcher,
                           std::shared_ptr<const void> owner, std::function<bool()> indexing) {
  mcp::tool_definition search;
  search.name = "search_book";
  search.title = "Search the book";
  search.description =
      "Searches the indexed book (by words, by meaning when the server has embeddings, or both) "
      "and returns the best-matching sections, best first, each with "
      "its title, heading path, page URL with anchor (cite it), a snippet with the matching "
      "words in **bold**, and a resource_link (book://doc/<path>#<anchor>) to read the whole "
      "section. Use path_prefix to stay within one chapter or part (see book://toc).";
  search.input_schema = search_input_schema();
  search.output_schema = search_output_schema();
  search.annotations.title = search.title;
  search.annotations.read_only_hint = true;
  search.annotations.idempotent_hint = true;
  search.annotations.open_world_hint = false;
  search.timeout = std::chrono::seconds(10);
  search.max_concurrency = 32;
  search.handler = [&indexer, &searcher, owner, indexing = std::move(indexing)](
                       mcp::tool_context& context, const json& arguments) {
    return search_book(indexer, searcher, arguments, indexing, context.stop_token());
  };
  server.add_tool(std::move(search));

  mcp::resource_definition toc;
  toc.uri = std::string(book_toc_uri);
  toc.name = "toc";
  toc.title = "Table of contents";
  toc.description =
      "The book's chapters and pages in sidebar order, each linked to its book://doc URI.";
  toc.mime_type = std::string(markdown_mime);
  toc.read = [&indexer, owner](const std::string& uri) {
    mcp::resource_contents contents;
    contents.uri = uri;
    contents.mime_type = std::string(markdown_mime);
    contents.text = render_table_of_contents(indexer.table_of_contents());
    return std::vector<mcp::resource_contents>{std::move(contents)};
  };
  server.add_resource(std::move(toc));

  mcp::resource_template_definition document;
  document.uri_template = std::string(book_document_uri_template);
  document.name = "doc";
  document.title = "Book page or section";
  document.description =
      "A page of the book as Markdown: book://doc/<path> for the whole page, "
      "book://doc/<path>#<anchor> for one section (as linked by search_book and book://toc).";
  document.mime_type = std::string(markdown_mime);
  document.read = [&indexer, owner](const std::string& uri,
                                    const std::map<std::string, std::string>& variables) {
    auto it = variables.find("path");
    if (it == variables.end()) throw mcp::resource_not_found(uri);
    return read_document_resource(indexer, uri, it->second);
  };
  document.complete = [&indexer, owner](const std::string& variable, const std::string& prefix,
                                        const std::map<std::string, std::string>&) {
    std::vector<std::string> matches;
    if (variable != "path") return matches;
    std::vector<std::string> paths;
    collect_paths(indexer.table_of_contents(), paths);
    std::sort(paths.begin(), paths.end());
    // All matches: the runtime sends the first 100 with the total and hasMore.
    for (const auto& path : paths) {
      if (path.starts_with(prefix)) matches.push_back(path);
    }
    return matches;
  };
  server.add_resource_template(std::move(document));
}

}  // namespace bookmcp::tools
