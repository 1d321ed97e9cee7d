// The load and the hold test: readers as coroutines spread over a few client threads, each
// with its own connection; per-reader records merged by the main thread after the threads
// stopped.
//
// Threads: a reader_state is touched only by the thread it belongs to while the run is under
// way; the main thread reads it after joining that thread. run_state's time points are written by
// the main thread before it posts the start (the post orders the write before the reads); its
// counters are atomics.

#include "bench/chat/chat_runs.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/chat/chat_turns.hpp"
#include "bench/chat/http_stream.hpp"
#include "bench/chat/llm_turn_shapes.hpp"
#include "bench/chat/proc_stats.hpp"
#include "bench/chat/sse_splitter.hpp"

namespace bookmcp::bench::chat {

namespace {

namespace net = boost::asio;
using json = nlohmann::json;
using milliseconds = std::chrono::milliseconds;

constexpr std::string_view kMcpProtocolVersion = "2025-11-25";

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

void count_failure(failure_counts& counts, failure_kind kind) {
  switch (kind) {
    case failure_kind::status:
      ++counts.status;
      break;
    case failure_kind::error_event:
      ++counts.error_event;
      break;
    case failure_kind::no_end:
      ++counts.no_end;
      break;
    case failure_kind::transport:
      ++counts.transport;
      break;
    case failure_kind::none:
      break;
  }
}

void add_counts(failure_counts& into, const failure_counts& from) {
  into.status += from.status;
  into.error_event += from.error_event;
  into.no_end += from.no_end;
  into.transport += from.transport;
}

struct reader_state {
  std::string id;     // "reader-<n>": the chat id sent to the peer
  std::string token;  // bookmcp-chat's access token
  std::unique_ptr<http_stream> stream;
  bool ready = false;
  std::size_t turns_sent = 0;
  std::vector<turn_record>
      measured;  // load: complete turns that ended in the window; hold: its turn
  failure_counts failures;
  std::string first_failure;

  void note_failure(failure_kind kind, const std::string& text) {
    count_failure(failures, kind);
    if (first_failure.empty()) first_failure = text;
  }
};

// Member order matters: the readers' sockets close before their io_context goes.
struct client_thread {
  net::io_context io{1};
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  std::vector<std::unique_ptr<reader_state>> readers;
  std::size_t next_setup = 0;  // the next reader a setup worker takes (this thread only)
  std::thread thread;
};

struct run_state {
  explicit run_state(const chat_load_options& o) : options(o) {}
  const chat_load_options& options;
  std::vector<std::string> double_requests;  // llm-double: the turn's two requests
  clock_type::time_point measure_start = clock_type::time_point::max();
  clock_type::time_point measure_end = clock_type::time_point::max();
  std::atomic<std::size_t> set_up{0};            // readers whose setup ended (well or not)
  std::atomic<std::size_t> finished{0};          // reader coroutines that returned
  std::atomic<std::size_t> with_first_event{0};  // turns that got their first event (hold)
};

class thread_group {
 public:
  thread_group(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) threads_.push_back(std::make_unique<client_thread>());
  }
  ~thread_group() { stop(); }
  std::vector<std::unique_ptr<client_thread>>& threads() { return threads_; }
  void start() {
    for (auto& item : threads_) item->thread = std::thread([&io = item->io] { io.run(); });
  }
  void stop() {
    for (auto& item : threads_) item->io.stop();
    for (auto& item : threads_) {
      if (item->thread.joinable()) item->thread.join();
    }
  }

 private:
  std::vector<std::unique_ptr<client_thread>> threads_;
};

bool wait_until(const std::function<bool()>& done, clock_type::time_point deadline) {
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// ---- one exchange ----------------------------------------------------------------------------

// Sends `request` on the reader's connection and feeds the streamed answer's events into
// `record`; marks the record failed as the answer warrants.
net::awaitable<void> stream_exchange(run_state& run, reader_state& reader, std::string_view request,
                                     turn_record& record) {
  const chat_target target = run.options.target;
  sse_splitter splitter;
  bool streaming = false;
  unsigned status = 0;
  std::string refused;  // the start of an answer that is not an event stream
  auto on_headers = [&](const exchange_result& head) {
    if (record.headers == clock_type::time_point{}) record.headers = clock_type::now();
    status = head.status;
    streaming = head.status == 200 && head.event_stream;
  };
  auto on_body = [&](std::string_view piece) {
    if (!streaming) {
      refused.append(piece.substr(
          0,
          std::min<std::size_t>(piece.size(), 300 - std::min<std::size_t>(300, refused.size()))));
      return;
    }
    const bool had_first = record.first_event != clock_type::time_point{};
    splitter.feed(piece, [&](std::string_view name, std::string_view data) {
      judge_event(target, name, data, clock_type::now(), record);
    });
    if (!had_first && record.first_event != clock_type::time_point{}) ++run.with_first_event;
  };
  const exchange_result result =
      co_await reader.stream->exchange(request, run.options.timeout, on_headers, on_body);
  const auto now = clock_type::now();
  auto fail = [&](failure_kind kind, std::string text) {
    if (record.failure != failure_kind::none) return;
    record.failure = kind;
    record.failure_text = std::move(text);
    record.end = now;
  };
  if (record.ended && record.failure == failure_kind::none)
    co_return;  // whatever came after the end
  if (!result.transport_error.empty()) {
    fail(failure_kind::transport, result.transport_error);
  } else if (!streaming) {
    fail(failure_kind::status, "HTTP " + std::to_string(status) + ": " + refused);
  } else if (!record.ended) {
    fail(failure_kind::no_end, "the stream ended without its end marker after " +
                                   std::to_string(record.events) + " events");
  }
}

net::awaitable<turn_record> run_turn(run_state& run, reader_state& reader) {
  turn_record record;
  record.start = clock_type::now();
  const auto& options = run.options;
  if (options.target == chat_target::llm_double) {
    for (const auto& request : run.double_requests) {
      record.ended = false;
      co_await stream_exchange(run, reader, request, record);
      if (record.failure != failure_kind::none) break;
    }
  } else {
    const std::string request = chat_request(options.target, options.url, options.question,
                                             reader.id, reader.token, reader.turns_sent);
    co_await stream_exchange(run, reader, request, record);
  }
  ++reader.turns_sent;
  if (record.end == clock_type::time_point{}) record.end = clock_type::now();
  co_return record;
}

// ---- setup -----------------------------------------------------------------------------------

// The whole body of an answer (for small JSON answers).
net::awaitable<std::pair<exchange_result, std::string>> fetch(http_stream& stream,
                                                              std::string_view request,
                                                              milliseconds timeout) {
  std::string body;
  exchange_result result =
      co_await stream.exchange(request, timeout, nullptr, [&](std::string_view piece) {
        if (body.size() < (8u << 20)) body.append(piece);
      });
  co_return std::make_pair(std::move(result), std::move(body));
}

// A new reader of bookmcp-chat (POST /api/session); for the hold test, an open connection.
net::awaitable<std::string> set_up_reader(run_state& run, reader_state& reader, bool connect) {
  const auto& options = run.options;
  if (options.target == chat_target::bookmcp_chat) {
    auto [result, body] =
        co_await fetch(*reader.stream, json_post(options.url, "/api/session", ""), options.timeout);
    if (!result.transport_error.empty()) co_return "POST /api/session: " + result.transport_error;
    if (result.status != 200)
      co_return "POST /api/session: HTTP " + std::to_string(result.status) + ": " +
          body.substr(0, 300);
    const json session = json::parse(body, nullptr, false);
    if (!session.is_object() || !session.contains("access_token") ||
        !session["access_token"].is_string()) {
      co_return "POST /api/session: no access_token in " + body.substr(0, 300);
    }
    reader.token = session["access_token"].get<std::string>();
  }
  if (connect) co_return co_await reader.stream->connect(options.timeout);
  co_return std::string();
}

net::awaitable<void> setup_worker(run_state& run, client_thread& thread, bool connect) {
  while (thread.next_setup < thread.readers.size()) {
    reader_state& reader = *thread.readers[thread.next_setup++];
    std::string problem;
    try {
      problem = co_await set_up_reader(run, reader, connect);
    } catch (const std::exception& error) {
      problem = error.what();
    }
    if (problem.empty()) {
      reader.ready = true;
    } else {
      reader.note_failure(failure_kind::transport, "setup: " + problem);
    }
    ++run.set_up;
  }
}

// Makes `count` readers spread over the threads, starts the threads and sets the readers up,
// options.open_concurrency at a time. Returns the number ready.
std::size_t set_up_readers(run_state& run, thread_group& group, std::size_t count, bool connect) {
  auto& threads = group.threads();
  for (std::size_t i = 0; i < count; ++i) {
    client_thread& home = *threads[i % threads.size()];
    auto reader = std::make_unique<reader_state>();
    reader->id = "reader-" + std::to_string(i + 1);
    reader->stream = std::make_unique<http_stream>(home.io.get_executor(), run.options.url);
    home.readers.push_back(std::move(reader));
  }
  group.start();
  const std::size_t workers =
      std::max<std::size_t>(1, run.options.open_concurrency / threads.size());
  for (auto& thread : threads) {
    for (std::size_t w = 0; w < std::min(workers, thread->readers.size()); ++w) {
      net::co_spawn(thread->io, setup_worker(run, *thread, connect), [](std::exception_ptr) {
        // setup_worker catches what set_up_reader throws; nothing else can escape.
      });
    }
  }
  // Bounded by the timeout per reader a worker takes in turn, plus the time-out itself.
  const auto per_worker = (count + workers * threads.size() - 1) / (workers * threads.size());
  wait_until([&] { return run.set_up.load() >= count; },
             clock_type::now() +
                 run.options.timeout * static_cast<long>(std::max<std::size_t>(1, per_worker)));
  std::size_t ready = 0;
  for (auto& thread : threads) {
    for (auto& reader : thread->readers) ready += reader->ready ? 1 : 0;
  }
  return ready;
}

using reader_body = net::awaitable<void> (*)(run_state&, reader_state&);

// Starts `body(run, reader)` on every ready reader, on its own thread. (A function, not a
// capturing lambda: a coroutine lambda's captures die with the lambda object.)
void start_readers(run_state& run, thread_group& group, reader_body body) {
  for (auto& thread : group.threads()) {
    net::post(thread->io, [&run, &thread = *thread, body] {
      for (auto& reader : thread.readers) {
        if (!reader->ready) continue;
        net::co_spawn(
            thread.io, body(run, *reader), [&run, &reader = *reader](std::exception_ptr failure) {
              if (failure) {
                try {
                  std::rethrow_exception(failure);
                } catch (const std::exception& error) {
                  reader.note_failure(failure_kind::transport,
                                      std::string("reader: ") + error.what());
                } catch (...) {
                  reader.note_failure(failure_kind::transport, "reader: a non-standard exception");
                }
              }
              ++run.finished;
            });
      }
    });
  }
}

// A reader of the load: turns until the window closed.
net::awaitable<void> load_reader(run_state& run, reader_state& reader) {
  net::steady_timer pause(co_await net::this_coro::executor);
  while (clock_type::now() < run.measure_end) {
    turn_record record = co_await run_turn(run, reader);
    if (record.failure != failure_kind::none) {
      reader.note_failure(record.failure, record.failure_text);
      // A refusal (503 busy, 429) or a lost connection: give the backend a moment.
      if (record.failure == failure_kind::status || record.failure == failure_kind::transport) {
        pause.expires_after(milliseconds(100));
        co_await pause.async_wait(net::as_tuple(net::use_awaitable));
      }
      continue;
    }
    if (record.end >= run.measure_start && record.end < run.measure_end)
      reader.measured.push_back(std::move(record));
  }
}

// A reader of the hold test: one turn.
net::awaitable<void> hold_reader(run_state& run, reader_state& reader) {
  turn_record record = co_await run_turn(run, reader);
  if (record.failure != failure_kind::none)
    reader.note_failure(record.failure, record.failure_text);
  reader.measured.push_back(std::move(record));
}

// ---- the LLM double's own turn ---------------------------------------------------------------

// One JSON-RPC exchange with bookmcp over Streamable HTTP; the answer to `message` (or null for
// a notification). Throws std::runtime_error.
net::awaitable<json> mcp_exchange(http_stream& stream, const http_endpoint& endpoint,
                                  const std::string& token, std::string& session_id,
                                  const json& message, milliseconds timeout) {
  std::string headers = "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: " +
                        std::string(kMcpProtocolVersion) + "\r\n";
  if (!session_id.empty()) headers += "Mcp-Session-Id: " + session_id + "\r\n";
  auto [result, body] =
      co_await fetch(stream, json_post(endpoint, "", message.dump(), token, headers), timeout);
  const std::string method = message.value("method", "");
  if (!result.transport_error.empty())
    throw std::runtime_error("bookmcp " + method + ": " + result.transport_error);
  if (result.status != 200 && result.status != 202) {
    throw std::runtime_error("bookmcp " + method + ": HTTP " + std::to_string(result.status) +
                             ": " + body.substr(0, 300));
  }
  if (!result.session_id.empty()) session_id = result.session_id;
  if (!message.contains("id")) co_return json();
  json answer;
  if (result.event_stream) {
    sse_splitter splitter;
    splitter.feed(body + "\n\n", [&](std::string_view, std::string_view data) {
      json parsed = json::parse(data, nullptr, false);
      if (parsed.is_object() && parsed.contains("id") && parsed["id"] == message["id"])
        answer = std::move(parsed);
    });
  } else {
    answer = json::parse(body, nullptr, false);
  }
  if (!answer.is_object() || !answer.contains("result")) {
    throw std::runtime_error("bookmcp " + method + " failed: " + body.substr(0, 300));
  }
  co_return answer["result"];
}

// Streams one request to the double; returns its data payloads. Throws std::runtime_error.
net::awaitable<std::vector<std::string>> double_exchange(http_stream& stream,
                                                         const std::string& request,
                                                         milliseconds timeout) {
  std::vector<std::string> payloads;
  sse_splitter splitter;
  unsigned status = 0;
  std::string refused;
  const exchange_result result = co_await stream.exchange(
      request, timeout, [&](const exchange_result& head) { status = head.status; },
      [&](std::string_view piece) {
        if (status != 200) {
          refused.append(piece);
          return;
        }
        splitter.feed(
            piece, [&](std::string_view, std::string_view data) { payloads.emplace_back(data); });
      });
  if (!result.transport_error.empty())
    throw std::runtime_error("the LLM double: " + result.transport_error);
  if (status != 200)
    throw std::runtime_error("the LLM double: HTTP " + std::to_string(status) + ": " +
                             refused.substr(0, 500));
  if (payloads.empty() || payloads.back() != "[DONE]")
    throw std::runtime_error("the LLM double's stream did not end with [DONE]");
  co_return payloads;
}

// The JSON-RPC messages of prepare_double_turn, built outside the coroutine (GCC 12 cannot
// keep a braced json initializer list alive across a co_await in a coroutine's arguments).
json initialize_message() {
  return {{"jsonrpc", "2.0"},
          {"id", 1},
          {"method", "initialize"},
          {"params",
           {{"protocolVersion", kMcpProtocolVersion},
            {"capabilities", json::object()},
            {"clientInfo", {{"name", "bookmcp_chat_load"}, {"version", "0.1.0"}}}}}};
}

json rpc_message(std::int64_t id, const std::string& method, json params = nullptr) {
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (id > 0) message["id"] = id;
  if (!params.is_null()) message["params"] = std::move(params);
  return message;
}

json tool_call_message(std::int64_t id, const std::string& name, const json& arguments) {
  json params = json::object();
  params["name"] = name;
  params["arguments"] = arguments;
  return rpc_message(id, "tools/call", std::move(params));
}

// Builds the two requests of a turn from bookmcp's tools and its answer to the double's search.
net::awaitable<std::vector<std::string>> prepare_double_turn(const chat_load_options& options) {
  auto executor = co_await net::this_coro::executor;
  const http_endpoint mcp = parse_http_endpoint(options.mcp_url);
  http_stream book(executor, mcp);
  std::string session;
  const json initialize = initialize_message();
  co_await mcp_exchange(book, mcp, options.mcp_token, session, initialize, options.timeout);
  const json initialized = rpc_message(0, "notifications/initialized");
  co_await mcp_exchange(book, mcp, options.mcp_token, session, initialized, options.timeout);
  const json list = rpc_message(2, "tools/list");
  const json listed =
      co_await mcp_exchange(book, mcp, options.mcp_token, session, list, options.timeout);
  const json first = first_llm_request(options.model, options.question,
                                       reader_functions(listed.value("tools", json::array())));

  http_stream llm(executor, options.url);
  const std::string first_request = json_post(options.url, "/chat/completions", first.dump());
  tool_call_collector collector;
  const std::vector<std::string> first_answer =
      co_await double_exchange(llm, first_request, options.timeout);
  for (const auto& payload : first_answer) collector.take(payload);
  if (collector.calls().empty())
    throw std::runtime_error("the LLM double answered the reader's message without a tool call");
  std::vector<std::string> contents;
  std::int64_t id = 3;
  for (const auto& call : collector.calls()) {
    const json arguments =
        json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
    if (call.name != "search_book" || !arguments.is_object()) {
      contents.push_back("Done.");
      continue;
    }
    const json message = tool_call_message(id++, call.name, arguments);
    const json result =
        co_await mcp_exchange(book, mcp, options.mcp_token, session, message, options.timeout);
    contents.push_back(search_result_for_model(result));
  }
  const std::string second_request =
      json_post(options.url, "/chat/completions",
                second_llm_request(first, collector.calls(), contents).dump());
  co_await double_exchange(llm, second_request,
                           options.timeout);  // it must work before it is timed
  co_return std::vector<std::string>{first_request, second_request};
}

std::vector<std::string> prepare_double_turn_blocking(const chat_load_options& options) {
  net::io_context io{1};
  std::vector<std::string> requests;
  std::exception_ptr failure;
  net::co_spawn(io, prepare_double_turn(options),
                [&](std::exception_ptr error, std::vector<std::string> made) {
                  failure = error;
                  requests = std::move(made);
                });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return requests;
}

// ---- merging ---------------------------------------------------------------------------------

struct merged {
  std::vector<const turn_record*> records;
  failure_counts failures;
  std::string first_failure;
};

merged merge(thread_group& group) {
  merged out;
  for (auto& thread : group.threads()) {
    for (auto& reader : thread->readers) {
      for (const auto& record : reader->measured) out.records.push_back(&record);
      add_counts(out.failures, reader->failures);
      if (out.first_failure.empty()) out.first_failure = reader->first_failure;
    }
  }
  return out;
}

}  // namespace

percentiles_ms percentiles_of(std::vector<double> samples) {
  percentiles_ms out;
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    const auto index = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<std::size_t>(index, 1, samples.size()) - 1];
  };
  out.p50 = rank(0.50);
  out.p95 = rank(0.95);
  out.p99 = rank(0.99);
  out.max = samples.back();
  return out;
}

load_result run_load(const chat_load_options& options) {
  raise_open_file_limit();
  load_result result;
  run_state run(options);
  if (options.target == chat_target::llm_double)
    run.double_requests = prepare_double_turn_blocking(options);

  thread_group group(options.threads);
  result.readers_ready = set_up_readers(run, group, options.readers, false);
  result.readers_failed = options.readers - result.readers_ready;
  if (result.readers_ready == 0) {
    group.stop();
    const merged all = merge(group);
    result.failures = all.failures;
    result.first_failure = all.first_failure;
    return result;
  }

  run.measure_start = clock_type::now() + options.warmup;
  run.measure_end = run.measure_start + options.duration;
  start_readers(run, group, &load_reader);

  std::this_thread::sleep_until(run.measure_start);
  const double backend_cpu_start = options.pid > 0 ? cpu_seconds(options.pid) : -1;
  const double mcp_cpu_start = options.mcp_pid > 0 ? cpu_seconds(options.mcp_pid) : -1;
  const double client_cpu_start = own_cpu_seconds();
  std::this_thread::sleep_until(run.measure_end);
  const double backend_cpu_end = options.pid > 0 ? cpu_seconds(options.pid) : -1;
  const double mcp_cpu_end = options.mcp_pid > 0 ? cpu_seconds(options.mcp_pid) : -1;
  const double client_cpu_end = own_cpu_seconds();
  if (options.pid > 0) result.backend_rss_kib = resident_kib(options.pid);
  wait_until([&] { return run.finished.load() >= result.readers_ready; },
             run.measure_end + options.timeout);
  group.stop();

  const merged all = merge(group);
  result.failures = all.failures;
  result.first_failure = all.first_failure;
  result.turns = all.records.size();
  result.seconds = std::chrono::duration<double>(options.duration).count();
  result.turns_per_second = static_cast<double>(result.turns) / result.seconds;
  std::vector<double> first_event, first_text, whole;
  double events = 0, text_events = 0, text = 0, calls = 0;
  for (const turn_record* record : all.records) {
    first_event.push_back(ms_between(record->start, record->first_event));
    if (record->first_text != clock_type::time_point{})
      first_text.push_back(ms_between(record->start, record->first_text));
    whole.push_back(ms_between(record->start, record->end));
    events += static_cast<double>(record->events);
    text_events += static_cast<double>(record->text_events);
    text += static_cast<double>(record->text_bytes);
    calls += static_cast<double>(record->tool_calls);
    result.tool_errors += record->tool_errors;
  }
  result.first_event = percentiles_of(std::move(first_event));
  result.first_text = percentiles_of(std::move(first_text));
  result.whole_turn = percentiles_of(std::move(whole));
  if (result.turns > 0) {
    const auto turns = static_cast<double>(result.turns);
    result.events_per_turn = events / turns;
    result.text_events_per_turn = text_events / turns;
    result.text_bytes_per_turn = text / turns;
    result.tool_calls_per_turn = calls / turns;
    if (backend_cpu_start >= 0 && backend_cpu_end >= 0) {
      result.backend_cpu_ms_per_turn = (backend_cpu_end - backend_cpu_start) * 1000 / turns;
    }
    if (mcp_cpu_start >= 0 && mcp_cpu_end >= 0)
      result.mcp_cpu_ms_per_turn = (mcp_cpu_end - mcp_cpu_start) * 1000 / turns;
    if (client_cpu_start >= 0 && client_cpu_end >= 0) {
      result.client_cpu_ms_per_turn = (client_cpu_end - client_cpu_start) * 1000 / turns;
    }
  }
  return result;
}

hold_result run_hold(const chat_load_options& options) {
  raise_open_file_limit();
  hold_result result;
  result.requested = options.hold;
  run_state run(options);
  thread_group group(options.threads);
  result.ready = set_up_readers(run, group, options.hold, true);
  if (options.pid > 0) result.rss_before_kib = resident_kib(options.pid);

  const auto gate = clock_type::now();
  start_readers(run, group, &hold_reader);
  // Watch the backend's memory while the answers run.
  const auto deadline = gate + options.timeout;
  while (run.finished.load() < result.ready && clock_type::now() < deadline) {
    if (options.pid > 0) {
      const long rss = resident_kib(options.pid);
      result.rss_peak_kib = std::max(result.rss_peak_kib, rss);
      if (result.rss_all_open_kib < 0 && run.with_first_event.load() >= result.ready)
        result.rss_all_open_kib = rss;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  group.stop();
  if (options.pid > 0) result.rss_after_kib = resident_kib(options.pid);

  const merged all = merge(group);
  result.failures = all.failures;
  result.first_failure = all.first_failure;
  // A stream is open from its headers to its end; sweep the opens and closes in time order.
  std::vector<std::pair<clock_type::time_point, int>> edges;
  clock_type::time_point last_first_event{};
  clock_type::time_point first_end = clock_type::time_point::max();
  std::vector<double> first_event, whole;
  for (const turn_record* record : all.records) {
    if (record->failure == failure_kind::none) ++result.completed;
    if (record->headers != clock_type::time_point{}) {
      edges.emplace_back(record->headers, +1);
      edges.emplace_back(record->end, -1);
    }
    if (record->first_event != clock_type::time_point{}) {
      last_first_event = std::max(last_first_event, record->first_event);
      first_event.push_back(ms_between(record->start, record->first_event));
    }
    if (record->failure == failure_kind::none) {
      first_end = std::min(first_end, record->end);
      whole.push_back(ms_between(record->start, record->end));
    }
  }
  std::sort(edges.begin(), edges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;  // closes first on ties
  });
  long open = 0;
  for (const auto& [when, step] : edges) {
    open += step;
    result.peak_open_streams = std::max<std::size_t>(result.peak_open_streams,
                                                     static_cast<std::size_t>(std::max(0L, open)));
  }
  result.all_open_at_once = result.completed == result.requested &&
                            first_event.size() == result.requested && last_first_event < first_end;
  if (last_first_event != clock_type::time_point{})
    result.all_open_after_ms = ms_between(gate, last_first_event);
  result.first_event = percentiles_of(std::move(first_event));
  result.whole_turn = percentiles_of(std::move(whole));
  return result;
}

}  // namespace bookmcp::bench::chat
