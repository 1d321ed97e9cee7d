// The JSON config file (--config FILE, BOOKMCP_CONFIG) through the real loader, from its text
// (load_config_text: the file path only reads the file and calls the same code), with no
// flags and an empty environment.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - a text is refused only with config_error, whose message names a setting (or the config
//     file itself);
//   - an accepted text is a JSON object whose every key is a setting, each recorded as coming
//     from the file, and the settings respect their bounds: message limit at least 1 KiB, pool
//     min <= max, at least one pool connection, I/O thread and embeddings request, dimensions
//     1 to 65536, durations from 1 ms to a year, rates finite and non-negative, the log choices,
//     http(s) URLs for embeddings and Qdrant (Qdrant only with embeddings);
//   - sizes and durations are what their text says (no wrap-around: computed here in 128 bits);
//   - loading is deterministic.
// Texts naming a secret file (embeddings-api-key-file, request-state-key-file) are skipped:
// those settings read the named file from disk, which is not what this harness fuzzes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "app/config.hpp"

namespace {

using json = nlohmann::json;
using unsigned128 = unsigned __int128;

[[noreturn]] void broken(const char* what, const std::string& text, const std::string& detail = "") {
  std::fprintf(stderr, "invariant broken: %s %s\ntext: %.2000s\n", what, detail.c_str(), text.c_str());
  std::abort();
}

// The setting names, from --help (the loader's own table).
const std::set<std::string>& setting_names() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    std::istringstream usage(bookmcp::app::usage_text());
    std::string line;
    while (std::getline(usage, line)) {
      if (line.rfind("  --", 0) != 0) continue;
      out.insert(line.substr(4, line.find_first_of(" \n", 4) - 4));
    }
    return out;
  }();
  return names;
}

// A value's text as the loader reads it: a string, or an unsigned number.
std::optional<std::string> text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  return std::nullopt;
}

// "123", "4KiB", "5MiB" in 128 bits; none when not digits.
std::optional<unsigned128> size_of(std::string text) {
  unsigned128 multiplier = 1;
  if (text.size() > 3 && text.ends_with("MiB")) {
    multiplier = 1024 * 1024;
    text.resize(text.size() - 3);
  } else if (text.size() > 3 && text.ends_with("KiB")) {
    multiplier = 1024;
    text.resize(text.size() - 3);
  }
  if (text.empty()) return std::nullopt;
  // Leading zeros are digits like any other for the loader ("0003400s" is 3.4 s).
  const std::size_t first = std::min(text.find_first_not_of('0'), text.size() - 1);
  if (text.size() - first > 30) return std::nullopt;
  unsigned128 value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value * multiplier;
}

std::optional<unsigned128> milliseconds_of(std::string text) {
  unsigned128 scale = 1;
  if (text.size() > 2 && text.ends_with("ms")) {
    text.resize(text.size() - 2);
  } else if (text.size() > 1 && text.ends_with("s")) {
    text.resize(text.size() - 1);
    scale = 1000;
  }
  if (text.starts_with("+")) return std::nullopt;
  auto value = size_of(text);
  if (!value) return std::nullopt;
  return *value * scale;
}

bool is_http_url(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::app;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_object() &&
      (document.contains("embeddings-api-key-file") || document.contains("request-state-key-file")))
    return 0;

  config c;
  try {
    c = load_config_text(text, "fuzz.json");
  } catch (const config_error& error) {
    const std::string message = error.what();
    bool named = message.find("config") != std::string::npos;
    for (const auto& name : setting_names()) named = named || message.find(name) != std::string::npos;
    if (!named) broken("a refusal that names no setting:", text, message);
    return 0;
  } catch (const std::exception& error) {
    broken("a refusal that is not config_error:", text, error.what());
  }

  if (!document.is_object()) broken("a text that is not a JSON object was accepted", text);
  if (c.config_file != "fuzz.json") broken("config_file is not the file's name", text);
  for (const auto& [key, value] : document.items()) {
    if (!setting_names().contains(key)) broken("an unknown key was accepted:", text, key);
    if (c.sources.count(key) == 0 || c.sources.at(key) != "file") broken("a key not recorded as from the file:", text, key);
  }
  for (const auto& [key, source] : c.sources) {
    if (!document.contains(key)) broken("a setting from nowhere:", text, key);
  }

  // Bounds.
  if (c.max_message_bytes < 1024) broken("max-message-bytes under 1 KiB", text);
  if (c.db_pool_max < 1 || c.db_pool_min > c.db_pool_max) broken("a pool out of bounds", text);
  if (c.io_threads < 1 || c.embeddings_concurrency < 1) broken("no I/O thread or no embeddings request", text);
  if (c.embeddings_dimensions && (*c.embeddings_dimensions < 1 || *c.embeddings_dimensions > 65536))
    broken("dimensions out of bounds", text);
  const std::chrono::milliseconds year{365LL * 24 * 3600 * 1000};
  for (const auto& duration : {c.idle_timeout, c.shutdown_grace, c.db_statement_timeout, c.embeddings_timeout,
                               c.embeddings_query_timeout}) {
    if (duration.count() < 1 || duration > year) broken("a duration out of bounds", text);
  }
  if (c.reindex_interval.count() < 0 || c.reindex_interval > year) broken("reindex-interval out of bounds", text);
  if (c.tool_timeout && (c.tool_timeout->count() < 1 || *c.tool_timeout > year))
    broken("tool-timeout out of bounds", text);
  if (!std::isfinite(c.rate_limit) || c.rate_limit < 0 || !std::isfinite(c.rate_burst) || c.rate_burst < 0)
    broken("a rate that is not finite and non-negative", text);
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.contains(c.log_level) || (c.log_format != "text" && c.log_format != "json"))
    broken("a log choice out of its set", text);
  if (c.embeddings_url.empty() != c.embeddings_model.empty()) broken("embeddings half configured", text);
  if (!c.embeddings_url.empty() && !is_http_url(c.embeddings_url)) broken("an embeddings URL not http(s)", text);
  if (!c.qdrant_url.empty() && (!is_http_url(c.qdrant_url) || c.embeddings_url.empty()))
    broken("Qdrant without embeddings or an http(s) URL", text);
  if ((c.mode == run_mode::serve_listen) != document.contains("listen")) broken("listen and the mode disagree", text);
  if (c.mode != run_mode::serve_listen && c.mode != run_mode::serve_stdio) broken("a command mode from a file", text);

  // Sizes and durations are what their text says.
  const auto expect_size = [&](const char* key, unsigned128 actual) {
    const auto found = document.find(key);
    if (found == document.end()) return;
    const auto value_text = text_of(*found);
    const auto expected = value_text ? size_of(*value_text) : std::nullopt;
    if (!expected || *expected != actual) broken("a size that is not what its text says:", text, key);
  };
  expect_size("max-message-bytes", c.max_message_bytes);
  expect_size("worker-threads", c.worker_threads);
  expect_size("max-connections", c.max_connections);
  expect_size("db-pool-min", c.db_pool_min);
  expect_size("db-pool-max", c.db_pool_max);
  expect_size("embeddings-batch-size", c.embeddings_batch_size);
  expect_size("embeddings-concurrency", c.embeddings_concurrency);
  if (c.embeddings_dimensions) expect_size("embeddings-dimensions", *c.embeddings_dimensions);
  const auto expect_duration = [&](const char* key, std::chrono::milliseconds actual) {
    const auto found = document.find(key);
    if (found == document.end()) return;
    const auto value_text = text_of(*found);
    const auto expected = value_text ? milliseconds_of(*value_text) : std::nullopt;
    if (!expected || *expected != static_cast<unsigned128>(actual.count()))
      broken("a duration that is not what its text says:", text, key);
  };
  expect_duration("idle-timeout", c.idle_timeout);
  expect_duration("shutdown-grace", c.shutdown_grace);
  expect_duration("db-statement-timeout", c.db_statement_timeout);
  expect_duration("embeddings-timeout", c.embeddings_timeout);
  expect_duration("embeddings-query-timeout", c.embeddings_query_timeout);
  expect_duration("reindex-interval", c.reindex_interval);
  if (c.tool_timeout) expect_duration("tool-timeout", *c.tool_timeout);

  // Deterministic.
  const config again = load_config_text(text, "fuzz.json");
  if (again.sources != c.sources || again.max_message_bytes != c.max_message_bytes || again.docs != c.docs ||
      again.data_dir != c.data_dir || again.idle_timeout != c.idle_timeout || again.rate_limit != c.rate_limit)
    broken("not deterministic", text);
  return 0;
}
