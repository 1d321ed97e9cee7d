#include "bench/network/websocket_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>

#include "bench/common/json_scan.hpp"
#include "bench/common/mcp_messages.hpp"

namespace bookmcp::bench::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

net::awaitable<std::string> open_mcp_websocket(websocket_stream& ws, const target_url& url, beast::flat_buffer& buffer,
                                               std::chrono::milliseconds timeout, bool initialize_first) {
  boost::system::error_code error;
  const tcp::endpoint endpoint(net::ip::make_address(url.address), url.port);
  auto& tcp_layer = beast::get_lowest_layer(ws);
  tcp_layer.expires_after(timeout);
  co_await tcp_layer.async_connect(endpoint, net::redirect_error(net::use_awaitable, error));
  if (error) co_return "connect: " + error.message();
  tcp_layer.expires_never();  // from here the websocket timeouts apply
  tcp_layer.socket().set_option(tcp::no_delay(true), error);

  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = timeout;  // also bounds the closing handshake
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(beast::http::field::sec_websocket_protocol, "mcp");
    request.set(beast::http::field::user_agent, "bookmcp_load");
  }));
  websocket::response_type response;
  co_await ws.async_handshake(response, url.host_header(), url.path, net::redirect_error(net::use_awaitable, error));
  if (error) co_return "websocket handshake: " + error.message();
  if (response[beast::http::field::sec_websocket_protocol] != "mcp") {
    co_return "websocket handshake: the server did not accept the \"mcp\" subprotocol";
  }
  ws.text(true);
  if (!initialize_first) co_return std::string();

  const std::string initialize = initialize_request(0);
  co_await ws.async_write(net::buffer(initialize), net::redirect_error(net::use_awaitable, error));
  if (error) co_return "initialize: " + error.message();
  // The answer to id 0; anything else first (a log notification, say) is skipped. A server
  // that never answers is caught by the caller's deadline.
  for (;;) {
    co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, error));
    if (error) co_return "initialize: " + error.message();
    const auto data = buffer.cdata();
    const message_facts facts =
        scan_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer.consume(buffer.size());
    if (facts.id != 0) continue;
    if (!facts.has_result) co_return "initialize was refused";
    break;
  }
  const std::string initialized = initialized_notification();
  co_await ws.async_write(net::buffer(initialized), net::redirect_error(net::use_awaitable, error));
  if (error) co_return "notifications/initialized: " + error.message();
  co_return std::string();
}

}  // namespace bookmcp::bench::detail
