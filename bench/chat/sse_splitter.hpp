#pragma once
// Splits a text/event-stream body, fed in pieces cut anywhere, into events (WHATWG HTML, "Server-
// sent events": lines end in LF, CRLF or CR; "event:" names the event, "data:" lines are joined
// by LF; a blank line dispatches; comments and other fields are ignored). Only what a
// benchmark client needs: no id/retry bookkeeping. One instance per stream; not thread-safe.

#include <string>
#include <string_view>

namespace bookmcp::bench::chat {

class sse_splitter {
 public:
  // Calls on_event(std::string_view name, std::string_view data) for every event completed by
  // `bytes`; `name` is "message" when the event had no "event:" field. Events without a data
  // line are dropped, as a browser drops them.
  template <typename OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event) {
    for (char c : bytes) {
      if (c == '\n' && after_cr_) {  // the LF of a CRLF: the line already ended at the CR
        after_cr_ = false;
        continue;
      }
      after_cr_ = c == '\r';
      if (c != '\n' && c != '\r') {
        line_.push_back(c);
        continue;
      }
      if (line_.empty()) {
        if (has_data_)
          on_event(std::string_view(name_.empty() ? "message" : name_), std::string_view(data_));
        name_.clear();
        data_.clear();
        has_data_ = false;
      } else {
        take_line();
      }
      line_.clear();
    }
  }

 private:
  void take_line();

  std::string line_;
  std::string name_;
  std::string data_;
  bool has_data_ = false;
  bool after_cr_ = false;
};

}  // namespace bookmcp::bench::chat
