#pragma once
// An in-process transport pair for tests and examples: two connected endpoints, each a
// message_sink whose messages are delivered, in order, to the other endpoint's receiver on
// that endpoint's own delivery thread (so a receiver may send without re-entering itself).

#include <functional>
#include <memory>
#include <string>

#include "mcp/channel.hpp"

namespace bookmcp::mcp {

struct memory_transport_pair;

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
  friend memory_transport_pair make_memory_transport_pair();
  memory_endpoint(std::shared_ptr<shared> link, int side);
  std::shared_ptr<shared> link_;
  int side_;
};

memory_transport_pair make_memory_transport_pair();

struct memory_transport_pair {
  std::shared_ptr<memory_endpoint> client;
  std::shared_ptr<memory_endpoint> server;
};

}  // namespace bookmcp::mcp
