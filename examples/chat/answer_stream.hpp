#pragma once
// The events of one answer (meta, token, tool_call, tool_result, citation, done, error), kept
// in order with their sequence numbers so that a reader whose stream dropped can resume from
// the last event it saw (Last-Event-ID), and so that any number of listeners (the POST that
// asked, a resumed GET) see the same answer. The turn writes; listeners are called on the
// writer's thread and must only queue. Also carries the answer's stop signal.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace bookmcp::chat {

class answer_stream {
 public:
  explicit answer_stream(std::string message_id) : message_id_(std::move(message_id)) {}

  const std::string& message_id() const { return message_id_; }

  // Appends an event and hands it to every listener. After finish(), ignored.
  void emit(const std::string& type, nlohmann::json data);
  // The last event was written (done or error).
  void finish();

  // Wire text of the events after `after_seq` (0: from the start), then every later one as it
  // comes; `on_events(wire, finished)`. Returns a handle for unsubscribe.
  using listener = std::function<void(std::string wire, bool finished)>;
  std::size_t subscribe(std::uint64_t after_seq, listener on_events);
  void unsubscribe(std::size_t handle);

  bool finished() const;
  std::size_t listeners() const;

  // The streams open on this answer (the POST that asked, GETs that resumed it): one more,
  // unless `max` are open already (then false); and one fewer when a stream ends.
  bool try_open_stream(std::size_t max);
  void close_stream();

  // Stop: the reader pressed stop, or closed the stream that asked.
  void request_stop() { stop_.request_stop(); }
  std::stop_token stop_token() const { return stop_.get_token(); }

  // "<message_id>:<seq>" → seq, when the id names this answer; else nullopt.
  std::optional<std::uint64_t> sequence_of(std::string_view last_event_id) const;

 private:
  std::string message_id_;
  std::mutex delivery_;  // held while listeners are called: events reach each one in order
  mutable std::mutex mutex_;
  std::vector<std::string> wire_;  // event n is wire_[n - 1]
  bool finished_ = false;
  std::map<std::size_t, listener> listeners_;
  std::size_t next_handle_ = 1;
  std::size_t open_streams_ = 0;  // under mutex_
  std::stop_source stop_;
};

// One server-sent event: "id: …\nevent: …\ndata: …\n\n" (data is one line of JSON).
std::string sse_wire(const std::string& id, const std::string& type, const nlohmann::json& data);

}  // namespace bookmcp::chat
