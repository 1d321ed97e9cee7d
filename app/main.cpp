// bookmcp's composition root: reads the configuration, sets up logging, builds the MCP
// server with its tools, and runs the chosen transport.

#include <csignal>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/logging.hpp"
#include "mcp/server.hpp"
#include "transport/stdio_transport.hpp"

namespace {

int run(const bookmcp::app::config& settings) {
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
  }

  mcp::server_options options;
  options.name = "bookmcp";
  options.title = "bookmcp: textbook search, indexing and study todos";
  options.version = BOOKMCP_VERSION;
  options.worker_threads = settings.worker_threads;
  options.instructions =
      "Answers questions from the registered book with citations, and keeps the user's study todo list.";
  mcp::server server(options);

  if (settings.mode == app::run_mode::serve_listen) {
    spdlog::critical("--listen is not available in this build yet; use --stdio");
    return 2;
  }
  transport::stdio_options stdio;
  stdio.max_message_bytes = settings.max_message_bytes;
  spdlog::info("bookmcp {} serving MCP on stdio (data dir {}, {} book root(s))", BOOKMCP_VERSION,
               settings.data_dir, settings.docs.size());
  return transport::serve_stdio(server, stdio, {.identity = settings.user, .transport = "stdio", .session_id = {}});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bookmcp::app;
  std::signal(SIGPIPE, SIG_IGN);
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
  try {
    return run(settings);
  } catch (const std::exception& error) {
    spdlog::critical("bookmcp stopped: {}", error.what());
    return 1;
  }
}
