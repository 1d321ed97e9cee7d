#pragma once
// An in-process transport pair for tests, benchmarks and in-process clients: two connected
// endpoints, each a message_sink whose messages are delivered, in order, to the other
// endpoint's receiver, never re-entering a receiver (so a receiver may send).
//
// Delivery, per pair:
// - threads (the default): each endpoint has its own delivery thread, as a client and a server
//   in two processes each have theirs; a receiver may block.
// - direct: a message is delivered on the sending thread, unless the receiver is running
//   right now (on this thread or another), in which case the thread running it delivers the
//   message when it returns. An in-process client that calls the server as a function call
//   would: no thread hand-off in either direction. A receiver must not block waiting for a
//   message to the same endpoint (it would wait for itself).

#include <functional>
#include <memory>
#include <string>

#include "mcp/channel.hpp"

namespace bookmcp::mcp {

struct memory_transport_pair;
enum class memory_delivery;

class memory_endpoint : public message_sink {
 public:
  using receiver = std::function<void(std::string message)>;
  using close_handler = std::function<void()>;

  // Closes both directions and joins this endpoint's delivery thread, which runs this side's
  // close handler: whatever that handler touches must still be alive here.
  ~memory_endpoint() override;

  // Sets who receives messages sent by the peer; call before the peer sends.
  void set_receiver(receiver on_message, close_handler on_close = {});

  bool send(std::string message, const outbound_route& route) override;
  // Closes both directions: the peer's close handler runs once its queue drained.
  void close() override;

  struct shared;

 private:
  friend memory_transport_pair make_memory_transport_pair(enum memory_delivery);
  memory_endpoint(std::shared_ptr<shared> link, int side);
  std::shared_ptr<shared> link_;
  int side_;
};

enum class memory_delivery { threads, direct };

memory_transport_pair make_memory_transport_pair(
    memory_delivery delivery = memory_delivery::threads);

struct memory_transport_pair {
  std::shared_ptr<memory_endpoint> client;
  std::shared_ptr<memory_endpoint> server;
};

}  // namespace bookmcp::mcp
