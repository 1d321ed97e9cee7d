// serve_stdio over a pair of pipes: what happens at end of input.

#include "transport/stdio_transport.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/testing/eventually.hpp"

namespace bookmcp::transport {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A server with `sleep {ms}`: returns after ms, or throws when cancelled first.
class StdioTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcp::server_options options;
    options.name = "stdio-test";
    server_ = std::make_unique<mcp::server>(options);
    mcp::tool_definition sleep;
    sleep.name = "sleep";
    sleep.description = "Returns after ms milliseconds.";
    sleep.input_schema = {
        {"type", "object"}, {"properties", {{"ms", {{"type", "integer"}}}}}, {"required", {"ms"}}};
    sleep.handler = [this](mcp::tool_context& context, const json& arguments) {
      ++started_;
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(arguments.at("ms").get<int>());
      while (std::chrono::steady_clock::now() < until) {
        if (context.cancelled()) throw mcp::cancelled_error();
        std::this_thread::sleep_for(1ms);
      }
      return mcp::tool_result::text("slept");
    };
    server_->add_tool(std::move(sleep));
  }

  // Writes `input` and closes it, serves until it returns; the output and how long serving
  // took after the input was closed.
  struct run {
    std::string output;
    std::chrono::milliseconds after_eof;
  };
  run serve(const std::string& input, stdio_options options) {
    int in[2], out[2];
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(out), 0);
    options.input_fd = in[0];
    options.output_fd = out[1];
    std::string output;
    std::thread reader([&] {
      char buffer[4096];
      for (ssize_t got; (got = ::read(out[0], buffer, sizeof buffer)) > 0;)
        output.append(buffer, got);
    });
    EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    const auto closed = std::chrono::steady_clock::now();
    ::close(in[1]);
    EXPECT_EQ(
        serve_stdio(*server_, options, {.identity = "t", .transport = "stdio", .session_id = {}}),
        0);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - closed);
    ::close(out[1]);
    reader.join();
    ::close(in[0]);
    ::close(out[0]);
    return {output, took};
  }

  static std::string requests(std::initializer_list<int> sleeps) {
    std::string text =
        json{{"jsonrpc", "2.0"},
             {"id", 0},
             {"method", "initialize"},
             {"params",
              {{"protocolVersion", "2025-11-25"},
               {"capabilities", json::object()},
               {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}
            .dump() +
        "\n" + json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}.dump() + "\n";
    int id = 1;
    for (int ms : sleeps) {
      text += json{{"jsonrpc", "2.0"},
                   {"id", id++},
                   {"method", "tools/call"},
                   {"params", {{"name", "sleep"}, {"arguments", {{"ms", ms}}}}}}
                  .dump() +
              "\n";
    }
    return text;
  }

  std::unique_ptr<mcp::server> server_;
  std::atomic<int> started_{0};  // sleep calls that began
};

// Clients pipe their requests and close the input (MCP's stdio shutdown starts that way): the
// calls already read are answered before the server returns. They used to be cancelled
// unanswered, writes included.
TEST_F(StdioTransportTest, CallsReadBeforeEndOfInputAreAnswered) {
  stdio_options options;
  options.finish_timeout = 2 * testing::hang_guard;  // so that waiting it out shows
  const run result = serve(requests({300, 400}), options);
  EXPECT_NE(result.output.find(R"("id":1,"result")"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(R"("id":2,"result")"), std::string::npos) << result.output;
  EXPECT_LT(result.after_eof, testing::hang_guard);  // ended when the calls did
}

// ... for finish_timeout at most: then what still runs is cancelled and serving ends. The
// finish timeout is long next to the short call (which must end within it, however loaded the
// machine), short next to the long one.
TEST_F(StdioTransportTest, CallsStillRunningAfterTheFinishTimeoutAreCancelled) {
  stdio_options options;
  options.finish_timeout = 3s;
  options.drain_timeout = 2 * testing::hang_guard;  // so that waiting it out shows
  const run result = serve(requests({50, 600'000}), options);
  EXPECT_NE(result.output.find(R"("id":1,"result")"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find(R"("id":2)"), std::string::npos) << result.output;
  EXPECT_GE(result.after_eof, options.finish_timeout);  // (timed from before serving began)
  EXPECT_LT(result.after_eof, testing::hang_guard);  // the cancelled call ended at once
}

// SIGTERM (stop_fd readable; bookmcp reads it from a signalfd) while the client's input stays
// open: nothing more is read, the calls already read are answered within finish_timeout, and
// serving ends. It used to kill the process at once, answers lost.
TEST_F(StdioTransportTest, AStopAnswersTheCallsAlreadyReadAndReadsNoMore) {
  int in[2], out[2], stop[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(stop), 0);
  stdio_options options;
  options.input_fd = in[0];
  options.output_fd = out[1];
  options.stop_fd = stop[0];
  options.finish_timeout = 5s;
  std::atomic<bool> served{false}, input_closed{false};
  std::string output;
  std::thread reader([&] {
    char buffer[4096];
    for (ssize_t got; (got = ::read(out[0], buffer, sizeof buffer)) > 0;)
      output.append(buffer, got);
  });
  std::thread client([&] {
    const std::string input = requests({400});
    EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
    EXPECT_TRUE(testing::eventually([&] { return started_ == 1; }));  // read and running
    EXPECT_EQ(::write(stop[1], "x", 1), 1);
    std::this_thread::sleep_for(50ms);
    // After the stop: not read, not answered.
    const std::string late = json{{"jsonrpc", "2.0"}, {"id", 9}, {"method", "ping"}}.dump() + "\n";
    EXPECT_EQ(::write(in[1], late.data(), late.size()), static_cast<ssize_t>(late.size()));
    // The input stays open until serving has ended: only the stop can end it.
    EXPECT_TRUE(testing::eventually([&] { return served.load(); }));
    input_closed = true;
    ::close(in[1]);
  });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(
      serve_stdio(*server_, options, {.identity = "t", .transport = "stdio", .session_id = {}}), 0);
  const auto took = std::chrono::steady_clock::now() - started;
  const bool ended_by_the_stop = !input_closed.load();
  served = true;
  client.join();
  ::close(out[1]);
  reader.join();
  for (int fd : {in[0], out[0], stop[0], stop[1]}) ::close(fd);
  EXPECT_NE(output.find(R"("id":1,"result")"), std::string::npos) << output;
  EXPECT_NE(output.find("slept"), std::string::npos) << output;
  EXPECT_EQ(output.find(R"("id":9)"), std::string::npos) << output;
  EXPECT_TRUE(ended_by_the_stop);
  EXPECT_GE(took, 350ms);
}

}  // namespace
}  // namespace bookmcp::transport
