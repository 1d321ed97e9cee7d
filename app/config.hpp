#pragma once
// bookmcp's configuration, read in one place. Precedence: command-line flags, then
// environment variables, then an optional JSON config file (--config FILE or
// BOOKMCP_CONFIG), then built-in defaults. Unknown or malformed settings are errors that name
// the setting; nothing is silently ignored.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::app {

class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class run_mode {
  serve_stdio,
  serve_listen,
  index_command,
  reindex_command,  // `bookmcp reindex [--embeddings]`
  migrate_command,
  show_help,
  show_version
};

struct config {
  run_mode mode = run_mode::serve_stdio;
  std::string listen;                  // HOST:PORT for --listen
  std::string data_dir;                // embedded profile storage
  std::vector<std::string> docs;       // registered book roots
  std::string index_target;            // `bookmcp index DIR`
  std::chrono::milliseconds reindex_interval{0};  // 0: no periodic re-scan
  std::string base_url = "/docs/";     // URL prefix of book pages (Docusaurus routeBasePath)
  std::string timezone = "UTC";        // the user's time zone for "overdue" (UTC or +HH:MM)
  std::string user;                    // identity on stdio
  std::string log_level = "info";      // trace, debug, info, warn, error, critical, off
  std::string log_format = "text";     // text or json
  std::size_t max_message_bytes = 10 * 1024 * 1024;
  std::size_t worker_threads = 0;      // 0: from the hardware
  std::optional<std::chrono::milliseconds> tool_timeout;  // unset: each tool's own deadline
  std::string request_state_key;  // seals 2026-07-28 requestState; empty: random per process
  bool validate_output = false;        // check structured results against outputSchema
  std::string database_url;            // Postgres (server profile) when set
  std::size_t db_pool_min = 5;         // Postgres pool: opened at start and kept
  std::size_t db_pool_max = 20;        // Postgres pool: at most
  std::chrono::milliseconds db_statement_timeout{30000};
  std::string qdrant_url;              // the book's vectors in Qdrant (server profile)
  std::string qdrant_api_key;
  std::string qdrant_collection = "bookmcp";
  // Embeddings (dense and hybrid retrieval) from an OpenAI-compatible endpoint; off when unset.
  std::string embeddings_url;          // base URL, e.g. https://api.openai.com/v1
  std::string embeddings_model;
  std::optional<std::size_t> embeddings_dimensions;
  std::string embeddings_api_key;      // EMBEDDINGS_API_KEY, OPENAI_API_KEY or the _FILE; never logged
  std::size_t embeddings_batch_size = 0;  // inputs per request; 0: by provider
  std::size_t embeddings_concurrency = 4;
  std::chrono::milliseconds embeddings_timeout{60000};
  std::chrono::milliseconds embeddings_query_timeout{3000};
  std::string embeddings_ca_file;
  bool reindex_embeddings = false;     // `bookmcp reindex --embeddings`
  // Network transports (--listen).
  std::size_t io_threads = 2;
  std::size_t max_connections = 20000;
  std::chrono::milliseconds idle_timeout{300000};
  std::chrono::milliseconds header_timeout{30000};
  std::chrono::milliseconds shutdown_grace{10000};
  std::vector<std::string> allowed_origins;  // empty: loopback origins
  std::string auth_keys_file;
  std::string jwt_secret_file;
  std::string jwt_public_key_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::string public_url;
  std::string authorization_server;
  bool insecure_no_auth = false;
  double rate_limit = 100;  // requests/s per identity; 0 disables
  double rate_burst = 200;
  bool max_message_bytes_set = false;  // stdio defaults to 10 MiB, the network to 4 MiB
  std::string config_file;             // where file settings came from, if any
  // Where each setting's value came from ("flag", "env", "file", "default"), for --help/logs.
  std::map<std::string, std::string> sources;
};

// Parses argv (without argv[0]) and the environment. Throws config_error naming the setting.
config load_config(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& environment);

// As load_config, with the config file given as its text (JSON) instead of read from the file
// --config or BOOKMCP_CONFIG names; `file_name` stands for the file in messages and
// config::config_file. The same checks apply; throws config_error naming the setting.
config load_config_text(std::string_view text, const std::string& file_name,
                        const std::vector<std::string>& args = {},
                        const std::map<std::string, std::string>& environment = {});

// The environment of this process as a map.
std::map<std::string, std::string> process_environment();

// Usage text for --help, generated from the settings table.
std::string usage_text();

// When `root` is a Docusaurus site's root (a docusaurus.config.* file and a docs folder) rather
// than its docs folder, that docs folder: every page would otherwise get a /docs/docs/... URL.
std::optional<std::filesystem::path> docs_folder_of_site_root(const std::filesystem::path& root);

}  // namespace bookmcp::app
