// bookmcp_stdio_bench: round-trip latency and pipelined throughput of an MCP server on stdio.
//
// Spawns the server with pipes, does the initialize handshake, then speaks raw newline-delimited
// JSON-RPC: requests are preformatted text, responses are only scanned for their top-level id
// (bench/common/json_scan), so the client costs little next to the server it measures. Each run uses a fresh
// server; the figures reported are medians across runs because the machine is shared and noisy.
//
//   bookmcp_stdio_bench [options] [-- SERVER [ARGS...]]
//   bookmcp_stdio_bench --runs 3 -- ./bookmcp --stdio

#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/common/latency_stats.hpp"
#include "bench/common/json_scan.hpp"
#include "bench/stdio/server_process.hpp"

namespace bookmcp::bench {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr double kRoundTripGoalUs = 50;               // median round trip below this
constexpr double kPipelinedGoalCallsPerSecond = 1e5;  // pipelined throughput above this

// ---------------------------------------------------------------------------------------
// options

struct options {
  server_command server;
  int runs = 5;
  std::size_t calls = 20000;             // sequential calls per scenario and run
  std::size_t pipelined_calls = 200000;  // pipelined calls per scenario and run
  std::size_t window = 64;               // requests in flight when pipelined
  std::size_t warmup = 1000;             // unmeasured calls before each scenario
  std::chrono::milliseconds timeout{10000};
  std::string tool = "echo";
  std::string tool_arguments = R"({"text":"hi"})";
  bool json_only = false;
  bool run_ping = true;  // the ping scenarios
  bool run_tool = true;  // the tool-call scenarios
};

constexpr std::string_view kUsage = R"(usage: bookmcp_stdio_bench [options] [-- SERVER [ARGS...]]

Measures an MCP server over stdio: sequential ping and tool-call round trips, then pipelined
throughput with a window of requests in flight. Reports medians over the runs.

  --server PATH          the server program (default: mcp_conformance_fixtures of this build);
                         arguments for it go after --. Without --server, the first word after
                         -- is the program.
  --runs R               fresh server processes, one full set of measurements each (5)
  --calls N              sequential calls per scenario and run (20000)
  --pipelined-calls M    pipelined calls per scenario and run (200000)
  --window W             requests in flight when pipelined (64)
  --warmup K             unmeasured calls before each scenario (1000)
  --timeout-ms T         longest wait for any answer before giving up (10000)
  --tool NAME            the trivial tool to call (echo)
  --tool-arguments JSON  its arguments ({"text":"hi"})
  --server-stderr FILE   keep the server's stderr in FILE (default: a temporary file, shown on failure)
  --only ping|tool       run only the ping or only the tool-call scenarios (for profiling)
  --json                 print only the JSON line (progress still goes to stderr)

examples:
  bookmcp_stdio_bench
  bookmcp_stdio_bench --runs 3 -- /path/to/bookmcp --stdio
)";

class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::size_t parse_count(std::string_view flag, const std::string& text, std::size_t minimum) {
  std::size_t value = 0;
  const auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || rest != text.data() + text.size() || value < minimum) {
    throw usage_error(std::string(flag) + " needs an integer of at least " +
                      std::to_string(minimum) + ", not \"" + text + "\"");
  }
  return value;
}

options parse_options(int argc, char** argv) {
  options parsed;
  std::optional<std::string> server_path;
  std::vector<std::string> after_dashes;
  bool dashes = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      after_dashes.assign(argv + i + 1, argv + argc);
      dashes = true;
      break;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--server") {
      server_path = value();
    } else if (arg == "--runs") {
      parsed.runs = static_cast<int>(parse_count(arg, value(), 1));
    } else if (arg == "--calls") {
      parsed.calls = parse_count(arg, value(), 1);
    } else if (arg == "--pipelined-calls") {
      parsed.pipelined_calls = parse_count(arg, value(), 1);
    } else if (arg == "--window") {
      parsed.window = parse_count(arg, value(), 1);
    } else if (arg == "--warmup") {
      parsed.warmup = parse_count(arg, value(), 0);
    } else if (arg == "--timeout-ms") {
      parsed.timeout = std::chrono::milliseconds(parse_count(arg, value(), 1));
    } else if (arg == "--tool") {
      parsed.tool = value();
    } else if (arg == "--tool-arguments") {
      const std::string text = value();
      const json arguments = json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!arguments.is_object())
        throw usage_error("--tool-arguments needs a JSON object, not " + text);
      parsed.tool_arguments = arguments.dump();
    } else if (arg == "--server-stderr") {
      parsed.server.stderr_path = value();
    } else if (arg == "--only") {
      const std::string which = value();
      if (which != "ping" && which != "tool")
        throw usage_error("--only takes ping or tool, not " + which);
      parsed.run_ping = which == "ping";
      parsed.run_tool = which == "tool";
    } else if (arg == "--json") {
      parsed.json_only = true;
    } else {
      throw usage_error("unknown option " + arg);
    }
  }
  if (server_path) {
    parsed.server.path = *server_path;
    parsed.server.arguments = std::move(after_dashes);
  } else if (dashes && !after_dashes.empty()) {
    parsed.server.path = after_dashes.front();
    parsed.server.arguments.assign(after_dashes.begin() + 1, after_dashes.end());
  } else {
    parsed.server.path = BOOKMCP_STDIO_BENCH_DEFAULT_SERVER;
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------
// requests and responses

// A request as text around its id, so that sending costs an integer format and an append.
class request_template {
 public:
  request_template(std::string_view method, std::string_view params_json)
      : before_id_(R"({"jsonrpc":"2.0","id":)") {
    after_id_ = R"(,"method":")" + std::string(method) + "\"";
    if (!params_json.empty()) after_id_ += R"(,"params":)" + std::string(params_json);
    after_id_ += "}\n";
  }
  void append(std::string& out, std::int64_t id) const {
    out += before_id_;
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, id).ptr;
    out.append(digits, end);
    out += after_id_;
  }

 private:
  std::string before_id_;
  std::string after_id_;
};

std::string shorten(std::string_view line) {
  constexpr std::size_t kLimit = 400;
  if (line.size() <= kLimit) return std::string(line);
  return std::string(line.substr(0, kLimit)) + "...";
}

// Waits for the response to `id`, skipping notifications and server requests. Returns the
// line when `keep` (for the few responses that are checked in full), else an empty string.
// Throws bench_error on an error response or an unexpected id.
std::string await_response(server_process& server, std::int64_t id, bool keep = false) {
  for (;;) {
    while (auto line = server.next_line()) {
      const message_facts facts = scan_message(*line);
      if (facts.has_method || line->empty()) continue;
      if (facts.id != id) {
        throw bench_error("expected the response to request " + std::to_string(id) +
                          ", got: " + shorten(*line));
      }
      if (facts.has_error || !facts.has_result) {
        throw bench_error("request " + std::to_string(id) + " failed: " + shorten(*line));
      }
      return keep ? std::string(*line) : std::string();
    }
    server.fill();
  }
}

// One client session with a server process; ids increase across everything it sends.
struct session {
  server_process& server;
  std::int64_t next_id = 1;
  std::size_t calls_sent = 0;  // every request, for the server's CPU time per call
};

json call_once(session& client, const request_template& request) {
  std::string text;
  const std::int64_t id = client.next_id++;
  request.append(text, id);
  client.server.write_all(text);
  ++client.calls_sent;
  return json::parse(await_response(client.server, id, /*keep=*/true));
}

json handshake(session& client) {
  const request_template initialize(
      "initialize",
      R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bookmcp_stdio_bench","version":"1"}})");
  const json response = call_once(client, initialize);
  client.server.write_all("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
  return response["result"].value("serverInfo", json::object());
}

// Calls the tool once and checks it ran; returns why not when it cannot be benchmarked.
std::optional<std::string> probe_tool(session& client, const request_template& request,
                                      const std::string& tool) {
  const std::int64_t id = client.next_id++;
  std::string text;
  request.append(text, id);
  client.server.write_all(text);
  ++client.calls_sent;
  for (;;) {
    while (auto line = client.server.next_line()) {
      const message_facts facts = scan_message(*line);
      if (facts.has_method || line->empty()) continue;
      if (facts.id != id)
        throw bench_error("expected the response to request " + std::to_string(id) +
                          ", got: " + shorten(*line));
      const json response = json::parse(*line, nullptr, /*allow_exceptions=*/false);
      if (facts.has_error) {
        return "tools/call of " + tool +
               " failed: " + response["error"].value("message", shorten(*line));
      }
      if (response["result"].value("isError", false)) {
        return "tool " + tool + " reported an error: " + shorten(*line);
      }
      return std::nullopt;
    }
    client.server.fill();
  }
}

// ---------------------------------------------------------------------------------------
// scenarios

// One request at a time; returns each round trip in nanoseconds.
std::vector<std::int64_t> measure_sequential(session& client, const request_template& request,
                                             std::size_t count) {
  std::vector<std::int64_t> samples;
  samples.reserve(count);
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    const std::int64_t id = client.next_id++;
    text.clear();
    request.append(text, id);
    const auto started = clock_type::now();
    client.server.write_all(text);
    await_response(client.server, id);
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - started).count());
  }
  client.calls_sent += count;
  return samples;
}

struct pipelined_figures {
  double calls_per_second = 0;
  latency_summary latency;
};

// Keeps `window` requests in flight: every response read lets one more request go, and the
// requests released by one read() are written together, as a real pipelining client would.
pipelined_figures measure_pipelined(session& client, const request_template& request,
                                    std::size_t total, std::size_t window) {
  const std::int64_t base = client.next_id;
  client.next_id += static_cast<std::int64_t>(total);
  std::vector<clock_type::time_point> sent_at(total);
  std::vector<bool> answered(total, false);
  std::vector<std::int64_t> samples;
  samples.reserve(total);
  std::string out;
  std::size_t issued = 0;
  std::size_t stamped = 0;
  std::size_t received = 0;

  auto flush = [&] {
    const auto now = clock_type::now();
    for (; stamped < issued; ++stamped) sent_at[stamped] = now;
    client.server.write_all(out);
    out.clear();
  };

  const auto started = clock_type::now();
  for (; issued < std::min(window, total); ++issued)
    request.append(out, base + static_cast<std::int64_t>(issued));
  flush();
  while (received < total) {
    client.server.fill();
    const auto arrived = clock_type::now();
    while (auto line = client.server.next_line()) {
      const message_facts facts = scan_message(*line);
      if (facts.has_method || line->empty()) continue;
      const std::int64_t index = facts.id ? *facts.id - base : -1;
      if (index < 0 || static_cast<std::size_t>(index) >= issued ||
          answered[static_cast<std::size_t>(index)]) {
        throw bench_error("unexpected response while pipelining: " + shorten(*line));
      }
      if (facts.has_error || !facts.has_result) {
        throw bench_error("a pipelined request failed: " + shorten(*line));
      }
      answered[static_cast<std::size_t>(index)] = true;
      samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            arrived - sent_at[static_cast<std::size_t>(index)])
                            .count());
      ++received;
      if (issued < total) request.append(out, base + static_cast<std::int64_t>(issued++));
    }
    if (!out.empty()) flush();
  }
  const std::chrono::duration<double> elapsed = clock_type::now() - started;
  client.calls_sent += total;
  pipelined_figures figures;
  figures.calls_per_second = static_cast<double>(total) / elapsed.count();
  figures.latency = summarize(samples);
  return figures;
}

// ---------------------------------------------------------------------------------------
// runs

struct run_figures {
  // nullopt when not run (--only) or, for the tool, when it is unusable.
  std::optional<latency_summary> ping;
  std::optional<latency_summary> tool;
  std::optional<pipelined_figures> ping_pipelined;
  std::optional<pipelined_figures> tool_pipelined;
  double server_cpu_us_per_call = 0;
};

struct run_context {
  json server_info;
  std::optional<std::string> tool_problem;
};

run_figures run_once(const options& opts, int run, run_context& context) {
  server_process server(opts.server, opts.timeout);
  session client{server};
  context.server_info = handshake(client);

  const request_template ping("ping", "");
  const request_template tool("tools/call", R"({"name":)" + json(opts.tool).dump() +
                                                R"(,"arguments":)" + opts.tool_arguments + "}");

  run_figures figures;
  if (opts.run_ping) {
    measure_sequential(client, ping, opts.warmup);
    auto ping_samples = measure_sequential(client, ping, opts.calls);
    figures.ping = summarize(ping_samples);
  }
  bool tool_usable = false;
  if (opts.run_tool) {
    context.tool_problem = probe_tool(client, tool, opts.tool);
    tool_usable = !context.tool_problem;
  }
  if (tool_usable) {
    measure_sequential(client, tool, opts.warmup);
    auto tool_samples = measure_sequential(client, tool, opts.calls);
    figures.tool = summarize(tool_samples);
  }

  if (opts.run_ping) {
    if (opts.warmup > 0) measure_pipelined(client, ping, opts.warmup, opts.window);
    figures.ping_pipelined = measure_pipelined(client, ping, opts.pipelined_calls, opts.window);
  }
  if (tool_usable) {
    if (opts.warmup > 0) measure_pipelined(client, tool, opts.warmup, opts.window);
    figures.tool_pipelined = measure_pipelined(client, tool, opts.pipelined_calls, opts.window);
  }

  const exit_report exit = server.finish();
  if (!WIFEXITED(exit.wait_status) || WEXITSTATUS(exit.wait_status) != 0) {
    std::cerr << "bookmcp_stdio_bench: warning: after run " << run << " the server "
              << exit.describe() << "\n";
  }
  figures.server_cpu_us_per_call = exit.cpu_seconds * 1e6 / static_cast<double>(client.calls_sent);

  char ping_round_trip[32] = "-";
  char ping_throughput[32] = "-";
  char tool_round_trip[32] = "-";
  char tool_throughput[32] = "-";
  if (figures.ping)
    std::snprintf(ping_round_trip, sizeof ping_round_trip, "%.1f", figures.ping->median_us);
  if (figures.ping_pipelined) {
    std::snprintf(ping_throughput, sizeof ping_throughput, "%.0f",
                  figures.ping_pipelined->calls_per_second);
  }
  if (figures.tool)
    std::snprintf(tool_round_trip, sizeof tool_round_trip, "%.1f", figures.tool->median_us);
  if (figures.tool_pipelined) {
    std::snprintf(tool_throughput, sizeof tool_throughput, "%.0f",
                  figures.tool_pipelined->calls_per_second);
  }
  char line[256];
  std::snprintf(
      line, sizeof line,
      "run %d/%d: ping %s us, %s %s us; pipelined ping %s/s, %s %s/s; server CPU %.1f us/call\n",
      run, opts.runs, ping_round_trip, opts.tool.c_str(), tool_round_trip, ping_throughput,
      opts.tool.c_str(), tool_throughput, figures.server_cpu_us_per_call);
  std::cerr << line;
  return figures;
}

// ---------------------------------------------------------------------------------------
// report

enum class goal_kind { none, below, above };

struct figure {
  std::string key;    // in the JSON line
  std::string label;  // in the table
  std::vector<double> per_run;
  goal_kind goal = goal_kind::none;
  double goal_value = 0;

  double median() const { return median_of(per_run); }
  bool met() const {
    return goal == goal_kind::below ? median() < goal_value : median() > goal_value;
  }
};

std::vector<figure> collect(const std::vector<run_figures>& runs, const std::string& tool_name) {
  std::vector<figure> figures;
  auto add = [&](std::string key, std::string label, auto value, goal_kind goal = goal_kind::none,
                 double goal_value = 0) {
    figure row{std::move(key), std::move(label), {}, goal, goal_value};
    for (const auto& run : runs) {
      if (auto measured = value(run)) row.per_run.push_back(*measured);
    }
    if (!row.per_run.empty()) figures.push_back(std::move(row));
  };
  using opt = std::optional<double>;
  add(
      "ping.round_trip.median_us", "ping round trip, median (us)",
      [](const run_figures& r) -> opt { return r.ping ? opt(r.ping->median_us) : std::nullopt; },
      goal_kind::below, kRoundTripGoalUs);
  add("ping.round_trip.p90_us", "ping round trip, p90 (us)",
      [](const run_figures& r) -> opt { return r.ping ? opt(r.ping->p90_us) : std::nullopt; });
  add("ping.round_trip.p99_us", "ping round trip, p99 (us)",
      [](const run_figures& r) -> opt { return r.ping ? opt(r.ping->p99_us) : std::nullopt; });
  add("ping.round_trip.max_us", "ping round trip, max (us)",
      [](const run_figures& r) -> opt { return r.ping ? opt(r.ping->max_us) : std::nullopt; });
  const std::string tool = "tools/call " + tool_name;
  add(
      "tool.round_trip.median_us", tool + " round trip, median (us)",
      [](const run_figures& r) -> opt { return r.tool ? opt(r.tool->median_us) : std::nullopt; },
      goal_kind::below, kRoundTripGoalUs);
  add("tool.round_trip.p90_us", tool + " round trip, p90 (us)",
      [](const run_figures& r) -> opt { return r.tool ? opt(r.tool->p90_us) : std::nullopt; });
  add("tool.round_trip.p99_us", tool + " round trip, p99 (us)",
      [](const run_figures& r) -> opt { return r.tool ? opt(r.tool->p99_us) : std::nullopt; });
  add("tool.round_trip.max_us", tool + " round trip, max (us)",
      [](const run_figures& r) -> opt { return r.tool ? opt(r.tool->max_us) : std::nullopt; });
  add(
      "ping.pipelined.calls_per_second", "ping pipelined (calls/s)",
      [](const run_figures& r) -> opt {
        return r.ping_pipelined ? opt(r.ping_pipelined->calls_per_second) : std::nullopt;
      },
      goal_kind::above, kPipelinedGoalCallsPerSecond);
  add("ping.pipelined.median_us", "ping pipelined latency, median (us)",
      [](const run_figures& r) -> opt {
        return r.ping_pipelined ? opt(r.ping_pipelined->latency.median_us) : std::nullopt;
      });
  add("ping.pipelined.p99_us", "ping pipelined latency, p99 (us)", [](const run_figures& r) -> opt {
    return r.ping_pipelined ? opt(r.ping_pipelined->latency.p99_us) : std::nullopt;
  });
  add(
      "tool.pipelined.calls_per_second", tool + " pipelined (calls/s)",
      [](const run_figures& r) -> opt {
        return r.tool_pipelined ? opt(r.tool_pipelined->calls_per_second) : std::nullopt;
      },
      goal_kind::above, kPipelinedGoalCallsPerSecond);
  add("tool.pipelined.median_us", tool + " pipelined latency, median (us)",
      [](const run_figures& r) -> opt {
        return r.tool_pipelined ? opt(r.tool_pipelined->latency.median_us) : std::nullopt;
      });
  add("tool.pipelined.p99_us", tool + " pipelined latency, p99 (us)",
      [](const run_figures& r) -> opt {
        return r.tool_pipelined ? opt(r.tool_pipelined->latency.p99_us) : std::nullopt;
      });
  add("server.cpu_us_per_call", "server CPU per call, all calls (us)",
      [](const run_figures& r) -> opt { return r.server_cpu_us_per_call; });
  return figures;
}

std::string command_line(const server_command& command) {
  std::string text = command.path;
  for (const auto& argument : command.arguments) text += " " + argument;
  return text;
}

void print_table(const options& opts, const run_context& context,
                 const std::vector<figure>& figures) {
  std::printf("\nserver: %s (%s %s)\n", command_line(opts.server).c_str(),
              context.server_info.value("name", std::string("?")).c_str(),
              context.server_info.value("version", std::string("?")).c_str());
  std::printf(
      "%d run(s); per run: %zu sequential calls per scenario after %zu warm-up, %zu pipelined "
      "calls "
      "with %zu in flight\n\n",
      opts.runs, opts.calls, opts.warmup, opts.pipelined_calls, opts.window);
  std::printf("%-48s %12s %12s %12s   %s\n", "figure (median over runs)", "median", "min", "max",
              "goal");
  for (const auto& row : figures) {
    const auto [low, high] = std::minmax_element(row.per_run.begin(), row.per_run.end());
    std::printf("%-48s %12.1f %12.1f %12.1f", row.label.c_str(), row.median(), *low, *high);
    if (row.goal == goal_kind::below) {
      std::printf("   < %-9.0f %s", row.goal_value, row.met() ? "met" : "MISSED");
    } else if (row.goal == goal_kind::above) {
      std::printf("   > %-9.0f %s", row.goal_value, row.met() ? "met" : "MISSED");
    }
    std::printf("\n");
  }
  if (context.tool_problem)
    std::printf("\ntool figures skipped: %s\n", context.tool_problem->c_str());
  std::printf("\n");
}

json to_json(const options& opts, const run_context& context, const std::vector<figure>& figures) {
  json server = json::array({opts.server.path});
  for (const auto& argument : opts.server.arguments) server.push_back(argument);
  json out = {{"bench", "bookmcp_stdio_bench"},
              {"server", std::move(server)},
              {"server_info", context.server_info},
              {"runs", opts.runs},
              {"calls", opts.calls},
              {"pipelined_calls", opts.pipelined_calls},
              {"window", opts.window},
              {"tool", opts.tool}};
  json values = json::object();
  json goals = json::object();
  for (const auto& row : figures) {
    const auto [low, high] = std::minmax_element(row.per_run.begin(), row.per_run.end());
    values[row.key] = {
        {"median", row.median()}, {"min", *low}, {"max", *high}, {"per_run", row.per_run}};
    if (row.goal != goal_kind::none) {
      goals[row.key] = {{row.goal == goal_kind::below ? "below" : "above", row.goal_value},
                        {"met", row.met()}};
    }
  }
  out["figures"] = std::move(values);
  out["goals"] = std::move(goals);
  if (context.tool_problem) out["tool_skipped"] = *context.tool_problem;
  return out;
}

int run_bench(int argc, char** argv) {
  const options opts = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // a dead server shows as EPIPE on write, reported clearly
  std::cerr << "bookmcp_stdio_bench: " << command_line(opts.server) << "\n";

  std::vector<run_figures> runs;
  run_context context;
  for (int run = 1; run <= opts.runs; ++run) runs.push_back(run_once(opts, run, context));

  const auto figures = collect(runs, opts.tool);
  if (!opts.json_only) print_table(opts, context, figures);
  std::cout << to_json(opts, context, figures).dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace bookmcp::bench

int main(int argc, char** argv) {
  try {
    return bookmcp::bench::run_bench(argc, argv);
  } catch (const bookmcp::bench::usage_error& error) {
    std::cerr << "bookmcp_stdio_bench: " << error.what() << "\n\n" << bookmcp::bench::kUsage;
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "bookmcp_stdio_bench: error: " << error.what() << "\n";
    return 1;
  }
}
