#include "tools/index/index_tools.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "store/errors.hpp"

namespace bookmcp::tools {

namespace {

using mcp::json;
namespace fs = std::filesystem;

constexpr std::size_t max_paths = 100;
constexpr std::size_t max_listed_errors = 50;

std::string iso_time(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buffer;
}

std::uintmax_t size_or_zero(const fs::path& file) {
  std::error_code error;
  auto size = fs::file_size(file, error);
  return error ? 0 : size;
}

json error_list(const std::vector<rag::file_error>& errors, std::size_t roots) {
  json out = json::array();
  for (const auto& error : errors) {
    if (out.size() == max_listed_errors) break;
    json item = {{"path", error.path}, {"message", error.message}};
    if (roots > 1) item["root"] = error.root;
    out.push_back(std::move(item));
  }
  return out;
}

json counts_schema_properties() {
  json integer = {{"type", "integer"}, {"minimum", 0}};
  return {{"added", integer},
          {"updated", integer},
          {"unchanged", integer},
          {"removed", integer},
          {"failed", integer}};
}

json file_error_schema() {
  return {{"type", "object"},
          {"properties",
           {{"path", {{"type", "string"}}},
            {"message", {{"type", "string"}}},
            {"root", {{"type", "string"}}}}},
          {"required", {"path", "message"}}};
}

// The embedding step of a run (dense retrieval configured), or null.
json embedding_json(const std::optional<rag::dense_sync_report>& dense) {
  if (!dense) return nullptr;
  json chunk_errors = json::array();
  for (const auto& error : dense->chunk_errors) {
    if (chunk_errors.size() == max_listed_errors) break;
    chunk_errors.push_back(
        {{"path", error.document_path}, {"chunk_id", error.chunk_id}, {"message", error.message}});
  }
  json out = {{"embedded", dense->embedded}, {"removed", dense->removed},
              {"pending", dense->pending},   {"requests", dense->requests},
              {"retries", dense->retries},   {"cancelled", dense->cancelled},
              {"chunk_errors", chunk_errors}};
  if (!dense->error.empty()) out["error"] = dense->error;
  return out;
}

std::string embedding_line(const std::optional<rag::dense_sync_report>& dense) {
  if (!dense) return {};
  std::string line = "\nEmbeddings: " + std::to_string(dense->embedded) + " chunks embedded, " +
                     std::to_string(dense->removed) + " removed, " +
                     std::to_string(dense->pending) + " pending, in " +
                     std::to_string(dense->requests) + " requests (" +
                     std::to_string(dense->retries) + " retries).";
  if (!dense->error.empty())
    line += " Embedding stopped: " + dense->error +
            ". Search answers by words meanwhile; the next run embeds what is pending.";
  for (const auto& error : dense->chunk_errors)
    line += "\n- " + error.document_path + ": " + error.message;
  return line;
}

json run_json(const index_run_record& run, std::size_t roots) {
  const auto& summary = run.summary;
  return {{"trigger", run.trigger},
          {"started_at", iso_time(run.started_unix_ms)},
          {"finished_at", iso_time(run.finished_unix_ms)},
          {"elapsed_ms", summary.elapsed.count()},
          {"added", summary.added},
          {"updated", summary.updated},
          {"unchanged", summary.unchanged},
          {"removed", summary.removed},
          {"failed", summary.failed},
          {"cancelled", summary.cancelled},
          {"errors", error_list(summary.errors, roots)},
          {"embedding", embedding_json(summary.dense)}};
}

json embedding_schema() {
  return {{"type", {"object", "null"}},
          {"description", "The embedding step (null without embeddings configured)."},
          {"properties",
           {{"embedded", {{"type", "integer"}}},
            {"removed", {{"type", "integer"}}},
            {"pending", {{"type", "integer"}}},
            {"requests", {{"type", "integer"}}},
            {"retries", {{"type", "integer"}}},
            {"cancelled", {{"type", "boolean"}}},
            {"error", {{"type", "string"}}},
            {"chunk_errors", {{"type", "array"}}}}}};
}

json run_schema() {
  json properties = counts_schema_properties();
  properties["trigger"] = {{"type", "string"}};
  properties["started_at"] = {{"type", "string"}};
  properties["finished_at"] = {{"type", "string"}};
  properties["elapsed_ms"] = {{"type", "integer"}};
  properties["cancelled"] = {{"type", "boolean"}};
  properties["errors"] = {{"type", "array"}, {"items", file_error_schema()}};
  properties["embedding"] = embedding_schema();
  return {{"type", "object"},
          {"properties", properties},
          {"required",
           {"trigger", "elapsed_ms", "added", "updated", "unchanged", "removed", "failed",
            "cancelled", "errors"}}};
}

std::string summary_line(const rag::index_summary& summary) {
  return std::to_string(summary.added) + " added, " + std::to_string(summary.updated) +
         " updated, " + std::to_string(summary.unchanged) + " unchanged, " +
         std::to_string(summary.removed) + " removed, " + std::to_string(summary.failed) +
         " failed";
}

void register_index_documents(mcp::server& server, std::shared_ptr<index_runner> runner,
                              const index_tool_options& options) {
  mcp::tool_definition tool;
  tool.name = "index_documents";
  tool.title = "Index book documents";
  tool.description =
      "Indexes the book's Markdown/MDX files so that search_book finds them: every registered "
      "docs root when `paths` is omitted, or the given files/folders (relative to a root, or "
      "absolute inside one). Incremental: unchanged files are skipped, deleted files are "
      "dropped. Reports progress per file and can be cancelled (it stops between files and "
      "keeps what it did). Files that cannot be indexed (not UTF-8, too large, unreadable) are "
      "listed in `errors` without stopping the run. Paths outside the registered roots are "
      "refused. A client of the 2026-07-28 tasks extension gets a task to poll (tasks/get) or "
      "cancel (tasks/cancel) instead of waiting.";
  tool.input_schema = {
      {"type", "object"},
      {"properties",
       {{"paths",
         {{"type", "array"},
          {"minItems", 1},
          {"maxItems", static_cast<int>(max_paths)},
          {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 4096}}},
          {"description",
           "Files or folders to index, relative to the docs root (e.g. \"part-1/intro.md\") or "
           "absolute inside it. Omit to index every registered root."}}}}},
      {"additionalProperties", false}};
  json output_properties = counts_schema_properties();
  output_properties["cancelled"] = {{"type", "boolean"}};
  output_properties["elapsed_ms"] = {{"type", "integer"}};
  output_properties["generation"] = {{"type", "integer"}};
  output_properties["paths"] = {{"type", "array"}, {"items", {{"type", "string"}}}};
  output_properties["errors"] = {{"type", "array"}, {"items", file_error_schema()}};
  output_properties["embedding"] = embedding_schema();
  tool.output_schema = {
      {"type", "object"},
      {"properties", output_properties},
      {"required", {"added", "updated", "unchanged", "removed", "failed", "cancelled", "errors"}}};
  tool.annotations.title = tool.title;
  tool.annotations.read_only_hint = false;
  tool.annotations.destructive_hint = false;
  tool.annotations.idempotent_hint = true;
  tool.annotations.open_world_hint = false;
  tool.timeout = options.index_timeout;
  tool.max_concurrency = 2;  // runs are serialised by the runner anyway; a second one waits
  tool.max_queue = 8;
  // A long run: a client that speaks the tasks extension polls it rather than holding a
  // request open for minutes.
  tool.task_support = mcp::tool_definition::task_mode::optional;
  tool.handler = [runner, owner = options.owner](mcp::tool_context& context,
                                                 const json& arguments) {
    std::vector<std::string> paths = arguments.value("paths", std::vector<std::string>{});
    if (paths.empty() && runner->indexer().roots().empty()) {
      throw mcp::tool_error(
          "no docs root is registered: start bookmcp with --docs DIR to index a book");
    }
    std::optional<index_run_record> run;
    try {
      run = runner->index(
          paths, "tool",
          [&context, files = 0.0](const rag::index_progress& file) mutable {
            if (const auto* embedding = file.embedding) {
              // After the files, so that progress keeps increasing: files + chunks embedded.
              context.report_progress(files + static_cast<double>(embedding->chunks_done),
                                      files + static_cast<double>(embedding->chunks_total),
                                      "embedding: " + std::to_string(embedding->chunks_done) + "/" +
                                          std::to_string(embedding->chunks_total) + " chunks, " +
                                          std::to_string(embedding->requests) + " requests, " +
                                          std::to_string(embedding->retries) + " retries");
              return;
            }
            files = static_cast<double>(file.total);
            context.report_progress(
                static_cast<double>(file.completed), static_cast<double>(file.total),
                file.path + " (" + std::string(rag::to_string(file.outcome)) + ")");
          },
          context.stop_token());
    } catch (const rag::request_error& error) {
      throw mcp::tool_error(std::string(error.what()) +
                            " (index_documents only reads the registered docs roots: " +
                            "give paths relative to a root, without \"..\")");
    } catch (const store::store_error& error) {
      throw mcp::tool_error(std::string("indexing failed: ") + error.what());
    } catch (const std::exception& error) {
      // Saving the index files (a data directory that went away, a full disk): the details
      // name server paths, so they go to the log.
      spdlog::error("index_documents: {}", error.what());
      throw mcp::tool_error(
          "indexing failed: the index could not be saved in the server's data directory "
          "(the server log has the details); the previous index is still served");
    }
    if (!run) throw mcp::cancelled_error();
    const auto& summary = run->summary;
    const std::size_t roots = runner->indexer().roots().size();
    json structured = {{"added", summary.added},
                       {"updated", summary.updated},
                       {"unchanged", summary.unchanged},
                       {"removed", summary.removed},
                       {"failed", summary.failed},
                       {"cancelled", summary.cancelled},
                       {"elapsed_ms", summary.elapsed.count()},
                       {"generation", summary.generation},
                       {"errors", error_list(summary.errors, roots)},
                       {"embedding", embedding_json(summary.dense)}};
    if (!paths.empty()) structured["paths"] = paths;
    std::string text = std::string(summary.cancelled ? "Indexing cancelled: " : "Indexed: ") +
                       summary_line(summary) + " in " + std::to_string(summary.elapsed.count()) +
                       " ms.";
    for (const auto& error : summary.errors) text += "\n- " + error.path + ": " + error.message;
    text += embedding_line(summary.dense);
    return mcp::tool_result::structured(std::move(structured), std::move(text));
  };
  server.add_tool(std::move(tool));
}

void register_index_status(mcp::server& server, std::shared_ptr<index_runner> runner,
                           const index_tool_options& options) {
  mcp::tool_definition tool;
  tool.name = "index_status";
  tool.title = "Book index status";
  tool.description =
      "Reports the book index: registered roots, documents and chunks indexed, whether a run "
      "is in progress, the last run of this server (counts and errors), documents whose last "
      "indexing failed, and the index size on disk.";
  tool.input_schema = {
      {"type", "object"}, {"properties", json::object()}, {"additionalProperties", false}};
  json integer = {{"type", "integer"}, {"minimum", 0}};
  tool.output_schema = {{"type", "object"},
                        {"properties",
                         {{"roots", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                          {"documents", integer},
                          {"failed_documents", integer},
                          {"chunks", integer},
                          {"indexing", {{"type", "boolean"}}},
                          {"registry_generation", {{"type", "integer"}}},
                          {"index_generation", {{"type", "integer"}}},
                          {"last_run", run_schema()},
                          {"last_errors", {{"type", "array"}, {"items", file_error_schema()}}},
                          {"index_bytes", integer},
                          {"database_bytes", integer},
                          {"size_on_disk_bytes", integer},
                          {"dense",
                           {{"type", "object"},
                            {"description", "Dense retrieval, when embeddings are configured."},
                            {"properties",
                             {{"store", {{"type", "string"}}},
                              {"vectors", integer},
                              {"pending", integer},
                              {"model", {{"type", "string"}}}}}}}}},
                        {"required",
                         {"roots", "documents", "failed_documents", "chunks", "indexing",
                          "last_errors", "size_on_disk_bytes"}}};
  tool.annotations.title = tool.title;
  tool.annotations.read_only_hint = true;
  tool.annotations.idempotent_hint = true;
  tool.annotations.open_world_hint = false;
  tool.timeout = std::chrono::seconds(30);
  tool.handler = [runner, options](mcp::tool_context&, const json&) {
    rag::indexer& indexer = runner->indexer();
    const rag::index_status status = indexer.status();
    const std::uintmax_t index_bytes = size_or_zero(options.snapshot_file);
    std::uintmax_t database_bytes = 0;
    for (const auto& file : options.database_files) database_bytes += size_or_zero(file);
    // Errors recorded in the registry outlive restarts; read them from the table of records.
    std::vector<rag::file_error> recorded = runner->failed_documents();
    json structured = {{"roots", status.roots},
                       {"documents", status.documents},
                       {"failed_documents", status.failed_documents},
                       {"chunks", status.chunks},
                       {"indexing", runner->running()},
                       {"registry_generation", status.registry_generation},
                       {"index_generation", status.index_generation},
                       {"last_errors", error_list(recorded, status.roots.size())},
                       {"index_bytes", index_bytes},
                       {"size_on_disk_bytes", index_bytes + database_bytes}};
    if (!options.database_files.empty()) structured["database_bytes"] = database_bytes;
    if (status.dense_configured) {
      structured["dense"] = {{"store", status.dense_store},
                             {"vectors", status.dense_vectors},
                             {"pending", status.dense_pending},
                             {"model", status.embedding_model}};
    }
    std::string text = std::to_string(status.documents) + " documents (" +
                       std::to_string(status.failed_documents) + " failed), " +
                       std::to_string(status.chunks) + " chunks indexed from " +
                       std::to_string(status.roots.size()) + " root(s); " +
                       std::to_string((index_bytes + database_bytes + 1023) / 1024) +
                       " KiB on disk" + (runner->running() ? "; a run is in progress" : "") + ".";
    if (status.dense_configured) {
      text += "\nDense retrieval (" + status.dense_store +
              "): " + std::to_string(status.dense_vectors) + " vectors, " +
              std::to_string(status.dense_pending) + " chunks waiting; model " +
              status.embedding_model + ".";
    }
    if (auto last = runner->last_run()) {
      structured["last_run"] = run_json(*last, status.roots.size());
      text += "\nLast run (" + last->trigger + ", " + iso_time(last->finished_unix_ms) + ", " +
              std::to_string(last->summary.elapsed.count()) +
              " ms): " + summary_line(last->summary) +
              (last->summary.cancelled ? ", cancelled" : "") + ".";
    } else {
      text += "\nNo indexing run since this server started.";
    }
    for (const auto& error : recorded) text += "\n- " + error.path + ": " + error.message;
    return mcp::tool_result::structured(std::move(structured), std::move(text));
  };
  server.add_tool(std::move(tool));
}

void register_remove_document(mcp::server& server, std::shared_ptr<index_runner> runner,
                              const index_tool_options& options) {
  mcp::tool_definition tool;
  tool.name = "remove_document";
  tool.title = "Remove a document from the index";
  tool.description =
      "Drops one document (a path relative to the docs root, as in book://toc or a search "
      "hit's `path`) from the index; the file itself is not touched. The next index_documents "
      "run over its folder adds it again while the file exists.";
  tool.input_schema = {
      {"type", "object"},
      {"properties",
       {{"path",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 4096},
          {"description", "The document's path relative to the docs root, e.g. \"intro.md\"."}}}}},
      {"required", {"path"}},
      {"additionalProperties", false}};
  tool.output_schema = {
      {"type", "object"},
      {"properties", {{"path", {{"type", "string"}}}, {"removed", {{"type", "boolean"}}}}},
      {"required", {"path", "removed"}}};
  tool.annotations.title = tool.title;
  tool.annotations.read_only_hint = false;
  tool.annotations.destructive_hint = true;
  tool.annotations.idempotent_hint = true;
  tool.annotations.open_world_hint = false;
  tool.timeout = std::chrono::minutes(5);
  tool.max_concurrency = 2;
  tool.handler = [runner, owner = options.owner](mcp::tool_context& context,
                                                 const json& arguments) {
    const std::string path = arguments.at("path").get<std::string>();
    std::optional<bool> removed;
    try {
      removed = runner->remove(path, context.stop_token());
    } catch (const rag::request_error& error) {
      throw mcp::tool_error(error.what());
    }
    if (!removed) throw mcp::cancelled_error();
    std::string text = *removed ? "Removed " + path + " from the index."
                                : path +
                                      " was not indexed; nothing to remove (index_status and "
                                      "book://toc list what is indexed).";
    return mcp::tool_result::structured({{"path", path}, {"removed", *removed}}, std::move(text));
  };
  server.add_tool(std::move(tool));
}

}  // namespace

void register_index_tools(mcp::server& server, std::shared_ptr<index_runner> runner,
                          index_tool_options options) {
  register_index_documents(server, runner, options);
  register_index_status(server, runner, options);
  register_remove_document(server, runner, options);
}

}  // namespace bookmcp::tools
