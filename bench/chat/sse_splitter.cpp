#include "bench/chat/sse_splitter.hpp"

namespace bookmcp::bench::chat {

void sse_splitter::take_line() {
  if (line_.front() == ':') return;  // a comment (keep-alive)
  const auto colon = line_.find(':');
  std::string_view field(line_);
  std::string_view value;
  if (colon != std::string::npos) {
    field = field.substr(0, colon);
    value = std::string_view(line_).substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    name_.assign(value);
  }
}

}  // namespace bookmcp::bench::chat
