#include "app/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace bookmcp::app {
namespace {

using environment = std::map<std::string, std::string>;

config load(std::vector<std::string> args, environment env = {{"HOME", "/home/reader"}, {"USER", "reader"}}) {
  return load_config(args, env);
}

std::string error_of(std::vector<std::string> args, environment env = {}) {
  try {
    load_config(args, env);
  } catch (const config_error& error) {
    return error.what();
  }
  return "";
}

class temp_file {
 public:
  explicit temp_file(const std::string& text)
      : path_(std::filesystem::temp_directory_path() / ("bookmcp-config-" + std::to_string(::getpid()) + "-" +
                                                         std::to_string(counter_++) + ".json")) {
    std::ofstream(path_) << text;
  }
  ~temp_file() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(Config, DefaultsServeStdioWithDataDirUnderHome) {
  const config c = load({});
  EXPECT_EQ(c.mode, run_mode::serve_stdio);
  EXPECT_EQ(c.data_dir, "/home/reader/.local/share/bookmcp");
  EXPECT_EQ(c.user, "reader");
  EXPECT_EQ(c.max_message_bytes, 10u * 1024 * 1024);
}

TEST(Config, XdgDataHomeWins) {
  EXPECT_EQ(load({}, {{"XDG_DATA_HOME", "/x"}, {"HOME", "/h"}}).data_dir, "/x/bookmcp");
}

TEST(Config, FlagsOverEnvironmentOverFile) {
  temp_file file(R"({"data-dir": "/from-file", "log-level": "warn", "user": "file-user"})");
  const config c = load({"--config", file.path(), "--data-dir", "/from-flag"},
                        {{"BOOKMCP_DATA_DIR", "/from-env"}, {"LOG_LEVEL", "debug"}});
  EXPECT_EQ(c.data_dir, "/from-flag");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.user, "file-user");
  EXPECT_EQ(c.sources.at("data-dir"), "flag");
  EXPECT_EQ(c.sources.at("log-level"), "env LOG_LEVEL");
  EXPECT_EQ(c.sources.at("user"), "file");
}

TEST(Config, DocsRepeatAndSplitInEnvironment) {
  EXPECT_EQ(load({"--docs", "/a", "--docs=/b"}).docs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(load({}, {{"BOOKMCP_DOCS", "/a:/b"}}).docs, (std::vector<std::string>{"/a", "/b"}));
}

TEST(Config, ListenSwitchesModeAndNetworkMessageLimit) {
  const config c = load({"--listen", "127.0.0.1:8765"});
  EXPECT_EQ(c.mode, run_mode::serve_listen);
  EXPECT_EQ(c.max_message_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(load({"--listen", "127.0.0.1:1", "--max-message-bytes", "64KiB"}).max_message_bytes, 64u * 1024);
}

TEST(Config, SizesDurationsNumbersAndFlags) {
  const config c = load({"--max-message-bytes", "2MiB", "--tool-timeout", "1500ms", "--shutdown-grace", "3s",
                         "--rate-limit", "2.5", "--insecure-no-auth"});
  EXPECT_EQ(c.max_message_bytes, 2u * 1024 * 1024);
  EXPECT_EQ(c.tool_timeout->count(), 1500);
  EXPECT_FALSE(load({}).tool_timeout);  // unset: each tool keeps its own deadline
  EXPECT_EQ(c.shutdown_grace.count(), 3000);
  EXPECT_DOUBLE_EQ(c.rate_limit, 2.5);
  EXPECT_TRUE(c.insecure_no_auth);
  EXPECT_FALSE(c.validate_output);
  EXPECT_TRUE(load({"--validate-output"}).validate_output);
  EXPECT_FALSE(load({"--validate-output=false"}).validate_output);
}

TEST(Config, PostgresPoolAndStatementTimeout) {
  const config defaults = load({});
  EXPECT_EQ(defaults.db_pool_min, 5u);
  EXPECT_EQ(defaults.db_pool_max, 20u);
  EXPECT_EQ(defaults.db_statement_timeout.count(), 30000);
  const config c = load({"--db-pool-min", "2", "--db-pool-max", "8", "--db-statement-timeout", "5s"});
  EXPECT_EQ(c.db_pool_min, 2u);
  EXPECT_EQ(c.db_pool_max, 8u);
  EXPECT_EQ(c.db_statement_timeout.count(), 5000);
  EXPECT_NE(error_of({"--db-pool-min", "30"}).find("db-pool-min"), std::string::npos);
  EXPECT_NE(error_of({"--db-pool-max", "0"}).find("db-pool-max"), std::string::npos);
}

TEST(Config, Commands) {
  const config index = load({"index", "/book", "--data-dir", "/d"});
  EXPECT_EQ(index.mode, run_mode::index_command);
  EXPECT_EQ(index.index_target, "/book");
  EXPECT_EQ(index.data_dir, "/d");
  EXPECT_EQ(load({"migrate"}).mode, run_mode::migrate_command);
  EXPECT_NE(error_of({"index"}).find("usage: bookmcp index DIR"), std::string::npos);
  EXPECT_EQ(load({"--help"}).mode, run_mode::show_help);
  EXPECT_EQ(load({"--version"}).mode, run_mode::show_version);
}

TEST(Config, ErrorsNameTheSetting) {
  EXPECT_NE(error_of({"--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(error_of({"--log-level", "loud"}).find("log-level"), std::string::npos);
  EXPECT_NE(error_of({"--max-message-bytes", "ten"}).find("max-message-bytes"), std::string::npos);
  EXPECT_NE(error_of({"--max-message-bytes", "10"}).find("max-message-bytes"), std::string::npos);
  EXPECT_NE(error_of({"--tool-timeout", "-5s"}).find("tool-timeout"), std::string::npos);
  EXPECT_NE(error_of({"--data-dir"}).find("data-dir"), std::string::npos);
  EXPECT_NE(error_of({"--user", "a", "--user", "b"}).find("user"), std::string::npos);
  EXPECT_NE(error_of({"stray"}).find("stray"), std::string::npos);
  EXPECT_NE(error_of({"--stdio", "--listen", "127.0.0.1:1"}).find("--stdio"), std::string::npos);
  EXPECT_NE(error_of({}, {{"BOOKMCP_NOPE", "1"}}).find("BOOKMCP_NOPE"), std::string::npos);
  EXPECT_NE(error_of({}, {{"LOG_LEVEL", "shout"}}).find("log-level"), std::string::npos);
  EXPECT_NE(error_of({"--rate-limit", "fast"}).find("rate-limit"), std::string::npos);
}

TEST(Config, HarnessVariablesAreNotSettings) {
  EXPECT_NO_THROW(load({}, {{"BOOKMCP_TEST_DATABASE_URL", "x"}, {"BOOKMCP_BENCH_X", "y"}}));
}

TEST(Config, ConfigFileErrors) {
  temp_file unknown(R"({"colour": "blue"})");
  EXPECT_NE(error_of({"--config", unknown.path()}).find("colour"), std::string::npos);
  temp_file wrong_type(R"({"docs": "not-a-list"})");
  EXPECT_NE(error_of({"--config", wrong_type.path()}).find("docs"), std::string::npos);
  temp_file not_json("{nope");
  EXPECT_NE(error_of({"--config", not_json.path()}).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of({"--config", "/nonexistent/bookmcp.json"}).find("cannot read"), std::string::npos);
}

std::string text_error_of(const std::string& text) {
  try {
    load_config_text(text, "book.json");
  } catch (const config_error& error) {
    return error.what();
  }
  return "";
}

// The config file's text without a file (what config_fuzz drives): the same settings and checks.
TEST(Config, ConfigTextIsReadLikeTheFile) {
  const config c = load_config_text(
      R"({"data-dir": "/d", "docs": ["/a", "/b"], "max-message-bytes": "2MiB", "rate-limit": 2.5,
          "validate-output": true, "worker-threads": 8, "idle-timeout": "90s",
          "header-timeout": "10s"})",
      "book.json", {}, {{"USER", "reader"}});
  EXPECT_EQ(c.data_dir, "/d");
  EXPECT_EQ(c.docs, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(c.max_message_bytes, 2u * 1024 * 1024);
  EXPECT_DOUBLE_EQ(c.rate_limit, 2.5);
  EXPECT_TRUE(c.validate_output);
  EXPECT_EQ(c.worker_threads, 8u);
  EXPECT_EQ(c.idle_timeout.count(), 90'000);
  EXPECT_EQ(c.header_timeout.count(), 10'000);
  EXPECT_EQ(c.config_file, "book.json");
  EXPECT_EQ(c.sources.at("docs"), "file");
  EXPECT_EQ(c.user, "reader");
  // Flags still win over the text.
  EXPECT_EQ(load_config_text(R"({"data-dir": "/d"})", "book.json", {"--data-dir", "/f"}).data_dir, "/f");

  EXPECT_NE(text_error_of("{nope").find("book.json is not a JSON object"), std::string::npos);
  EXPECT_NE(text_error_of("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(text_error_of(R"({"colour": "blue"})").find("unknown setting \"colour\""), std::string::npos);
  EXPECT_NE(text_error_of(R"({"user": 5})").find("user"), std::string::npos);
  EXPECT_NE(text_error_of(R"({"log-level": ""})").find("log-level"), std::string::npos);
  EXPECT_NE(text_error_of(R"({"db-pool-min": 30})").find("db-pool-min"), std::string::npos);
}

// Values past what their type holds are refused instead of wrapping around or overflowing.
TEST(Config, HugeSizesDurationsAndNonFiniteNumbersAreRefused) {
  // 2^44 MiB is 2^64 bytes: it wrapped around to 0, and one more MiB to 1 MiB.
  EXPECT_NE(text_error_of(R"({"max-message-bytes": "17592186044417MiB"})").find("max-message-bytes"),
            std::string::npos);
  EXPECT_NE(text_error_of(R"({"worker-threads": "18014398509481984KiB"})").find("too large"), std::string::npos);
  EXPECT_EQ(load_config_text(R"({"max-connections": 18446744073709551615})", "b").max_connections,
            18446744073709551615u);
  // 9223372036854775807 s overflowed a signed multiplication (undefined behaviour).
  EXPECT_NE(text_error_of(R"({"idle-timeout": "9223372036854775807s"})").find("idle-timeout"), std::string::npos);
  EXPECT_NE(text_error_of(R"({"header-timeout": "9223372036854775807s"})").find("header-timeout"),
            std::string::npos);
  EXPECT_NE(text_error_of(R"({"tool-timeout": "31536001s"})").find("longer than a year"), std::string::npos);
  EXPECT_EQ(load_config_text(R"({"tool-timeout": "31536000s"})", "b").tool_timeout->count(), 31'536'000'000);
  // from_chars reads inf and nan: neither is a rate.
  for (const char* value : {"inf", "nan", "-nan", "infinity", "-0.5"}) {
    EXPECT_NE(text_error_of(std::string(R"({"rate-limit": ")") + value + "\"}").find("rate-limit"),
              std::string::npos)
        << value;
  }
  EXPECT_NE(error_of({"--rate-burst", "inf"}).find("rate-burst"), std::string::npos);
}

TEST(Config, EmbeddingsSettingsAndTheirKey) {
  temp_file key("sk-from-file\n");
  config c = load({"--embeddings-url", "https://api.openai.com/v1", "--embeddings-model", "text-embedding-3-small",
                   "--embeddings-dimensions", "512", "--embeddings-api-key-file", key.path()});
  EXPECT_EQ(c.embeddings_url, "https://api.openai.com/v1");
  EXPECT_EQ(c.embeddings_model, "text-embedding-3-small");
  EXPECT_EQ(c.embeddings_dimensions, 512u);
  EXPECT_EQ(c.embeddings_api_key, "sk-from-file");  // without the line break

  // EMBEDDINGS_API_KEY, else OPENAI_API_KEY, as the seeds and OpenAI's clients name it.
  environment env = {{"HOME", "/h"},
                     {"EMBEDDINGS_URL", "http://localhost:11434/v1"},
                     {"EMBEDDINGS_MODEL", "nomic-embed-text"},
                     {"OPENAI_API_KEY", "sk-openai"}};
  EXPECT_EQ(load({}, env).embeddings_api_key, "sk-openai");
  env["EMBEDDINGS_API_KEY"] = "sk-embeddings";
  EXPECT_EQ(load({}, env).embeddings_api_key, "sk-embeddings");
  EXPECT_EQ(load({}, env).embeddings_url, "http://localhost:11434/v1");
  EXPECT_TRUE(load({}).embeddings_url.empty());
}

TEST(Config, EmbeddingsMistakesAreNamed) {
  EXPECT_NE(error_of({"--embeddings-url", "http://h/v1"}).find("embeddings-model"), std::string::npos);
  EXPECT_NE(error_of({"--embeddings-model", "m"}).find("embeddings-url"), std::string::npos);
  EXPECT_NE(error_of({"--embeddings-url", "h/v1", "--embeddings-model", "m"}).find("http://"), std::string::npos);
  EXPECT_NE(error_of({"--embeddings-url", "http://h/v1", "--embeddings-model", "m", "--embeddings-dimensions", "0"})
                .find("embeddings-dimensions"),
            std::string::npos);
  EXPECT_NE(error_of({"--embeddings-dimensions", "64"}).find("without embeddings-url"), std::string::npos);
  EXPECT_NE(error_of({"--embeddings-api-key-file", "/no/such/file"}).find("cannot read"), std::string::npos);
}

TEST(Config, QdrantNeedsEmbeddingsAndAUrl) {
  config c = load({"--qdrant-url", "http://localhost:6333", "--qdrant-collection", "book", "--embeddings-url",
                   "http://h/v1", "--embeddings-model", "m"});
  EXPECT_EQ(c.qdrant_url, "http://localhost:6333");
  EXPECT_EQ(c.qdrant_collection, "book");
  EXPECT_EQ(load({}).qdrant_collection, "bookmcp");
  EXPECT_NE(error_of({"--qdrant-url", "http://localhost:6333"}).find("EMBEDDINGS_URL"), std::string::npos);
  EXPECT_NE(error_of({"--qdrant-url", "localhost:6333", "--embeddings-url", "http://h/v1", "--embeddings-model", "m"})
                .find("http://"),
            std::string::npos);
  EXPECT_NE(error_of({"--qdrant-api-key", "k"}).find("without QDRANT_URL"), std::string::npos);
}

TEST(Config, ReindexCommand) {
  config c = load({"reindex", "--embeddings", "--embeddings-url", "http://h/v1", "--embeddings-model", "m"});
  EXPECT_EQ(c.mode, run_mode::reindex_command);
  EXPECT_TRUE(c.reindex_embeddings);
  EXPECT_FALSE(load({"reindex"}).reindex_embeddings);
  EXPECT_NE(error_of({"reindex", "--embeddings"}).find("needs embeddings"), std::string::npos);
  EXPECT_NE(error_of({"--embeddings"}).find("unknown setting"), std::string::npos);
}

TEST(Config, UsageListsEverySetting) {
  const std::string text = usage_text();
  for (const char* name : {"--data-dir", "--docs", "--listen", "--auth-keys", "--rate-limit", "DATABASE_URL"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
}

// --docs pointed at a Docusaurus site's root gives /docs/docs/... links: bookmcp warns.
TEST(Config, ASiteRootIsToldFromItsDocsFolder) {
  const auto site =
      std::filesystem::temp_directory_path() / ("bookmcp-site-" + std::to_string(::getpid()));
  std::filesystem::remove_all(site);
  std::filesystem::create_directories(site / "docs");
  EXPECT_FALSE(docs_folder_of_site_root(site))
      << "no docusaurus.config.*: any folder may be called docs";
  std::ofstream(site / "docusaurus.config.ts") << "export default {};\n";
  EXPECT_EQ(docs_folder_of_site_root(site), site / "docs");
  EXPECT_FALSE(docs_folder_of_site_root(site / "docs"));
  std::filesystem::remove_all(site);
}

}  // namespace
}  // namespace bookmcp::app
