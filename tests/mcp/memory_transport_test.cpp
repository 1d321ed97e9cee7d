// The in-memory transport pair in both delivery modes: order, no re-entered receiver, close
// handlers, and (direct) delivery on the sending thread; and a whole MCP session over a direct
// pair through the real client.

#include "mcp/memory_transport.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/mcp_fixture.hpp"

namespace bookmcp::mcp {
namespace {

using namespace std::chrono;
using mcp_testing::signal;

class MemoryTransport : public ::testing::TestWithParam<memory_delivery> {};

// The server end answers each message with "re:" + message; the client end records what it
// got, in order, and checks that its receiver is never entered twice at once.
TEST_P(MemoryTransport, DeliversInOrderWithoutReenteringAReceiver) {
  auto pair = make_memory_transport_pair(GetParam());
  std::mutex mutex;
  std::vector<std::string> received;
  std::atomic<int> inside{0};
  std::atomic<bool> reentered{false};
  signal all_in;
  constexpr int count = 200;
  pair.server->set_receiver([&](std::string message) { pair.server->send("re:" + message, {}); });
  pair.client->set_receiver([&](std::string message) {
    if (inside.fetch_add(1) != 0) reentered = true;
    {
      std::lock_guard lock(mutex);
      received.push_back(std::move(message));
      if (received.size() == count) all_in.set();
    }
    inside.fetch_sub(1);
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < count / 2; ++i)
        pair.client->send(std::to_string(t) + "-" + std::to_string(i), {});
    });
  }
  for (auto& sender : senders) sender.join();
  ASSERT_TRUE(all_in.wait(seconds(10)));
  EXPECT_FALSE(reentered);
  // Each sender's messages arrive in the order it sent them.
  for (int t = 0; t < 2; ++t) {
    int next = 0;
    for (const auto& message : received) {
      if (message.rfind("re:" + std::to_string(t) + "-", 0) != 0) continue;
      EXPECT_EQ(message, "re:" + std::to_string(t) + "-" + std::to_string(next)) << message;
      ++next;
    }
    EXPECT_EQ(next, count / 2);
  }
}

TEST_P(MemoryTransport, CloseRunsEachCloseHandlerOnceAfterWhatWasQueued) {
  auto pair = make_memory_transport_pair(GetParam());
  std::atomic<int> server_closed{0}, client_closed{0};
  std::atomic<int> delivered{0};
  signal closed;
  pair.client->set_receiver([](std::string) {}, [&] { ++client_closed; });
  pair.server->set_receiver([&](std::string) { ++delivered; },
                            [&] {
                              ++server_closed;
                              closed.set();
                            });
  pair.client->send("one", {});
  pair.client->close();
  ASSERT_TRUE(closed.wait(seconds(10)));
  EXPECT_EQ(delivered, 1);
  EXPECT_FALSE(pair.client->send("after close", {}));
  pair.server.reset();
  pair.client.reset();
  EXPECT_EQ(server_closed, 1);
  EXPECT_EQ(client_closed, 1);
}

INSTANTIATE_TEST_SUITE_P(Delivery, MemoryTransport,
                         ::testing::Values(memory_delivery::threads, memory_delivery::direct),
                         [](const auto& info) {
                           return info.param == memory_delivery::direct ? "direct" : "threads";
                         });

TEST(MemoryTransportDirect, DeliversOnTheSendingThreadAndQueuesWhatArrivesMeanwhile) {
  auto pair = make_memory_transport_pair(memory_delivery::direct);
  std::vector<std::string> order;
  std::thread::id delivered_on;
  pair.server->set_receiver([&](std::string message) {
    delivered_on = std::this_thread::get_id();
    order.push_back("server got " + message);
    // Sent while the client's receiver is idle: delivered at once, on this thread.
    if (message == "ping") pair.server->send("pong", {});
  });
  pair.client->set_receiver([&](std::string message) {
    order.push_back("client got " + message);
    // The server's receiver is still running (it sent this): queued, delivered when it returns.
    if (message == "pong") pair.client->send("thanks", {});
    order.push_back("client returns");
  });
  pair.client->send("ping", {});
  EXPECT_EQ(delivered_on, std::this_thread::get_id());
  EXPECT_EQ(order, (std::vector<std::string>{"server got ping", "client got pong", "client returns",
                                             "server got thanks"}));
  // Messages sent before a receiver is set wait for it, then go to the thread setting it.
  auto late = make_memory_transport_pair(memory_delivery::direct);
  late.client->send("early", {});
  std::string got;
  late.server->set_receiver([&](std::string message) { got = std::move(message); });
  EXPECT_EQ(got, "early");
}

// A receiver may let go of its own endpoint (the last reference): its destructor then does not
// wait for the delivery it is part of.
TEST(MemoryTransportDirect, AReceiverMayReleaseItsOwnEndpoint) {
  auto pair = make_memory_transport_pair(memory_delivery::direct);
  bool got = false;
  pair.server->set_receiver([&](std::string) {
    got = true;
    pair.server.reset();
  });
  EXPECT_TRUE(pair.client->send("bye", {}));
  EXPECT_TRUE(got);
  EXPECT_FALSE(pair.server);
}

}  // namespace
}  // namespace bookmcp::mcp
