#include "bench/soak/soak_clients.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "bench/common/json_scan.hpp"
#include "bench/common/mcp_messages.hpp"
#include "bench/network/http_client.hpp"
#include "bench/network/websocket_client.hpp"
#include "bench/soak/soak_mix.hpp"

extern char** environ;

namespace bookmcp::bench::soak {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using detail::answer_text;
using detail::create_session;
using detail::http_answer;
using detail::http_connection;

std::string clip(std::string_view text, std::size_t size = 200) {
  return std::string(text.substr(0, size));
}

net::awaitable<void> sleep_for(std::chrono::milliseconds how_long) {
  net::steady_timer timer(co_await net::this_coro::executor, how_long);
  error_code ignored;
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
}

// Whether an answer (one JSON-RPC message) is a success, and if not, why.
bool judge(const message_facts& facts, std::string_view message, std::string& error) {
  if (facts.has_error) {
    error = "JSON-RPC error: " + clip(message);
    return false;
  }
  if (!facts.has_result) {
    error = "an answer without result: " + clip(message);
    return false;
  }
  if (facts.tool_error) {
    error = "tool error: " + clip(message);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Streamable HTTP

// Connects and, when `session_id` is empty, creates a session. Returns "" or the problem.
net::awaitable<std::string> connect_session(http_connection& connection, std::string& session_id,
                                            std::chrono::milliseconds timeout) {
  std::string problem = co_await connection.connect(timeout);
  if (!problem.empty()) co_return problem;
  if (session_id.empty()) {
    session_id = co_await create_session(connection, timeout, problem);
    if (session_id.empty()) co_return problem;
  }
  connection.use_session(session_id);
  co_return std::string();
}

class http_lane final : public lane {
 public:
  http_lane(net::io_context& io, lane_options options, outcome_sink sink)
      : io_(io), options_(std::move(options)), sink_(std::move(sink)),
        mix_(options_.seed, options_.uris, options_.title_prefix) {}

  net::awaitable<std::string> open() override {
    for (std::size_t i = 0; i < options_.connections; ++i) {
      net::co_spawn(io_, worker(), net::detached);
    }
    const auto deadline = clock_type::now() + options_.connect_timeout + options_.connect_timeout;
    while (ready_ + failed_ < options_.connections && clock_type::now() < deadline) {
      co_await sleep_for(std::chrono::milliseconds(10));
    }
    if (ready_ < options_.connections) {
      co_return std::to_string(options_.connections - ready_) + " of " + std::to_string(options_.connections) +
          " HTTP sessions could not be opened: " + first_problem_;
    }
    co_return std::string();
  }

  void submit(clock_type::time_point when) override {
    ++outstanding;
    due_.push_back(when);
    wake_one();
  }

  void stop() override {
    stopping_ = true;
    while (!idle_.empty()) wake_one();
  }

  // Closed loop: every connection sends its next call at once, until `until`.
  void close_loop(clock_type::time_point until) { closed_until_ = until; }

 private:
  void wake_one() {
    if (idle_.empty()) return;
    net::steady_timer* timer = idle_.front();
    idle_.pop_front();
    timer->cancel();
  }

  net::awaitable<void> worker() {
    http_connection connection(io_, options_.url, "bookmcp_soak");
    std::string session_id;
    if (std::string problem = co_await connect_session(connection, session_id, options_.connect_timeout);
        !problem.empty()) {
      if (first_problem_.empty()) first_problem_ = problem;
      ++failed_;
      co_return;
    }
    ++ready_;
    net::steady_timer wake(io_);
    http_answer answer;
    for (std::int64_t id = 1;; ++id) {
      clock_type::time_point scheduled;
      if (closed_until_) {
        scheduled = clock_type::now();
        if (scheduled >= *closed_until_ || stopping_) co_return;
        ++outstanding;
      } else {
        while (due_.empty()) {
          if (stopping_) co_return;
          idle_.push_back(&wake);
          wake.expires_at(clock_type::time_point::max());
          error_code ignored;
          co_await wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
        }
        scheduled = due_.front();
        due_.pop_front();
      }
      const planned_call call = mix_.next();
      const std::string body = request_text(id, call);
      const std::string problem = co_await connection.post(body, answer, options_.call_timeout);
      call_outcome outcome{.via = transport_kind::http, .kind = call.kind, .scheduled = scheduled,
                           .done = clock_type::now(), .ok = false, .error = {}};
      std::string_view message;
      if (!problem.empty()) {
        outcome.error = problem;
      } else if (answer.status != 200) {
        outcome.error = "HTTP " + std::to_string(answer.status) + ": " + clip(answer.body);
      } else {
        message = answer_text(answer, id);
        if (message.empty()) {
          outcome.error = "no answer to the call in: " + clip(answer.body);
        } else {
          outcome.ok = judge(scan_message(message), message, outcome.error);
        }
      }
      mix_.answered(call, outcome.ok, message);
      sink_(outcome);
      --outstanding;
      if (answer.status == 404 && problem.empty()) session_id.clear();  // the server forgot it
      if (!problem.empty() || !answer.keep_alive || session_id.empty()) {
        connection.close();
        // Reconnect (and re-initialize when needed) until it works or the lane stops.
        for (;;) {
          if (stopping_ || (closed_until_ && clock_type::now() >= *closed_until_)) co_return;
          if ((co_await connect_session(connection, session_id, options_.connect_timeout)).empty()) break;
          connection.close();
          co_await sleep_for(std::chrono::milliseconds(500));
        }
      }
      answer = {};
    }
  }

  net::io_context& io_;
  lane_options options_;
  outcome_sink sink_;
  call_mix mix_;
  std::deque<clock_type::time_point> due_;
  std::deque<net::steady_timer*> idle_;
  std::size_t ready_ = 0;
  std::size_t failed_ = 0;
  std::string first_problem_;
  bool stopping_ = false;
  std::optional<clock_type::time_point> closed_until_;
};

// ---------------------------------------------------------------------------------------
// Pipelined transports: WebSocket and stdio

class pipelined_connection {
 public:
  pipelined_connection(net::io_context& io, transport_kind via, const lane_options& options, call_mix& mix,
                       outcome_sink& sink, std::atomic<std::int64_t>& outstanding)
      : io_(io), via_(via), options_(options), mix_(mix), sink_(sink), outstanding_(outstanding), wake_(io) {}
  virtual ~pipelined_connection() = default;

  // Opens the connection and starts its reader, writer and timeout sweeper.
  net::awaitable<std::string> start() {
    std::string problem = co_await open();
    if (!problem.empty()) co_return problem;
    connected_ = true;
    net::co_spawn(io_, reader(), net::detached);
    net::co_spawn(io_, writer(), net::detached);
    net::co_spawn(io_, sweeper(), net::detached);
    co_return std::string();
  }

  void submit(clock_type::time_point when) {
    ++outstanding_;
    const planned_call call = mix_.next();
    if (!connected_) {
      finish_failed(call, when, "not connected");
      return;
    }
    const std::int64_t id = next_id_++;
    queue_.push_back(request_text(id, call));
    pending_.emplace(id, pending{when, call});
    if (writer_waiting_) wake_.cancel();
  }

  virtual void stop() {
    stopping_ = true;
    if (writer_waiting_) wake_.cancel();
  }

 protected:
  virtual net::awaitable<std::string> open() = 0;
  virtual net::awaitable<error_code> write(const std::string& message) = 0;
  virtual net::awaitable<error_code> read(std::string& message) = 0;
  virtual void close() = 0;
  virtual bool can_reopen() const = 0;

  net::io_context& io_;
  const transport_kind via_;
  const lane_options& options_;
  bool stopping_ = false;

 private:
  struct pending {
    clock_type::time_point scheduled;
    planned_call call;
  };

  void finish_failed(const planned_call& call, clock_type::time_point scheduled, std::string error) {
    mix_.answered(call, false, {});
    sink_(call_outcome{.via = via_, .kind = call.kind, .scheduled = scheduled, .done = clock_type::now(),
                       .ok = false, .error = std::move(error)});
    --outstanding_;
  }

  void fail_all(const std::string& why) {
    auto lost = std::move(pending_);
    pending_.clear();
    queue_.clear();
    for (auto& [id, call] : lost) finish_failed(call.call, call.scheduled, why);
  }

  net::awaitable<void> reader() {
    std::string message;
    for (;;) {
      const error_code error = co_await read(message);
      if (error) {
        connected_ = false;
        close();
        fail_all("connection lost: " + error.message());
        if (stopping_ || !can_reopen()) co_return;
        // Reopen until it works.
        for (;;) {
          co_await sleep_for(std::chrono::milliseconds(500));
          if (stopping_) co_return;
          const std::string problem = co_await open();
          if (problem.empty()) break;
        }
        connected_ = true;
        if (writer_waiting_) wake_.cancel();
        continue;
      }
      const message_facts facts = scan_message(message);
      if (facts.has_method || !facts.id) continue;  // a notification or a request of the server's
      const auto found = pending_.find(*facts.id);
      if (found == pending_.end()) continue;  // timed out already
      const pending call = std::move(found->second);
      pending_.erase(found);
      call_outcome outcome{.via = via_, .kind = call.call.kind, .scheduled = call.scheduled,
                           .done = clock_type::now(), .ok = false, .error = {}};
      outcome.ok = judge(facts, message, outcome.error);
      mix_.answered(call.call, outcome.ok, message);
      sink_(outcome);
      --outstanding_;
    }
  }

  net::awaitable<void> writer() {
    for (;;) {
      while (queue_.empty() || !connected_) {
        if (stopping_) co_return;
        writer_waiting_ = true;
        wake_.expires_at(clock_type::time_point::max());
        error_code ignored;
        co_await wake_.async_wait(net::redirect_error(net::use_awaitable, ignored));
        writer_waiting_ = false;
      }
      const std::string message = std::move(queue_.front());
      queue_.pop_front();
      if (const error_code error = co_await write(message)) close();  // the reader sees it and fails the calls
    }
  }

  net::awaitable<void> sweeper() {
    net::steady_timer timer(io_);
    for (;;) {
      timer.expires_after(std::chrono::seconds(1));
      error_code ignored;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
      const auto limit = clock_type::now() - options_.call_timeout;
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.scheduled < limit) {
          const pending call = std::move(it->second);
          it = pending_.erase(it);
          finish_failed(call.call, call.scheduled,
                        "no answer within " + std::to_string(options_.call_timeout.count() / 1000) + " s");
        } else {
          ++it;
        }
      }
      if (stopping_ && pending_.empty()) co_return;
    }
  }

  call_mix& mix_;
  outcome_sink& sink_;
  std::atomic<std::int64_t>& outstanding_;
  net::steady_timer wake_;
  bool writer_waiting_ = false;
  bool connected_ = false;
  std::int64_t next_id_ = 1;
  std::deque<std::string> queue_;
  std::unordered_map<std::int64_t, pending> pending_;
};

class websocket_connection final : public pipelined_connection {
 public:
  using pipelined_connection::pipelined_connection;

 protected:
  net::awaitable<std::string> open() override {
    auto ws = std::make_shared<detail::websocket_stream>(io_);
    buffer_.clear();
    std::string problem = co_await detail::open_mcp_websocket(*ws, options_.url, buffer_, options_.connect_timeout);
    if (!problem.empty()) co_return problem;
    ws_ = std::move(ws);
    co_return std::string();
  }
  net::awaitable<error_code> write(const std::string& message) override {
    auto ws = ws_;  // kept alive across the write even if the connection is replaced meanwhile
    error_code error;
    co_await ws->async_write(net::buffer(message), net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
  net::awaitable<error_code> read(std::string& message) override {
    auto ws = ws_;
    error_code error;
    buffer_.consume(buffer_.size());
    co_await ws->async_read(buffer_, net::redirect_error(net::use_awaitable, error));
    if (!error) message = beast::buffers_to_string(buffer_.cdata());
    co_return error;
  }
  void close() override {
    if (!ws_) return;
    error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }
  bool can_reopen() const override { return !stopping_; }

 private:
  std::shared_ptr<detail::websocket_stream> ws_;
  beast::flat_buffer buffer_;
};

class stdio_connection final : public pipelined_connection {
 public:
  stdio_connection(net::io_context& io, const lane_options& options, call_mix& mix, outcome_sink& sink,
                   std::atomic<std::int64_t>& outstanding)
      : pipelined_connection(io, transport_kind::stdio, options, mix, sink, outstanding), in_(io), out_(io) {}
  ~stdio_connection() override { end_child(); }

  long pid() const { return pid_.load(); }

  void stop() override {
    pipelined_connection::stop();
    error_code ignored;
    in_.close(ignored);  // end of input: the server finishes what it has and exits
  }

 protected:
  net::awaitable<std::string> open() override {
    if (pid_ != 0) co_return "the stdio server is gone";
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      co_return std::string("pipe: ") + std::strerror(errno);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, options_.stderr_path.empty() ? "/dev/null" : options_.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& argument : options_.command) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_t child = -1;
    const int status = ::posix_spawnp(&child, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    if (status != 0) {
      ::close(to_child[1]);
      ::close(from_child[0]);
      co_return "cannot start " + options_.command.front() + ": " + std::strerror(status);
    }
    pid_ = child;
    in_.assign(to_child[1]);
    out_.assign(from_child[0]);

    // initialize, its answer, notifications/initialized.
    if (const error_code error = co_await write(initialize_request(0))) co_return "initialize: " + error.message();
    std::string message;
    const auto deadline = clock_type::now() + options_.connect_timeout;
    for (;;) {
      if (clock_type::now() > deadline) co_return "initialize: no answer";
      if (const error_code error = co_await read(message)) co_return "initialize: " + error.message();
      const message_facts facts = scan_message(message);
      if (facts.id == 0 && !facts.has_method) {
        if (!facts.has_result) co_return "initialize was refused: " + clip(message);
        break;
      }
    }
    if (const error_code error = co_await write(initialized_notification())) {
      co_return "notifications/initialized: " + error.message();
    }
    // Ready when a search answers (a child that starts on an empty index says it is still
    // indexing); bounded by a minute.
    const auto ready_by = clock_type::now() + std::chrono::seconds(60);
    for (std::int64_t probe = 1'000'000'000;; ++probe) {
      planned_call call{.kind = "search_book", .method = "tools/call",
                        .params_json = R"({"name":"search_book","arguments":{"query":"robot","limit":1}})",
                        .todo_id = {}};
      if (const error_code error = co_await write(request_text(probe, call))) co_return "probe: " + error.message();
      std::string problem;
      for (;;) {
        if (const error_code error = co_await read(message)) co_return "probe: " + error.message();
        const message_facts facts = scan_message(message);
        if (facts.id != probe || facts.has_method) continue;
        judge(facts, message, problem);
        break;
      }
      if (problem.empty()) break;
      if (clock_type::now() > ready_by) co_return "the stdio server never answered a search: " + problem;
      co_await sleep_for(std::chrono::milliseconds(500));
    }
    co_return std::string();
  }
  net::awaitable<error_code> write(const std::string& message) override {
    line_ = message;
    line_ += '\n';
    error_code error;
    co_await net::async_write(in_, net::buffer(line_), net::redirect_error(net::use_awaitable, error));
    co_return error;
  }
  net::awaitable<error_code> read(std::string& message) override {
    error_code error;
    const std::size_t size =
        co_await net::async_read_until(out_, net::dynamic_buffer(input_), '\n', net::redirect_error(net::use_awaitable, error));
    if (error) co_return error;
    message.assign(input_, 0, size - 1);
    input_.erase(0, size);
    co_return error;
  }
  void close() override { end_child(); }
  bool can_reopen() const override { return false; }

 private:
  void end_child() {
    error_code ignored;
    in_.close(ignored);
    out_.close(ignored);
    const pid_t child = static_cast<pid_t>(pid_.load());
    if (child <= 0) return;
    // After end of input the server exits by itself (its shutdown grace is 10 s).
    for (int i = 0; i < 150; ++i) {
      if (::waitpid(child, nullptr, WNOHANG) == child) {
        pid_ = -1;
        return;
      }
      ::usleep(100000);
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    pid_ = -1;
  }

  net::posix::stream_descriptor in_;
  net::posix::stream_descriptor out_;
  std::string line_;
  std::string input_;
  std::atomic<long> pid_{0};
};

class pipelined_lane final : public lane {
 public:
  pipelined_lane(net::io_context& io, transport_kind via, lane_options options, outcome_sink sink)
      : io_(io), options_(std::move(options)), sink_(std::move(sink)),
        mix_(options_.seed, options_.uris, options_.title_prefix) {
    const std::size_t count = via == transport_kind::stdio ? 1 : options_.connections;
    for (std::size_t i = 0; i < count; ++i) {
      if (via == transport_kind::stdio) {
        connections_.push_back(std::make_unique<stdio_connection>(io_, options_, mix_, sink_, outstanding));
      } else {
        connections_.push_back(
            std::make_unique<websocket_connection>(io_, via, options_, mix_, sink_, outstanding));
      }
    }
  }

  net::awaitable<std::string> open() override {
    for (auto& connection : connections_) {
      std::string problem = co_await connection->start();
      if (!problem.empty()) co_return problem;
    }
    co_return std::string();
  }

  void submit(clock_type::time_point when) override {
    connections_[next_++ % connections_.size()]->submit(when);
  }

  long pid() const override {
    if (auto* child = dynamic_cast<stdio_connection*>(connections_.front().get())) return child->pid();
    return 0;
  }

  void stop() override {
    for (auto& connection : connections_) connection->stop();
  }

 private:
  net::io_context& io_;
  lane_options options_;
  outcome_sink sink_;
  call_mix mix_;
  std::vector<std::unique_ptr<pipelined_connection>> connections_;
  std::size_t next_ = 0;
};

}  // namespace

const char* transport_name(transport_kind via) {
  switch (via) {
    case transport_kind::http:
      return "http";
    case transport_kind::websocket:
      return "websocket";
    case transport_kind::stdio:
      return "stdio";
    case transport_kind::admin:
      return "admin";
  }
  return "?";
}

std::unique_ptr<lane> make_http_lane(net::io_context& io, lane_options options, outcome_sink sink) {
  return std::make_unique<http_lane>(io, std::move(options), std::move(sink));
}

std::unique_ptr<lane> make_websocket_lane(net::io_context& io, lane_options options, outcome_sink sink) {
  return std::make_unique<pipelined_lane>(io, transport_kind::websocket, std::move(options), std::move(sink));
}

std::unique_ptr<lane> make_stdio_lane(net::io_context& io, lane_options options, outcome_sink sink) {
  return std::make_unique<pipelined_lane>(io, transport_kind::stdio, std::move(options), std::move(sink));
}

net::awaitable<std::string> run_closed_loop_http(net::io_context& io, lane_options options, outcome_sink sink,
                                                 clock_type::time_point until) {
  http_lane load(io, std::move(options), std::move(sink));
  load.close_loop(until);
  std::string problem = co_await load.open();
  // The workers end by themselves at `until`; wait for the last answers.
  while (load.outstanding > 0 || clock_type::now() < until) co_await sleep_for(std::chrono::milliseconds(20));
  co_await sleep_for(std::chrono::milliseconds(50));
  co_return problem;
}

net::awaitable<void> pace(lane& target, double rate, clock_type::time_point start, clock_type::time_point end) {
  if (rate <= 0) co_return;
  net::steady_timer timer(co_await net::this_coro::executor);
  const auto interval = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(1.0 / rate));
  for (auto next = start; next < end; next += interval) {
    if (next > clock_type::now()) {
      timer.expires_at(next);
      error_code ignored;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
    target.submit(next);
  }
}

net::awaitable<single_answer> single_call(net::io_context& io, const target_url& url, std::string& session_id,
                                          const std::string& method, const std::string& params_json,
                                          std::chrono::milliseconds timeout) {
  single_answer result;
  for (int attempt = 0; attempt < 2; ++attempt) {
    http_connection connection(io, url, "bookmcp_soak");
    if (std::string problem = co_await connect_session(connection, session_id, std::chrono::seconds(10));
        !problem.empty()) {
      result.error = problem;
      co_return result;
    }
    http_answer answer;
    planned_call call{.kind = "single", .method = method, .params_json = params_json, .todo_id = {}};
    const std::string problem = co_await connection.post(request_text(1, call), answer, timeout);
    connection.close();
    if (!problem.empty()) {
      result.error = problem;
      co_return result;
    }
    if (answer.status == 404) {  // the session was forgotten: a new one, once
      session_id.clear();
      continue;
    }
    if (answer.status != 200) {
      result.error = "HTTP " + std::to_string(answer.status) + ": " + clip(answer.body);
      co_return result;
    }
    const std::string_view message = answer_text(answer, 1);
    result.body = std::string(message);
    result.ok = judge(scan_message(message), message, result.error);
    co_return result;
  }
  result.error = "the session was forgotten twice";
  co_return result;
}

}  // namespace bookmcp::bench::soak
