// bookmcp-chat: the readers' chat backend, one more MCP client of bookmcp (docs/chat-api.md).
//
//   bookmcp-chat --listen HOST:PORT --mcp-url URL [--data-dir DIR]
//                [--mcp-jwt-secret-file F | --mcp-jwt-private-key-file F] [--allowed-origin ORIGIN]
//
// Every flag is also an environment variable; flags win.

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "app/logging.hpp"
#include "examples/chat/chat_engine.hpp"
#include "examples/chat/chat_metrics.hpp"
#include "examples/chat/chat_server.hpp"
#include "examples/chat/chat_store.hpp"
#include "examples/chat/llm_client.hpp"
#include "examples/chat/mcp_pool.hpp"
#include "examples/chat/reader_tokens.hpp"
#include "transport/auth.hpp"

#ifndef BOOKMCP_CHAT_WIDGET_DIR
#define BOOKMCP_CHAT_WIDGET_DIR ""
#endif

namespace {

using namespace bookmcp::chat;

constexpr const char* usage =
    "usage: bookmcp-chat --listen HOST:PORT --mcp-url URL [--data-dir DIR]\n"
    "                    [--mcp-jwt-secret-file F | --mcp-jwt-private-key-file F]\n"
    "                    [--allowed-origin ORIGIN] [--widget-dir DIR] [--retention-days N]\n"
    "                    [--chat-per-minute N] [--log-level LEVEL] [--log-format text|json]\n"
    "\n"
    "environment: CHAT_LISTEN, MCP_SERVER_URL, CHAT_DATA_DIR, MCP_JWT_SECRET_FILE,\n"
    "  MCP_JWT_PRIVATE_KEY_FILE, CHAT_ALLOWED_ORIGIN, CHAT_WIDGET_DIR, CHAT_RETENTION_DAYS,\n"
    "  CHAT_PER_MINUTE, CHAT_SECRET_KEY (signs readers' tokens; made and kept in the data\n"
    "  directory when unset), DATABASE_URL (postgres://…; default SQLite in the data directory),\n"
    "  LLM_BASE_URL + LLM_MODEL [+ LLM_API_KEY], or OPENAI_API_KEY or GEMINI_API_KEY alone.\n"
    "  Without an LLM, answers are quoted from the book (extractive mode).\n";

struct settings {
  std::map<std::string, std::string> values;
  std::string get(const std::string& flag, const char* variable, std::string fallback = "") const {
    if (auto it = values.find(flag); it != values.end()) return it->second;
    if (const char* value = std::getenv(variable); value && *value) return value;
    return fallback;
  }
};

settings parse_flags(int argc, char** argv) {
  static const std::set<std::string> known = {
      "--listen",         "--mcp-url",        "--data-dir",        "--mcp-jwt-secret-file",
      "--mcp-jwt-private-key-file", "--allowed-origin", "--widget-dir", "--retention-days",
      "--chat-per-minute", "--log-level",     "--log-format"};
  settings out;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    std::string value;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::invalid_argument(flag + " needs a value");
    }
    if (!known.count(flag)) throw std::invalid_argument("unknown option " + flag);
    out.values[flag] = value;
  }
  return out;
}

// CHAT_SECRET_KEY, or a random one kept in the data directory (0600) so tokens survive restarts.
std::string chat_secret(const std::filesystem::path& data_dir) {
  if (const char* value = std::getenv("CHAT_SECRET_KEY"); value && *value) return value;
  const auto file = data_dir / "chat-secret";
  if (std::filesystem::exists(file)) return bookmcp::transport::read_secret_file(file.string());
  const std::string secret = random_id("") + random_id("");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << secret;
  }
  ::chmod(file.c_str(), 0600);
  spdlog::info("CHAT_SECRET_KEY is not set: made one and kept it in {}", file.string());
  return secret;
}

int run(int argc, char** argv) {
  const settings config = parse_flags(argc, argv);
  bookmcp::app::configure_logging(config.get("--log-level", "CHAT_LOG_LEVEL", "info"),
                                  config.get("--log-format", "CHAT_LOG_FORMAT", "json"));

  const std::string listen = config.get("--listen", "CHAT_LISTEN", "127.0.0.1:8080");
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen takes HOST:PORT");
  chat_server_options server;
  server.host = listen.substr(0, colon);
  server.port = static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)));
  server.allowed_origin = config.get("--allowed-origin", "CHAT_ALLOWED_ORIGIN");
  server.widget_dir = config.get("--widget-dir", "CHAT_WIDGET_DIR", BOOKMCP_CHAT_WIDGET_DIR);
  server.retention_days = std::stoi(config.get("--retention-days", "CHAT_RETENTION_DAYS", "0"));
  server.chat_per_minute = std::stod(config.get("--chat-per-minute", "CHAT_PER_MINUTE", "60"));

  const std::string mcp_url = config.get("--mcp-url", "MCP_SERVER_URL");
  if (mcp_url.empty()) throw std::invalid_argument("--mcp-url (or MCP_SERVER_URL) is required: ws://HOST:PORT/mcp");
  const std::string secret_file = config.get("--mcp-jwt-secret-file", "MCP_JWT_SECRET_FILE");
  const std::string key_file = config.get("--mcp-jwt-private-key-file", "MCP_JWT_PRIVATE_KEY_FILE");
  if (secret_file.empty() == key_file.empty()) {
    throw std::invalid_argument(
        "give exactly one of --mcp-jwt-secret-file (HS256, the file bookmcp gets as --jwt-secret-file) "
        "and --mcp-jwt-private-key-file (RS256/ES256, bookmcp verifies with --jwt-public-key-file)");
  }
  mcp_token_minter minter = secret_file.empty() ? mcp_token_minter::from_private_key_file(key_file)
                                                : mcp_token_minter::from_secret_file(secret_file);

  const std::filesystem::path data_dir = config.get("--data-dir", "CHAT_DATA_DIR", "./chat-data");
  std::filesystem::create_directories(data_dir);
  reader_tokens tokens(chat_secret(data_dir));

  const std::string database_url = config.get("", "DATABASE_URL");
  std::unique_ptr<chat_store> store = database_url.empty()
                                          ? open_sqlite_chat_store((data_dir / "chat.sqlite3").string())
                                          : open_postgres_chat_store(database_url);

  std::unique_ptr<llm_client> llm;
  if (auto llm_config = llm_options::from_environment()) {
    llm = std::make_unique<llm_client>(*llm_config);
    spdlog::info("answers by the language model {} at {}", llm_config->model, llm_config->base_url);
  } else {
    spdlog::info("no language model configured: answers are quoted from the book (extractive mode)");
  }

  mcp_pool_options pool_options;
  pool_options.url = mcp_url;
  mcp_pool pool(pool_options, std::move(minter));
  chat_metrics metrics;
  chat_engine engine(engine_options{}, pool, *store, llm.get(), metrics);
  chat_server http(server, engine, *store, tokens, pool, llm.get(), metrics);
  http.start();
  spdlog::info("bookmcp-chat listening on http://{}:{} (bookmcp at {}, database {})", server.host, http.port(), mcp_url,
               database_url.empty() ? "SQLite in " + data_dir.string() : "Postgres");
  std::cerr << "bookmcp-chat listening on http://" << server.host << ":" << http.port() << std::endl;
  http.run_until_signal();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << "bookmcp-chat: " << e.what() << "\n\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bookmcp-chat: " << e.what() << "\n";
    return 1;
  }
}
