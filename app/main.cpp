// bookmcp's composition root: reads the configuration, sets up logging, builds the MCP
// server with its tools, and runs the chosen transport.

#include <sys/resource.h>
#include <sys/signalfd.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "app/book_service.hpp"
#include "app/config.hpp"
#include "app/logging.hpp"
#include "mcp/server.hpp"
#include "store/database.hpp"
#include "store/errors.hpp"
#include "tools/todo/time_zone.hpp"
#include "tools/todo/todo_tools.hpp"
#include "transport/http_server.hpp"
#include "transport/stdio_transport.hpp"

namespace {

// The embedded profile unless DATABASE_URL is set. Applies migrations.
std::shared_ptr<bookmcp::store::database> open_database(const bookmcp::app::config& settings,
                                                        bool apply_migrations = true) {
  using namespace bookmcp;
  if (!settings.database_url.empty()) {
    store::postgres_options options;
    options.database_url = settings.database_url;
    options.min_connections = settings.db_pool_min;
    options.max_connections = settings.db_pool_max;
    options.statement_timeout = settings.db_statement_timeout;
    options.apply_migrations = apply_migrations;
    return store::open_postgres(std::move(options));
  }
  store::sqlite_options options;
  options.data_dir = settings.data_dir;
  options.apply_migrations = apply_migrations;
  return store::open_sqlite(std::move(options));
}

int run_migrate(const bookmcp::app::config& settings) {
  auto database = open_database(settings, /*apply_migrations=*/false);
  const auto report = database->migrate();
  std::cout << "database (" << database->backend_name() << ") at schema version " << report.version_after;
  if (report.applied.empty()) {
    std::cout << "; nothing to apply\n";
  } else {
    std::cout << "; applied " << report.applied.size() << " migration(s) from version " << report.version_before << "\n";
  }
  return 0;
}

int serve_network(const bookmcp::app::config& settings, bookmcp::mcp::server& server,
                  bookmcp::store::database& database,
                  std::shared_ptr<bookmcp::transport::metrics> metrics,
                  std::vector<bookmcp::transport::dependency_check> readiness) {
  using namespace bookmcp;
  transport::listen_options listen;
  try {
    std::tie(listen.host, listen.port) = transport::parse_listen_address(settings.listen);
  } catch (const std::invalid_argument& error) {
    spdlog::critical("setting listen: {}", error.what());
    return 2;
  }
  std::vector<std::unique_ptr<transport::authenticator>> authenticators;
  try {
    if (!settings.auth_keys_file.empty()) authenticators.push_back(transport::load_api_keys(settings.auth_keys_file));
    const auto jwt = [&](std::string key, std::string algorithm) {
      authenticators.push_back(
          transport::make_jwt_authenticator({.key = std::move(key),
                                             .algorithm = std::move(algorithm),
                                             .issuer = settings.jwt_issuer,
                                             .audience = settings.jwt_audience,
                                             .leeway = std::chrono::seconds(30)}));
    };
    if (!settings.jwt_secret_file.empty())
      jwt(transport::read_secret_file(settings.jwt_secret_file), "HS256");
    if (!settings.jwt_public_key_file.empty()) {
      auto key = transport::read_public_key_file(settings.jwt_public_key_file);
      spdlog::info("JWTs are verified with the {} public key in {}", key.algorithm,
                   settings.jwt_public_key_file);
      jwt(std::move(key.pem), std::move(key.algorithm));
    }
  } catch (const transport::auth_config_error& error) {
    spdlog::critical("{}", error.what());
    return 2;
  }
  if (!authenticators.empty()) listen.auth = transport::combine(std::move(authenticators));
  if (!listen.auth && !transport::is_loopback_host(listen.host) && !settings.insecure_no_auth) {
    spdlog::critical(
        "refusing to listen on {} without authentication: configure --auth-keys, "
        "--jwt-secret-file or --jwt-public-key-file, or pass --insecure-no-auth",
        listen.host);
    return 2;
  }
  listen.io_threads = settings.io_threads;
  listen.max_message_bytes = settings.max_message_bytes;
  listen.max_connections = settings.max_connections;
  listen.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(settings.idle_timeout);
  listen.header_timeout = settings.header_timeout;
  listen.shutdown_grace = settings.shutdown_grace;
  listen.allowed_origins = settings.allowed_origins;
  listen.public_url = settings.public_url;  // empty: the listener's own URL, with its bound port
  listen.authorization_server = settings.jwt_issuer;
  listen.rate_limit = settings.rate_limit;
  listen.rate_burst = settings.rate_burst;
  listen.metrics = std::move(metrics);
  listen.readiness = std::move(readiness);
  transport::http_server network(server, listen);
  // The store's replies (todo_add, todo_list on Postgres) are read on the I/O threads, which
  // then write the answers where they are, instead of on the store's own thread.
  if (auto events = database.attach_event_loop())
    network.watch_descriptor(events->fd, events->run_ready, events->detach);
  try {
    network.start();
  } catch (const std::exception& error) {
    spdlog::critical("{}", error.what());
    return 2;
  }
  spdlog::info("bookmcp {} listening on {}:{} (WebSocket and Streamable HTTP on /mcp; auth {})", BOOKMCP_VERSION,
               listen.host, network.port(), listen.auth ? "on" : "off");
  network.run_until_signal();
  spdlog::info("bookmcp stopped");
  return 0;
}

// `stop_fd`: readable on SIGTERM/SIGINT in stdio mode (see main), else -1.
int run(const bookmcp::app::config& settings, int stop_fd) {
  using namespace bookmcp;
  std::error_code error;
  std::filesystem::create_directories(settings.data_dir, error);
  if (error) {
    spdlog::critical("cannot create the data directory {}: {}", settings.data_dir, error.message());
    return 2;
  }
  for (const auto& root : settings.docs) {
    if (!std::filesystem::is_directory(root)) {
      spdlog::critical("setting docs: {} is not a directory", root);
      return 2;
    }
    if (auto docs = app::docs_folder_of_site_root(root)) {
      spdlog::warn(
          "setting docs: {} is a Docusaurus site's root; its pages are in {}: pass that folder, or "
          "links will read /docs/docs/...",
          root, docs->string());
    }
  }
  if (!tools::reader_time_zone::parse(settings.timezone)) {
    spdlog::critical("setting timezone: \"{}\" is not understood; use {}", settings.timezone,
                     tools::time_zone_forms);
    return 2;
  }
  if (settings.mode == app::run_mode::migrate_command) return run_migrate(settings);
  if (settings.mode == app::run_mode::index_command || settings.mode == app::run_mode::reindex_command)
    return app::run_index_command(settings);

  std::shared_ptr<store::database> database = open_database(settings);
  spdlog::info("storage: {} ({})", database->backend_name(),
               database->backend_name() == "sqlite" ? settings.data_dir : "DATABASE_URL");

  auto metrics = std::make_shared<transport::metrics>(settings.log_format == "json");
  mcp::server_options options;
  options.observer = metrics;
  options.name = "bookmcp";
  options.title = "bookmcp: textbook search, indexing and study todos";
  options.version = BOOKMCP_VERSION;
  options.worker_threads = settings.worker_threads;
  options.tool_timeout = settings.tool_timeout;
  options.request_state_key = settings.request_state_key;
  options.validate_output = settings.validate_output;
  options.instructions =
      "Answers questions from the registered book with citations, and keeps the user's study todo list.";
  mcp::server server(options);
  tools::todo_tool_options todo_options;
  todo_options.time_zone = settings.timezone;
  // No more todo calls run at once than the pool has connections: the others wait in the
  // tool's queue without holding a worker thread (which would only block on the pool).
  if (database->backend_name() == "postgres") todo_options.max_concurrency = settings.db_pool_max;
  tools::register_todo_tools(server, database, todo_options);
  app::book_service book(settings, database->documents());
  book.register_with(server);
  book.start_background_indexing(server);

  std::vector<transport::dependency_check> readiness = book.readiness();
  readiness.push_back({database->backend_name() == "sqlite" ? "sqlite" : "postgres", [database] {
                         try {
                           database->ping({});
                           return std::string();
                         } catch (const std::exception& error) {
                           return std::string(error.what());
                         }
                       }});

  if (settings.mode == app::run_mode::serve_listen)
    return serve_network(settings, server, *database, metrics, std::move(readiness));
  transport::stdio_options stdio;
  stdio.max_message_bytes = settings.max_message_bytes;
  stdio.finish_timeout = settings.shutdown_grace;
  stdio.stop_fd = stop_fd;
  spdlog::info("bookmcp {} serving MCP on stdio (data dir {}, {} book root(s))", BOOKMCP_VERSION,
               settings.data_dir, settings.docs.size());
  return transport::serve_stdio(server, stdio, {.identity = settings.user, .transport = "stdio", .session_id = {}});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bookmcp::app;
  std::signal(SIGPIPE, SIG_IGN);
  // A network server holds one descriptor per connection: use the whole hard limit.
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  config settings;
  try {
    settings = load_config(std::vector<std::string>(argv + 1, argv + argc), process_environment());
  } catch (const config_error& error) {
    std::cerr << "bookmcp: " << error.what() << "\n";
    return 2;
  }
  switch (settings.mode) {
    case run_mode::show_help:
      std::cout << usage_text();
      return 0;
    case run_mode::show_version:
      std::cout << "bookmcp " << BOOKMCP_VERSION << "\n";
      return 0;
    default:
      break;
  }
  configure_logging(settings.log_level, settings.log_format);
  // On stdio, SIGTERM and SIGINT end the session as end of input does: the calls already read
  // are answered (within --shutdown-grace) before the process exits. They are blocked here,
  // before any thread starts (every thread inherits the mask), and read from a signalfd.
  int stop_fd = -1;
  if (settings.mode == run_mode::serve_stdio) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) == 0) {
      stop_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
      if (stop_fd < 0) ::pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);  // as before
    }
  }
  try {
    return run(settings, stop_fd);
  } catch (const bookmcp::store::store_error& error) {
    // what() is the user-facing text; the diagnostic has the detail (never credentials).
    spdlog::critical("bookmcp stopped: {} ({})", error.what(), error.diagnostic());
    return 1;
  } catch (const std::exception& error) {
    spdlog::critical("bookmcp stopped: {}", error.what());
    return 1;
  }
}
