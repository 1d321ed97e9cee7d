#include "tests/chat/chat_fixture.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <random>

#include "app/book_service.hpp"
#include "app/config.hpp"
#include "examples/chat/chat_engine.hpp"
#include "examples/chat/chat_metrics.hpp"
#include "examples/chat/chat_store.hpp"
#include "examples/chat/llm_client.hpp"
#include "examples/chat/mcp_pool.hpp"
#include "examples/chat/reader_tokens.hpp"
#include "examples/chat/sse_reader.hpp"
#include "mcp/memory_connection.hpp"
#include "rag/http_client.hpp"
#include "store/database.hpp"
#include "tools/todo/todo_tools.hpp"
#include "transport/auth.hpp"
#include "transport/http_server.hpp"

namespace bookmcp::chat::testing {

namespace fs = std::filesystem;

temporary_folder::temporary_folder() {
  std::random_device random;
  path_ = fs::temp_directory_path() /
          ("bookmcp-chat-test-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  fs::create_directories(path_);
}

temporary_folder::~temporary_folder() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

// ---- bookmcp ---------------------------------------------------------------------------------

// What bookmcp finished, by tool and outcome: how the tests see a cancellation on its side.
class outcome_recorder final : public mcp::server_observer {
 public:
  void request_finished(const mcp::request_event& event) override {
    if (event.method != "tools/call") return;
    std::lock_guard lock(mutex_);
    ++counts_[std::string(event.tool) + "/" + std::string(event.outcome)];
  }
  void session_opened(std::string_view) override {}
  void session_closed(std::string_view) override {}
  std::size_t count(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(key);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> counts_;
};

struct bookmcp_under_test::state {
  temporary_folder folder;
  std::shared_ptr<outcome_recorder> outcomes = std::make_shared<outcome_recorder>();
  fs::path secret_file;
  std::shared_ptr<store::database> database;
  std::unique_ptr<mcp::server> server;
  std::unique_ptr<app::book_service> book;
  std::unique_ptr<transport::http_server> http;
  unsigned short port = 0;
};

bookmcp_under_test::bookmcp_under_test(std::function<void(mcp::server&)> extra_tools, bool with_book,
                                       std::string es256_public_key_pem)
    : state_(std::make_unique<state>()) {
  auto& s = *state_;
  s.secret_file = s.folder.path() / "mcp-secret";
  std::ofstream(s.secret_file) << mcp_secret;
  const std::string data = (s.folder.path() / "data").string();
  const std::string docs = BOOKMCP_SAMPLE_BOOK_DIR;
  if (with_book) {
    // The book indexed first, as `bookmcp index` does, so searches find it at once.
    const app::config index = app::load_config({"index", docs, "--data-dir", data}, {});
    if (app::run_index_command(index) != 0) throw std::runtime_error("indexing the sample book failed");
  }
  const app::config settings =
      app::load_config(with_book ? std::vector<std::string>{"--docs", docs, "--data-dir", data}
                                 : std::vector<std::string>{"--data-dir", data},
                       {});
  store::sqlite_options database;
  database.data_dir = data;
  s.database = store::open_sqlite(database);
  mcp::server_options options;
  options.name = "bookmcp";
  options.version = "test";
  options.validate_output = true;
  options.observer = s.outcomes;
  s.server = std::make_unique<mcp::server>(options);
  tools::register_todo_tools(*s.server, s.database, {});
  if (with_book) {
    s.book = std::make_unique<app::book_service>(settings, s.database->documents());
    s.book->register_with(*s.server);
  }
  if (extra_tools) extra_tools(*s.server);
  transport::listen_options listen;
  listen.port = 0;
  transport::jwt_options jwt;
  jwt.key = es256_public_key_pem.empty() ? std::string(mcp_secret) : es256_public_key_pem;
  jwt.algorithm = es256_public_key_pem.empty() ? "HS256" : "ES256";
  listen.auth = transport::make_jwt_authenticator(jwt);
  listen.shutdown_grace = std::chrono::milliseconds(200);  // "bookmcp went away" means at once
  listen.metrics = std::make_shared<transport::metrics>(false);
  s.http = std::make_unique<transport::http_server>(*s.server, listen);
  s.http->start();
  s.port = s.http->port();
}

bookmcp_under_test::~bookmcp_under_test() {
  stop();
}

unsigned short bookmcp_under_test::port() const {
  return state_->port;
}

std::size_t bookmcp_under_test::calls_finished(const std::string& tool, const std::string& outcome) const {
  return state_->outcomes->count(tool + "/" + outcome);
}

const fs::path& bookmcp_under_test::secret_file() const {
  return state_->secret_file;
}

void bookmcp_under_test::stop() {
  if (state_->http) state_->http->shutdown();
  state_->http.reset();
}

json bookmcp_under_test::call_as(const std::string& reader, const std::string& tool, const json& arguments) {
  mcp::session_options session;
  session.identity = reader;
  mcp::memory_connection connection(*state_->server, session);
  connection.client().initialize();
  return connection.client().call_tool(tool, arguments);
}

// ---- the chat backend ------------------------------------------------------------------------

struct chat_under_test::state {
  temporary_folder folder;
  std::unique_ptr<chat_store> store;
  std::unique_ptr<reader_tokens> tokens;
  std::unique_ptr<mcp_pool> pool;
  std::unique_ptr<llm_client> llm;
  chat_metrics metrics;
  std::unique_ptr<chat_engine> engine;
  std::unique_ptr<chat_server> server;
};

chat_under_test::chat_under_test(chat_setup setup) : state_(std::make_unique<state>()) {
  auto& s = *state_;
  s.store = setup.database_url.empty() ? open_sqlite_chat_store((s.folder.path() / "chat.sqlite3").string())
                                       : open_postgres_chat_store(setup.database_url);
  s.tokens = std::make_unique<reader_tokens>(chat_secret);
  mcp_pool_options pool;
  pool.url = setup.mcp_url;
  pool.connect_timeout = std::chrono::seconds(5);
  pool.attempts = 2;
  s.pool = std::make_unique<mcp_pool>(pool, setup.private_key_file.empty()
                                                ? mcp_token_minter::from_secret_file(setup.secret_file)
                                                : mcp_token_minter::from_private_key_file(setup.private_key_file));
  if (!setup.llm_base_url.empty()) {
    llm_options llm;
    llm.base_url = setup.llm_base_url;
    llm.model = setup.llm_model;
    llm.timeout = std::chrono::seconds(30);
    s.llm = std::make_unique<llm_client>(llm);
  }
  engine_options engine;
  engine.tool_timeout = std::chrono::seconds(20);
  s.engine = std::make_unique<chat_engine>(engine, *s.pool, *s.store, s.llm.get(), s.metrics);
  chat_server_options server;
  server.port = 0;
  server.allowed_origin = setup.allowed_origin;
  server.chat_per_minute = setup.chat_per_minute;
  server.orphan_grace = setup.orphan_grace;
  server.max_streams_per_answer = setup.max_streams_per_answer;
  server.widget_dir = (s.folder.path() / "widget").string();
  fs::create_directories(server.widget_dir);
  std::ofstream(fs::path(server.widget_dir) / "widget.js") << "/* the widget */";
  s.server = std::make_unique<chat_server>(server, *s.engine, *s.store, *s.tokens, *s.pool, s.llm.get(), s.metrics);
  s.server->start();
}

chat_under_test::~chat_under_test() {
  state_->server->shutdown();
}

unsigned short chat_under_test::port() const {
  return state_->server->port();
}

// ---- the client ------------------------------------------------------------------------------

std::string http_answer::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() &&
        std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return value;
    }
  }
  return "";
}

http_answer chat_client::send(const std::string& method, const std::string& target, const std::string& body,
                              std::vector<std::pair<std::string, std::string>> headers) {
  rag::http_client client(base_);
  rag::http_request request;
  request.method = method;
  request.target = target;
  request.body = body;
  request.headers = std::move(headers);
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  request.timeout = std::chrono::seconds(60);
  const rag::http_response response = client.send(request);
  http_answer out;
  out.status = response.status;
  out.text = response.body;
  out.content_type = response.content_type;
  out.headers = response.headers;
  if (response.content_type.starts_with("application/json") && !response.body.empty()) {
    out.body = json::parse(response.body);
  }
  return out;
}

http_answer chat_client::send_json(const std::string& method, const std::string& target, const json& body,
                                   const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return send(method, target, body.is_null() ? "" : body.dump(), headers);
}

json chat_client::open_session() {
  const http_answer answer = send("POST", "/api/session");
  EXPECT_EQ(answer.status, 200) << answer.text;
  return answer.body;
}

namespace {
struct stop_reading {};
}  // namespace

std::vector<sse_item> chat_client::stream(const std::string& method, const std::string& target, const std::string& body,
                                          std::vector<std::pair<std::string, std::string>> headers,
                                          const std::function<bool(const sse_item&)>& on_event, int* status) {
  rag::http_client client(base_);
  rag::http_request request;
  request.method = method;
  request.target = target;
  request.body = body;
  request.headers = std::move(headers);
  request.headers.emplace_back("Content-Type", "application/json");
  request.timeout = std::chrono::seconds(60);
  std::vector<sse_item> events;
  sse_reader reader;
  request.on_body = [&](std::string_view piece) {
    for (auto& event : reader.feed(piece)) {
      sse_item item{event.id.value_or(""), event.type, json::parse(event.data)};
      events.push_back(item);
      if (on_event && !on_event(item)) throw stop_reading{};
    }
  };
  try {
    const rag::http_response response = client.send(request);
    if (status) *status = response.status;
    if (response.status != 200) {
      events.push_back({"", "http_error", response.body.empty() ? json() : json::parse(response.body)});
    }
  } catch (const stop_reading&) {
    if (status) *status = 200;
  }
  return events;
}

std::vector<sse_item> chat_client::chat(const std::string& token, const json& body,
                                        const std::function<bool(const sse_item&)>& on_event, int* status) {
  return stream("POST", "/api/chat", body.dump(), {{"Authorization", "Bearer " + token}}, on_event, status);
}

json chat_body(const std::string& text, const std::string& conversation_id) {
  json body = {{"message", {{"id", "client-1"}, {"text", text}}},
               {"context", {{"url", "http://site.test/docs/intro"}, {"title", "Introduction"}, {"anchor", ""}}},
               {"time_zone", "Europe/Berlin"}};
  body["conversation_id"] = conversation_id.empty() ? json(nullptr) : json(conversation_id);
  return body;
}

std::vector<sse_item> of_type(const std::vector<sse_item>& events, const std::string& type) {
  std::vector<sse_item> out;
  for (const auto& e : events) {
    if (e.type == type) out.push_back(e);
  }
  return out;
}

std::string answer_text(const std::vector<sse_item>& events) {
  std::string text;
  for (const auto& e : of_type(events, "token")) text += e.data.value("text", "");
  return text;
}

}  // namespace bookmcp::chat::testing
