#include "examples/chat/chat_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>

#include "examples/chat/answer_stream.hpp"
#include "examples/chat/chat_engine.hpp"
#include "examples/chat/chat_metrics.hpp"
#include "examples/chat/chat_store.hpp"
#include "examples/chat/llm_client.hpp"
#include "examples/chat/mcp_pool.hpp"
#include "examples/chat/reader_tokens.hpp"
#include "mcp/client.hpp"
#include "mcp/json_rpc.hpp"
#include "transport/auth.hpp"
#include "transport/rate_limiter.hpp"
#include "transport/socket_options.hpp"

namespace bookmcp::chat {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using request_type = http::request<http::string_body>;
using response_type = http::response<http::string_body>;

namespace {

// A refusal with its status and error code: {"error": {"code", "message"}}.
struct api_error {
  int status;
  std::string code;
  std::string message;
  std::chrono::seconds retry_after{0};
};

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string first_chars(const std::string& text, std::size_t chars) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && n++ == chars) return text.substr(0, i) + "\u2026";
  }
  return text;
}

// "/api/chat/m_1/events" split into its segments.
std::vector<std::string> segments(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  while (!target.empty()) {
    if (target.front() == '/') {
      target.remove_prefix(1);
      continue;
    }
    const auto slash = target.find('/');
    out.emplace_back(target.substr(0, slash));
    target = slash == std::string_view::npos ? std::string_view() : target.substr(slash);
  }
  return out;
}

std::string content_type_of(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".map") return "application/json";
  return "application/octet-stream";
}

// A live answer: its events, its reader, and when it finished (for expiry).
struct live_answer {
  std::shared_ptr<answer_stream> stream;
  std::string reader_id;
  std::chrono::steady_clock::time_point finished_at{};
};

}  // namespace

struct chat_server::impl {
  chat_server_options options;
  chat_engine& engine;
  chat_store& store;
  reader_tokens& tokens;
  mcp_pool& mcp;
  llm_client* llm;
  chat_metrics& metrics;

  net::io_context io;
  net::thread_pool blocking{16};  // store and MCP calls of the plain routes
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> housekeeping;
  std::vector<std::thread> threads;
  transport::rate_limiter per_reader;
  transport::rate_limiter per_ip;
  std::mutex answers_mutex;
  std::map<std::string, live_answer> answers;  // by message id
  std::atomic<std::size_t> active_turns{0};
  std::atomic<bool> stopped{false};

  impl(chat_server_options o, chat_engine& e, chat_store& s, reader_tokens& t, mcp_pool& m,
       llm_client* l, chat_metrics& x)
      : options(std::move(o)),
        engine(e),
        store(s),
        tokens(t),
        mcp(m),
        llm(l),
        metrics(x),
        per_reader(options.chat_per_minute / 60.0, std::max(1.0, options.chat_per_minute / 3.0)),
        per_ip(options.chat_per_minute / 60.0, std::max(1.0, options.chat_per_minute / 3.0)) {}

  // ---- responses -----------------------------------------------------------------------------

  void add_cors(const request_type& request, response_type& response) const {
    const auto origin = request[http::field::origin];
    if (!options.allowed_origin.empty() && origin == options.allowed_origin) {
      response.set(http::field::access_control_allow_origin, options.allowed_origin);
      response.set(http::field::vary, "Origin");
      response.set(http::field::access_control_expose_headers, "Retry-After");
    }
  }

  response_type json_response(const request_type& request, int status, const json& body) const {
    response_type response{static_cast<http::status>(status), request.version()};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    add_cors(request, response);
    response.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
  }

  response_type error_response(const request_type& request, const api_error& error) const {
    response_type response = json_response(request, error.status, {{"error", {{"code", error.code}, {"message", error.message}}}});
    if (error.retry_after.count() > 0) response.set(http::field::retry_after, std::to_string(error.retry_after.count()));
    return response;
  }

  // ---- checks --------------------------------------------------------------------------------

  std::string bearer(const request_type& request) const {
    const std::string value(request[http::field::authorization]);
    if (value.size() > 7 && beast::iequals(value.substr(0, 7), "Bearer ")) return value.substr(7);
    return "";
  }

  std::string reader_of(const request_type& request) const {
    const std::string token = bearer(request);
    auto reader = token.empty() ? std::nullopt : tokens.reader_of(token);
    if (!reader) throw api_error{401, "unauthorized", "a valid reader token is required: POST /api/session"};
    return *reader;
  }

  json body_of(const request_type& request) const {
    try {
      json body = json::parse(request.body());
      if (!body.is_object()) throw api_error{400, "bad_request", "the body must be a JSON object"};
      return body;
    } catch (const json::parse_error&) {
      throw api_error{400, "bad_request", "the body is not valid JSON"};
    }
  }

  void limit_chat(const std::string& reader, const std::string& ip) {
    if (options.chat_per_minute <= 0) return;
    for (auto* limiter : {&per_ip, &per_reader}) {
      const auto decision = limiter->acquire(limiter == &per_ip ? ip : reader);
      if (!decision.allowed) {
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(decision.retry_after);
        throw api_error{429, "rate_limited",
                        "too many messages; try again in " + std::to_string(seconds.count()) + " s",
                        std::max(seconds, std::chrono::seconds(1))};
      }
    }
  }

  // The message text of a chat body: a non-empty string within the length limit.
  std::string message_text(const json& text) const {
    if (!text.is_string()) throw api_error{400, "bad_request", "message.text must be a string"};
    std::string value = text.get<std::string>();
    if (!mcp::is_valid_utf8(value)) throw api_error{400, "bad_request", "the message is not valid UTF-8"};
    if (value.find_first_not_of(" \t\r\n") == std::string::npos) throw api_error{400, "empty_message", "the message is empty"};
    if (utf8_length(value) > options.max_message_chars) {
      throw api_error{400, "message_too_long", "messages are limited to " + std::to_string(options.max_message_chars) + " characters"};
    }
    return value;
  }

  // ---- answers -------------------------------------------------------------------------------

  std::shared_ptr<answer_stream> find_answer(const std::string& message_id, const std::string& reader) {
    std::lock_guard lock(answers_mutex);
    auto it = answers.find(message_id);
    if (it == answers.end() || it->second.reader_id != reader) return nullptr;
    return it->second.stream;
  }

  // Starts a turn on a thread of its own (it blocks on bookmcp and the LLM); returns its stream.
  std::shared_ptr<answer_stream> start_turn(turn_request turn) {
    if (active_turns.load() >= options.max_active_turns) {
      throw api_error{503, "busy", "too many answers are being written; try again shortly", std::chrono::seconds(2)};
    }
    auto stream = std::make_shared<answer_stream>(random_id("m_"));
    {
      std::lock_guard lock(answers_mutex);
      answers[stream->message_id()] = {stream, turn.reader_id, {}};
    }
    ++active_turns;
    std::thread([this, stream, turn = std::move(turn)] {
      try {
        engine.run(turn, *stream);
      } catch (const std::exception& e) {
        spdlog::error("chat turn failed: {}", e.what());
        stream->emit("error", {{"code", "internal"}, {"message", "the answer failed"}});
        stream->finish();
      }
      {
        std::lock_guard lock(answers_mutex);
        if (auto it = answers.find(stream->message_id()); it != answers.end()) it->second.finished_at = std::chrono::steady_clock::now();
      }
      --active_turns;
    }).detach();
    return stream;
  }

  void expire_answers() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(answers_mutex);
    std::erase_if(answers, [&](const auto& entry) {
      const auto& answer = entry.second;
      return answer.finished_at != std::chrono::steady_clock::time_point{} && now - answer.finished_at > options.resumable;
    });
  }

  // ---- routes that answer JSON ---------------------------------------------------------------

  // Runs `work` on the blocking pool and comes back to the connection's executor.
  template <typename F>
  net::awaitable<response_type> off_loop(F work) {
    auto here = co_await net::this_coro::executor;
    co_await net::post(blocking, net::use_awaitable);
    std::optional<response_type> out;
    std::exception_ptr failure;
    try {
      out.emplace(work());
    } catch (...) {
      failure = std::current_exception();
    }
    co_await net::post(here, net::use_awaitable);
    if (failure) std::rethrow_exception(failure);
    co_return std::move(*out);
  }

  json session_json(const reader_session& session) const {
    return {{"access_token", session.access_token},
            {"refresh_token", session.refresh_token},
            {"expires_in", session.expires_in.count()},
            {"reader_id", session.reader_id}};
  }

  response_type ready(const request_type& request) {
    json checks = json::object();
    const std::string bookmcp = mcp.probe();
    const std::string database = store.probe();
    checks["bookmcp"] = bookmcp.empty() ? json{{"status", "up"}} : json{{"status", "down"}, {"reason", bookmcp}};
    checks["database"] = database.empty() ? json{{"status", "up"}} : json{{"status", "down"}, {"reason", database}};
    std::string llm_problem;
    if (llm) {
      llm_problem = llm->probe();
      checks["llm"] = llm_problem.empty() ? json{{"status", "up"}} : json{{"status", "down"}, {"reason", llm_problem}};
    } else {
      checks["llm"] = {{"status", "not_configured"}, {"mode", "extractive"}};
    }
    const bool unhealthy = !bookmcp.empty() || !database.empty();
    const std::string overall = unhealthy ? "unhealthy" : llm_problem.empty() ? "healthy" : "degraded";
    return json_response(request, unhealthy ? 503 : 200, {{"overall_status", overall}, {"checks", checks}});
  }

  response_type todo_button(const request_type& request, const std::string& reader, const std::string& todo_id, bool complete) {
    auto client = mcp.client_for(reader);
    mcp::request_options quick;
    quick.timeout = std::chrono::seconds(15);
    const json result = client->call_tool(complete ? "todo_complete" : "todo_reopen", {{"id", todo_id}}, quick);
    if (result.value("isError", false)) {
      std::string message;
      for (const auto& item : result.value("content", json::array())) message += item.value("text", "");
      metrics.tool_call(complete ? "todo_complete" : "todo_reopen", "error");
      return error_response(request, {404, "todo_not_found", message});
    }
    metrics.tool_call(complete ? "todo_complete" : "todo_reopen", "ok");
    return json_response(request, 200, {{"todo", result["structuredContent"].value("todo", json::object())}});
  }

  // The one-shot JSON chat: {"query", "session_id"} → {"answer", "sources", "mode"}.
  response_type one_shot(const request_type& request, const std::string& ip) {
    const json body = body_of(request);
    const std::string token = bearer(request);
    std::optional<std::string> reader = token.empty() ? std::nullopt : tokens.reader_of(token);
    if (!token.empty() && !reader) throw api_error{401, "unauthorized", "the bearer token is not valid"};
    const std::string text = message_text(body.value("query", json()));
    const json session = body.value("session_id", json());
    if (!session.is_null() && (!session.is_string() || session.get<std::string>().empty() || session.get<std::string>().size() > 200)) {
      throw api_error{400, "bad_request", "session_id must be a string of 1 to 200 characters"};
    }
    turn_request turn;
    turn.todos_allowed = reader.has_value();
    turn.reader_id = reader.value_or("anonymous");
    limit_chat(turn.reader_id, ip);
    turn.conversation_id = session.is_string()
                               ? "s_" + transport::sha256_hex(turn.reader_id + "\n" + session.get<std::string>()).substr(0, 32)
                               : random_id("c_");
    if (auto owner = store.owner_of(turn.conversation_id); owner && *owner != turn.reader_id) {
      throw api_error{404, "conversation_not_found", "no such conversation"};
    }
    turn.title = first_chars(text, 80);
    turn.user_message_id = random_id("u_");
    turn.text = text;
    turn.time_zone = body.value("time_zone", std::string("UTC"));
    answer_stream stream(random_id("m_"));
    const turn_outcome outcome = engine.run(turn, stream);
    if (outcome.finish_reason == "error") {
      const int status = outcome.error_code == "llm_rate_limited" ? 429 : 503;
      throw api_error{status, outcome.error_code, "the answer failed: " + outcome.error_code};
    }
    json sources = json::array();
    for (const auto& c : outcome.citations) sources.push_back({{"n", c["n"]}, {"url", c["url"]}, {"title", c["title"]}, {"heading_path", c["heading_path"]}});
    return json_response(request, 200, {{"answer", outcome.text}, {"sources", sources}, {"mode", outcome.mode},
                                        {"session_id", session}, {"message_id", stream.message_id()}});
  }

  // A POST /api/chat body as a turn (checks ownership of the conversation).
  turn_request chat_turn(const json& body, const std::string& reader) {
    turn_request turn;
    turn.reader_id = reader;
    const json message = body.value("message", json());
    if (!message.is_object()) throw api_error{400, "bad_request", "message must be an object with a text"};
    turn.text = message_text(message.value("text", json()));
    const json conversation = body.value("conversation_id", json());
    if (conversation.is_string() && !conversation.get<std::string>().empty()) {
      turn.conversation_id = conversation.get<std::string>();
      auto owner = store.owner_of(turn.conversation_id);
      if (!owner || *owner != reader) throw api_error{404, "conversation_not_found", "no such conversation"};
    } else if (conversation.is_null() || conversation.is_string()) {
      turn.conversation_id = random_id("c_");
    } else {
      throw api_error{400, "bad_request", "conversation_id must be a string or null"};
    }
    turn.title = first_chars(turn.text, 80);
    turn.user_message_id = random_id("u_");
    const json context = body.value("context", json::object());
    if (!context.is_object()) throw api_error{400, "bad_request", "context must be an object"};
    for (const char* field : {"url", "title", "anchor", "selection"}) {
      if (context.contains(field) && context[field].is_string()) {
        turn.context[field] = first_chars(context[field].get<std::string>(), field == std::string("selection") ? 4000 : 500);
      }
    }
    const json zone = body.value("time_zone", json("UTC"));
    turn.time_zone = zone.is_string() && !zone.get<std::string>().empty() && zone.get<std::string>().size() < 64 ? zone.get<std::string>() : "UTC";
    return turn;
  }

  // ---- the connection ------------------------------------------------------------------------

  net::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    beast::error_code ignored;
    const std::string ip = stream.socket().remote_endpoint(ignored).address().to_string();
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(16 * 1024);
      stream.expires_after(std::chrono::seconds(60));
      auto [error, bytes] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      if (error == http::error::body_limit) {
        request_type head = parser.get();
        auto response = error_response(head, {413, "body_too_large", "the body is over " + std::to_string(options.max_body_bytes) + " bytes"});
        response.keep_alive(false);
        co_await http::async_write(stream, response, net::as_tuple(net::use_awaitable));
        break;
      }
      if (error) break;
      request_type request = parser.release();
      stream.expires_never();
      const auto route = segments(request.target());
      std::string route_name = route.empty() ? "/" : "/" + route[0];
      if (route.size() >= 2 && route[0] == "api") route_name = "/api/" + route[1];

      // The streamed routes hand the connection over and close it when the answer ends.
      std::shared_ptr<answer_stream> to_stream;
      std::uint64_t after = 0;
      bool owns_answer = false;
      std::optional<response_type> response;
      try {
        if (request.method() == http::verb::options) {
          response = preflight(request);
        } else {
          check_origin(request);
          if (request.method() == http::verb::post && route == std::vector<std::string>{"api", "chat"}) {
            const std::string reader = reader_of(request);
            const json body = body_of(request);
            limit_chat(reader, ip);
            turn_request turn = co_await off_loop_value([&] { return chat_turn(body, reader); });
            to_stream = start_turn(std::move(turn));
            to_stream->try_open_stream(options.max_streams_per_answer);  // the first: always
            owns_answer = true;
          } else if (request.method() == http::verb::get && route.size() == 4 && route[0] == "api" && route[1] == "chat" && route[3] == "events") {
            const std::string reader = reader_of(request);
            auto answer = find_answer(route[2], reader);
            if (!answer) throw api_error{404, "answer_not_found", "no such answer (or it is too old to resume)"};
            const std::string last(request["Last-Event-ID"]);
            if (!last.empty()) {
              auto seq = answer->sequence_of(last);
              if (!seq) throw api_error{400, "bad_request", "Last-Event-ID does not name an event of this answer"};
              after = *seq;
            }
            if (!answer->try_open_stream(options.max_streams_per_answer)) {
              throw api_error{429, "too_many_streams",
                              "this answer is open in " + std::to_string(options.max_streams_per_answer) +
                                  " streams already; close one to open another"};
            }
            to_stream = std::move(answer);
          } else {
            response = co_await route_plain(request, route, ip);
          }
        }
      } catch (const api_error& e) {
        response = error_response(request, e);
      } catch (const mcp_unavailable& e) {
        response = error_response(request, {503, "bookmcp_unavailable", e.what()});
      } catch (const chat_store_error& e) {
        response = error_response(request, {503, "storage_unavailable", e.what()});
      } catch (const std::exception& e) {
        spdlog::error("{} {} failed: {}", std::string(request.method_string()), route_name, e.what());
        response = error_response(request, {500, "internal", "the request failed"});
      }
      if (to_stream) {
        metrics.request(route_name, 200);
        co_await stream_answer(stream, request, to_stream, after, owns_answer);
        break;
      }
      metrics.request(route_name, response->result_int());
      const bool keep = response->keep_alive();
      auto [write_error, written] = co_await http::async_write(stream, *response, net::as_tuple(net::use_awaitable));
      if (write_error || !keep) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  template <typename F>
  net::awaitable<decltype(std::declval<F>()())> off_loop_value(F work) {
    auto here = co_await net::this_coro::executor;
    co_await net::post(blocking, net::use_awaitable);
    std::optional<decltype(work())> out;
    std::exception_ptr failure;
    try {
      out.emplace(work());
    } catch (...) {
      failure = std::current_exception();
    }
    co_await net::post(here, net::use_awaitable);
    if (failure) std::rethrow_exception(failure);
    co_return std::move(*out);
  }

  void check_origin(const request_type& request) const {
    const auto origin = request[http::field::origin];
    if (origin.empty()) return;  // not a browser's cross-origin request
    if (!options.allowed_origin.empty() && origin == options.allowed_origin) return;
    const auto target = request.target();
    const bool is_api = target.starts_with("/api/") || target == "/chat";
    if (is_api) throw api_error{403, "origin_not_allowed", "this origin may not use the chat backend"};
  }

  response_type preflight(const request_type& request) const {
    const auto origin = request[http::field::origin];
    if (options.allowed_origin.empty() || origin != options.allowed_origin) {
      return error_response(request, {403, "origin_not_allowed", "this origin may not use the chat backend"});
    }
    response_type response{http::status::no_content, request.version()};
    add_cors(request, response);
    response.set(http::field::access_control_allow_methods, "GET, POST, DELETE, OPTIONS");
    response.set(http::field::access_control_allow_headers, "Authorization, Content-Type, Last-Event-ID");
    response.set(http::field::access_control_max_age, "600");
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
  }

  net::awaitable<response_type> route_plain(const request_type& request, const std::vector<std::string>& route, const std::string& ip) {
    const auto method = request.method();
    const bool get = method == http::verb::get;
    const bool post = method == http::verb::post;
    if (get && route == std::vector<std::string>{"health"}) co_return json_response(request, 200, {{"status", "ok"}});
    if (get && route == std::vector<std::string>{"ready"}) co_return co_await off_loop([&] { return ready(request); });
    if (get && route == std::vector<std::string>{"metrics"}) {
      response_type response = json_response(request, 200, json());
      response.set(http::field::content_type, "text/plain; version=0.0.4");
      response.body() = metrics.render(mcp.open_sessions());
      response.prepare_payload();
      co_return response;
    }
    if (get && route.size() == 1 && (route[0] == "widget.js" || route[0] == "widget.css" || route[0] == "widget.js.map")) {
      co_return static_file(request, route[0]);
    }
    if (post && route == std::vector<std::string>{"chat"}) {
      co_return co_await off_loop([&] { return one_shot(request, ip); });
    }
    if (route.empty() || route[0] != "api") throw api_error{404, "not_found", "no such route"};
    if (post && route == std::vector<std::string>{"api", "session"}) {
      limit_chat("session:" + ip, ip);  // sessions are cheap to ask for, not free
      co_return json_response(request, 200, session_json(tokens.open_session()));
    }
    if (post && route == std::vector<std::string>{"api", "session", "refresh"}) {
      const json body = body_of(request);
      const json token = body.value("refresh_token", json());
      auto session = token.is_string() ? tokens.refresh(token.get<std::string>()) : std::nullopt;
      if (!session) throw api_error{401, "unauthorized", "the refresh token is not valid; start a new session"};
      co_return json_response(request, 200, session_json(*session));
    }
    const std::string reader = reader_of(request);
    if (post && route.size() == 4 && route[1] == "chat" && route[3] == "cancel") {
      auto answer = find_answer(route[2], reader);
      if (!answer) throw api_error{404, "answer_not_found", "no such answer"};
      answer->request_stop();
      co_return json_response(request, 202, {{"cancelled", !answer->finished()}});
    }
    if (route.size() >= 2 && route[1] == "conversations") {
      if (get && route.size() == 2) {
        co_return co_await off_loop([&] {
          json list = json::array();
          for (const auto& c : store.conversations(reader)) list.push_back(c.to_json());
          return json_response(request, 200, {{"conversations", list}});
        });
      }
      if (get && route.size() == 3 && route[2] == "export") {
        co_return co_await off_loop([&] {
          json all = json::array();
          for (const auto& c : store.conversations(reader)) {
            if (auto full = store.conversation(reader, c.id)) all.push_back(*full);
          }
          response_type response = json_response(request, 200, {{"reader_id", reader}, {"conversations", all}});
          response.set(http::field::content_disposition, "attachment; filename=\"conversations.json\"");
          return response;
        });
      }
      if (get && route.size() == 3) {
        co_return co_await off_loop([&] {
          auto full = store.conversation(reader, route[2]);
          if (!full) throw api_error{404, "conversation_not_found", "no such conversation"};
          return json_response(request, 200, *full);
        });
      }
      if (method == http::verb::delete_ && route.size() == 3) {
        co_return co_await off_loop([&] {
          if (!store.remove_conversation(reader, route[2])) throw api_error{404, "conversation_not_found", "no such conversation"};
          response_type response{http::status::no_content, request.version()};
          add_cors(request, response);
          response.keep_alive(request.keep_alive());
          response.prepare_payload();
          return response;
        });
      }
    }
    if (post && route.size() == 4 && route[1] == "messages" && route[3] == "feedback") {
      const json body = body_of(request);
      const json rating = body.value("rating", json());
      if (rating != "up" && rating != "down") throw api_error{400, "bad_request", "rating must be \"up\" or \"down\""};
      const json reason = body.value("reason", json(""));
      if (!reason.is_string() || utf8_length(reason.get<std::string>()) > 1000) throw api_error{400, "bad_request", "reason must be a string of at most 1000 characters"};
      co_return co_await off_loop([&] {
        if (!store.save_feedback(reader, route[2], rating.get<std::string>(), reason.get<std::string>())) {
          throw api_error{404, "message_not_found", "no such answer"};
        }
        response_type response{http::status::no_content, request.version()};
        add_cors(request, response);
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        return response;
      });
    }
    if (post && route.size() == 4 && route[1] == "todos" && (route[3] == "complete" || route[3] == "reopen")) {
      co_return co_await off_loop([&] { return todo_button(request, reader, route[2], route[3] == "complete"); });
    }
    throw api_error{404, "not_found", "no such route"};
  }

  response_type static_file(const request_type& request, const std::string& name) const {
    const auto file = std::filesystem::path(options.widget_dir) / name;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return error_response(request, {404, "widget_not_built", "the widget is not built (" + name + " is missing from " +
                                                                    options.widget_dir + "): run npm ci && npm run build in examples/chat/widget"});
    }
    std::ostringstream content;
    content << in.rdbuf();
    response_type response{http::status::ok, request.version()};
    response.set(http::field::content_type, content_type_of(file));
    response.set(http::field::cache_control, "public, max-age=300");
    response.set(http::field::access_control_allow_origin, "*");  // a script any page may load
    response.body() = content.str();
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    return response;
  }

  // ---- streaming an answer -------------------------------------------------------------------

  // Writes the answer's events as a chunked text/event-stream until it ends or the reader
  // goes away. A dropped stream of the POST that asked stops the answer unless a resumed
  // stream takes it over within orphan_grace.
  net::awaitable<void> stream_answer(beast::tcp_stream& stream, const request_type& request,
                                     std::shared_ptr<answer_stream> answer, std::uint64_t after, bool owns_answer) {
    // The route opened this stream on the answer (try_open_stream); it closes with us.
    struct stream_slot {
      answer_stream& answer;
      ~stream_slot() { answer.close_stream(); }
    } slot{*answer};
    auto executor = co_await net::this_coro::executor;
    struct mailbox {
      std::mutex mutex;
      std::string pending;
      bool finished = false;
      net::steady_timer wake;
      explicit mailbox(net::any_io_executor e) : wake(e) {}
    };
    auto box = std::make_shared<mailbox>(executor);
    const auto handle = answer->subscribe(after, [box](std::string wire, bool finished) {
      {
        std::lock_guard lock(box->mutex);
        box->pending += wire;
        box->finished = box->finished || finished;
      }
      net::post(box->wake.get_executor(), [box] { box->wake.cancel(); });
    });
    metrics.stream_opened();

    std::ostringstream head;
    head << "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n";
    if (!options.allowed_origin.empty() && request[http::field::origin] == options.allowed_origin) {
      head << "Access-Control-Allow-Origin: " << options.allowed_origin << "\r\nVary: Origin\r\n";
    }
    head << "\r\n";
    std::string out = head.str();
    auto chunk = [](const std::string& data) {
      std::ostringstream framed;
      framed << std::hex << data.size() << "\r\n" << data << "\r\n";
      return framed.str();
    };

    // A read that ends when the reader closes the connection.
    auto gone = std::make_shared<std::atomic<bool>>(false);
    net::co_spawn(executor, [&stream, gone, box]() -> net::awaitable<void> {
      char byte[256];
      for (;;) {
        auto [error, n] = co_await stream.socket().async_read_some(net::buffer(byte), net::as_tuple(net::use_awaitable));
        if (error) break;
      }
      *gone = true;
      box->wake.cancel();
    }, net::detached);

    bool ended = false;
    while (!*gone) {
      auto [write_error, written] = co_await net::async_write(stream, net::buffer(out), net::as_tuple(net::use_awaitable));
      if (write_error) break;
      if (ended) break;
      bool waiting = false;
      {
        std::lock_guard lock(box->mutex);
        waiting = box->pending.empty() && !box->finished;
      }
      // A wake-up posted before the wait began would be lost: wait only when nothing is there.
      boost::system::error_code timer_error = net::error::operation_aborted;
      if (waiting) {
        box->wake.expires_after(options.keep_alive);
        std::tie(timer_error) = co_await box->wake.async_wait(net::as_tuple(net::use_awaitable));
      }
      std::string data;
      {
        std::lock_guard lock(box->mutex);
        data.swap(box->pending);
        ended = box->finished;
      }
      if (!timer_error && data.empty()) data = ": keep-alive\n\n";
      out = data.empty() ? std::string() : chunk(data);
      if (ended) out += "0\r\n\r\n";
    }
    answer->unsubscribe(handle);
    metrics.stream_closed();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    if (owns_answer && !answer->finished()) {
      // The reader went away mid-answer. Stop, unless a resumed stream picks it up in time.
      auto grace = std::make_shared<net::steady_timer>(executor, options.orphan_grace);
      grace->async_wait([grace, answer](const beast::error_code&) {
        if (answer->listeners() == 0) answer->request_stop();
      });
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [error, socket] = co_await acceptor->async_accept(net::make_strand(io), net::as_tuple(net::use_awaitable));
      if (error) {
        if (stopped) co_return;
        continue;
      }
      socket.set_option(tcp::no_delay(true));
      transport::set_send_stall_timeout(socket.native_handle(), options.send_stall_timeout);
      auto executor = socket.get_executor();
      net::co_spawn(executor, serve(std::move(socket)), net::detached);
    }
  }

  void schedule_housekeeping() {
    housekeeping->expires_after(std::chrono::seconds(30));
    housekeeping->async_wait([this](const beast::error_code& error) {
      if (error || stopped) return;
      net::post(blocking, [this] {
        mcp.close_idle();
        expire_answers();
        purge();
      });
      schedule_housekeeping();
    });
  }

  void purge() {
    if (options.retention_days <= 0) return;
    try {
      const auto cutoff = unix_millis_now() - static_cast<std::int64_t>(options.retention_days) * 86'400'000;
      if (const auto n = store.purge_before(cutoff)) spdlog::info("purged {} conversations older than {} days", n, options.retention_days);
    } catch (const std::exception& e) {
      spdlog::warn("purging old conversations failed: {}", e.what());
    }
  }
};

chat_server::chat_server(chat_server_options options, chat_engine& engine, chat_store& store, reader_tokens& tokens,
                         mcp_pool& mcp, llm_client* llm, chat_metrics& metrics)
    : impl_(std::make_unique<impl>(std::move(options), engine, store, tokens, mcp, llm, metrics)) {}

chat_server::~chat_server() {
  shutdown();
}

void chat_server::start() {
  auto& state = *impl_;
  beast::error_code error;
  const auto address = net::ip::make_address(state.options.host, error);
  if (error) throw std::runtime_error("cannot listen on " + state.options.host + ": not an IP address");
  state.acceptor.emplace(state.io);
  const tcp::endpoint endpoint(address, state.options.port);
  state.acceptor->open(endpoint.protocol());
  state.acceptor->set_option(net::socket_base::reuse_address(true));
  state.acceptor->bind(endpoint, error);
  if (error) {
    throw std::runtime_error("cannot listen on " + state.options.host + ":" + std::to_string(state.options.port) + ": " + error.message());
  }
  state.acceptor->listen(net::socket_base::max_listen_connections);
  state.purge();
  state.housekeeping.emplace(state.io);
  state.schedule_housekeeping();
  net::co_spawn(state.io, state.accept_loop(), net::detached);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, state.options.io_threads); ++i) {
    state.threads.emplace_back([&state] { state.io.run(); });
  }
}

unsigned short chat_server::port() const {
  return impl_->acceptor ? impl_->acceptor->local_endpoint().port() : 0;
}

void chat_server::run_until_signal() {
  net::io_context signals_context;
  net::signal_set signals(signals_context, SIGINT, SIGTERM);
  signals.async_wait([](const beast::error_code&, int) {});
  signals_context.run();
  shutdown();
}

void chat_server::shutdown() {
  auto& state = *impl_;
  if (state.stopped.exchange(true)) return;
  {
    std::lock_guard lock(state.answers_mutex);
    for (auto& [id, answer] : state.answers) answer.stream->request_stop();
  }
  // Answers being written get a moment to store what they have.
  for (int i = 0; i < 100 && state.active_turns.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  state.io.stop();
  for (auto& t : state.threads) t.join();
  state.threads.clear();
  state.blocking.join();
}

}  // namespace bookmcp::chat
