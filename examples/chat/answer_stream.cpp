#include "examples/chat/answer_stream.hpp"

#include <charconv>

namespace bookmcp::chat {

std::string sse_wire(const std::string& id, const std::string& type, const nlohmann::json& data) {
  // dump() escapes control characters, so the data is one line and cannot end the event early.
  return "id: " + id + "\nevent: " + type + "\ndata: " +
         data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

void answer_stream::emit(const std::string& type, nlohmann::json data) {
  std::lock_guard in_order(delivery_);
  std::vector<listener> targets;
  std::string wire;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    wire = sse_wire(message_id_ + ":" + std::to_string(wire_.size() + 1), type, data);
    wire_.push_back(wire);
    for (auto& [handle, l] : listeners_) targets.push_back(l);
  }
  for (auto& l : targets) l(wire, false);
}

void answer_stream::finish() {
  std::lock_guard in_order(delivery_);
  std::vector<listener> targets;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    for (auto& [handle, l] : listeners_) targets.push_back(l);
    listeners_.clear();
  }
  for (auto& l : targets) l(std::string(), true);
}

std::size_t answer_stream::subscribe(std::uint64_t after_seq, listener on_events) {
  std::lock_guard in_order(delivery_);
  std::string replay;
  bool done = false;
  std::size_t handle = 0;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = after_seq; i < wire_.size(); ++i) replay += wire_[i];
    done = finished_;
    if (!done) {
      handle = next_handle_++;
      listeners_.emplace(handle, on_events);
    }
  }
  // The replay goes out before any later event: emit() waits for `delivery_`.
  if (!replay.empty() || done) on_events(std::move(replay), done);
  return handle;
}

void answer_stream::unsubscribe(std::size_t handle) {
  std::lock_guard lock(mutex_);
  listeners_.erase(handle);
}

bool answer_stream::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

bool answer_stream::try_open_stream(std::size_t max) {
  std::lock_guard lock(mutex_);
  if (open_streams_ >= max) return false;
  ++open_streams_;
  return true;
}

void answer_stream::close_stream() {
  std::lock_guard lock(mutex_);
  if (open_streams_ > 0) --open_streams_;
}

std::size_t answer_stream::listeners() const {
  std::lock_guard lock(mutex_);
  return listeners_.size();
}

std::optional<std::uint64_t> answer_stream::sequence_of(std::string_view last_event_id) const {
  const auto colon = last_event_id.rfind(':');
  if (colon == std::string_view::npos || last_event_id.substr(0, colon) != message_id_) {
    return std::nullopt;
  }
  std::uint64_t seq = 0;
  const auto digits = last_event_id.substr(colon + 1);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

}  // namespace bookmcp::chat
