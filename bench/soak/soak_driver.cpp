// bookmcp_soak: the soak test's load and its bookkeeping (bench/soak/run.sh starts the
// server, the database and this program, and plots the result).
//
//   bookmcp_soak capacity --url http://127.0.0.1:PORT/mcp [--seconds 10] [--connections 32] [--docs DIR]
//       closed loop over Streamable HTTP with the soak's mix of calls; prints one JSON line
//       with calls/s, p50/p99 and failures.
//
//   bookmcp_soak soak --url http://127.0.0.1:PORT/mcp --server-pid PID --rate R --minutes M
//       --docs DIR --csv FILE --summary FILE [options] -- STDIO SERVER COMMAND...
//       open-loop load at R calls/s split over HTTP, WebSocket and a `bookmcp --stdio` child it
//       starts; periodically edits a page of the book, calls index_documents and runs the
//       restart command (Postgres); writes one CSV row per minute and, at the end, checks the
//       goals, printing PASS/FAIL for each. Exit status 0 when every goal is met, 1 when one is
//       not, 2 for a usage error or a run that could not start.
//
// Latency is taken from the instant a call was due (open loop), so a server that falls behind
// shows it in the percentiles instead of slowing the load down (no coordinated omission).

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "bench/common/latency_stats.hpp"
#include "bench/network/load_options.hpp"
#include "bench/network/process_info.hpp"
#include "bench/soak/soak_clients.hpp"

namespace bookmcp::bench::soak {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------
// Options

struct soak_options {
  std::string mode;
  target_url url;
  long server_pid = 0;
  double seconds = 10;                 // capacity
  std::size_t capacity_connections = 32;
  double rate = 0;                     // soak: calls/s over all transports
  double minutes = 30;
  int warmup_minutes = 5;
  double share_http = 0.45, share_websocket = 0.45, share_stdio = 0.10;
  std::size_t http_connections = 32;
  std::size_t websocket_connections = 8;
  std::string docs;
  std::string edit_page;               // relative to docs; default: the first page found
  double edit_every = 60, edit_offset = 20;
  double index_every = 60, index_offset = 40;
  std::string restart_command;
  double restart_every = 300, restart_offset = 150, restart_grace = 15;
  double capacity = 0;                 // recorded in the summary only
  unsigned database_port = 0;          // counts each server's connections to it
  long database_connections_bound = 28;  // --db-pool-max (20) + the 8 connections of todo_add/todo_list
  std::string csv, summary, failures_log, stdio_stderr;
  std::vector<std::string> stdio_command;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bookmcp_soak: " << problem << "\n"
            << "usage: bookmcp_soak capacity --url URL [--seconds S] [--connections N] [--docs DIR]\n"
            << "       bookmcp_soak soak --url URL --server-pid PID --rate R --minutes M --docs DIR --csv FILE\n"
            << "                    --summary FILE [--warmup-minutes W] [--share-http F] [--share-websocket F]\n"
            << "                    [--share-stdio F] [--http-connections N] [--websocket-connections N]\n"
            << "                    [--edit-page REL] [--edit-every S] [--index-every S] [--restart-command CMD]\n"
            << "                    [--restart-every S] [--restart-offset S] [--restart-grace S] [--capacity X]\n"
            << "                    [--database-port P]\n"
            << "                    [--failures-log FILE] [--stdio-stderr FILE] -- STDIO SERVER COMMAND...\n";
  std::exit(2);
}

soak_options parse_options(int argc, char** argv) {
  if (argc < 2) usage("a mode is needed: capacity or soak");
  soak_options options;
  options.mode = argv[1];
  if (options.mode != "capacity" && options.mode != "soak") usage("unknown mode " + options.mode);
  std::optional<std::string> url;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) options.stdio_command.emplace_back(argv[i]);
      break;
    }
    if (i + 1 >= argc) usage(arg + " needs a value");
    const std::string value = argv[++i];
    auto number = [&] {
      try {
        return std::stod(value);
      } catch (const std::exception&) {
        usage(arg + " needs a number, not " + value);
      }
    };
    if (arg == "--url") url = value;
    else if (arg == "--server-pid") options.server_pid = static_cast<long>(number());
    else if (arg == "--seconds") options.seconds = number();
    else if (arg == "--connections") options.capacity_connections = static_cast<std::size_t>(number());
    else if (arg == "--rate") options.rate = number();
    else if (arg == "--minutes") options.minutes = number();
    else if (arg == "--warmup-minutes") options.warmup_minutes = static_cast<int>(number());
    else if (arg == "--share-http") options.share_http = number();
    else if (arg == "--share-websocket") options.share_websocket = number();
    else if (arg == "--share-stdio") options.share_stdio = number();
    else if (arg == "--http-connections") options.http_connections = static_cast<std::size_t>(number());
    else if (arg == "--websocket-connections") options.websocket_connections = static_cast<std::size_t>(number());
    else if (arg == "--docs") options.docs = value;
    else if (arg == "--edit-page") options.edit_page = value;
    else if (arg == "--edit-every") options.edit_every = number();
    else if (arg == "--index-every") options.index_every = number();
    else if (arg == "--restart-command") options.restart_command = value;
    else if (arg == "--restart-every") options.restart_every = number();
    else if (arg == "--restart-offset") options.restart_offset = number();
    else if (arg == "--restart-grace") options.restart_grace = number();
    else if (arg == "--capacity") options.capacity = number();
    else if (arg == "--database-port") options.database_port = static_cast<unsigned>(number());
    else if (arg == "--csv") options.csv = value;
    else if (arg == "--summary") options.summary = value;
    else if (arg == "--failures-log") options.failures_log = value;
    else if (arg == "--stdio-stderr") options.stdio_stderr = value;
    else usage("unknown option " + arg);
  }
  if (!url) usage("--url is required");
  try {
    options.url = parse_target_url(*url);
  } catch (const std::exception& error) {
    usage(error.what());
  }
  if (options.mode == "soak") {
    if (options.server_pid <= 0) usage("--server-pid is required");
    if (options.rate <= 0) usage("--rate is required");
    if (options.csv.empty() || options.summary.empty()) usage("--csv and --summary are required");
    if (options.share_stdio > 0 && options.stdio_command.empty()) usage("a stdio server command after -- is required");
    if (options.minutes < 1 || options.warmup_minutes < 1 || options.minutes < options.warmup_minutes + 1) {
      usage("--minutes must exceed --warmup-minutes (at least 1)");
    }
  }
  return options;
}

// ---------------------------------------------------------------------------------------
// The book: pages to read and one to edit

std::vector<std::string> book_pages(const std::string& docs) {
  std::vector<std::string> pages;
  if (docs.empty()) return pages;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(docs, error); !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    const auto extension = it->path().extension();
    if (it->is_regular_file() && (extension == ".md" || extension == ".mdx")) {
      pages.push_back(fs::relative(it->path(), docs).generic_string());
    }
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

// Sections (book://doc/PAGE#anchor) the server links from its search results.
std::vector<std::string> linked_sections(const std::string& answer) {
  std::vector<std::string> uris;
  const json parsed = json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("result")) return uris;
  for (const auto& item : parsed["result"].value("content", json::array())) {
    if (item.value("type", "") == "resource_link") {
      const std::string uri = item.value("uri", "");
      if (uri.find('#') != std::string::npos) uris.push_back(uri);
    }
  }
  return uris;
}

// ---------------------------------------------------------------------------------------
// Processes

struct process_sample {
  double rss_mib = -1;
  long fds = -1;
  long sockets = -1;         // of the fds
  long db_connections = -1;  // TCP connections to the database port (with --database-port)
  long threads = -1;
};

// The inodes of the TCP sockets in /proc/net/tcp{,6} connected to `port`.
std::set<unsigned long> sockets_to_port(long pid, unsigned port) {
  std::set<unsigned long> inodes;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
      unsigned long inode = 0;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      const auto colon = remote.rfind(':');
      if (colon == std::string::npos) continue;
      if (std::stoul(remote.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
    }
  }
  return inodes;
}

process_sample sample_process(long pid, unsigned database_port) {
  process_sample sample;
  if (pid <= 0) return sample;
  const long rss = resident_kib(pid);
  if (rss < 0) return sample;
  sample.rss_mib = static_cast<double>(rss) / 1024.0;
  const std::set<unsigned long> database = database_port ? sockets_to_port(pid, database_port) : std::set<unsigned long>();
  long fds = 0, sockets = 0, connections = 0;
  const std::string directory = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* dir = ::opendir(directory.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      ++fds;
      char target[256];
      const ssize_t size = ::readlink((directory + "/" + entry->d_name).c_str(), target, sizeof target - 1);
      if (size <= 0) continue;
      const std::string_view link(target, static_cast<std::size_t>(size));
      if (link.rfind("socket:[", 0) != 0) continue;
      ++sockets;
      const unsigned long inode = std::stoul(std::string(link.substr(8, link.size() - 9)));
      if (database.contains(inode)) ++connections;
    }
    ::closedir(dir);
    sample.fds = fds;
    sample.sockets = sockets;
    if (database_port) sample.db_connections = connections;
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) sample.threads = std::stol(line.substr(8));
  }
  return sample;
}

// The machine's busy and total CPU time so far (/proc/stat, all CPUs, in clock ticks), and a
// process's CPU time (user + system) in ticks; for the share of the machine the servers got.
struct cpu_times {
  unsigned long long busy = 0, total = 0;
};

cpu_times machine_cpu() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const unsigned long long busy = user + nice + system + irq + softirq + steal;
  return {busy, busy + idle + iowait};
}

double process_cpu_seconds(long pid) {
  if (pid <= 0) return 0;
  const process_usage usage = usage_of(pid);
  return usage.valid ? usage.cpu_seconds : 0;
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

// ---------------------------------------------------------------------------------------
// The per-minute record

struct minute_bucket {
  std::array<std::vector<std::int64_t>, kTransportCount> latencies_ns;  // successful calls
  std::array<std::uint64_t, kTransportCount> calls{};
  std::uint64_t failures = 0;   // not explained by a restart
  std::uint64_t explained = 0;  // failed within a restart's window
};

struct restart_window {
  clock_type::time_point begin;
  clock_type::time_point end = clock_type::time_point::max();  // max while it runs
  bool ok = false;
};

class recorder {
 public:
  recorder(std::chrono::milliseconds grace, const std::string& failures_log)
      : grace_(grace), failures_(failures_log.empty() ? "/dev/null" : failures_log) {}

  void record(const call_outcome& outcome) {
    std::lock_guard lock(mutex_);
    auto& bucket = current_;
    ++bucket.calls[static_cast<std::size_t>(outcome.via)];
    if (outcome.ok) {
      bucket.latencies_ns[static_cast<std::size_t>(outcome.via)].push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(outcome.done - outcome.scheduled).count());
      return;
    }
    const bool by_restart = explained_locked(outcome.scheduled, outcome.done);
    ++(by_restart ? bucket.explained : bucket.failures);
    ++(by_restart ? explained_total_ : failures_total_);
    if (logged_ < 20000) {
      ++logged_;
      failures_ << std::fixed << std::setprecision(3) << seconds_since_start(outcome.done) << ' '
                << transport_name(outcome.via) << ' ' << outcome.kind << ' '
                << (by_restart ? "restart" : "UNEXPLAINED") << ' ' << outcome.error << '\n';
    }
    if (!by_restart && first_unexplained_.size() < 5) {
      first_unexplained_.push_back(std::to_string(seconds_since_start(outcome.done)) + " s, " +
                                   transport_name(outcome.via) + " " + std::string(outcome.kind) + ": " +
                                   outcome.error);
    }
  }

  minute_bucket take() {
    std::lock_guard lock(mutex_);
    failures_.flush();
    return std::exchange(current_, minute_bucket{});
  }

  std::size_t restart_begins(clock_type::time_point when) {
    std::lock_guard lock(mutex_);
    restarts_.push_back({when});
    return restarts_.size() - 1;
  }
  void restart_ends(std::size_t index, clock_type::time_point when, bool ok) {
    std::lock_guard lock(mutex_);
    restarts_[index].end = when;
    restarts_[index].ok = ok;
  }
  std::vector<restart_window> restarts() {
    std::lock_guard lock(mutex_);
    return restarts_;
  }

  void set_start(clock_type::time_point start) { start_ = start; }
  std::uint64_t failures_total() {
    std::lock_guard lock(mutex_);
    return failures_total_;
  }
  std::uint64_t explained_total() {
    std::lock_guard lock(mutex_);
    return explained_total_;
  }
  std::vector<std::string> first_unexplained() {
    std::lock_guard lock(mutex_);
    return first_unexplained_;
  }

 private:
  double seconds_since_start(clock_type::time_point when) const {
    return std::chrono::duration<double>(when - start_).count();
  }
  // A call explained by a restart: one that was under way (from due to answered) at any time
  // from a second before a restart began until `grace` after it ended.
  bool explained_locked(clock_type::time_point scheduled, clock_type::time_point done) const {
    for (const auto& window : restarts_) {
      const auto from = window.begin - 1s;
      const auto to = window.end == clock_type::time_point::max() ? window.end : window.end + grace_;
      if (scheduled <= to && done >= from) return true;
    }
    return false;
  }

  std::mutex mutex_;
  std::chrono::milliseconds grace_;
  std::ofstream failures_;
  std::size_t logged_ = 0;
  minute_bucket current_;
  std::vector<restart_window> restarts_;
  std::uint64_t failures_total_ = 0;
  std::uint64_t explained_total_ = 0;
  std::vector<std::string> first_unexplained_;
  clock_type::time_point start_ = clock_type::now();
};

struct minute_row {
  int minute = 0;
  std::uint64_t calls = 0, failures = 0, explained = 0;
  std::array<std::uint64_t, 3> transport_calls{};
  std::array<double, 3> p50_ms{}, p99_ms{};
  double all_p50_ms = 0, all_p99_ms = 0, all_max_ms = 0;
  process_sample server, stdio;
  int restarts = 0, edits = 0, index_calls = 0;
  std::int64_t outstanding = 0;
  // The machine over the minute: its 1-minute load average at the end, the share of all its
  // CPUs that was busy, and the CPU the server and the stdio child used (100 = one core).
  // Other jobs on a shared machine show here, next to the latencies they disturb.
  double load = -1, machine_busy_percent = -1, server_cpu_percent = -1, stdio_cpu_percent = -1;
  // VmRSS read every second: the minute's mean and highest (the *_rss_mib columns are the one
  // reading at the minute's end, which the allocator's ups and downs of a few MiB can move).
  double server_rss_mean_mib = -1, server_rss_max_mib = -1, stdio_rss_mean_mib = -1, stdio_rss_max_mib = -1;
};

// VmRSS readings of one process over a minute.
struct rss_readings {
  double sum = 0, max = -1;
  int count = 0;
  void add(long pid) {
    if (pid <= 0) return;
    const long kib = resident_kib(pid);
    if (kib < 0) return;
    const double mib = static_cast<double>(kib) / 1024.0;
    sum += mib;
    max = std::max(max, mib);
    ++count;
  }
  double mean() const { return count ? sum / count : -1; }
};

const char* const kCsvHeader =
    "minute,calls,failures,failures_explained_by_restarts,restarts,edits,index_calls,"
    "http_calls,http_p50_ms,http_p99_ms,websocket_calls,websocket_p50_ms,websocket_p99_ms,"
    "stdio_calls,stdio_p50_ms,stdio_p99_ms,all_p50_ms,all_p99_ms,all_max_ms,"
    "server_rss_mib,server_fds,server_threads,stdio_rss_mib,stdio_fds,stdio_threads,outstanding,"
    "server_sockets,server_db_connections,stdio_sockets,stdio_db_connections,"
    "machine_load,machine_busy_percent,server_cpu_percent,stdio_cpu_percent,"
    "server_rss_mean_mib,server_rss_max_mib,stdio_rss_mean_mib,stdio_rss_max_mib";

std::string csv_line(const minute_row& row) {
  char text[1024];
  std::snprintf(text, sizeof text,
                "%d,%llu,%llu,%llu,%d,%d,%d,%llu,%.3f,%.3f,%llu,%.3f,%.3f,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%.1f,%ld,%ld,"
                "%.1f,%ld,%ld,%lld,%ld,%ld,%ld,%ld,%.2f,%.1f,%.1f,%.1f,%.2f,%.1f,%.2f,%.1f",
                row.minute, static_cast<unsigned long long>(row.calls), static_cast<unsigned long long>(row.failures),
                static_cast<unsigned long long>(row.explained), row.restarts, row.edits, row.index_calls,
                static_cast<unsigned long long>(row.transport_calls[0]), row.p50_ms[0], row.p99_ms[0],
                static_cast<unsigned long long>(row.transport_calls[1]), row.p50_ms[1], row.p99_ms[1],
                static_cast<unsigned long long>(row.transport_calls[2]), row.p50_ms[2], row.p99_ms[2], row.all_p50_ms,
                row.all_p99_ms, row.all_max_ms, row.server.rss_mib, row.server.fds, row.server.threads,
                row.stdio.rss_mib, row.stdio.fds, row.stdio.threads, static_cast<long long>(row.outstanding),
                row.server.sockets, row.server.db_connections, row.stdio.sockets, row.stdio.db_connections, row.load,
                row.machine_busy_percent, row.server_cpu_percent, row.stdio_cpu_percent, row.server_rss_mean_mib,
                row.server_rss_max_mib, row.stdio_rss_mean_mib, row.stdio_rss_max_mib);
  return text;
}

minute_row summarize_minute(int minute, minute_bucket bucket) {
  minute_row row;
  row.minute = minute;
  std::vector<std::int64_t> all;
  for (std::size_t t = 0; t < kTransportCount; ++t) row.calls += bucket.calls[t];
  for (std::size_t t = 0; t < 3; ++t) {
    row.transport_calls[t] = bucket.calls[t];
    all.insert(all.end(), bucket.latencies_ns[t].begin(), bucket.latencies_ns[t].end());
    const latency_summary summary = summarize(bucket.latencies_ns[t]);
    row.p50_ms[t] = summary.median_us / 1000;
    row.p99_ms[t] = summary.p99_us / 1000;
  }
  const latency_summary summary = summarize(all);
  row.all_p50_ms = summary.median_us / 1000;
  row.all_p99_ms = summary.p99_us / 1000;
  row.all_max_ms = summary.max_us / 1000;
  row.failures = bucket.failures;
  row.explained = bucket.explained;
  return row;
}

// ---------------------------------------------------------------------------------------
// Threads running the lanes

struct io_thread {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};

  template <typename T>
  T run(net::awaitable<T> task) {
    return net::co_spawn(io, std::move(task), net::use_future).get();
  }
  void stop() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
};

// Finds the book's linked sections with a few searches; waits (at most two minutes) until the
// server answers searches at all.
std::vector<std::string> discover_sections(io_thread& runner, const target_url& url) {
  std::string session;
  const auto deadline = clock_type::now() + 120s;
  std::string last_problem;
  for (;;) {
    const single_answer answer = runner.run(single_call(
        runner.io, url, session, "tools/call", R"({"name":"search_book","arguments":{"query":"robot","limit":3}})", 10s));
    if (answer.ok) break;
    last_problem = answer.error;
    if (clock_type::now() > deadline) throw std::runtime_error("the server never answered a search: " + last_problem);
    std::this_thread::sleep_for(500ms);
  }
  std::vector<std::string> sections;
  for (const char* query : {"robot", "control", "sensor", "learning", "ROS", "planning", "vision", "humanoid"}) {
    const single_answer answer = runner.run(single_call(
        runner.io, url, session, "tools/call",
        json{{"name", "search_book"}, {"arguments", {{"query", query}, {"limit", 10}}}}.dump(), 10s));
    for (auto& uri : linked_sections(answer.body)) sections.push_back(std::move(uri));
  }
  std::sort(sections.begin(), sections.end());
  sections.erase(std::unique(sections.begin(), sections.end()), sections.end());
  return sections;
}

std::vector<std::string> read_targets(io_thread& runner, const soak_options& options) {
  std::vector<std::string> uris = discover_sections(runner, options.url);
  for (const auto& page : book_pages(options.docs)) uris.push_back("book://doc/" + page);
  return uris;
}

// ---------------------------------------------------------------------------------------
// capacity

int run_capacity(const soak_options& options) {
  io_thread runner;
  lane_options lane;
  lane.url = options.url;
  lane.connections = options.capacity_connections;
  lane.uris = read_targets(runner, options);
  lane.title_prefix = "capacity";
  std::mutex mutex;
  std::vector<std::int64_t> latencies;
  std::uint64_t answered = 0, failed = 0;
  std::string first_error;
  const auto warm_until = clock_type::now() + 3s;  // opening the sessions and warming up
  const auto measure_until = warm_until + std::chrono::duration_cast<clock_type::duration>(
                                              std::chrono::duration<double>(options.seconds));
  outcome_sink sink = [&](const call_outcome& outcome) {
    if (outcome.scheduled < warm_until || outcome.done > measure_until) return;
    std::lock_guard lock(mutex);
    ++answered;
    if (outcome.ok) {
      latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(outcome.done - outcome.scheduled).count());
    } else {
      ++failed;
      if (first_error.empty()) first_error = std::string(outcome.kind) + ": " + outcome.error;
    }
  };
  const std::string problem = runner.run(run_closed_loop_http(runner.io, lane, sink, measure_until));
  runner.stop();
  const latency_summary summary = summarize(latencies);
  const json out = {{"mode", "capacity"},
                    {"transport", "http"},
                    {"connections", options.capacity_connections},
                    {"seconds", options.seconds},
                    {"calls", answered},
                    {"calls_per_second", static_cast<double>(answered) / options.seconds},
                    {"failures", failed},
                    {"p50_ms", summary.median_us / 1000},
                    {"p99_ms", summary.p99_us / 1000},
                    {"first_error", problem.empty() ? first_error : problem}};
  std::cout << out.dump() << std::endl;
  return problem.empty() ? 0 : 2;
}

// ---------------------------------------------------------------------------------------
// soak

volatile std::sig_atomic_t interrupted = 0;

void edit_page(const fs::path& page, const std::string& original, int revision, double minute) {
  const fs::path temporary = page.parent_path() / ".soak-edit.tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << original << "\n\nSoak revision " << revision << ", written at minute " << std::fixed
        << std::setprecision(1) << minute << " of the soak test.\n";
  }
  fs::rename(temporary, page);  // atomic: the indexer never reads half a file
}

struct goal {
  std::string name;
  bool met = false;
  std::string detail;
};

int run_soak(const soak_options& options) {
  const auto grace = std::chrono::milliseconds(static_cast<long>(options.restart_grace * 1000));
  recorder record(grace, options.failures_log);
  outcome_sink sink = [&record](const call_outcome& outcome) { record.record(outcome); };

  io_thread http_thread, websocket_thread, stdio_thread;
  const std::vector<std::string> uris = read_targets(http_thread, options);
  std::cerr << "bookmcp_soak: " << uris.size() << " pages and sections to read\n";

  lane_options base;
  base.url = options.url;
  base.uris = uris;
  lane_options http_options = base, websocket_options = base, stdio_options = base;
  http_options.connections = options.http_connections;
  http_options.seed = 11;
  http_options.title_prefix = "soak http";
  websocket_options.connections = options.websocket_connections;
  websocket_options.url.path = options.url.path;
  websocket_options.seed = 22;
  websocket_options.title_prefix = "soak ws";
  stdio_options.seed = 33;
  stdio_options.title_prefix = "soak stdio";
  stdio_options.command = options.stdio_command;
  stdio_options.stderr_path = options.stdio_stderr;

  std::unique_ptr<lane> http = make_http_lane(http_thread.io, http_options, sink);
  std::unique_ptr<lane> websocket = make_websocket_lane(websocket_thread.io, websocket_options, sink);
  std::unique_ptr<lane> stdio;
  for (auto [name, target, runner] : {std::tuple{"http", http.get(), &http_thread},
                                      std::tuple{"websocket", websocket.get(), &websocket_thread}}) {
    if (const std::string problem = runner->run(target->open()); !problem.empty()) {
      std::cerr << "bookmcp_soak: cannot open the " << name << " lane: " << problem << "\n";
      return 2;
    }
  }
  if (options.share_stdio > 0) {
    stdio = make_stdio_lane(stdio_thread.io, stdio_options, sink);
    if (const std::string problem = stdio_thread.run(stdio->open()); !problem.empty()) {
      std::cerr << "bookmcp_soak: cannot start the stdio server: " << problem << "\n";
      return 2;
    }
  }

  const auto start = clock_type::now() + 1s;
  const auto length = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(options.minutes * 60));
  const auto end = start + length;
  record.set_start(start);
  const double rate_http = options.rate * options.share_http;
  const double rate_websocket = options.rate * options.share_websocket;
  const double rate_stdio = stdio ? options.rate * options.share_stdio : 0;
  net::co_spawn(http_thread.io, pace(*http, rate_http, start, end), net::detached);
  net::co_spawn(websocket_thread.io, pace(*websocket, rate_websocket, start, end), net::detached);
  if (stdio) net::co_spawn(stdio_thread.io, pace(*stdio, rate_stdio, start, end), net::detached);
  std::cerr << "bookmcp_soak: " << options.minutes << " minutes at " << options.rate << " calls/s (http "
            << rate_http << ", websocket " << rate_websocket << ", stdio " << rate_stdio << "); warm-up "
            << options.warmup_minutes << " minutes\n";

  // The page the soak edits.
  fs::path page;
  std::string original;
  if (!options.docs.empty() && options.edit_every > 0) {
    const auto pages = book_pages(options.docs);
    const std::string relative = options.edit_page.empty() ? (pages.empty() ? "" : pages.front()) : options.edit_page;
    if (!relative.empty()) {
      page = fs::path(options.docs) / relative;
      std::ifstream in(page, std::ios::binary);
      original.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      std::cerr << "bookmcp_soak: editing " << relative << " every " << options.edit_every << " s\n";
    }
  }

  std::ofstream csv(options.csv, std::ios::trunc);
  csv << kCsvHeader << '\n' << std::flush;
  std::fprintf(stderr, "%6s %8s %5s %5s %8s %8s %8s %8s %4s %8s %4s %s\n", "minute", "calls", "fail", "expl",
               "p50 ms", "p99 ms", "http p99", "ws p99", "stdio p99", "rss MiB", "fds", "stdio rss/fds (db conns) machine");

  std::vector<minute_row> rows;
  std::thread restarter;
  std::atomic<int> restarts_in_minute{0}, index_in_minute{0};
  int edits_in_minute = 0, revision = 0;
  std::string admin_session;
  auto at = [&](double seconds) { return start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds)); };
  double next_edit = options.edit_offset, next_index = options.index_offset, next_restart = options.restart_offset;
  int minute = 0;
  cpu_times machine_before = machine_cpu();
  double server_before = process_cpu_seconds(options.server_pid);
  double stdio_before = process_cpu_seconds(stdio ? stdio->pid() : 0);
  auto minute_began = clock_type::now();
  rss_readings server_rss, stdio_rss;
  auto next_reading = clock_type::now();
  const int total_minutes = static_cast<int>(std::ceil(options.minutes));

  while (minute < total_minutes && !interrupted) {
    std::this_thread::sleep_for(100ms);
    const auto now = clock_type::now();
    if (now >= next_reading) {
      next_reading += 1s;
      server_rss.add(options.server_pid);
      stdio_rss.add(stdio ? stdio->pid() : 0);
    }
    if (!page.empty() && options.edit_every > 0 && now >= at(next_edit) && at(next_edit) < end) {
      try {
        edit_page(page, original, ++revision, next_edit / 60);
        ++edits_in_minute;
      } catch (const std::exception& error) {
        std::cerr << "bookmcp_soak: editing " << page << " failed: " << error.what() << "\n";
      }
      next_edit += options.edit_every;
    }
    if (options.index_every > 0 && now >= at(next_index) && at(next_index) < end) {
      next_index += options.index_every;
      ++http->outstanding;
      net::co_spawn(
          http_thread.io,
          [&, due = now]() -> net::awaitable<void> {
            const single_answer answer =
                co_await single_call(http_thread.io, options.url, admin_session, "tools/call",
                                     R"({"name":"index_documents","arguments":{}})", 120s);
            record.record({.via = transport_kind::admin, .kind = "index_documents", .scheduled = due,
                           .done = clock_type::now(), .ok = answer.ok, .error = answer.error});
            ++index_in_minute;
            --http->outstanding;
          },
          net::detached);
    }
    if (!options.restart_command.empty() && options.restart_every > 0 && now >= at(next_restart) &&
        at(next_restart) < end - 20s) {
      next_restart += options.restart_every;
      if (restarter.joinable()) restarter.join();
      restarter = std::thread([&] {
        const auto begin = clock_type::now();
        const std::size_t index = record.restart_begins(begin);
        const int status = std::system(options.restart_command.c_str());
        const auto finished = clock_type::now();
        record.restart_ends(index, finished, status == 0);
        ++restarts_in_minute;
        std::fprintf(stderr, "bookmcp_soak: restart %zu at %.1f s took %.2f s%s\n", index + 1,
                     std::chrono::duration<double>(begin - start).count(),
                     std::chrono::duration<double>(finished - begin).count(), status == 0 ? "" : " and FAILED");
      });
    }
    if (now >= at(60.0 * (minute + 1))) {
      ++minute;
      // The last minute also takes the calls still under way at the end (at most the drain).
      if (minute == total_minutes) {
        const auto drain_until = clock_type::now() + 10s;
        while (clock_type::now() < drain_until &&
               http->outstanding + websocket->outstanding + (stdio ? stdio->outstanding.load() : 0) > 0) {
          std::this_thread::sleep_for(20ms);
        }
      }
      minute_row row = summarize_minute(minute, record.take());
      row.server = sample_process(options.server_pid, options.database_port);
      row.stdio = sample_process(stdio ? stdio->pid() : 0, options.database_port);
      row.restarts = restarts_in_minute.exchange(0);
      row.index_calls = index_in_minute.exchange(0);
      row.edits = std::exchange(edits_in_minute, 0);
      row.outstanding = http->outstanding + websocket->outstanding + (stdio ? stdio->outstanding.load() : 0);
      {
        const cpu_times machine_now = machine_cpu();
        const double server_now = process_cpu_seconds(options.server_pid);
        const double stdio_now = process_cpu_seconds(stdio ? stdio->pid() : 0);
        const auto minute_ended = clock_type::now();
        const double wall = std::chrono::duration<double>(minute_ended - minute_began).count();
        row.load = load_average();
        if (machine_now.total > machine_before.total) {
          row.machine_busy_percent = 100.0 * static_cast<double>(machine_now.busy - machine_before.busy) /
                                     static_cast<double>(machine_now.total - machine_before.total);
        }
        if (wall > 0) {
          row.server_cpu_percent = 100.0 * (server_now - server_before) / wall;
          if (stdio_now > 0) row.stdio_cpu_percent = 100.0 * (stdio_now - stdio_before) / wall;
        }
        row.server_rss_mean_mib = server_rss.mean();
        row.server_rss_max_mib = server_rss.max;
        row.stdio_rss_mean_mib = stdio_rss.mean();
        row.stdio_rss_max_mib = stdio_rss.max;
        server_rss = {};
        stdio_rss = {};
        machine_before = machine_now;
        server_before = server_now;
        stdio_before = stdio_now;
        minute_began = minute_ended;
      }
      csv << csv_line(row) << '\n' << std::flush;
      std::fprintf(stderr, "%6d %8llu %5llu %5llu %8.2f %8.2f %8.2f %8.2f %9.2f %8.1f %4ld %.1f/%ld (%ld/%ld) load %.1f, busy %.0f%%, server %.0f%%%s\n", row.minute,
                   static_cast<unsigned long long>(row.calls), static_cast<unsigned long long>(row.failures),
                   static_cast<unsigned long long>(row.explained), row.all_p50_ms, row.all_p99_ms, row.p99_ms[0],
                   row.p99_ms[1], row.p99_ms[2], row.server.rss_mib, row.server.fds, row.stdio.rss_mib, row.stdio.fds,
                   row.server.db_connections, row.stdio.db_connections, row.load, row.machine_busy_percent,
                   row.server_cpu_percent, row.restarts ? "  (Postgres restarted)" : "");
      rows.push_back(row);
    }
  }
  if (restarter.joinable()) restarter.join();

  // Stop the load; the stdio child gets end of input and exits.
  net::post(http_thread.io, [&] { http->stop(); });
  net::post(websocket_thread.io, [&] { websocket->stop(); });
  if (stdio) net::post(stdio_thread.io, [&] { stdio->stop(); });
  std::this_thread::sleep_for(500ms);

  // The goals.
  std::vector<goal> goals;
  const auto restarts = record.restarts();
  const std::uint64_t unexplained = record.failures_total(), explained = record.explained_total();
  std::uint64_t calls = 0;
  for (const auto& row : rows) calls += row.calls;
  const bool complete = !interrupted && static_cast<int>(rows.size()) == total_minutes;
  const int warm = options.warmup_minutes;
  json summary = {{"minutes", options.minutes},
                  {"complete", complete},
                  {"warmup_minutes", warm},
                  {"capacity_calls_per_second", options.capacity},
                  {"rate_calls_per_second", options.rate},
                  {"rate_http", rate_http},
                  {"rate_websocket", rate_websocket},
                  {"rate_stdio", rate_stdio},
                  {"calls", calls},
                  {"failures_unexplained", unexplained},
                  {"failures_explained_by_restarts", explained},
                  {"restarts", restarts.size()},
                  {"restarts_failed", std::count_if(restarts.begin(), restarts.end(), [](auto& r) { return !r.ok; })},
                  {"edits", revision},
                  {"first_unexplained_failures", record.first_unexplained()}};
  if (complete && static_cast<int>(rows.size()) > warm) {
    // The level after warm-up, for memory as for p99, is the first minute after it (the last
    // warm-up minute can catch a process still settling: on 2026-12-07 the stdio child read
    // 33.0 MiB in minute 5 and 36.2-37.2 MiB in every minute from 6 to 30).
    const minute_row& first = rows[warm];
    const minute_row& base = rows[warm - 1];  // the end of warm-up, for descriptors
    const minute_row& last = rows.back();
    char text[512];
    goals.push_back({"no failed call other than those the restarts explain", unexplained == 0 && summary["restarts_failed"] == 0,
                     std::to_string(unexplained) + " unexplained, " + std::to_string(explained) +
                         " explained by " + std::to_string(restarts.size()) + " Postgres restarts, of " +
                         std::to_string(calls) + " calls"});
    // Memory: the minute's mean of the readings taken every second, last minute against the
    // first minute after warm-up; the highest reading after warm-up is reported beside it.
    auto memory_goal = [&](const char* who, double after_warmup, double at_end, double highest) {
      const double change = after_warmup > 0 ? (at_end - after_warmup) / after_warmup : 1;
      std::snprintf(text, sizeof text,
                    "mean %.1f MiB in minute %d (the first after warm-up), mean %.1f MiB in the last minute (%+.1f%%); "
                    "highest reading after warm-up %.1f MiB",
                    after_warmup, warm + 1, at_end, change * 100, highest);
      goals.push_back({std::string(who) + " resident memory within 5% of its level after warm-up",
                       after_warmup > 0 && std::abs(change) <= 0.05, text});
    };
    // Descriptors other than the database connections must not grow; the connections to the
    // database are the pool's, which opens and closes them as the load asks (bounded by its
    // maximum), so they are reported beside the others and checked against that bound.
    auto fd_goal = [&](const char* who, auto sample_of) {
      auto others = [&](const minute_row& row) {
        const process_sample& sample = sample_of(row);
        return sample.fds - std::max(0L, sample.db_connections);
      };
      long warm_max = 0, after_max = 0, db_max = 0, total_warm_max = 0;
      for (int i = 0; i < warm; ++i) {
        warm_max = std::max(warm_max, others(rows[i]));
        total_warm_max = std::max(total_warm_max, sample_of(rows[i]).fds);
      }
      for (std::size_t i = warm; i < rows.size(); ++i) after_max = std::max(after_max, others(rows[i]));
      for (const auto& row : rows) db_max = std::max(db_max, sample_of(row).db_connections);
      const long at_end = others(last);
      std::snprintf(text, sizeof text,
                    "all descriptors: %ld at the end of warm-up, %ld in the last minute (highest during warm-up %ld); "
                    "without the database connections: %ld at the end of warm-up, %ld in the last minute, highest %ld "
                    "during warm-up and %ld after it; database connections at most %ld (pool bound %ld)",
                    sample_of(base).fds, sample_of(last).fds, total_warm_max, others(base), at_end, warm_max, after_max,
                    db_max, options.database_connections_bound);
      const bool db_ok = options.database_port == 0 || db_max <= options.database_connections_bound;
      goals.push_back({std::string(who) + " open descriptors not growing (last minute <= warm-up's highest)",
                       at_end > 0 && at_end <= warm_max && db_ok, text});
    };
    double highest = 0, stdio_highest = 0;
    for (std::size_t i = warm; i < rows.size(); ++i) {
      highest = std::max(highest, rows[i].server_rss_max_mib);
      stdio_highest = std::max(stdio_highest, rows[i].stdio_rss_max_mib);
    }
    memory_goal("server", first.server_rss_mean_mib, last.server_rss_mean_mib, highest);
    fd_goal("server", [](const minute_row& row) -> const process_sample& { return row.server; });
    {
      const double ratio = first.all_p99_ms > 0 ? last.all_p99_ms / first.all_p99_ms : 0;
      std::snprintf(text, sizeof text, "%.2f ms in minute %d, %.2f ms in minute %d (%.2fx)", first.all_p99_ms,
                    first.minute, last.all_p99_ms, last.minute, ratio);
      goals.push_back({"p99 in the last minute within 20% of the first after warm-up (at most 1.2x)",
                       first.all_p99_ms > 0 && last.all_p99_ms <= 1.2 * first.all_p99_ms, text});
    }
    if (stdio) {
      memory_goal("stdio child", first.stdio_rss_mean_mib, last.stdio_rss_mean_mib, stdio_highest);
      fd_goal("stdio child", [](const minute_row& row) -> const process_sample& { return row.stdio; });
    }
  } else {
    goals.push_back({"the run completed", false,
                     interrupted ? "interrupted" : std::to_string(rows.size()) + " of " + std::to_string(total_minutes) +
                                                       " minutes recorded"});
  }
  bool all_met = true;
  std::fprintf(stderr, "\n");
  for (const auto& item : goals) {
    all_met = all_met && item.met;
    std::fprintf(stderr, "%s  %s: %s\n", item.met ? "PASS" : "FAIL", item.name.c_str(), item.detail.c_str());
    summary["goals"].push_back({{"goal", item.name}, {"met", item.met}, {"detail", item.detail}});
  }
  for (const auto& line : record.first_unexplained()) std::fprintf(stderr, "  unexplained failure: %s\n", line.c_str());
  summary["all_goals_met"] = all_met;
  std::ofstream(options.summary, std::ios::trunc) << summary.dump(2) << '\n';

  // Let the stdio child finish (its reader reaps it), then leave without unwinding the lanes.
  const auto reap_until = clock_type::now() + 15s;
  while (stdio && stdio->pid() > 0 && clock_type::now() < reap_until) std::this_thread::sleep_for(50ms);
  if (stdio && stdio->pid() > 0) ::kill(static_cast<pid_t>(stdio->pid()), SIGKILL);
  std::cout.flush();
  std::fflush(stderr);
  std::_Exit(all_met ? 0 : 1);
}

}  // namespace
}  // namespace bookmcp::bench::soak

int main(int argc, char** argv) {
  using namespace bookmcp::bench::soak;
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, [](int) { interrupted = 1; });
  std::signal(SIGTERM, [](int) { interrupted = 1; });
  const soak_options options = parse_options(argc, argv);
  try {
    return options.mode == "capacity" ? run_capacity(options) : run_soak(options);
  } catch (const std::exception& error) {
    std::cerr << "bookmcp_soak: " << error.what() << "\n";
    std::_Exit(2);
  }
}
