// MCP over WebSocket on /mcp (an Upgrade request admitted by admit): the subprotocol check,
// the handshake, then one reader (rate limits, back-pressure) and one writer (the connection's
// outbox) until either side closes.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/websocket.hpp>

#include "transport/detail/http_impl.hpp"

namespace bookmcp::transport {

namespace websocket = beast::websocket;

// ---------------------------------------------------------------------------------------
// WebSocket

namespace {

// Whether a WebSocket message is a JSON-RPC batch (an array), by its first character.
bool starts_a_batch(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '[';
}

// The ids of the requests in a batch; none when the text is not a JSON array.
std::vector<mcp::request_id> request_ids_in_batch(std::string_view text) {
  const auto batch = mcp::parse_json_text(text);
  if (!batch || !batch->is_array()) return {};
  return mcp::request_ids(*batch);
}

// The sink of one WebSocket connection: every message goes to the connection's outbox.
class websocket_sink final : public mcp::message_sink {
 public:
  explicit websocket_sink(std::shared_ptr<outbox> box) : box_(std::move(box)) {}
  bool send(std::string message, const mcp::outbound_route& route) override {
    return box_->push(std::move(message), route.type);
  }
  void close() override { box_->close(); }

 private:
  std::shared_ptr<outbox> box_;
};

}  // namespace

net::awaitable<void> http_server::impl::run_websocket(beast::tcp_stream stream,
                                                      http::request<http::string_body> request,
                                                      std::string identity) {
  // The client must offer the "mcp" subprotocol; we answer with it.
  const std::string_view offered = request[http::field::sec_websocket_protocol];
  bool offers_mcp = false;
  for (std::string_view rest = offered; !rest.empty();) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    offers_mcp = offers_mcp || item == "mcp";
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (!offered.empty() && !offers_mcp) {
    reject("subprotocol");
    auto out = json_error(request, http::status::bad_request, -32000,
                          "Bad Request: the WebSocket subprotocol \"mcp\" is required");
    boost::system::error_code error;
    co_await http::async_write(stream, out, net::redirect_error(net::use_awaitable, error));
    co_return;
  }

  websocket::stream<beast::tcp_stream> ws(std::move(stream));
  beast::get_lowest_layer(ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  timeouts.idle_timeout = options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(options.max_message_bytes);
  ws.set_option(websocket::stream_base::decorator([offers_mcp](websocket::response_type& response) {
    response.set(http::field::server, "bookmcp");
    if (offers_mcp) response.set(http::field::sec_websocket_protocol, "mcp");
  }));
  boost::system::error_code error;
  co_await ws.async_accept(request, net::redirect_error(net::use_awaitable, error));
  if (error) co_return;

  auto executor = co_await net::this_coro::executor;
  auto box = std::make_shared<outbox>(executor, options.write_queue_bytes, options.slow_reader_grace);
  // No close frame for a peer that stopped reading: it would wait behind the blocked write.
  const auto slow_reader_guard =
      box->disconnect_on_overflow(disconnect_slow_reader(beast::get_lowest_layer(ws)));
  auto session = server.open_session(std::make_shared<websocket_sink>(box),
                                     {.identity = identity, .transport = "websocket", .session_id = {}});
  // Set by whoever decides to close; shared with the shutdown hook, which may outlive us.
  auto close_reason = std::make_shared<std::optional<websocket::close_reason>>();
  std::uint64_t handle_id;
  {
    std::lock_guard lock(websockets_mutex);
    handle_id = next_websocket++;
    websockets[handle_id].close_going_away = [executor, box, close_reason] {
      net::post(executor, [box, close_reason] {
        if (!*close_reason) *close_reason = websocket::close_reason(websocket::close_code::going_away, "server shutting down");
        box->close();
      });
    };
  }

  // Whether the kernel gave up on a peer that took nothing for send_stall_timeout: the reader or
  // the writer, whichever asks first, gets ETIMEDOUT (the other then sees the connection closed).
  bool stalled = false;

  // Writer: drains the outbox; a closed outbox ends the connection with the chosen reason.
  // While answers queue up behind the one being written the socket is corked, so that a
  // backlog leaves in full segments rather than one packet (and one ACK) per message.
  auto writer = [&]() -> net::awaitable<void> {
    bool corked = false;
    const auto cork = [&](bool on) {
      const int value = on ? 1 : 0;
      ::setsockopt(beast::get_lowest_layer(ws).socket().native_handle(), IPPROTO_TCP, TCP_CORK, &value,
                   sizeof value);
      corked = on;
    };
    for (;;) {
      auto message = co_await box->pop();
      if (!message) break;
      if (!corked && box->backlog()) cork(true);
      ws.text(true);
      boost::system::error_code write_error;
      co_await ws.async_write(net::buffer(message->text), net::redirect_error(net::use_awaitable, write_error));
      if (write_error) {
        stalled = stalled || write_error == net::error::timed_out;
        box->close();
        co_return;
      }
      if (corked && !box->backlog()) cork(false);
    }
    if (corked) cork(false);
    if (box->overflowed()) co_return;  // disconnected (see slow_reader_guard)
    if (!*close_reason) *close_reason = websocket::close_reason(websocket::close_code::normal);
    boost::system::error_code close_error;
    co_await ws.async_close(**close_reason, net::redirect_error(net::use_awaitable, close_error));
  };

  auto reader = [&]() -> net::awaitable<void> {
    beast::flat_buffer buffer;
    for (;;) {
      // Back-pressure: do not take new work while the peer is not reading our answers.
      if (box->backed_up()) co_await box->wait_drained();
      boost::system::error_code read_error;
      co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, read_error));
      if (read_error) {
        stalled = stalled || read_error == net::error::timed_out;
        if (read_error == websocket::error::message_too_big) {
          reject("message_too_big");
          *close_reason = websocket::close_reason(websocket::close_code::too_big, "message exceeds the size limit");
        }
        break;
      }
      if (!ws.got_text()) {
        reject("binary_frame");
        *close_reason = websocket::close_reason(websocket::close_code::unknown_data, "binary frames are not supported; send JSON text");
        break;
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (options.rate_limit > 0) {
        // A batch costs one token per request in it, and is refused whole.
        std::vector<mcp::request_id> batch_requests;
        const bool batch = starts_a_batch(text);
        if (batch) batch_requests = request_ids_in_batch(text);
        const double cost =
            batch ? static_cast<double>(std::max<std::size_t>(1, batch_requests.size())) : 1.0;
        if (auto decision = limiter.acquire(identity, cost); !decision.allowed) {
          // Only requests count: notifications (cancellations) and responses always pass.
          std::optional<mcp::request_id> single;
          if (!batch) {
            mcp::incoming_message parsed = mcp::parse_message(text);
            if (parsed.type != mcp::incoming_message::kind::request) {
              session->handle_message(text);
              continue;
            }
            single = parsed.id;
          } else if (batch_requests.empty()) {
            session->handle_message(text);
            continue;
          }
          reject("rate_limited");
          const mcp::rpc_error refusal =
              decision.retry_after.count() == 0
                  ? mcp::rpc_error(-32000, batch_over_burst_message(cost, limiter.burst()))
                  : mcp::rpc_error(-32000,
                                   "Rate limit exceeded: at most " +
                                       fmt::format("{}", limiter.rate()) +
                                       " requests per second per identity; retry after " +
                                       std::to_string(decision.retry_after.count()) + " ms",
                                   {{"retryAfterMs", decision.retry_after.count()}});
          if (!batch) {
            box->push(mcp::make_error(single, refusal), mcp::outbound_route::kind::response);
          } else {
            std::vector<std::string> answers;
            for (const auto& id : batch_requests) answers.push_back(mcp::make_error(id, refusal));
            box->push(mcp::join_batch(answers), mcp::outbound_route::kind::response);
          }
          continue;
        }
      }
      session->handle_message(text);
    }
    box->close();
  };

  using namespace net::experimental::awaitable_operators;
  co_await (reader() && writer());
  if (stalled) reject("send_stalled");
  // The connection is gone: cancel everything in flight for it.
  session->close();
  std::lock_guard lock(websockets_mutex);
  websockets.erase(handle_id);
}

}  // namespace bookmcp::transport
