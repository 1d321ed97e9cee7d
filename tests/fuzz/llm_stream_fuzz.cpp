// A streamed answer of an LLM endpoint (any bytes as text/event-stream) through the SSE reader
// and the chunk accumulator of the chat backend.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - the events do not depend on how the bytes are cut: the whole stream, two pieces (cut where
//     the first byte says) and one byte at a time give the same events, or the same error;
//   - the accumulator refuses only with completion_stream_error; its text is the concatenation
//     of what it handed out; every tool call has a non-empty id of its own.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "examples/chat/completion_stream.hpp"
#include "examples/chat/sse_reader.hpp"

namespace {

using namespace bookmcp::chat;

[[noreturn]] void broken(const char* what, const std::string& stream) {
  std::fprintf(stderr, "invariant broken: %s\nstream: %.2000s\n", what, stream.c_str());
  std::abort();
}

struct reading {
  std::vector<sse_event> events;
  bool failed = false;
  bool operator==(const reading& other) const {
    if (failed != other.failed || events.size() != other.events.size()) return false;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].data != other.events[i].data || events[i].type != other.events[i].type ||
          events[i].id != other.events[i].id)
        return false;
    }
    return true;
  }
};

reading read(const std::string& stream, const std::vector<std::size_t>& cuts) {
  sse_reader reader({.max_line_bytes = 4096, .max_event_bytes = 16384});
  reading out;
  std::size_t from = 0;
  try {
    for (std::size_t to : cuts) {
      for (auto& event : reader.feed(std::string_view(stream).substr(from, to - from)))
        out.events.push_back(std::move(event));
      from = to;
    }
  } catch (const sse_error&) {
    out.failed = true;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = stream.empty() ? 0 : data[0] % (stream.size() + 1);

  const reading whole = read(stream, {stream.size()});
  if (!(read(stream, {cut, stream.size()}) == whole)) broken("two pieces read otherwise", stream);
  if (stream.size() <= 512) {
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i <= stream.size(); ++i) bytes.push_back(i);
    if (!(read(stream, bytes) == whole)) broken("byte by byte read otherwise", stream);
  }

  completion_stream answer;
  std::string handed_out;
  for (const auto& event : whole.events) {
    try {
      handed_out += answer.take(event.data).text;
    } catch (const completion_stream_error&) {
      break;
    }
  }
  if (answer.result().text != handed_out) broken("text other than what was handed out", stream);
  std::set<std::string> ids;
  for (const auto& call : answer.result().tool_calls) {
    if (call.id.empty() || !ids.insert(call.id).second) broken("a tool call id empty or shared", stream);
    (void)call.arguments_valid();
    (void)call.as_request().dump();
  }
  return 0;
}
