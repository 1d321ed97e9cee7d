#include "examples/chat/sse_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace bookmcp::chat;

namespace {

std::vector<sse_event> read_in_pieces(const std::string& stream, std::size_t piece) {
  sse_reader reader;
  std::vector<sse_event> events;
  for (std::size_t i = 0; i < stream.size(); i += piece) {
    for (auto& event : reader.feed(std::string_view(stream).substr(i, piece)))
      events.push_back(std::move(event));
  }
  return events;
}

}  // namespace

TEST(SseReader, EventsAreTheSameHoweverTheBytesAreCut) {
  const std::string stream =
      "\xEF\xBB\xBF: keep-alive\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: done\nid: 7\ndata: first\ndata:second\n\n"
      "data: lone cr\r\r"
      "data: [DONE]\n\n";
  const auto whole = read_in_pieces(stream, stream.size());
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_EQ(whole[0].data, "{\"a\":1}");
  EXPECT_EQ(whole[0].type, "message");
  EXPECT_EQ(whole[1].type, "done");
  EXPECT_EQ(whole[1].id, "7");
  EXPECT_EQ(whole[1].data, "first\nsecond");
  EXPECT_EQ(whole[2].data, "lone cr");
  EXPECT_EQ(whole[3].data, "[DONE]");
  for (std::size_t piece = 1; piece < stream.size(); ++piece) {
    const auto cut = read_in_pieces(stream, piece);
    ASSERT_EQ(cut.size(), whole.size()) << "pieces of " << piece;
    for (std::size_t i = 0; i < cut.size(); ++i) {
      EXPECT_EQ(cut[i].data, whole[i].data) << "pieces of " << piece;
      EXPECT_EQ(cut[i].type, whole[i].type) << "pieces of " << piece;
      EXPECT_EQ(cut[i].id, whole[i].id) << "pieces of " << piece;
    }
  }
}

TEST(SseReader, AnEventWithoutDataOrBlankLineIsNotDispatched) {
  sse_reader reader;
  EXPECT_TRUE(reader.feed("event: ping\n\n").empty());
  EXPECT_TRUE(reader.feed("data: half").empty());
  EXPECT_FALSE(reader.finish());  // the stream broke mid-event
}

TEST(SseReader, OverlongLinesAndEventsAreErrors) {
  sse_reader lines({.max_line_bytes = 16, .max_event_bytes = 64});
  EXPECT_THROW(lines.feed("data: " + std::string(40, 'x')), sse_error);
  sse_reader events({.max_line_bytes = 16, .max_event_bytes = 20});
  EXPECT_THROW(events.feed("data: 0123456789\ndata: 0123456789\n"), sse_error);
}
