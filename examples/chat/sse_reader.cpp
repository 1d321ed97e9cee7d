#include "examples/chat/sse_reader.hpp"

#include <stdexcept>

namespace bookmcp::chat {

std::vector<sse_event> sse_reader::feed(std::string_view bytes) {
  std::vector<sse_event> out;
  if (!started_) {
    // A UTF-8 byte order mark may start the stream (it may itself arrive in pieces).
    constexpr std::string_view bom = "\xEF\xBB\xBF";
    const std::size_t have = line_.size();
    std::string head = line_ + std::string(bytes.substr(0, bom.size()));
    if (head.size() < bom.size() && bom.starts_with(head)) {
      line_ = head;
      return out;
    }
    started_ = true;
    if (head.starts_with(bom)) {
      bytes.remove_prefix(bom.size() - have);
      line_.clear();
    }
  }
  std::size_t start = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '\n' && c != '\r') continue;
    if (c == '\n' && after_cr_ && i == 0 && line_.empty()) {
      // The LF of a CRLF whose CR ended the previous piece.
      after_cr_ = false;
      start = 1;
      continue;
    }
    after_cr_ = false;
    std::string_view piece = bytes.substr(start, i - start);
    if (line_.empty()) {
      take_line(piece, out);
    } else {
      line_.append(piece);
      std::string line = std::move(line_);
      line_.clear();
      take_line(line, out);
    }
    if (c == '\r') {
      if (i + 1 < bytes.size()) {
        if (bytes[i + 1] == '\n') ++i;
      } else {
        after_cr_ = true;
      }
    }
    start = i + 1;
  }
  if (start < bytes.size()) {
    after_cr_ = false;
    line_.append(bytes.substr(start));
    if (line_.size() > limits_.max_line_bytes)
      throw sse_error("the event stream has a line over " + std::to_string(limits_.max_line_bytes) +
                      " bytes");
  }
  return out;
}

void sse_reader::take_line(std::string_view line, std::vector<sse_event>& out) {
  if (line.size() > limits_.max_line_bytes)
    throw sse_error("the event stream has a line over " + std::to_string(limits_.max_line_bytes) +
                    " bytes");
  if (line.empty()) {
    if (has_data_) out.push_back(std::move(event_));
    event_ = sse_event{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment (keep-alive)
  std::string_view field = line, value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) event_.data += '\n';
    event_.data.append(value);
    has_data_ = true;
    if (event_.data.size() > limits_.max_event_bytes)
      throw sse_error("the event stream has an event over " +
                      std::to_string(limits_.max_event_bytes) + " bytes");
  } else if (field == "event") {
    event_.type = value.empty() ? "message" : std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) event_.id = std::string(value);
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace bookmcp::chat
