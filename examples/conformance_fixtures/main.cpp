// mcp_conformance_fixtures: serves the conformance suite's fixtures (and `wait`, `echo`) over
// stdio. Flags: --stdio (default), --page-size N (tools/list page size), --log-level LEVEL.

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "examples/conformance_fixtures/fixtures.hpp"
#include "transport/http_server.hpp"
#include "transport/stdio_transport.hpp"

int main(int argc, char** argv) {
  using namespace bookmcp;
  std::signal(SIGPIPE, SIG_IGN);
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  mcp::server_options options;
  options.name = "bookmcp-conformance-fixtures";
  options.version = BOOKMCP_VERSION;
  std::string log_level = "warn";
  std::string listen;
  std::chrono::milliseconds shutdown_grace{2000};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "mcp_conformance_fixtures: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--stdio") continue;
    if (arg == "--worker-threads") {
      options.worker_threads = std::stoul(next());
    } else if (arg == "--shutdown-grace-ms") {
      shutdown_grace = std::chrono::milliseconds(std::stol(next()));
    } else if (arg == "--listen") {
      listen = next();
    } else if (arg == "--page-size") {
      options.page_size = std::stoul(next());
    } else if (arg == "--log-level") {
      log_level = next();
    } else if (arg == "--help") {
      std::cout << "usage: mcp_conformance_fixtures [--stdio | --listen HOST:PORT] [--page-size N] [--log-level LEVEL] [--shutdown-grace-ms MS] [--worker-threads N]\n";
      return 0;
    } else {
      std::cerr << "mcp_conformance_fixtures: unknown argument " << arg << "\n";
      return 2;
    }
  }
  auto logger = spdlog::stderr_logger_mt("fixtures");
  logger->set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(logger);

  auto metrics = std::make_shared<transport::metrics>();
  options.observer = metrics;
  mcp::server server(options);
  examples::register_conformance_fixtures(server);
  if (!listen.empty()) {
    transport::listen_options network_options;
    std::tie(network_options.host, network_options.port) = transport::parse_listen_address(listen);
    network_options.metrics = metrics;
    network_options.shutdown_grace = shutdown_grace;
    transport::http_server network(server, network_options);
    network.start();
    // The chosen port on stdout, so that tests can use port 0.
    std::cout << "listening on " << network_options.host << ":" << network.port() << std::endl;
    network.run_until_signal();
    return 0;
  }
  return transport::serve_stdio(server, {}, {.identity = "fixtures", .transport = "stdio", .session_id = {}});
}
