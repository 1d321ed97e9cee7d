#include "app/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mcp/request_state.hpp"

extern char** environ;

namespace bookmcp::app {

namespace {

using json = nlohmann::json;

enum class value_kind { text, list, size, milliseconds, choice, number, flag };

// One row per setting: its flag, environment variable and config-file key, how to parse it,
// and where it goes. The same table drives parsing, validation and --help.
struct setting {
  std::string name;        // config-file key and flag without "--"
  std::string env;         // environment variable, empty when none
  value_kind kind;
  std::string help;
  std::vector<std::string> choices;
  std::function<void(config&, const std::vector<std::string>&)> apply;
};

std::size_t parse_size(const std::string& name, const std::string& text) {
  std::size_t value = 0;
  std::size_t multiplier = 1;
  std::string digits = text;
  auto ends_with = [&](const std::string& suffix) {
    return digits.size() > suffix.size() && digits.compare(digits.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("MiB")) {
    multiplier = 1024 * 1024;
    digits.resize(digits.size() - 3);
  } else if (ends_with("KiB")) {
    multiplier = 1024;
    digits.resize(digits.size() - 3);
  }
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    throw config_error("setting " + name + ": \"" + text + "\" is not a size (use e.g. 1048576, 512KiB or 10MiB)");
  }
  // "17592186044417MiB" wrapped around to 1 MiB.
  if (value > std::numeric_limits<std::size_t>::max() / multiplier) {
    throw config_error("setting " + name + ": \"" + text + "\" is too large");
  }
  return value * multiplier;
}

// A secret kept in a file (Docker and Kubernetes secrets): its content without the final
// line break.
std::string read_secret_file(const std::string& name, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error("setting " + name + ": cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  std::string secret = content.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw config_error("setting " + name + ": " + path + " is empty");
  return secret;
}

double parse_number(const std::string& name, const std::string& text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  // from_chars reads "inf" and "nan" too: neither is a rate.
  if (error != std::errc() || end != text.data() + text.size() || text.empty() || !(value >= 0) ||
      !std::isfinite(value)) {
    throw config_error("setting " + name + ": \"" + text + "\" is not a non-negative number");
  }
  return value;
}

bool parse_bool(const std::string& name, const std::string& text) {
  if (text == "1" || text == "true" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "no") return false;
  throw config_error("setting " + name + ": \"" + text + "\" is not true or false");
}

constexpr std::chrono::milliseconds max_duration{365LL * 24 * 3600 * 1000};

std::chrono::milliseconds parse_milliseconds(const std::string& name, const std::string& text) {
  std::string digits = text;
  long long scale = 1;
  if (digits.size() > 2 && digits.ends_with("ms")) {
    digits.resize(digits.size() - 2);
  } else if (digits.size() > 1 && digits.ends_with("s")) {
    digits.resize(digits.size() - 1);
    scale = 1000;
  }
  long long value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() || value <= 0) {
    throw config_error("setting " + name + ": \"" + text + "\" is not a duration (use e.g. 500ms or 30s)");
  }
  // At most a year: "9223372036854775807s" overflowed the multiplication (undefined behaviour),
  // and a deadline that far would overflow the clocks it is added to.
  if (value > max_duration.count() / scale) {
    throw config_error("setting " + name + ": \"" + text + "\" is longer than a year (31536000s)");
  }
  return std::chrono::milliseconds(value * scale);
}

const std::vector<setting>& settings() {
  static const std::vector<setting> table = {
      {"listen", "BOOKMCP_LISTEN", value_kind::text, "serve WebSocket and Streamable HTTP on HOST:PORT", {},
       [](config& c, const auto& v) {
         c.listen = v.back();
         c.mode = run_mode::serve_listen;
       }},
      {"data-dir", "BOOKMCP_DATA_DIR", value_kind::text,
       "directory for the embedded profile (SQLite, index); default $XDG_DATA_HOME/bookmcp", {},
       [](config& c, const auto& v) { c.data_dir = v.back(); }},
      {"docs", "BOOKMCP_DOCS", value_kind::list,
       "a book root to index and serve (repeatable; in the environment, ':'-separated)", {},
       [](config& c, const auto& v) { c.docs = v; }},
      {"reindex-interval", "BOOKMCP_REINDEX_INTERVAL", value_kind::milliseconds,
       "re-scan the --docs roots this often while serving (e.g. 60s; default: only at start)", {},
       [](config& c, const auto& v) { c.reindex_interval = parse_milliseconds("reindex-interval", v.back()); }},
      {"base-url", "BOOKMCP_BASE_URL", value_kind::text, "URL prefix of the book's pages (default /docs/)", {},
       [](config& c, const auto& v) { c.base_url = v.back(); }},
      {"timezone", "BOOKMCP_TIMEZONE", value_kind::text, "the user's time zone for overdue todos: an IANA name (Europe/Berlin), UTC or +HH:MM", {},
       [](config& c, const auto& v) { c.timezone = v.back(); }},
      {"user", "BOOKMCP_USER", value_kind::text, "identity of the stdio user (default: $USER)", {},
       [](config& c, const auto& v) { c.user = v.back(); }},
      {"log-level", "LOG_LEVEL", value_kind::choice, "log level on stderr",
       {"trace", "debug", "info", "warn", "error", "critical", "off"},
       [](config& c, const auto& v) { c.log_level = v.back(); }},
      {"log-format", "BOOKMCP_LOG_FORMAT", value_kind::choice, "log format on stderr", {"text", "json"},
       [](config& c, const auto& v) { c.log_format = v.back(); }},
      {"max-message-bytes", "BOOKMCP_MAX_MESSAGE_BYTES", value_kind::size,
       "largest accepted message (default 10MiB on stdio, 4MiB on the network)", {},
       [](config& c, const auto& v) {
         c.max_message_bytes = parse_size("max-message-bytes", v.back());
         c.max_message_bytes_set = true;
       }},
      {"worker-threads", "BOOKMCP_WORKER_THREADS", value_kind::size,
       "threads running tool handlers (default: 2 x cores, at least 4)", {},
       [](config& c, const auto& v) { c.worker_threads = parse_size("worker-threads", v.back()); }},
      {"validate-output", "BOOKMCP_VALIDATE_OUTPUT", value_kind::flag,
       "check every structured tool result against the tool's outputSchema before sending it "
       "(a development check: the test suite runs with it; off by default, it costs ~40us of CPU "
       "per page of 20 todos)", {},
       [](config& c, const auto& v) { c.validate_output = parse_bool("validate-output", v.back()); }},
      {"tool-timeout", "BOOKMCP_TOOL_TIMEOUT", value_kind::milliseconds,
       "deadline of every tool call (default: each tool's own: search_book 10s, todo tools 30s, "
       "index_documents 30min)", {},
       [](config& c, const auto& v) { c.tool_timeout = parse_milliseconds("tool-timeout", v.back()); }},
      {"io-threads", "BOOKMCP_IO_THREADS", value_kind::size, "network I/O threads (default 2)", {},
       [](config& c, const auto& v) { c.io_threads = std::max<std::size_t>(1, parse_size("io-threads", v.back())); }},
      {"max-connections", "BOOKMCP_MAX_CONNECTIONS", value_kind::size, "open connections at most (default 20000)", {},
       [](config& c, const auto& v) { c.max_connections = parse_size("max-connections", v.back()); }},
      {"idle-timeout", "BOOKMCP_IDLE_TIMEOUT", value_kind::milliseconds,
       "close connections without traffic for this long (default 300s; a WebSocket that answers "
       "the server's pings counts as alive: only dead peers are closed)", {},
       [](config& c, const auto& v) { c.idle_timeout = parse_milliseconds("idle-timeout", v.back()); }},
      {"header-timeout", "BOOKMCP_HEADER_TIMEOUT", value_kind::milliseconds,
       "close a connection whose request head (request line and headers) is not whole this long "
       "after its first byte: a client sending it a byte at a time does not hold the connection "
       "for the idle timeout (default 30s)", {},
       [](config& c, const auto& v) { c.header_timeout = parse_milliseconds("header-timeout", v.back()); }},
      {"shutdown-grace", "BOOKMCP_SHUTDOWN_GRACE", value_kind::milliseconds,
       "on SIGTERM, and on stdio at end of input, time in-flight calls get to finish before they are "
       "cancelled (default 10s)", {},
       [](config& c, const auto& v) { c.shutdown_grace = parse_milliseconds("shutdown-grace", v.back()); }},
      {"allowed-origin", "BOOKMCP_ALLOWED_ORIGINS", value_kind::list,
       "an allowed browser Origin (repeatable; default: loopback origins only)", {},
       [](config& c, const auto& v) { c.allowed_origins = v; }},
      {"auth-keys", "BOOKMCP_AUTH_KEYS", value_kind::text, "file of \"SUBJECT KEY\" or \"SUBJECT sha256:HEX\" lines", {},
       [](config& c, const auto& v) { c.auth_keys_file = v.back(); }},
      {"jwt-secret-file", "BOOKMCP_JWT_SECRET_FILE", value_kind::text, "file holding the HS256 JWT secret", {},
       [](config& c, const auto& v) { c.jwt_secret_file = v.back(); }},
      {"jwt-public-key-file", "BOOKMCP_JWT_PUBLIC_KEY_FILE", value_kind::text,
       "PEM public key of the JWT issuer: RSA (RS256) or EC P-256/384/521 (ES256/384/512)", {},
       [](config& c, const auto& v) { c.jwt_public_key_file = v.back(); }},
      {"request-state-key-file", "BOOKMCP_REQUEST_STATE_KEY_FILE", value_kind::text,
       "file holding the key (64 hex digits, e.g. from `openssl rand -hex 32`) that seals the "
       "requestState of 2026-07-28 multi-round requests; replicas behind one load balancer share "
       "it (default: a random key per process)", {},
       [](config& c, const auto& v) {
         c.request_state_key = read_secret_file("request-state-key-file", v.back());
         try {
           mcp::request_state_codec::parse_key(c.request_state_key);
         } catch (const std::invalid_argument& error) {
           throw config_error("--request-state-key-file: " + std::string(error.what()));
         }
       }},
      {"jwt-issuer", "BOOKMCP_JWT_ISSUER", value_kind::text, "required JWT iss (and the RFC 9728 authorization server)", {},
       [](config& c, const auto& v) { c.jwt_issuer = v.back(); }},
      {"jwt-audience", "BOOKMCP_JWT_AUDIENCE", value_kind::text, "required JWT aud", {},
       [](config& c, const auto& v) { c.jwt_audience = v.back(); }},
      {"public-url", "BOOKMCP_PUBLIC_URL", value_kind::text, "this server's public /mcp URL (for OAuth metadata)", {},
       [](config& c, const auto& v) { c.public_url = v.back(); }},
      {"insecure-no-auth", "BOOKMCP_INSECURE_NO_AUTH", value_kind::flag,
       "allow listening on a non-loopback address without authentication", {},
       [](config& c, const auto& v) { c.insecure_no_auth = parse_bool("insecure-no-auth", v.back()); }},
      {"rate-limit", "BOOKMCP_RATE_LIMIT", value_kind::number,
       "requests per second per identity on the network transports (default 100; 0: off)", {},
       [](config& c, const auto& v) { c.rate_limit = parse_number("rate-limit", v.back()); }},
      {"rate-burst", "BOOKMCP_RATE_BURST", value_kind::number, "token bucket size (default 200)", {},
       [](config& c, const auto& v) { c.rate_burst = parse_number("rate-burst", v.back()); }},
      {"database-url", "DATABASE_URL", value_kind::text, "Postgres connection URL (server profile)", {},
       [](config& c, const auto& v) { c.database_url = v.back(); }},
      {"db-pool-min", "BOOKMCP_DB_POOL_MIN", value_kind::size,
       "Postgres connections opened at start and kept (default 5)", {},
       [](config& c, const auto& v) { c.db_pool_min = parse_size("db-pool-min", v.back()); }},
      {"db-pool-max", "BOOKMCP_DB_POOL_MAX", value_kind::size,
       "Postgres connections at most (default 20); also how many todo calls run at once", {},
       [](config& c, const auto& v) {
         c.db_pool_max = parse_size("db-pool-max", v.back());
         if (c.db_pool_max == 0) throw config_error("setting db-pool-max: must be at least 1");
       }},
      {"db-statement-timeout", "BOOKMCP_DB_STATEMENT_TIMEOUT", value_kind::milliseconds,
       "Postgres statement_timeout of every session (default 30s)", {},
       [](config& c, const auto& v) {
         c.db_statement_timeout = parse_milliseconds("db-statement-timeout", v.back());
       }},
      {"qdrant-url", "QDRANT_URL", value_kind::text,
       "Qdrant URL, e.g. http://localhost:6333 (server profile): the book's dense and BM25 vectors "
       "live there, shared by every replica; needs embeddings", {},
       [](config& c, const auto& v) { c.qdrant_url = v.back(); }},
      {"qdrant-api-key", "QDRANT_API_KEY", value_kind::text, "Qdrant API key", {},
       [](config& c, const auto& v) { c.qdrant_api_key = v.back(); }},
      {"qdrant-collection", "QDRANT_COLLECTION", value_kind::text,
       "Qdrant collection (default bookmcp)", {},
       [](config& c, const auto& v) { c.qdrant_collection = v.back(); }},
      {"embeddings-url", "EMBEDDINGS_URL", value_kind::text,
       "base URL of an OpenAI-compatible embeddings API (e.g. https://api.openai.com/v1, "
       "http://localhost:11434/v1): turns on dense and hybrid search", {},
       [](config& c, const auto& v) { c.embeddings_url = v.back(); }},
      {"embeddings-model", "EMBEDDINGS_MODEL", value_kind::text,
       "embedding model name (e.g. text-embedding-3-small)", {},
       [](config& c, const auto& v) { c.embeddings_model = v.back(); }},
      {"embeddings-dimensions", "EMBEDDINGS_DIMENSIONS", value_kind::size,
       "vector length to ask for (models that can shorten their vectors); default: the model's", {},
       [](config& c, const auto& v) {
         c.embeddings_dimensions = parse_size("embeddings-dimensions", v.back());
         if (*c.embeddings_dimensions == 0 || *c.embeddings_dimensions > 65536)
           throw config_error("setting embeddings-dimensions: must be between 1 and 65536");
       }},
      {"embeddings-api-key-file", "EMBEDDINGS_API_KEY_FILE", value_kind::text,
       "file holding the embeddings API key (else EMBEDDINGS_API_KEY or OPENAI_API_KEY)", {},
       [](config& c, const auto& v) { c.embeddings_api_key = read_secret_file("embeddings-api-key-file", v.back()); }},
      {"embeddings-batch-size", "BOOKMCP_EMBEDDINGS_BATCH_SIZE", value_kind::size,
       "inputs per embeddings request (default: OpenAI 256, Gemini 100, others 32)", {},
       [](config& c, const auto& v) { c.embeddings_batch_size = parse_size("embeddings-batch-size", v.back()); }},
      {"embeddings-concurrency", "BOOKMCP_EMBEDDINGS_CONCURRENCY", value_kind::size,
       "embeddings requests in flight at once while indexing (default 4)", {},
       [](config& c, const auto& v) {
         c.embeddings_concurrency = parse_size("embeddings-concurrency", v.back());
         if (c.embeddings_concurrency == 0) throw config_error("setting embeddings-concurrency: must be at least 1");
       }},
      {"embeddings-timeout", "BOOKMCP_EMBEDDINGS_TIMEOUT", value_kind::milliseconds,
       "deadline of one embeddings request while indexing (default 60s)", {},
       [](config& c, const auto& v) { c.embeddings_timeout = parse_milliseconds("embeddings-timeout", v.back()); }},
      {"embeddings-query-timeout", "BOOKMCP_EMBEDDINGS_QUERY_TIMEOUT", value_kind::milliseconds,
       "deadline of a search query's embedding; past it search answers by words (default 3s)", {},
       [](config& c, const auto& v) {
         c.embeddings_query_timeout = parse_milliseconds("embeddings-query-timeout", v.back());
       }},
      {"embeddings-ca-file", "BOOKMCP_EMBEDDINGS_CA_FILE", value_kind::text,
       "PEM file of CAs to trust for an https embeddings URL (default: the system's)", {},
       [](config& c, const auto& v) { c.embeddings_ca_file = v.back(); }},
  };
  return table;
}

const setting* find_setting(const std::string& name) {
  for (const auto& item : settings()) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

void check_choice(const setting& item, const std::string& value) {
  if (item.kind != value_kind::choice) return;
  for (const auto& choice : item.choices) {
    if (choice == value) return;
  }
  std::string allowed;
  for (const auto& choice : item.choices) allowed += (allowed.empty() ? "" : ", ") + choice;
  throw config_error("setting " + item.name + ": \"" + value + "\" is not one of " + allowed);
}

void apply(config& out, const setting& item, std::vector<std::string> values, const std::string& source) {
  for (const auto& value : values) {
    if (value.empty() && item.kind != value_kind::text) {
      throw config_error("setting " + item.name + " (from " + source + ") is empty");
    }
    check_choice(item, value);
  }
  item.apply(out, values);
  out.sources[item.name] = source;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ':')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string fmt_number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

// The settings of a config file's text; `path` names the file in messages.
void apply_file_text(config& out, std::string_view text, const std::string& path) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    throw config_error("setting config: " + path + " is not a JSON object");
  }
  for (const auto& entry : document.items()) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const std::string& key = entry.key();
    const json& value = entry.value();
    const setting* item = find_setting(key);
    if (!item) throw config_error("unknown setting \"" + key + "\" in config file " + path);
    std::vector<std::string> values;
    auto as_text = [&](const json& element) -> std::string {
      if (element.is_string()) return element.get<std::string>();
      if (element.is_number_unsigned() && item->kind != value_kind::text) return std::to_string(element.get<std::uint64_t>());
      if (element.is_number() && item->kind == value_kind::number) return fmt_number(element.get<double>());
      if (element.is_boolean() && item->kind == value_kind::flag) return element.get<bool>() ? "true" : "false";
      throw config_error("setting " + key + " in " + path + ": expected a string, got " + element.dump());
    };
    if (item->kind == value_kind::list) {
      if (!value.is_array()) throw config_error("setting " + key + " in " + path + ": expected an array of strings");
      for (const auto& element : value) values.push_back(as_text(element));
    } else {
      values.push_back(as_text(value));
    }
    apply(out, *item, std::move(values), "file");
  }
  out.config_file = path;
}

std::string read_config_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw config_error("setting config: cannot read the config file " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string default_data_dir(const std::map<std::string, std::string>& environment) {
  if (auto it = environment.find("XDG_DATA_HOME"); it != environment.end() && !it->second.empty()) {
    return it->second + "/bookmcp";
  }
  if (auto it = environment.find("HOME"); it != environment.end() && !it->second.empty()) {
    return it->second + "/.local/share/bookmcp";
  }
  return "./bookmcp-data";
}

// Embeddings and Qdrant: the key from the environment, and the combinations that cannot work.
void check_retrieval_settings(config& out, const std::map<std::string, std::string>& environment) {
  // The key: its file setting wins; else EMBEDDINGS_API_KEY; else OPENAI_API_KEY, as the
  // OpenAI clients read it. Only from the environment: a flag would show in `ps`.
  if (out.embeddings_api_key.empty()) {
    for (const char* name : {"EMBEDDINGS_API_KEY", "OPENAI_API_KEY"}) {
      if (auto it = environment.find(name); it != environment.end() && !it->second.empty()) {
        out.embeddings_api_key = it->second;
        break;
      }
    }
  }
  const auto is_http_url = [](const std::string& url) {
    return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  };
  if (out.embeddings_url.empty() != out.embeddings_model.empty()) {
    throw config_error(out.embeddings_url.empty()
                           ? "setting embeddings-model is set without embeddings-url: give the embeddings API's "
                             "base URL too (EMBEDDINGS_URL)"
                           : "setting embeddings-url is set without embeddings-model: name the model too "
                             "(EMBEDDINGS_MODEL, e.g. text-embedding-3-small)");
  }
  if (out.embeddings_url.empty() &&
      (out.sources.contains("embeddings-dimensions") || out.sources.contains("embeddings-batch-size"))) {
    throw config_error("embeddings settings are given without embeddings-url");
  }
  if (!out.embeddings_url.empty() && !is_http_url(out.embeddings_url)) {
    throw config_error("setting embeddings-url: \"" + out.embeddings_url + "\" must start with http:// or https://");
  }
  if (!out.qdrant_url.empty() && out.embeddings_url.empty()) {
    throw config_error("setting qdrant-url (QDRANT_URL) needs embeddings: Qdrant holds the book's vectors, so set "
                       "EMBEDDINGS_URL and EMBEDDINGS_MODEL too (or unset QDRANT_URL to search the book by words "
                       "from the data directory)");
  }
  if (out.qdrant_url.empty() && (out.sources.contains("qdrant-api-key") || out.sources.contains("qdrant-collection"))) {
    throw config_error("QDRANT_API_KEY or --qdrant-collection is set without QDRANT_URL");
  }
  if (!out.qdrant_url.empty() && !is_http_url(out.qdrant_url)) {
    throw config_error("setting qdrant-url: \"" + out.qdrant_url +
                       "\" must start with http:// or https:// (Qdrant's REST port, 6333)");
  }
  if (out.reindex_embeddings && out.embeddings_url.empty()) {
    throw config_error("bookmcp reindex --embeddings needs embeddings configured (EMBEDDINGS_URL and EMBEDDINGS_MODEL)");
  }
}

}  // namespace

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string text(*entry);
    if (const auto equals = text.find('='); equals != std::string::npos) {
      out[text.substr(0, equals)] = text.substr(equals + 1);
    }
  }
  return out;
}

namespace {

struct file_text {
  std::string_view text;
  const std::string& name;
};

// load_config and load_config_text: `given`, when set, stands for the config file.
config load(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment,
            const file_text* given) {
  // First pass over the flags: the mode flags and --config, and syntax errors.
  struct flag_value {
    const setting* item;
    std::string value;
  };
  std::vector<flag_value> flags;
  std::string config_path;
  bool stdio_flag = false;
  config out;
  std::size_t first = 0;
  if (!args.empty() && args[0] == "index") {
    if (args.size() < 2 || args[1].rfind("--", 0) == 0) throw config_error("usage: bookmcp index DIR [--data-dir DIR]");
    out.mode = run_mode::index_command;
    out.index_target = args[1];
    first = 2;
  } else if (!args.empty() && args[0] == "migrate") {
    out.mode = run_mode::migrate_command;
    first = 1;
  } else if (!args.empty() && args[0] == "reindex") {
    out.mode = run_mode::reindex_command;
    first = 1;
  }
  for (std::size_t i = first; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.mode = run_mode::show_help;
      return out;
    }
    if (arg == "--version" || arg == "-V") {
      out.mode = run_mode::show_version;
      return out;
    }
    if (arg == "--stdio") {
      stdio_flag = true;
      continue;
    }
    if (arg == "--embeddings" && out.mode == run_mode::reindex_command) {
      out.reindex_embeddings = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) throw config_error("unexpected argument \"" + arg + "\" (see --help)");
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const auto equals = name.find('='); equals != std::string::npos) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    if (name == "config") {
      if (!value) {
        if (i + 1 >= args.size()) throw config_error("setting config: --config needs a file");
        value = args[++i];
      }
      config_path = *value;
      continue;
    }
    const setting* item = find_setting(name);
    if (!item) throw config_error("unknown setting --" + name + " (see --help)");
    if (!value && item->kind == value_kind::flag) value = "true";
    if (!value) {
      if (i + 1 >= args.size()) throw config_error("setting " + name + ": --" + name + " needs a value");
      value = args[++i];
    }
    flags.push_back({item, *value});
  }

  // Lowest precedence first: file, then environment, then flags.
  if (config_path.empty()) {
    if (auto it = environment.find("BOOKMCP_CONFIG"); it != environment.end()) config_path = it->second;
  }
  if (given) {
    apply_file_text(out, given->text, given->name);
  } else if (!config_path.empty()) {
    apply_file_text(out, read_config_file(config_path), config_path);
  }

  for (const auto& [key, value] : environment) {
    if (key.rfind("BOOKMCP_", 0) == 0 && key != "BOOKMCP_CONFIG") {
      bool known = false;
      for (const auto& item : settings()) known = known || item.env == key;
      // Variables of the test and benchmark harnesses are not settings of the server.
      const bool harness = key.rfind("BOOKMCP_TEST_", 0) == 0 || key.rfind("BOOKMCP_BENCH_", 0) == 0;
      if (!known && !harness) throw config_error("unknown setting in the environment: " + key);
    }
  }
  for (const auto& item : settings()) {
    if (item.env.empty()) continue;
    auto it = environment.find(item.env);
    if (it == environment.end()) continue;
    if (item.kind == value_kind::list) {
      apply(out, item, split_list(it->second), "env " + item.env);
    } else {
      apply(out, item, {it->second}, "env " + item.env);
    }
  }

  std::map<const setting*, std::vector<std::string>> from_flags;
  for (const auto& flag : flags) from_flags[flag.item].push_back(flag.value);
  for (auto& [item, values] : from_flags) {
    if (item->kind != value_kind::list && values.size() > 1) {
      throw config_error("setting " + item->name + " is given " + std::to_string(values.size()) + " times");
    }
    apply(out, *item, values, "flag");
  }

  if (stdio_flag && out.sources.contains("listen") && out.sources["listen"] == "flag") {
    throw config_error("--stdio and --listen exclude each other");
  }
  const run_mode command_mode = out.mode;
  const bool command = command_mode == run_mode::index_command || command_mode == run_mode::migrate_command ||
                       command_mode == run_mode::reindex_command;
  if (command && (stdio_flag || (out.sources.contains("listen") && out.sources["listen"] == "flag"))) {
    throw config_error("--stdio and --listen do not apply to the index, reindex and migrate commands");
  }
  if (command && out.sources.contains("listen")) out.mode = command_mode;
  if (stdio_flag) out.mode = run_mode::serve_stdio;
  if (out.data_dir.empty()) out.data_dir = default_data_dir(environment);
  if (out.user.empty()) {
    auto it = environment.find("USER");
    out.user = it != environment.end() && !it->second.empty() ? it->second : "local";
  }
  if (out.max_message_bytes < 1024) throw config_error("setting max-message-bytes: must be at least 1KiB");
  if (out.db_pool_min > out.db_pool_max) {
    throw config_error("setting db-pool-min: " + std::to_string(out.db_pool_min) + " is more than db-pool-max (" +
                       std::to_string(out.db_pool_max) + ")");
  }
  if (out.mode == run_mode::serve_listen && !out.max_message_bytes_set) out.max_message_bytes = 4 * 1024 * 1024;
  check_retrieval_settings(out, environment);
  return out;
}

}  // namespace

config load_config(const std::vector<std::string>& args, const std::map<std::string, std::string>& environment) {
  return load(args, environment, nullptr);
}

config load_config_text(std::string_view text, const std::string& file_name, const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& environment) {
  const file_text given{text, file_name};
  return load(args, environment, &given);
}

std::string usage_text() {
  std::string text =
      "bookmcp: a Model Context Protocol server for interactive textbooks\n\n"
      "usage:\n"
      "  bookmcp --stdio [--data-dir DIR] [--docs DIR ...]\n"
      "  bookmcp --listen HOST:PORT [--data-dir DIR] [--docs DIR ...]\n"
      "  bookmcp index DIR [--data-dir DIR]   index a book (same pipeline as index_documents)\n"
      "  bookmcp reindex [--embeddings]        re-index the book of the data directory; with\n"
      "                                       --embeddings, embed every chunk again\n"
      "  bookmcp migrate [--database-url URL] apply database migrations and exit\n"
      "  bookmcp --help | --version\n\n"
      "settings (flag, environment variable; flags win over the environment, which wins over\n"
      "the JSON config file given with --config FILE or BOOKMCP_CONFIG):\n";
  for (const auto& item : settings()) {
    std::string line = "  --" + item.name + (item.kind == value_kind::flag ? "" : " VALUE");
    if (!item.env.empty()) line += " (" + item.env + ")";
    text += line + "\n      " + item.help;
    if (!item.choices.empty()) {
      text += "; one of:";
      for (const auto& choice : item.choices) text += " " + choice;
    }
    text += "\n";
  }
  return text;
}

std::optional<std::filesystem::path> docs_folder_of_site_root(const std::filesystem::path& root) {
  std::error_code error;
  if (!std::filesystem::is_directory(root / "docs", error)) return std::nullopt;
  for (const char* name : {"docusaurus.config.js", "docusaurus.config.ts", "docusaurus.config.mjs",
                           "docusaurus.config.cjs"}) {
    if (std::filesystem::exists(root / name, error)) return root / "docs";
  }
  return std::nullopt;
}

}  // namespace bookmcp::app
