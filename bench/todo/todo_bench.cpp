// bookmcp_todo_bench: todo_add and todo_list calls per second through MCP (mcp::server with
// the todo tools, N client sessions over the in-memory transport, each keeping P calls in
// flight) against Postgres, beside pgbench running the same INSERT and SELECT statements on
// the same server with the same number of clients, in the same run. Prints every round, the
// medians and the ratios MCP / pgbench.
//
//   bookmcp_todo_bench --database-url URL [--clients 8] [--pipeline 4] [--seconds 5]
//                      [--repeats 3] [--workers 16] [--pool 8] [--pgbench PATH]
//                      [--validate-output] [--only add|list|store-add|store-list]
//                      [--full-client] [--delivery direct|threads]
//
// The MCP clients are lean by default (bench/todo/load_connection.hpp: preformatted requests,
// answers scanned, not parsed), as pgbench is a lean client of Postgres; --full-client uses
// mcp::client instead, which parses every answer into a JSON tree as an application would.
//
// --validate-output checks each result against the tool's outputSchema (bookmcp's
// --validate-output; off by default as in bookmcp). --only runs that MCP phase alone, without
// pgbench, for profiling; --only store-add|store-list runs the same add or list page through
// the store's repository from --clients threads, without MCP: what the store alone costs.
//
// The URL defaults to $DATABASE_URL, then $BOOKMCP_TEST_DATABASE_URL (bench/todo/run.sh
// starts a throwaway cluster with tests/testing/with_postgres.sh). The bench writes only rows
// of owners named "bench-..." and deletes them when it ends.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench/todo/load_connection.hpp"
#include "mcp/client.hpp"
#include "mcp/memory_connection.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"
#include "store/database.hpp"
#include "store/errors.hpp"
#include "tools/todo/todo_tools.hpp"

namespace {

using namespace bookmcp;
using mcp::json;
using namespace std::chrono;

struct settings {
  std::string database_url;
  int clients = 8;
  int pipeline = 4;
  int seconds = 5;
  int repeats = 3;
  int workers = 16;
  int pool = 8;
  int seed_per_reader = 200;
  std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
  bool validate_output = false;  // bookmcp's default (--validate-output)
  // "add" or "list": that MCP phase alone, no pgbench (for profiling); "store-add" or
  // "store-list": the same work through the store's repository directly, without MCP.
  std::string only;
  bool full_client = false;  // mcp::client instead of the lean load client
  // How the lean clients' in-memory connections deliver (mcp/memory_transport.hpp): direct
  // (the client calls the server on its own thread, as an in-process client does) or threads
  // (a delivery thread per end, as two processes would have).
  mcp::memory_delivery delivery = mcp::memory_delivery::direct;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr
      << "bookmcp_todo_bench: " << problem << "\n"
      << "usage: bookmcp_todo_bench --database-url URL [--clients N] [--pipeline N] [--seconds N]\n"
         "                          [--repeats N] [--workers N] [--pool N] [--pgbench PATH]\n"
         "                          [--only add|list|store-add|store-list] [--validate-output]\n"
         "                          [--full-client] [--delivery direct|threads]\n";
  std::exit(2);
}

settings parse_arguments(int argc, char** argv) {
  settings s;
  if (const char* url = std::getenv("DATABASE_URL"); url && *url)
    s.database_url = url;
  else if (const char* test_url = std::getenv("BOOKMCP_TEST_DATABASE_URL"); test_url && *test_url)
    s.database_url = test_url;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--validate-output" || flag == "--full-client") {
      (flag == "--validate-output" ? s.validate_output : s.full_client) = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    const auto number = [&] {
      try {
        const int n = std::stoi(value);
        if (n < 1) throw std::out_of_range(value);
        return n;
      } catch (const std::exception&) {
        usage(flag + " needs a positive integer");
      }
    };
    if (flag == "--database-url")
      s.database_url = value;
    else if (flag == "--clients")
      s.clients = number();
    else if (flag == "--pipeline")
      s.pipeline = number();
    else if (flag == "--seconds")
      s.seconds = number();
    else if (flag == "--repeats")
      s.repeats = number();
    else if (flag == "--workers")
      s.workers = number();
    else if (flag == "--pool")
      s.pool = number();
    else if (flag == "--pgbench")
      s.pgbench = value;
    else if (flag == "--delivery") {
      if (value != "direct" && value != "threads") usage("--delivery takes direct or threads");
      s.delivery = value == "direct" ? mcp::memory_delivery::direct : mcp::memory_delivery::threads;
    } else if (flag == "--only") {
      if (value != "add" && value != "list" && value != "store-add" && value != "store-list")
        usage("--only takes add, list, store-add or store-list");
      s.only = value;
    } else
      usage("unknown option " + flag);
  }
  if (s.database_url.empty()) usage("no database: pass --database-url or set DATABASE_URL");
  return s;
}

// One MCP client connection with its own session and identity.
class connection {
 public:
  connection(mcp::server& server, std::string identity)
      : link_(server, {.identity = std::move(identity), .transport = "memory", .session_id = {}},
              {.timeout = seconds(120)}) {
    link_.client().initialize();
  }
  ~connection() {
    link_.close(seconds(30));
    link_.session().wait_idle(seconds(10));
  }
  mcp::client& client() { return link_.client(); }

 private:
  mcp::memory_connection link_;
};

struct phase_result {
  double per_second = 0;
  std::size_t errors = 0;
};

// The MCP clients of one phase: lean load connections (the default) or, with --full-client,
// mcp::client connections that parse every answer into a JSON tree as an application would.
struct mcp_clients {
  std::vector<std::unique_ptr<bench::load_connection>> lean;
  std::vector<std::unique_ptr<connection>> full;

  mcp_clients(mcp::server& server, const std::string& owner_prefix, int count, bool full_client,
              mcp::memory_delivery delivery) {
    for (int c = 0; c < count; ++c) {
      const std::string identity = owner_prefix + std::to_string(c);
      if (full_client)
        full.push_back(std::make_unique<connection>(server, identity));
      else
        lean.push_back(std::make_unique<bench::load_connection>(server, identity, delivery));
    }
  }
};

// Every connection keeps `pipeline` calls of `tool` in flight for `duration`; counts the calls
// answered (without isError) before the deadline.
phase_result run_mcp(mcp_clients& clients, int pipeline, seconds length, const std::string& tool,
                     const json& arguments) {
  const auto deadline = steady_clock::now() + length;
  if (!clients.lean.empty()) {
    const bench::call_builder call(tool, arguments.dump());
    for (auto& connection : clients.lean) connection->start(call, pipeline, deadline);
    phase_result result;
    std::size_t completed = 0;
    for (auto& connection : clients.lean) {
      bench::load_connection::outcome outcome;
      if (!connection->wait(length + seconds(120), outcome))
        throw std::runtime_error(tool + " calls were not all answered");
      completed += outcome.completed;
      result.errors += outcome.errors;
    }
    result.per_second = static_cast<double>(completed) / static_cast<double>(length.count());
    return result;
  }
  auto& connections = clients.full;
  std::atomic<std::size_t> completed{0};
  std::atomic<std::size_t> errors{0};
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < connections.size(); ++c) {
    threads.emplace_back([&, c] {
      auto& client = connections[c]->client();
      std::deque<std::future<json>> in_flight;
      for (int i = 0; i < pipeline; ++i)
        in_flight.push_back(client.start_tool_call(tool, arguments).result);
      while (!in_flight.empty()) {
        json result;
        bool failed = false;
        try {
          result = in_flight.front().get();
          failed = result.value("isError", false);
        } catch (const std::exception&) {
          failed = true;
        }
        in_flight.pop_front();
        const bool in_time = steady_clock::now() < deadline;
        if (in_time) {
          if (failed)
            ++errors;
          else
            ++completed;
          in_flight.push_back(client.start_tool_call(tool, arguments).result);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return {static_cast<double>(completed) / static_cast<double>(length.count()), errors.load()};
}

// `clients` threads each calling the store's repository directly (no MCP, no transport) for
// `length`: the same add or list page as the MCP phases, to split the gap to pgbench between
// the store and the layers above it.
phase_result run_store(store::database& db, int clients, seconds length, bool add) {
  const auto deadline = steady_clock::now() + length;
  std::atomic<std::size_t> completed{0};
  std::atomic<std::size_t> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const std::string owner = (add ? "bench-writer-" : "bench-reader-") + std::to_string(c);
      store::todo_query query;
      query.limit = 20;
      const store::new_todo item{"Read chapter 3 and do the exercises",
                                 "",
                                 store::todo_due::parse("2025-03-14"),
                                 store::todo_priority::high,
                                 {"bench", "chapter-3"},
                                 std::nullopt};
      std::size_t mine = 0;
      while (steady_clock::now() < deadline) {
        try {
          if (add)
            db.todos().add(owner, item, {});
          else
            db.todos().list(owner, query, {});
          ++mine;
        } catch (const std::exception&) {
          ++errors;
        }
      }
      completed += mine;
    });
  }
  for (auto& thread : threads) thread.join();
  return {static_cast<double>(completed) / static_cast<double>(length.count()), errors.load()};
}

// CPU time (user + system) this process has used so far, in microseconds, and its context
// switches (voluntary: a thread went to sleep; involuntary: it was preempted).
struct process_usage {
  double cpu_us = 0;
  double switches = 0;
};
process_usage process_usage_now() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& t) { return t.tv_sec * 1e6 + static_cast<double>(t.tv_usec); };
  return {us(usage.ru_utime) + us(usage.ru_stime),
          static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw)};
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs pgbench with one custom script; returns its tps (excluding connection time).
// `as_the_store`: its sessions get the store's settings (store/postgres/pg_pool.cpp: one
// generic plan per prepared statement).
phase_result run_pgbench(const settings& s, const std::filesystem::path& script,
                         bool as_the_store = false) {
  const std::string command =
      std::string(as_the_store ? "PGOPTIONS='-c plan_cache_mode=force_generic_plan' " : "") +
      shell_quote(s.pgbench) + " -n -M prepared -c " + std::to_string(s.clients) + " -j " +
      std::to_string(std::min(s.clients, 2)) + " -T " + std::to_string(s.seconds) + " -f " +
      shell_quote(script.string()) + " " + shell_quote(s.database_url) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run pgbench");
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  std::smatch match;
  static const std::regex tps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  static const std::regex failed(R"(number of failed transactions: ([0-9]+))");
  if (status != 0 || !std::regex_search(output, match, tps)) {
    throw std::runtime_error("pgbench failed (status " + std::to_string(status) + "):\n" + output);
  }
  phase_result result{std::stod(match[1]), 0};
  if (std::regex_search(output, match, failed)) result.errors = std::stoul(match[1]);
  return result;
}

// Runs `script` once on one connection (VACUUM ANALYZE before the read phases).
void analyze(const settings& s, const std::filesystem::path& script) {
  const std::string command = shell_quote(s.pgbench) + " -n -c 1 -t 1 -f " +
                              shell_quote(script.string()) + " " + shell_quote(s.database_url) +
                              " > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot run " + command);
}

// The statements the store sends for one add and one list page (store/postgres), as pgbench
// scripts: bare (autocommit, as the store sends both: see run_autocommit in
// store/postgres/postgres_database.cpp), and in a transaction (BEGIN; statement; COMMIT).
constexpr const char* returned_columns =
    "id, owner, title, notes, to_char(due_date, 'YYYY-MM-DD'), (extract(epoch FROM due_at) * "
    "1000)::bigint,"
    " due_offset_minutes, priority, tags::text, status, (extract(epoch FROM created_at) * "
    "1000)::bigint,"
    " (extract(epoch FROM updated_at) * 1000)::bigint, (extract(epoch FROM completed_at) * "
    "1000)::bigint,"
    " client_request_id";

std::string insert_statement() {
  return std::string(
             "INSERT INTO todos (id, owner, title, notes, due_date, due_at, due_offset_minutes, "
             "priority, tags,"
             " status, created_at, updated_at, completed_at, client_request_id)"
             " VALUES (md5(:client_id::text || '-' || :n::text || '-' || clock_timestamp()::text),"
             " 'bench-pgbench-' || :client_id, 'Read chapter 3 and do the exercises', '', "
             "'2025-03-14'::date,"
             " NULL, NULL, 3, '[\"bench\",\"chapter-3\"]'::jsonb, 'open', now(), now(), NULL, NULL)"
             " ON CONFLICT DO NOTHING RETURNING ") +
         returned_columns + ";\n";
}

std::string select_statement() {
  return std::string("SELECT ") + returned_columns +
         " FROM todos WHERE owner = 'bench-reader-' || :client_id AND status = 'open'"
         " ORDER BY created_at ASC, id COLLATE \"C\" ASC LIMIT 21;\n";
}

// The store's own list statement for this page, sent as the store sends it: alone, without
// BEGIN / COMMIT. It is make_list_statement's statement for the shape
// sort=created, ascending, status given, no other filter, no cursor (limit 20 + 1), with the
// owner and the limit passed as parameters as the store binds them (pgbench variables cannot
// hold text, so the status stays a literal), in sessions set up as the store's. Shows how
// much of the read gap is the SQL rather than the MCP layers.
std::string store_select_statement() {
  return std::string("SELECT ") + returned_columns +
         " FROM todos WHERE owner = ('bench-reader-' || :client_id)::text"
         " AND status = 'open'::text"
         " ORDER BY created_at ASC, id COLLATE \"C\" ASC LIMIT :limit::bigint;\n";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

void clean_up(store::database& db, const settings& s) {
  for (int c = 0; c < s.clients; ++c) {
    for (auto prefix : {"bench-reader-", "bench-writer-", "bench-pgbench-"})
      db.todos().remove_all(prefix + std::to_string(c), {});
  }
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse_arguments(argc, argv);
  try {
    store::postgres_options pg;
    pg.database_url = s.database_url;
    pg.min_connections = static_cast<std::size_t>(s.pool);
    pg.max_connections = static_cast<std::size_t>(s.pool);
    pg.async_connections = static_cast<std::size_t>(s.pool);  // todo_add / todo_list
    pg.acquire_timeout = seconds(30);
    std::shared_ptr<store::database> db = store::open_postgres(pg);
    clean_up(*db, s);

    mcp::server_options server_options;
    server_options.name = "bookmcp-todo-bench";
    server_options.worker_threads = static_cast<std::size_t>(s.workers);
    server_options.validate_output = s.validate_output;
    mcp::server server(server_options);
    tools::todo_tool_options tool_options;
    tool_options.timeout = seconds(120);
    tool_options.max_concurrency = static_cast<std::size_t>(s.pool);
    tool_options.max_queue = 65536;
    tools::register_todo_tools(server, db, tool_options);

    // Each reader owns seed_per_reader open todos; list reads their first page of 20.
    for (int c = 0; c < s.clients; ++c) {
      std::vector<store::new_todo> batch;
      for (int i = 0; i < s.seed_per_reader; ++i) {
        batch.push_back({"Read section " + std::to_string(i),
                         "",
                         store::todo_due::parse("2025-03-14"),
                         store::todo_priority::high,
                         {"bench", "chapter-3"},
                         std::nullopt});
        if (batch.size() == store::max_batch_size || i + 1 == s.seed_per_reader) {
          db->todos().add_batch("bench-reader-" + std::to_string(c), batch, {});
          batch.clear();
        }
      }
    }

    const auto scripts = std::filesystem::temp_directory_path() /
                         ("bookmcp-todo-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(scripts);
    const std::string random_n = "\\set n random(1, 2000000000)\n";
    write_file(scripts / "insert_tx.sql", random_n + "BEGIN;\n" + insert_statement() + "COMMIT;\n");
    write_file(scripts / "insert.sql", random_n + insert_statement());
    write_file(scripts / "select_tx.sql", "BEGIN;\n" + select_statement() + "COMMIT;\n");
    write_file(scripts / "select.sql", select_statement());
    write_file(scripts / "analyze.sql", "VACUUM ANALYZE todos;\n");
    write_file(scripts / "select_store.sql", "\\set limit 21\n" + store_select_statement());

    auto writers = std::make_unique<mcp_clients>(server, "bench-writer-", s.clients, s.full_client,
                                                 s.delivery);
    auto readers = std::make_unique<mcp_clients>(server, "bench-reader-", s.clients, s.full_client,
                                                 s.delivery);
    const json add_arguments = {{"title", "Read chapter 3 and do the exercises"},
                                {"due", "2025-03-14"},
                                {"priority", "high"},
                                {"tags", {"bench", "chapter-3"}}};
    const json list_arguments = {{"status", "open"}, {"sort", "created"}, {"limit", 20}};

    std::cout << "bookmcp_todo_bench: " << s.clients << " clients, MCP pipeline " << s.pipeline
              << ", server workers " << s.workers << ", Postgres pool " << s.pool << ", "
              << s.seconds << " s per phase, output check " << (s.validate_output ? "on" : "off")
              << (s.full_client ? ", full mcp::client"
                  : s.delivery == mcp::memory_delivery::direct
                      ? ", lean load client (in-memory, direct delivery)"
                      : ", lean load client (in-memory, a delivery thread per end)")
              << ", " << s.repeats << " rounds; pgbench -c " << s.clients << " -j "
              << std::min(s.clients, 2) << " -M prepared\n";
    // Warm-up: connections, prepared statements, caches.
    run_mcp(*writers, s.pipeline, seconds(1), "todo_add", add_arguments);
    run_mcp(*readers, s.pipeline, seconds(1), "todo_list", list_arguments);

    if (!s.only.empty()) {
      const bool add = s.only.ends_with("add");
      const bool direct = s.only.starts_with("store-");
      for (int round = 1; round <= s.repeats; ++round) {
        const process_usage before = process_usage_now();
        auto r =
            direct ? run_store(*db, s.clients, seconds(s.seconds), add)
            : add  ? run_mcp(*writers, s.pipeline, seconds(s.seconds), "todo_add", add_arguments)
                   : run_mcp(*readers, s.pipeline, seconds(s.seconds), "todo_list", list_arguments);
        const process_usage after = process_usage_now();
        const double calls = r.per_second * static_cast<double>(s.seconds);
        std::printf(
            "round %d: %s %s %.0f/s, %.0f us of CPU and %.1f context switches per call in this "
            "process, %zu errors\n",
            round, direct ? "store" : "MCP",
            direct ? (add ? "todos().add" : "todos().list") : (add ? "todo_add" : "todo_list"),
            r.per_second, (after.cpu_us - before.cpu_us) / calls,
            (after.switches - before.switches) / calls, r.errors);
        std::fflush(stdout);
      }
    }
    std::map<std::string, std::vector<double>> rates;
    std::size_t mcp_errors = 0;
    std::size_t pgbench_errors = 0;
    const seconds phase{s.seconds};
    for (int round = 1; s.only.empty() && round <= s.repeats; ++round) {
      auto mcp_add = run_mcp(*writers, s.pipeline, phase, "todo_add", add_arguments);
      auto pg_add_tx = run_pgbench(s, scripts / "insert_tx.sql");
      auto pg_add = run_pgbench(s, scripts / "insert.sql");
      // Each write phase adds some 10^5 rows; without fresh statistics the planner's choices
      // for the reads (MCP and pgbench alike) drift from round to round with autovacuum, and
      // an autovacuum of those rows would run during the first read phase (MCP's) only.
      analyze(s, scripts / "analyze.sql");
      auto mcp_list = run_mcp(*readers, s.pipeline, phase, "todo_list", list_arguments);
      auto pg_list_tx = run_pgbench(s, scripts / "select_tx.sql");
      auto pg_list = run_pgbench(s, scripts / "select.sql");
      auto pg_list_store = run_pgbench(s, scripts / "select_store.sql", /*as_the_store=*/true);
      mcp_errors += mcp_add.errors + mcp_list.errors;
      pgbench_errors += pg_add_tx.errors + pg_add.errors + pg_list_tx.errors + pg_list.errors +
                        pg_list_store.errors;
      rates["mcp_add"].push_back(mcp_add.per_second);
      rates["pg_add_tx"].push_back(pg_add_tx.per_second);
      rates["pg_add"].push_back(pg_add.per_second);
      rates["mcp_list"].push_back(mcp_list.per_second);
      rates["pg_list_tx"].push_back(pg_list_tx.per_second);
      rates["pg_list"].push_back(pg_list.per_second);
      rates["pg_list_store"].push_back(pg_list_store.per_second);
      std::printf(
          "round %d: writes/s MCP todo_add %.0f | pgbench INSERT in BEGIN/COMMIT %.0f, alone %.0f;"
          " reads/s MCP todo_list %.0f | pgbench SELECT in BEGIN/COMMIT %.0f, alone %.0f,"
          " the store's own list SQL %.0f\n",
          round, mcp_add.per_second, pg_add_tx.per_second, pg_add.per_second, mcp_list.per_second,
          pg_list_tx.per_second, pg_list.per_second, pg_list_store.per_second);
      std::fflush(stdout);
    }
    if (s.only.empty()) {
      const double mcp_add = median(rates["mcp_add"]), pg_add_tx = median(rates["pg_add_tx"]),
                   pg_add = median(rates["pg_add"]), mcp_list = median(rates["mcp_list"]),
                   pg_list_tx = median(rates["pg_list_tx"]), pg_list = median(rates["pg_list"]),
                   pg_list_store = median(rates["pg_list_store"]);
      std::printf("\nmedians of %d rounds (calls or transactions per second)\n", s.repeats);
      // The store sends both statements alone, in autocommit: the bare pgbench scripts are the
      // same work; the BEGIN / COMMIT ones are shown beside them.
      std::printf(
          "  writes: MCP todo_add %8.0f   pgbench INSERT alone, as the store %8.0f   ratio %.2f "
          "(goal >= 0.70)   [pgbench in BEGIN/COMMIT %8.0f, ratio %.2f]\n",
          mcp_add, pg_add, mcp_add / pg_add, pg_add_tx, mcp_add / pg_add_tx);
      std::printf(
          "  reads:  MCP todo_list %7.0f   pgbench SELECT alone, as the store %8.0f   ratio %.2f "
          "(goal >= 0.50)   [pgbench in BEGIN/COMMIT %8.0f, ratio %.2f]\n",
          mcp_list, pg_list, mcp_list / pg_list, pg_list_tx, mcp_list / pg_list_tx);
      std::printf(
          "          pgbench running the store's own list statement %8.0f   ratio %.2f (MCP "
          "overhead "
          "alone)\n",
          pg_list_store, mcp_list / pg_list_store);
      std::printf("  errors: MCP %zu, pgbench %zu\n", mcp_errors, pgbench_errors);
    }

    writers.reset();
    readers.reset();
    server.shutdown(seconds(5));
    clean_up(*db, s);
    std::filesystem::remove_all(scripts);
    return 0;
  } catch (const store::store_error& error) {
    std::cerr << "bookmcp_todo_bench: " << error.what() << " (" << error.diagnostic() << ")\n";
  } catch (const std::exception& error) {
    std::cerr << "bookmcp_todo_bench: " << error.what() << "\n";
  }
  return 1;
}
