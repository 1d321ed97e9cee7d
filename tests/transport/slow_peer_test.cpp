// Slow peers, through the real listener on port 0 (docs/security.md): a WebSocket client and an
// event-stream client that stop reading the answers are disconnected once their queue stays
// full for slow_reader_grace, and the queue never grows past its cap meanwhile; a client that
// sends a request head a byte at a time (slowloris) is cut off after header_timeout, while
// quiet keep-alive connections wait for the idle timeout.
//
// Nothing here is timed: each test waits for the event itself (the close, the cancellation),
// with testing::hang_guard only as a bound against a hang. The timeouts that must not fire are
// set far past that guard, so that a protection that is missing fails the test.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mcp/channel.hpp"
#include "mcp/server.hpp"
#include "tests/testing/eventually.hpp"
#include "tests/testing/mcp_websocket_client.hpp"
#include "tests/testing/raw_http_client.hpp"
#include "transport/detail/outbox.hpp"
#include "transport/http_server.hpp"
#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::transport {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;
using kind = mcp::outbound_route::kind;

// ---------------------------------------------------------------------------------------
// The outbox alone: what bounds a slow reader's memory.

// A producer that may wait (a worker thread) finds the queue full, waits the grace period, then
// gives up: the outbox overflows, drops what it held and calls its consumer's disconnect. The
// queue never holds more than its cap.
TEST(SlowPeerOutbox, AQueueNobodyDrainsStaysWithinItsCapThenOverflowsAndDisconnects) {
  net::io_context io;  // not running: this thread stands for the strand
  auto box = std::make_shared<detail::outbox>(net::make_strand(io), 4096, 20ms);
  bool disconnected = false;
  const auto guard = box->disconnect_on_overflow([&] { disconnected = true; });
  std::size_t most = 0;
  int accepted = 0;
  while (box->push(std::string(1000, 'x'), kind::notification)) {
    most = std::max(most, box->bytes());
    ++accepted;
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_LE(most, box->limit());
  EXPECT_TRUE(box->overflowed());
  EXPECT_EQ(box->bytes(), 0u) << "an overflowed outbox keeps nothing";
  EXPECT_FALSE(box->push("late", kind::notification));
  io.run();  // the disconnect, posted to the strand
  EXPECT_TRUE(disconnected);
}

// A producer that must not wait (an I/O thread) overshoots the cap at most twice over, then
// the outbox overflows.
TEST(SlowPeerOutbox, AProducerThatMustNotWaitOvershootsAtMostTwiceTheCap) {
  net::io_context io;
  auto box = std::make_shared<detail::outbox>(net::make_strand(io), 4096, 10s);
  const mcp::non_blocking_scope io_thread;
  std::size_t most = 0;
  while (box->push(std::string(1000, 'x'), kind::notification)) most = std::max(most, box->bytes());
  EXPECT_LE(most, 2 * box->limit());
  EXPECT_TRUE(box->overflowed());
  io.run();  // what the overflow posted, before the outbox's timer outlives its io_context
}

// A reader that stops taking requests while the answers are not read (WebSocket back-pressure)
// waits for the queue to drain: a queue drained goes on, one that stays full past the grace
// period overflows and disconnects.
TEST(SlowPeerOutbox, AReaderWaitingForTheQueueToDrainDisconnectsAPeerThatDoesNotRead) {
  const auto spawn = [](const net::any_io_executor& strand, net::awaitable<void> work) {
    net::co_spawn(strand, std::move(work), [](std::exception_ptr failure) {
      if (failure) std::rethrow_exception(failure);
    });
  };
  {
    net::io_context io;
    const net::any_io_executor strand = net::make_strand(io);
    auto box = std::make_shared<detail::outbox>(strand, 4096, 20ms);
    bool disconnected = false;
    const auto guard = box->disconnect_on_overflow([&] { disconnected = true; });
    ASSERT_TRUE(box->push(std::string(3000, 'x'), kind::response));  // over half the cap
    spawn(strand, box->wait_drained());
    io.run();
    EXPECT_TRUE(box->overflowed());
    EXPECT_TRUE(disconnected);
  }
  {
    net::io_context io;
    const net::any_io_executor strand = net::make_strand(io);
    auto box = std::make_shared<detail::outbox>(strand, 4096, 10s);
    ASSERT_TRUE(box->push(std::string(3000, 'x'), kind::response));
    bool drained = false;
    spawn(strand, [](std::shared_ptr<detail::outbox> box, bool& drained) -> net::awaitable<void> {
      co_await box->wait_drained();
      drained = true;
    }(box, drained));
    spawn(strand, [](std::shared_ptr<detail::outbox> box) -> net::awaitable<void> {
      co_await box->pop();
    }(box));
    io.run();
    EXPECT_TRUE(drained);
    EXPECT_FALSE(box->overflowed());
  }
}

// ---------------------------------------------------------------------------------------
// Through the listener.

class SlowPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcp::server_options options;
    options.name = "slow-peer-test";
    options.observer = metrics_;
    server_ = std::make_unique<mcp::server>(options);
    server_->add_tool(mcp_testing::echo_tool());
    mcp::tool_definition flood;
    flood.name = "flood";
    flood.description = "Reports progress, 16 KiB a time, until cancelled.";
    flood.input_schema = {{"type", "object"}};
    flood.handler = [this](mcp::tool_context& context, const json&) -> mcp::tool_result {
      const std::string message(16 * 1024, 'p');
      for (double step = 1; !context.cancelled(); ++step)
        context.report_progress(step, std::nullopt, message);
      call_cancelled_ = true;
      throw mcp::cancelled_error();
    };
    server_->add_tool(std::move(flood));
    mcp::tool_definition one_big_event;
    one_big_event.name = "one_big_event";
    one_big_event.description = "Reports progress once, with 16 MiB, then waits until cancelled.";
    one_big_event.input_schema = {{"type", "object"}};
    one_big_event.handler = [this](mcp::tool_context& context, const json&) -> mcp::tool_result {
      context.report_progress(1, std::nullopt, std::string(16 * 1024 * 1024, 'p'));
      while (!context.cancelled()) std::this_thread::sleep_for(1ms);
      call_cancelled_ = true;
      throw mcp::cancelled_error();
    };
    server_->add_tool(std::move(one_big_event));
  }

  void TearDown() override {
    if (listener_) listener_->shutdown();
  }

  // The idle timeout stays at its 300 s: far past the hang guard.
  void start(listen_options options) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.metrics = metrics_;
    listener_ = std::make_unique<http_server>(*server_, options);
    listener_->start();
  }

  // A queue of 64 KiB that disconnects a peer when it stays full for 200 ms.
  static listen_options small_queue() {
    listen_options options;
    options.write_queue_bytes = 64 * 1024;
    options.slow_reader_grace = 200ms;
    return options;
  }

  // A new connection; for a slow reader, with a small receive buffer, so that the server's
  // writes fill the socket buffers after a few KiB rather than megabytes.
  tcp::socket connect(bool slow_reader = false) {
    tcp::socket socket(io_);
    socket.open(tcp::v4());
    if (slow_reader) socket.set_option(net::socket_base::receive_buffer_size(4096));
    socket.connect({net::ip::make_address("127.0.0.1"), listener_->port()});
    return socket;
  }

  // Whether the server ends the connection (a FIN or a reset) within `guard`, seen without
  // reading: a read would take what the server could not send, and make this a fast reader.
  // (A FIN sent after data this client has not read waits behind it: the server resets a slow
  // reader's connection.)
  static bool closed_by_server(tcp::socket& socket,
                               std::chrono::milliseconds guard = testing::hang_guard) {
    pollfd watch{socket.native_handle(), POLLRDHUP, 0};
    int ready;
    do {
      ready = ::poll(&watch, 1, static_cast<int>(guard.count()));
    } while (ready < 0 && errno == EINTR);
    return ready == 1 && (watch.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  // Reads what the server sent until it ends the connection; false when it has not within the
  // hang guard.
  static bool read_until_closed(tcp::socket& socket) {
    const auto give_up = std::chrono::steady_clock::now() + testing::hang_guard;
    std::vector<char> chunk(64 * 1024);
    while (std::chrono::steady_clock::now() < give_up) {
      pollfd watch{socket.native_handle(), POLLIN, 0};
      if (::poll(&watch, 1, 100) <= 0) continue;
      const ssize_t got = ::recv(socket.native_handle(), chunk.data(), chunk.size(), 0);
      if (got == 0 || (got < 0 && errno != EINTR)) return true;  // the end, or a reset
    }
    return false;
  }

  static json echo_call(int id, const std::string& text) {
    return {{"jsonrpc", "2.0"},
            {"id", id},
            {"method", "tools/call"},
            {"params", {{"name", "echo"}, {"arguments", {{"text", text}}}}}};
  }

  // A new session's id, from an initialize on a connection of its own.
  std::string open_session() {
    testing::raw_http_client client(listener_->port());
    return std::string(client.exchange(mcp_post(testing::initialize_request))["Mcp-Session-Id"]);
  }

  // Sends a call of `tool` in `session` with a progress token, on a new connection that
  // does not read the answer.
  tcp::socket call_without_reading(const std::string& tool, const std::string& session) {
    tcp::socket socket = connect(/*slow_reader=*/true);
    http::write(socket, mcp_post({{"jsonrpc", "2.0"},
                                  {"id", 2},
                                  {"method", "tools/call"},
                                  {"params",
                                   {{"name", tool},
                                    {"arguments", json::object()},
                                    {"_meta", {{"progressToken", "p"}}}}}},
                                 session));
    return socket;
  }

  // A Streamable HTTP POST of `body`, in `session` when one is given.
  static testing::raw_http_request mcp_post(const json& body, const std::string& session = {}) {
    auto request = testing::make_request(http::verb::post, "/mcp", body.dump());
    request.set(http::field::accept, "application/json, text/event-stream");
    if (!session.empty()) request.set("Mcp-Session-Id", session);
    return request;
  }

  // How many times /metrics counts `reason` among the refusals.
  std::string rejected_count(const std::string& reason) {
    testing::raw_http_client client(listener_->port());
    const std::string text =
        client.exchange(testing::make_request(http::verb::get, "/metrics")).body();
    const std::string series = "bookmcp_rejected_requests_total{reason=\"" + reason + "\"} ";
    const auto at = text.find(series);
    if (at == std::string::npos) return "0";
    return text.substr(at + series.size(), text.find('\n', at) - at - series.size());
  }

  net::io_context io_;
  std::shared_ptr<transport::metrics> metrics_ = std::make_shared<transport::metrics>(false);
  std::unique_ptr<mcp::server> server_;
  std::unique_ptr<http_server> listener_;
  std::atomic<bool> call_cancelled_{false};  // of flood or one_big_event
};

// A WebSocket client sends calls whose answers (8 MiB in all) are many times what its queue
// and the socket buffers hold, and never reads them. The server stops reading its requests
// (back-pressure), and once the queue has stayed full for the grace period it closes the
// connection: the writer blocked on that peer would otherwise hold it until the idle timeout.
// Another client is served all along.
TEST_F(SlowPeerTest, AWebSocketClientThatStopsReadingIsDisconnectedAndOthersAreServed) {
  start(small_queue());
  auto other = testing::open_websocket(connect());
  testing::websocket_initialize(*other);
  auto slow = testing::open_websocket(connect(/*slow_reader=*/true));
  testing::websocket_initialize(*slow);
  // Its writes block once the server stops reading: they end with the connection.
  std::thread sender([&] {
    const std::string text(32 * 1024, 'x');
    boost::system::error_code error;
    slow->text(true);
    for (int id = 2; id < 258 && !error; ++id)
      slow->write(net::buffer(echo_call(id, text).dump()), error);
  });
  EXPECT_TRUE(closed_by_server(slow->next_layer())) << "the slow reader is still connected";
  boost::system::error_code ignored;
  slow->next_layer().shutdown(tcp::socket::shutdown_both, ignored);  // ends a blocked write
  sender.join();
  EXPECT_EQ(
      testing::websocket_call(*other, echo_call(2, "still served"))["result"]["content"][0]["text"],
      "still served");
  EXPECT_EQ(rejected_count("slow_reader"), "1");
}

// A POST answered as an event stream (a tool reporting progress, 16 KiB a time) whose client
// does not read it: once the stream's queue has stayed full for the grace period the connection
// is closed and the call cancelled; its session serves other requests.
TEST_F(SlowPeerTest, AnEventStreamThatIsNotReadIsDisconnectedAndItsCallCancelled) {
  start(small_queue());
  const std::string session = open_session();
  ASSERT_FALSE(session.empty());
  tcp::socket slow = call_without_reading("flood", session);
  EXPECT_TRUE(closed_by_server(slow)) << "the stream's slow reader is still connected";
  EXPECT_TRUE(testing::eventually([&] { return call_cancelled_.load(); })) << "the call runs on";
  testing::raw_http_client client(listener_->port());
  const json answer =
      testing::body_of(client.exchange(mcp_post(echo_call(3, "still served"), session)));
  EXPECT_EQ(answer["result"]["content"][0]["text"], "still served");
  EXPECT_EQ(rejected_count("slow_reader"), "1");
}

// A client that stops reading in the middle of one large event, with nothing queued behind it
// (so its queue never overflows), is disconnected when the write has not gone through within
// the idle timeout, and the call is cancelled. The queue's grace period stays far past the
// hang guard: only the write's deadline can end the connection. (That close is a FIN, behind
// the data the client has not read: the client sees it once it reads, after the cancellation.)
TEST_F(SlowPeerTest, AnEventStreamStuckInTheMiddleOfAnEventIsDisconnectedAfterTheIdleTimeout) {
  listen_options options;
  options.idle_timeout = std::chrono::seconds(1);
  options.slow_reader_grace = std::chrono::minutes(10);
  options.send_stall_timeout = 0ms;  // the kernel's own limit (minutes): not this test's subject
  start(options);
  tcp::socket slow = call_without_reading("one_big_event", open_session());
  ASSERT_TRUE(testing::eventually([&] { return call_cancelled_.load(); }))
      << "the stuck stream is still open, and its call runs on";
  EXPECT_TRUE(read_until_closed(slow)) << "the stuck stream's connection is still open";
  EXPECT_EQ(rejected_count("slow_reader"), "0");
}

// Slowloris: a request head that comes a byte at a time is cut off header_timeout after its
// first bytes. Connections between requests wait for the idle timeout (300 s) instead: one
// idle after a request, and one that has sent nothing yet, both quiet for longer than the
// header timeout by the time the slow one is closed, are then served.
TEST_F(SlowPeerTest, ARequestHeadSentAByteAtATimeIsCutOffWhileQuietConnectionsStay) {
  listen_options options;
  options.header_timeout = 500ms;
  start(options);
  const auto healthz = testing::make_request(http::verb::get, "/healthz");
  testing::raw_http_client idle_after_a_request(listener_->port());
  ASSERT_EQ(idle_after_a_request.exchange(healthz).result(), http::status::ok);
  testing::raw_http_client nothing_sent_yet(listener_->port());

  tcp::socket slow = connect();
  net::write(slow, net::buffer(std::string("GET /mcp HTTP/1.1\r\nHo")));
  const std::string rest = "st: 127.0.0.1\r\nX-Slow: " + std::string(8192, 'a');
  // The next byte whenever the server has not closed the connection within 50 ms.
  const auto give_up = std::chrono::steady_clock::now() + testing::hang_guard;
  bool closed = false;
  for (std::size_t next = 0;
       !closed && next < rest.size() && std::chrono::steady_clock::now() < give_up; ++next) {
    closed = closed_by_server(slow, 50ms);
    boost::system::error_code error;
    if (!closed) net::write(slow, net::buffer(&rest[next], 1), error);
    closed = closed || error;
  }
  EXPECT_TRUE(closed) << "a head sent a byte at a time still holds the connection";

  EXPECT_EQ(idle_after_a_request.exchange(healthz).result(), http::status::ok);
  EXPECT_EQ(nothing_sent_yet.exchange(healthz).result(), http::status::ok);
  // Counted once the read's completion runs, which may be after the client saw the close.
  EXPECT_TRUE(testing::eventually([&] { return rejected_count("header_timeout") == "1"; }));
}

// A WebSocket client asks for one message far larger than the socket buffers (a 16 MiB progress
// notification) and stops reading in its middle. Nothing queues behind it, so no queue
// overflows, and the idle timeout (300 s) is far off: the kernel gives up on the zero window
// after send_stall_timeout, and the connection and its call end. The kernel sends no reset when
// it gives up; the client learns of it with its next write. Another client is served all along.
// (Checked by removal: without the option the connection stays until the idle timeout, 300 s.)
TEST_F(SlowPeerTest, AWebSocketClientStuckInTheMiddleOfOneLargeMessageIsDisconnected) {
  listen_options options;
  options.slow_reader_grace = std::chrono::minutes(10);
  options.send_stall_timeout = 500ms;
  start(options);
  auto other = testing::open_websocket(connect());
  testing::websocket_initialize(*other);
  auto slow = testing::open_websocket(connect(/*slow_reader=*/true));
  testing::websocket_initialize(*slow);
  slow->text(true);
  slow->write(net::buffer(json{{"jsonrpc", "2.0"},
                               {"id", 2},
                               {"method", "tools/call"},
                               {"params",
                                {{"name", "one_big_event"},
                                 {"arguments", json::object()},
                                 {"_meta", {{"progressToken", "p"}}}}}}
                              .dump()));
  // The connection's end cancels its call. (It is counted as send_stalled when the reader or the
  // writer is told why; the reader may learn of it as an end of file instead.)
  EXPECT_TRUE(testing::eventually([&] { return call_cancelled_.load(); }))
      << "the stuck writer still holds the connection, and its call runs on";
  boost::system::error_code error;
  net::write(slow->next_layer(), net::buffer(std::string("\x89\x80\0\0\0\0", 6)), error);  // a ping
  EXPECT_TRUE(error || closed_by_server(slow->next_layer())) << "the connection is still open";
  EXPECT_EQ(
      testing::websocket_call(*other, echo_call(2, "still served"))["result"]["content"][0]["text"],
      "still served");
}

// A request body that comes a byte at a time (the slow POST) is cut off: a body must be whole
// within header_timeout plus one second per min_body_rate bytes of it. A large body that comes
// at a good pace is read whole, though it takes three times header_timeout.
TEST_F(SlowPeerTest, ARequestBodySentAByteAtATimeIsCutOffWhileAFastLargeOneIsRead) {
  listen_options options;
  options.header_timeout = 500ms;
  options.min_body_rate = 64 * 1024;
  start(options);

  tcp::socket slow = connect();
  net::write(slow, net::buffer(std::string("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Accept: application/json, text/event-stream\r\n"
                                           "Content-Length: 100000\r\n\r\n{")));
  const auto give_up = std::chrono::steady_clock::now() + testing::hang_guard;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    closed = closed_by_server(slow, 50ms);
    boost::system::error_code error;
    if (!closed) net::write(slow, net::buffer(std::string(" ")), error);
    closed = closed || error;
  }
  EXPECT_TRUE(closed) << "a body sent a byte at a time still holds the connection";
  // Counted once the read's completion runs, which may be after the client saw the close.
  EXPECT_TRUE(testing::eventually([&] { return rejected_count("body_timeout") == "1"; }));

  // About 1 MiB in 64 KiB pieces every 100 ms: 640 KiB/s, ten times the floor, for 1.6 s.
  json initialize = testing::initialize_request;
  initialize["params"]["padding"] = std::string(1024 * 1024, 'x');
  const std::string body = initialize.dump();
  tcp::socket fast = connect();
  net::write(fast, net::buffer("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                               "Accept: application/json, text/event-stream\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n"));
  for (std::size_t sent = 0; sent < body.size(); sent += 64 * 1024) {
    std::this_thread::sleep_for(100ms);  // the pace of the upload, not a wait for an event
    net::write(fast, net::buffer(body.data() + sent, std::min<std::size_t>(64 * 1024, body.size() - sent)));
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> answer;
  boost::system::error_code error;
  http::read(fast, buffer, answer, error);
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(answer.result(), http::status::ok);
  EXPECT_TRUE(json::parse(answer.body()).contains("result")) << answer.body();
  EXPECT_EQ(rejected_count("body_timeout"), "1");
}

}  // namespace
}  // namespace bookmcp::transport
