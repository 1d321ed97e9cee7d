#include "examples/chat/mcp_pool.hpp"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "examples/chat/sse_reader.hpp"
#include "rag/http_client.hpp"

namespace bookmcp::chat {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using json = nlohmann::json;

namespace {

struct endpoint {
  bool websocket = true;
  std::string host;
  std::string port;
  std::string path;
  std::string base;  // http://host:port (Streamable HTTP only)
};

endpoint parse_endpoint(const std::string& url) {
  endpoint out;
  std::string_view rest = url;
  if (rest.starts_with("ws://")) {
    rest.remove_prefix(5);
  } else if (rest.starts_with("http://")) {
    out.websocket = false;
    rest.remove_prefix(7);
  } else {
    throw std::invalid_argument("the MCP URL " + url +
                                " must start with ws:// (WebSocket) or http:// (Streamable HTTP)");
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  out.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (out.host.empty() || out.port.empty()) {
    throw std::invalid_argument("the MCP URL " + url + " has no host or port");
  }
  out.base = "http://" + out.host + ":" + out.port;
  return out;
}

}  // namespace

// One MCP session: its client and the channel under it.
struct mcp_pool::link : mcp::message_sink, std::enable_shared_from_this<link> {
  std::shared_ptr<mcp::client> client;
  std::atomic<bool> closed{false};
  std::atomic<std::int64_t> last_used{0};  // steady clock, ms

  void touch() {
    last_used = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  }
  bool alive() const { return !closed.load(); }
};

namespace {

// MCP over one WebSocket connection (subprotocol "mcp", bearer token on the upgrade request).
struct websocket_link final : mcp_pool::link {
  net::strand<net::io_context::executor_type> strand;
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::mutex queue_mutex;
  std::deque<std::string> queue;
  bool writing = false;

  explicit websocket_link(net::io_context& io) : strand(net::make_strand(io)), ws(strand) {}

  bool send(std::string message, const mcp::outbound_route&) override {
    std::lock_guard lock(queue_mutex);
    if (closed) return false;
    queue.push_back(std::move(message));
    if (!writing) {
      writing = true;
      net::co_spawn(strand, write_loop(shared_from_this()), net::detached);
    }
    return true;
  }

  void close() override {
    if (closed.exchange(true)) return;
    net::post(strand, [self = shared_from_this()] {
      auto& me = static_cast<websocket_link&>(*self);
      beast::error_code ignored;
      beast::get_lowest_layer(me.ws).socket().close(ignored);
    });
  }

  static net::awaitable<void> write_loop(std::shared_ptr<mcp_pool::link> self) {
    auto& me = static_cast<websocket_link&>(*self);
    for (;;) {
      std::string next;
      {
        std::lock_guard lock(me.queue_mutex);
        if (me.queue.empty() || me.closed) {
          me.writing = false;
          co_return;
        }
        next = std::move(me.queue.front());
        me.queue.pop_front();
      }
      beast::error_code error;
      co_await me.ws.async_write(net::buffer(next), net::redirect_error(net::use_awaitable, error));
      if (error) {
        me.fail();
        std::lock_guard lock(me.queue_mutex);
        me.writing = false;
        co_return;
      }
    }
  }

  static net::awaitable<void> read_loop(std::shared_ptr<mcp_pool::link> self) {
    auto& me = static_cast<websocket_link&>(*self);
    for (;;) {
      beast::error_code error;
      co_await me.ws.async_read(me.buffer, net::redirect_error(net::use_awaitable, error));
      if (error) break;
      const auto data = me.buffer.cdata();
      const std::string text(static_cast<const char*>(data.data()), data.size());
      me.buffer.consume(me.buffer.size());
      try {
        me.client->handle_message(text);
      } catch (const std::exception&) {
        // A message the client cannot read fails nothing else; the call it answers times out.
      }
    }
    me.fail();
  }

  void fail() {
    closed = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
    client->connection_closed();
  }

  // Connects and upgrades; on the strand.
  net::awaitable<void> connect(endpoint where, std::string bearer,
                               std::chrono::milliseconds timeout) {
    tcp::resolver resolver(strand);
    const auto addresses = co_await resolver.async_resolve(where.host, where.port,
                                                           net::use_awaitable);
    auto& layer = beast::get_lowest_layer(ws);
    layer.expires_after(timeout);
    co_await layer.async_connect(addresses, net::use_awaitable);
    layer.expires_never();
    layer.socket().set_option(tcp::no_delay(true));
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = timeout;
    timeouts.idle_timeout = std::chrono::seconds(60);
    timeouts.keep_alive_pings = true;  // bookmcp closes connections idle for minutes
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator([bearer](websocket::request_type& request) {
      request.set(beast::http::field::sec_websocket_protocol, "mcp");
      request.set(beast::http::field::user_agent, "bookmcp-chat");
      request.set(beast::http::field::authorization, "Bearer " + bearer);
    }));
    websocket::response_type response;
    beast::error_code error;
    co_await ws.async_handshake(response, where.host + ":" + where.port, where.path,
                                net::redirect_error(net::use_awaitable, error));
    if (error) {
      const auto status = response.result_int();
      throw mcp_unavailable(status == 401   ? "bookmcp refused the reader's token (401): does "
                                              "bookmcp trust the chat backend's JWT key?"
                            : status != 0 ? "bookmcp refused the WebSocket upgrade with HTTP " +
                                                std::to_string(status)
                                          : "WebSocket handshake with bookmcp: " + error.message());
    }
    ws.text(true);
    ws.read_message_max(64 * 1024 * 1024);
  }
};

// MCP over Streamable HTTP: each message is one POST; an answer comes as JSON or as an event
// stream on that POST. Each POST runs on a thread of its own so that sending never blocks the
// caller (cancellation must be able to overtake a call in flight).
struct http_link final : mcp_pool::link {
  std::unique_ptr<rag::http_client> http;
  std::string path;
  std::string bearer;
  std::mutex mutex;
  std::string session_id;
  std::string protocol_version;
  bool send(std::string message, const mcp::outbound_route&) override {
    if (closed) return false;
    std::thread([self = shared_from_this(), message = std::move(message)] {
      static_cast<http_link&>(*self).post(message);
    }).detach();
    return true;
  }

  void post(const std::string& message) {
    rag::http_request request;
    request.target = path;
    request.body = message;
    request.timeout = std::chrono::minutes(10);
    request.headers = {{"Content-Type", "application/json"},
                       {"Accept", "application/json, text/event-stream"},
                       {"Authorization", "Bearer " + bearer}};
    {
      std::lock_guard lock(mutex);
      if (!session_id.empty()) request.headers.emplace_back("Mcp-Session-Id", session_id);
      if (!protocol_version.empty())
        request.headers.emplace_back("MCP-Protocol-Version", protocol_version);
    }
    sse_reader events;
    bool streamed = false;
    request.on_body = [&](std::string_view piece) {
      streamed = true;
      for (auto& event : events.feed(piece)) deliver(event.data);
    };
    try {
      const rag::http_response response = http->send(request);
      if (response.status == 404 || response.status == 401) {
        fail();  // the session ended on bookmcp's side: the next use opens a new one
        return;
      }
      if (const std::string id = response.header("Mcp-Session-Id"); !id.empty()) {
        std::lock_guard lock(mutex);
        session_id = id;
      }
      if (!streamed && response.content_type.starts_with("application/json")) {
        deliver(response.body);
      }
    } catch (const std::exception&) {
      fail();
    }
  }

  void deliver(const std::string& text) {
    if (text.empty()) return;
    try {
      const json message = json::parse(text);
      if (message.contains("result") && message["result"].contains("protocolVersion")) {
        std::lock_guard lock(mutex);
        protocol_version = message["result"]["protocolVersion"].get<std::string>();
      }
    } catch (const std::exception&) {
    }
    try {
      client->handle_message(text);
    } catch (const std::exception&) {
    }
  }

  void fail() {
    if (closed.exchange(true)) return;
    client->connection_closed();
  }

  void close() override {
    std::string id;
    {
      std::lock_guard lock(mutex);
      if (closed.exchange(true)) return;
      id = session_id;
    }
    client->connection_closed();
    if (id.empty()) return;
    try {  // ends the session on bookmcp's side at once rather than at its idle timeout
      rag::http_request request;
      request.method = "DELETE";
      request.target = path;
      request.timeout = std::chrono::seconds(2);
      request.headers = {{"Mcp-Session-Id", id}, {"Authorization", "Bearer " + bearer}};
      http->send(request);
    } catch (const std::exception&) {
    }
  }
};

// The client's way out: a weak reference, so that a link and its client do not keep each other.
struct forwarding_sink final : mcp::message_sink {
  std::weak_ptr<mcp_pool::link> target;
  bool send(std::string message, const mcp::outbound_route& route) override {
    auto l = target.lock();
    return l && l->send(std::move(message), route);
  }
  void close() override {
    if (auto l = target.lock()) l->close();
  }
};

}  // namespace

struct mcp_pool::impl {
  mcp_pool_options options;
  endpoint where;
  mcp_token_minter minter;
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work{io.get_executor()};
  std::vector<std::thread> threads;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<link>> links;  // by reader id
  std::map<std::string, std::shared_ptr<std::mutex>> opening;  // one opening per reader at a time
  std::atomic<std::size_t> opened{0};
  std::mutex tools_mutex;
  std::shared_ptr<const std::vector<json>> tools;  // tools/list, shared by every reader

  impl(mcp_pool_options o, mcp_token_minter m)
      : options(std::move(o)), where(parse_endpoint(options.url)), minter(std::move(m)) {}

  std::shared_ptr<link> open_link(const std::string& reader_id) {
    const std::string bearer = minter.token_for(reader_id);
    std::shared_ptr<link> made;
    if (where.websocket) {
      auto ws = std::make_shared<websocket_link>(io);
      auto connected = net::co_spawn(ws->strand, ws->connect(where, bearer, options.connect_timeout),
                                     net::use_future);
      if (connected.wait_for(options.connect_timeout * 2) != std::future_status::ready) {
        ws->close();
        throw mcp_unavailable("bookmcp at " + options.url + " did not answer in time");
      }
      try {
        connected.get();
      } catch (const mcp_unavailable&) {
        throw;
      } catch (const std::exception& e) {
        throw mcp_unavailable("cannot reach bookmcp at " + options.url + ": " + e.what());
      }
      made = ws;
    } else {
      auto http = std::make_shared<http_link>();
      http->http = std::make_unique<rag::http_client>(where.base);
      http->path = where.path;
      http->bearer = bearer;
      made = http;
    }
    mcp::client_options client_options;
    client_options.name = "bookmcp-chat";
    client_options.version = BOOKMCP_VERSION;
    client_options.timeout = options.call_timeout;
    auto sink = std::make_shared<forwarding_sink>();
    sink->target = made;
    made->client = std::make_shared<mcp::client>(sink, client_options);
    // bookmcp's tools are the same for every reader: one cached list, dropped when any
    // session hears that it changed.
    made->client->on_notification([this](const std::string& method, const json&) {
      if (method != "notifications/tools/list_changed") return;
      std::lock_guard lock(tools_mutex);
      tools.reset();
    });
    if (where.websocket) {
      auto ws = std::static_pointer_cast<websocket_link>(made);
      net::co_spawn(ws->strand, websocket_link::read_loop(made), net::detached);
    }
    try {
      mcp::request_options quick;
      quick.timeout = options.connect_timeout;
      made->client->request("initialize",
                            {{"protocolVersion", std::string(mcp::latest_protocol_version)},
                             {"capabilities", json::object()},
                             {"clientInfo", {{"name", "bookmcp-chat"}, {"version", BOOKMCP_VERSION}}}},
                            quick);
      made->client->notify("notifications/initialized", json::object());
    } catch (const std::exception& e) {
      made->close();
      throw mcp_unavailable(std::string("bookmcp did not initialize the session: ") + e.what());
    }
    ++opened;
    made->touch();
    return made;
  }

  std::shared_ptr<link> link_for(const std::string& reader_id) {
    std::shared_ptr<std::mutex> gate;
    {
      std::lock_guard lock(mutex);
      if (auto it = links.find(reader_id); it != links.end() && it->second->alive()) {
        it->second->touch();
        return it->second;
      }
      auto& slot = opening[reader_id];
      if (!slot) slot = std::make_shared<std::mutex>();
      gate = slot;
    }
    std::lock_guard one_at_a_time(*gate);
    {
      std::lock_guard lock(mutex);  // another turn of this reader may have opened it meanwhile
      if (auto it = links.find(reader_id); it != links.end() && it->second->alive()) {
        it->second->touch();
        return it->second;
      }
    }
    std::string last_error;
    for (int attempt = 0; attempt < std::max(1, options.attempts); ++attempt) {
      if (attempt > 0) {
        std::this_thread::sleep_for(
            rag::backoff_delay(attempt, std::chrono::milliseconds(100), std::chrono::seconds(2)));
      }
      try {
        auto made = open_link(reader_id);
        std::lock_guard lock(mutex);
        links[reader_id] = made;
        opening.erase(reader_id);
        return made;
      } catch (const mcp_unavailable& e) {
        last_error = e.what();
      }
    }
    throw mcp_unavailable(last_error);
  }
};

mcp_pool::mcp_pool(mcp_pool_options options, mcp_token_minter minter)
    : impl_(std::make_unique<impl>(std::move(options), std::move(minter))) {
  for (std::size_t i = 0; i < std::max<std::size_t>(1, impl_->options.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
}

mcp_pool::~mcp_pool() {
  std::map<std::string, std::shared_ptr<link>> links;
  {
    std::lock_guard lock(impl_->mutex);
    links.swap(impl_->links);
  }
  for (auto& [reader, l] : links) l->close();
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
}

std::shared_ptr<mcp::client> mcp_pool::client_for(const std::string& reader_id) {
  return impl_->link_for(reader_id)->client;
}

std::vector<json> mcp_pool::tools_for(const std::string& reader_id) {
  auto l = impl_->link_for(reader_id);
  {
    std::lock_guard lock(impl_->tools_mutex);
    if (impl_->tools) return *impl_->tools;
  }
  auto tools = std::make_shared<const std::vector<json>>(l->client->list_tools());
  std::lock_guard lock(impl_->tools_mutex);
  impl_->tools = tools;
  return *tools;
}

std::string mcp_pool::probe() {
  try {
    auto l = impl_->link_for("bookmcp-chat:probe");
    mcp::request_options quick;
    quick.timeout = std::chrono::seconds(2);
    l->client->request("ping", json::object(), quick);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

void mcp_pool::close_idle() {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  const auto idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.idle).count();
  std::vector<std::shared_ptr<link>> closing;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto it = impl_->links.begin(); it != impl_->links.end();) {
      if (!it->second->alive() || now - it->second->last_used.load() > idle_ms) {
        closing.push_back(it->second);
        it = impl_->links.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& l : closing) l->close();
}

std::size_t mcp_pool::open_sessions() const {
  std::lock_guard lock(impl_->mutex);
  std::size_t n = 0;
  for (const auto& [reader, l] : impl_->links) n += l->alive();
  return n;
}

std::size_t mcp_pool::sessions_opened() const {
  return impl_->opened.load();
}

}  // namespace bookmcp::chat
