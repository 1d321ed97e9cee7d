#include "rag/indexer.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "rag/docusaurus.hpp"
#include "rag/markdown_parser.hpp"
#include "rag/text.hpp"

namespace bookmcp::rag {

namespace fs = std::filesystem;

namespace {

bool is_within(const fs::path& root, const fs::path& path) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  if (root_end == root.end()) return true;
  // A trailing empty component (root given with a final '/') still matches.
  return std::next(root_end) == root.end() && root_end->empty();
}

std::string relative_string(const fs::path& root, const fs::path& path) {
  fs::path relative = path.lexically_relative(root);
  std::string out = relative.generic_string();
  return out == "." ? std::string() : out;
}

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads a file after the size check. Returns the error message, empty on success.
std::string read_file(const fs::path& path, std::uintmax_t max_bytes, std::string& content) {
  std::error_code error;
  auto size = fs::file_size(path, error);
  if (error) return "cannot read file: " + error.message();
  if (size > max_bytes) {
    return "file is too large: " + std::to_string(size) + " bytes, the limit is " +
           std::to_string(max_bytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open file for reading";
  content.resize(static_cast<std::size_t>(size));
  if (!in.read(content.data(), static_cast<std::streamsize>(size))) {
    return "cannot read file";
  }
  if (!is_valid_utf8(content)) return "file is not valid UTF-8 text";
  return {};
}

std::string stem_of(std::string_view relative) {
  std::string_view name = relative.substr(relative.rfind('/') + 1);
  name = name.substr(0, name.rfind('.'));
  return split_number_prefix(name).name;
}

}  // namespace

std::string_view to_string(file_outcome outcome) noexcept {
  switch (outcome) {
    case file_outcome::added:
      return "added";
    case file_outcome::updated:
      return "updated";
    case file_outcome::unchanged:
      return "unchanged";
    case file_outcome::removed:
      return "removed";
    case file_outcome::failed:
      return "failed";
  }
  return "unknown";
}

indexer::indexer(store::document_registry& registry, lexical_index& index, indexer_options options)
    : registry_(registry), index_(index), options_(std::move(options)) {
  std::vector<fs::path> roots;
  for (const auto& root : options_.roots) {
    std::error_code error;
    fs::path canonical = fs::canonical(root, error);
    if (error || !fs::is_directory(canonical)) {
      throw request_error("docs root " + root.string() + " is not an existing folder");
    }
    // The same folder given twice (say "book" and "book/") counts once.
    if (std::find(roots.begin(), roots.end(), canonical) != roots.end()) continue;
    for (const auto& other : roots) {
      if (is_within(other, canonical) || is_within(canonical, other)) {
        throw request_error("docs roots " + other.string() + " and " + canonical.string() +
                            " overlap (one is inside the other); give only the outer one");
      }
    }
    roots.push_back(std::move(canonical));
  }
  options_.roots = std::move(roots);
}

indexer::open_result indexer::open() {
  std::lock_guard lock(run_mutex_);
  if (options_.dense) open_message_ = options_.dense->open();
  const std::int64_t generation = registry_.generation();
  if (!options_.snapshot_file.empty() && index_.load(options_.snapshot_file, generation)) {
    return open_result::loaded_snapshot;
  }
  index_.rebuild(registry_.all_chunks(), generation);
  if (!options_.snapshot_file.empty()) index_.save(options_.snapshot_file);
  return open_result::rebuilt;
}

void indexer::forget_embeddings() {
  std::lock_guard lock(run_mutex_);
  if (options_.dense) options_.dense->reset_model();
}

resolved_path indexer::resolve(std::string_view requested_path) const {
  if (requested_path.find('\0') != std::string_view::npos) {
    throw request_error("invalid path");
  }
  fs::path requested{std::string(requested_path)};
  std::vector<fs::path> candidates;
  if (requested.is_absolute()) {
    candidates.push_back(requested);
  } else {
    for (const auto& root : options_.roots) candidates.push_back(root / requested);
  }
  // Prefer a candidate that exists; resolve it fully (symlinks and "..").
  for (const auto& candidate : candidates) {
    std::error_code error;
    fs::path canonical = fs::canonical(candidate, error);
    if (error) continue;
    for (const auto& root : options_.roots) {
      if (is_within(root, canonical)) return {root, relative_string(root, canonical), canonical};
    }
    throw request_error("path " + std::string(requested_path) +
                        " resolves outside the registered docs roots");
  }
  // Nothing exists: lexical resolution, still confined to a root.
  for (const auto& candidate : candidates) {
    fs::path normal = candidate.lexically_normal();
    for (const auto& root : options_.roots) {
      if (is_within(root, normal)) {
        // A missing leaf under an existing folder that is itself a symlink escaping the root
        // is caught by canonicalising the deepest existing ancestor.
        std::error_code error;
        fs::path ancestor = fs::weakly_canonical(normal, error);
        if (!error && !is_within(root, ancestor)) break;
        return {root, relative_string(root, normal), normal};
      }
    }
  }
  throw request_error("path " + std::string(requested_path) +
                      " is outside the registered docs roots");
}

file_outcome indexer::index_file(const fs::path& root, const std::string& relative,
                                 const fs::path& absolute, index_summary& summary) {
  const std::string root_string = root.string();
  auto fail = [&](const std::string& message) {
    registry_.record_failure(root_string, relative, message);
    summary.errors.push_back({root_string, relative, message});
    ++summary.failed;
    return file_outcome::failed;
  };

  std::error_code error;
  fs::path canonical = fs::canonical(absolute, error);
  if (error) return fail("cannot resolve file: " + error.message());
  if (!is_within(root, canonical)) return fail("file resolves outside its docs root (symlink)");

  std::string content;
  if (std::string message = read_file(canonical, options_.max_file_bytes, content);
      !message.empty()) {
    return fail(message);
  }
  // Search entries and book:// URIs name a page by its path below its root: two roots cannot
  // both hold one.
  for (const auto& other : options_.roots) {
    if (other == root) continue;
    if (auto taken = registry_.find(other.string(), relative); taken && !taken->chunk_ids.empty()) {
      return fail("the docs root " + other.string() +
                  " already has a page at this path; pages of different roots must have "
                  "different paths below their roots");
    }
  }
  const std::string hash = to_hex(stable_hash(content));
  std::optional<store::document_record> existing = registry_.find(root_string, relative);
  if (existing && existing->content_hash == hash && existing->chunker_version == chunker_version &&
      existing->last_error.empty()) {
    ++summary.unchanged;
    return file_outcome::unchanged;
  }

  parsed_document document;
  try {
    document = parse_markdown(content, stem_of(relative));
  } catch (const parse_error& e) {
    return fail(e.what());
  }
  document_location location = locate_document(relative, document.meta, options_.base_url);
  std::vector<store::stored_chunk> chunks =
      chunk_document(document, relative, location.url, options_.chunking);

  store::document_record record;
  record.root = root_string;
  record.path = relative;
  record.content_hash = hash;
  record.chunker_version = chunker_version;
  for (const auto& chunk : chunks) record.chunk_ids.push_back(chunk.id);
  record.indexed_at_unix_ms = now_unix_ms();
  record.title = document.title;
  record.url = location.url;
  record.sidebar_position = location.sidebar_position.value_or(unpositioned);
  registry_.replace(record, chunks);
  index_.replace_document(relative, chunks);

  bool had_content = existing && !existing->content_hash.empty();
  if (had_content) {
    ++summary.updated;
    return file_outcome::updated;
  }
  ++summary.added;
  return file_outcome::added;
}

void indexer::finish_run(index_summary& summary, std::stop_token stop,
                         const progress_callback& progress) {
  // Read before the registry is compared: a change by another process after this point gives
  // the registry a newer generation than the saved snapshot, which is then not trusted.
  summary.generation = registry_.generation();
  // Another process sharing the data directory (a second stdio server, `bookmcp index`) may
  // have changed the registry under this one: a file it indexed counts as unchanged here but
  // is missing from this process's index. Whatever differs, the registry is the truth.
  std::map<std::string, std::vector<std::string>, std::less<>> expected;
  for (auto& record : registry_.list()) {
    auto& ids = expected[record.path];
    ids.insert(ids.end(), record.chunk_ids.begin(), record.chunk_ids.end());
  }
  if (index_.holds_exactly(expected)) {
    index_.publish(summary.generation);
  } else {
    index_.rebuild(registry_.all_chunks(), summary.generation);
  }
  if (!options_.snapshot_file.empty()) index_.save(options_.snapshot_file);
  if (options_.dense) {
    // After the lexical index is published and saved: the book is searchable by words while
    // it is embedded, and whatever this step leaves undone the next run finds and completes.
    dense_progress_callback on_embedding;
    if (progress) {
      on_embedding = [&](const dense_progress& state) {
        index_progress report;
        report.embedding = &state;
        progress(report);
      };
    }
    summary.dense = options_.dense->synchronise(*index_.snapshot(), stop, on_embedding);
  }
}

index_summary indexer::index(std::string_view requested_path, const progress_callback& progress,
                             std::stop_token stop) {
  const auto started = std::chrono::steady_clock::now();
  resolved_path target = resolve(requested_path);
  std::lock_guard lock(run_mutex_);
  index_summary summary;
  const std::string root_string = target.root.string();

  std::error_code error;
  auto status = fs::status(target.absolute, error);
  std::vector<std::pair<std::string, fs::path>> files;  // relative, absolute
  std::vector<std::string> vanished;
  bool is_folder = false;
  if (error || !fs::exists(status)) {
    // A file that is gone: forget it when it was indexed.
    if (!registry_.find(root_string, target.relative)) {
      throw request_error("no such file or folder: " + std::string(requested_path));
    }
    vanished.push_back(target.relative);
  } else if (fs::is_directory(status)) {
    is_folder = true;
    fs::recursive_directory_iterator it(target.absolute, fs::directory_options::none, error);
    if (error) throw request_error("cannot read folder " + std::string(requested_path));
    for (; it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (error) break;
      const auto name = it->path().filename().string();
      if (is_ignored_name(name)) {
        if (it->is_directory(error)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(error) && is_markdown_file(it->path())) {
        files.emplace_back(relative_string(target.root, it->path()), it->path());
      }
    }
    if (error) throw request_error("cannot walk folder " + std::string(requested_path));
    std::sort(files.begin(), files.end());
    // Registry entries under this folder without a file any more.
    std::set<std::string> seen;
    for (const auto& [relative, absolute] : files) seen.insert(relative);
    std::string prefix = target.relative.empty() ? std::string() : target.relative + "/";
    for (const auto& record : registry_.list()) {
      if (record.root == root_string && record.path.starts_with(prefix) &&
          !seen.contains(record.path)) {
        vanished.push_back(record.path);
      }
    }
  } else {
    if (!is_markdown_file(target.absolute)) {
      throw request_error("not a Markdown file (.md or .mdx): " + std::string(requested_path));
    }
    // What a folder walk skips is not part of the book, named or not (indexed by name, it
    // vanished again at the next full run).
    for (const auto& part : fs::path(target.relative)) {
      if (is_ignored_name(part.string())) {
        throw request_error(std::string(requested_path) +
                            " is not part of the book: names starting with '_' or '.', and "
                            "node_modules, are skipped (Docusaurus partials and hidden files)");
      }
    }
    files.emplace_back(target.relative, target.absolute);
  }
  (void)is_folder;

  const std::size_t total = files.size() + vanished.size();
  std::size_t completed = 0;
  auto report = [&](const std::string& path, file_outcome outcome) {
    ++completed;
    if (progress) progress({completed, total, path, outcome});
  };
  for (const auto& [relative, absolute] : files) {
    if (stop.stop_requested()) {
      summary.cancelled = true;
      break;
    }
    report(relative, index_file(target.root, relative, absolute, summary));
  }
  for (const auto& relative : vanished) {
    if (stop.stop_requested()) {
      summary.cancelled = true;
      break;
    }
    if (registry_.remove(root_string, relative)) {
      index_.remove_document(relative);
      ++summary.removed;
    }
    report(relative, file_outcome::removed);
  }
  finish_run(summary, stop, progress);
  summary.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return summary;
}

index_summary indexer::index_all(const progress_callback& progress, std::stop_token stop) {
  index_summary total;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& root : options_.roots) {
    index_summary one = index(root.string(), progress, stop);
    total.accumulate(one);
    if (one.cancelled) break;
  }
  total.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return total;
}

bool indexer::remove_document(std::string_view requested_path) {
  resolved_path target = resolve(requested_path);
  std::lock_guard lock(run_mutex_);
  if (!registry_.remove(target.root.string(), target.relative)) return false;
  index_.remove_document(target.relative);
  index_summary ignored;
  finish_run(ignored);
  return true;
}

std::vector<toc_entry> indexer::table_of_contents() const {
  struct folder_node {
    std::map<std::string, folder_node> folders;  // by raw folder name
    std::vector<const store::document_record*> documents;
  };
  const std::vector<store::document_record> records = registry_.list();
  std::vector<toc_entry> result;
  for (const auto& root : options_.roots) {
    const std::string root_string = root.string();
    folder_node tree;
    for (const auto& record : records) {
      if (record.root != root_string || record.url.empty()) continue;
      folder_node* node = &tree;
      std::string_view path = record.path;
      std::size_t slash;
      while ((slash = path.find('/')) != std::string_view::npos) {
        node = &node->folders[std::string(path.substr(0, slash))];
        path.remove_prefix(slash + 1);
      }
      node->documents.push_back(&record);
    }

    struct sortable {
      std::optional<double> position;
      std::string name;
      toc_entry entry;
    };
    std::function<std::vector<toc_entry>(const folder_node&, const fs::path&, toc_entry*)> build =
        [&](const folder_node& node, const fs::path& folder, toc_entry* category) {
          std::vector<sortable> items;
          const std::string folder_name = folder == root ? "" : folder.filename().string();
          for (const auto* record : node.documents) {
            std::string file_name = record->path.substr(record->path.rfind('/') + 1);
            std::string stem = file_name.substr(0, file_name.rfind('.'));
            std::string lowered = stem;
            std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            std::string folder_lowered = folder_name;
            std::transform(folder_lowered.begin(), folder_lowered.end(), folder_lowered.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            bool is_index = lowered == "index" || lowered == "readme" ||
                            (!folder_name.empty() && lowered == folder_lowered);
            if (category && is_index && category->path.empty()) {
              category->path = record->path;
              category->url = record->url;
              continue;
            }
            sortable item;
            if (record->sidebar_position != unpositioned) item.position = record->sidebar_position;
            item.name = file_name;
            item.entry.label = record->title;
            item.entry.path = record->path;
            item.entry.url = record->url;
            items.push_back(std::move(item));
          }
          for (const auto& [name, child] : node.folders) {
            sortable item;
            category_metadata metadata = read_category_metadata(folder / name);
            number_prefix_split split = split_number_prefix(name);
            item.position = metadata.position ? metadata.position : split.number;
            item.name = name;
            item.entry.is_category = true;
            item.entry.label = metadata.label ? *metadata.label : split.name;
            item.entry.children = build(child, folder / name, &item.entry);
            items.push_back(std::move(item));
          }
          std::stable_sort(items.begin(), items.end(), [](const sortable& a, const sortable& b) {
            if (a.position.has_value() != b.position.has_value()) return a.position.has_value();
            if (a.position && *a.position != *b.position) return *a.position < *b.position;
            return a.name < b.name;
          });
          std::vector<toc_entry> entries;
          for (auto& item : items) entries.push_back(std::move(item.entry));
          return entries;
        };
    if (options_.roots.size() == 1) {
      result = build(tree, root, nullptr);
    } else {
      toc_entry entry;
      entry.is_category = true;
      entry.label = root.filename().string();
      entry.children = build(tree, root, &entry);
      result.push_back(std::move(entry));
    }
  }
  return result;
}

document_content indexer::read_document(std::string_view requested_path,
                                        std::string_view anchor) const {
  resolved_path target = resolve(requested_path);
  std::error_code error;
  if (!fs::is_regular_file(target.absolute, error)) {
    throw request_error("no such document: " + std::string(requested_path));
  }
  if (!is_markdown_file(target.absolute)) {
    throw request_error("not a Markdown document: " + std::string(requested_path));
  }
  std::string content;
  if (std::string message = read_file(target.absolute, options_.max_file_bytes, content);
      !message.empty()) {
    throw request_error(message);
  }
  parsed_document document;
  try {
    document = parse_markdown(content, stem_of(target.relative));
  } catch (const parse_error& e) {
    throw request_error(e.what());
  }
  document_location location = locate_document(target.relative, document.meta, options_.base_url);

  document_content result;
  result.root = target.root.string();
  result.path = target.relative;
  result.title = document.title;
  result.url = location.url;
  result.anchor = std::string(anchor);

  // Line starts, to cut sections by the heading lines md4c reported.
  std::vector<std::size_t> line_starts{0};
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\n') line_starts.push_back(i + 1);
  }
  auto offset_of_line = [&](int line) {
    return line < 0 || static_cast<std::size_t>(line) >= line_starts.size()
               ? content.size()
               : line_starts[static_cast<std::size_t>(line)];
  };

  std::vector<const markdown_block*> headings;
  for (const auto& block : document.blocks) {
    if (block.kind != block_kind::heading) continue;
    headings.push_back(&block);
    result.headings.push_back({block.level, block.text, block.anchor});
  }
  if (anchor.empty()) {
    std::size_t body = 0;
    parse_front_matter(content, &body);
    // The description and keywords first, as the page's first chunk has them: a search hit on
    // them quotes them, and its citation is this page.
    const std::string summary = front_matter_summary(document.meta);
    result.markdown = summary.empty() ? std::string() : summary + "\n\n";
    result.markdown += content.substr(body);
    return result;
  }
  for (std::size_t i = 0; i < headings.size(); ++i) {
    if (headings[i]->anchor != anchor) continue;
    std::size_t begin = offset_of_line(headings[i]->line);
    std::size_t end = content.size();
    for (std::size_t j = i + 1; j < headings.size(); ++j) {
      if (headings[j]->level <= headings[i]->level && headings[j]->line >= 0) {
        end = offset_of_line(headings[j]->line);
        break;
      }
    }
    if (begin >= end) break;
    result.markdown = content.substr(begin, end - begin);
    result.url += "#" + std::string(anchor);
    return result;
  }
  throw request_error("no section with anchor \"" + std::string(anchor) + "\" in " +
                      target.relative);
}

index_status indexer::status() const {
  index_status status;
  for (const auto& root : options_.roots) status.roots.push_back(root.string());
  for (const auto& record : registry_.list()) {
    ++status.documents;
    if (!record.last_error.empty()) ++status.failed_documents;
  }
  auto snapshot = index_.snapshot();
  status.chunks = snapshot->chunk_count();
  status.index_generation = snapshot->generation();
  status.registry_generation = registry_.generation();
  if (options_.dense) {
    status.dense_configured = true;
    status.dense_store = std::string(options_.dense->store().kind());
    status.dense_vectors = options_.dense->store().size();
    status.dense_pending = options_.dense->pending();
    status.embedding_model = options_.dense->fingerprint();
  }
  return status;
}

}  // namespace bookmcp::rag
