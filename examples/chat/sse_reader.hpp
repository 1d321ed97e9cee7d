#pragma once
// Reading a text/event-stream as it arrives (the WHATWG "event stream interpretation"), for the
// streamed answers of an OpenAI-compatible Chat Completions endpoint.
//
// Bytes come in network-sized pieces that cut lines anywhere: the reader keeps the unfinished
// line until the rest arrives, accepts LF, CRLF and lone CR line ends (also a CRLF split
// between two pieces), skips a leading byte order mark and ":" comment lines, joins several
// "data:" lines of one event with "\n", and ends an event at a blank line. An event without
// data is not dispatched, as in a browser. A line longer than `max_line_bytes`, or an event's
// data over `max_event_bytes`, is an error (a misbehaving or hostile endpoint), not a reason to
// grow without bound.

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::chat {

struct sse_event {
  std::string type = "message";  // the "event:" field; "message" when none
  std::string data;              // the "data:" lines, joined by "\n"
  std::optional<std::string> id;  // the "id:" field of this event, when it had one
};

class sse_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct sse_limits {
  std::size_t max_line_bytes = 1 << 20;
  std::size_t max_event_bytes = 4 << 20;
};

class sse_reader {
 public:
  explicit sse_reader(sse_limits limits = {}) : limits_(limits) {}

  // Feeds the next piece of the stream; returns the events it completed, in order. Throws
  // sse_error past a limit (the reader is then unusable).
  std::vector<sse_event> feed(std::string_view bytes);

  // The stream ended: an event not closed by a blank line is dropped, as a browser drops it.
  // True when nothing was left half-read (no partial line, no undispatched data).
  bool finish() const { return line_.empty() && !has_data_; }

 private:
  void take_line(std::string_view line, std::vector<sse_event>& out);

  sse_limits limits_;
  std::string line_;               // the unfinished line
  bool after_cr_ = false;          // the last piece ended in CR: a following LF belongs to it
  bool started_ = false;           // past the first bytes (the BOM check)
  sse_event event_;
  bool has_data_ = false;
};

}  // namespace bookmcp::chat
