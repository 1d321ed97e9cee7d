// One inbound message (anything: a request, a batch, broken JSON) into an MCP session of a
// server with the conformance fixtures (tools with schemas, resources, prompts), in memory.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - everything the session sends is JSON-RPC 2.0: an object (or, for a batch, an array of
//     objects) with "jsonrpc": "2.0"; a response has an "id" and exactly one of "result" and
//     "error"; an error has an integer code and a string message; anything else has a method;
//   - a request that is answered at once (ping) gets its id back;
//   - closing the session afterwards ends it: no call is left running.
//
// The first byte chooses whether the session is initialized first (odd) or meets the message
// fresh (even); the rest is the message. A fresh session also takes 2026-07-28 requests (their
// own _meta instead of a handshake). A task (2026-07-28 tasks extension) outlives its request
// by design: the tasks an input created are cancelled afterwards (tasks/cancel, as a client
// would), so that they do not hold the workers for the next inputs.

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "examples/conformance_fixtures/fixtures.hpp"
#include "mcp/server.hpp"
#include "mcp/session.hpp"
#include "tests/fuzz/json_rpc_invariants.hpp"

namespace {

using json = nlohmann::json;
using namespace bookmcp;

class collecting_sink final : public mcp::message_sink {
 public:
  bool send(std::string message, const mcp::outbound_route&) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
    return true;
  }
  void close() override {}
  std::vector<std::string> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(messages_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

using fuzzing::broken;

void check_sent(const std::string& text) { fuzzing::check_json_rpc_text(text); }

mcp::server& fixture_server() {
  static mcp::server* server = [] {
    mcp::server_options options;
    options.name = "bookmcp-fuzz";
    options.version = "0";
    options.worker_threads = 2;
    auto* made = new mcp::server(options);  // lives as long as the process, as in a server
    examples::register_conformance_fixtures(*made);
    return made;
  }();
  return *server;
}

const std::string initialize =
    json{{"jsonrpc", "2.0"},
         {"id", "init"},
         {"method", "initialize"},
         {"params",
          {{"protocolVersion", "2025-11-25"},
           {"capabilities", json::object()},
           {"clientInfo", {{"name", "fuzz"}, {"version", "1"}}}}}}
        .dump();
const std::string initialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

// The ids of the tasks created in `message` (a CreateTaskResult, or a batch holding some).
void collect_task_ids(const json& message, std::vector<std::string>& out) {
  if (message.is_array()) {
    for (const auto& item : message) collect_task_ids(item, out);
    return;
  }
  if (!message.is_object()) return;
  const auto result = message.find("result");
  if (result == message.end() || !result->is_object()) return;
  if (result->value("resultType", json()) == "task" && result->contains("taskId") &&
      (*result)["taskId"].is_string())
    out.push_back((*result)["taskId"].get<std::string>());
}

void cancel_tasks(const std::vector<std::string>& task_ids) {
  if (task_ids.empty()) return;
  auto sink = std::make_shared<collecting_sink>();
  auto session = fixture_server().open_session(sink, {.identity = "fuzz", .transport = "memory",
                                                      .session_id = {}});
  int id = 0;
  for (const auto& task_id : task_ids) {
    session->handle_message(
        json{{"jsonrpc", "2.0"},
             {"id", ++id},
             {"method", "tasks/cancel"},
             {"params",
              {{"taskId", task_id},
               {"_meta",
                {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                 {"io.modelcontextprotocol/clientCapabilities",
                  {{"extensions", {{"io.modelcontextprotocol/tasks", json::object()}}}}}}}}}}
            .dump());
  }
  session->close();
  if (!session->wait_idle(std::chrono::seconds(30))) broken("a tasks/cancel still running", "");
  for (const auto& sent : sink->take()) check_sent(sent);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto sink = std::make_shared<collecting_sink>();
  auto session = fixture_server().open_session(sink, {.identity = "fuzz", .transport = "memory",
                                                      .session_id = {}});
  if (data[0] & 1) {
    session->handle_message(initialize);
    session->handle_message(initialized);
    session->wait_idle(std::chrono::seconds(10));
    for (const auto& sent : sink->take()) check_sent(sent);
  }
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  session->handle_message(text);

  // A ping is answered before handle_message returns; look before closing cancels anything.
  json parsed = json::parse(text, nullptr, false);
  const bool ping = parsed.is_object() && parsed.value("method", json()) == "ping" &&
                    parsed.contains("id") && (parsed["id"].is_string() || parsed["id"].is_number_integer()) &&
                    parsed.value("jsonrpc", json()) == "2.0";
  session->close();
  if (!session->wait_idle(std::chrono::seconds(30))) broken("a call still running after close", text);
  bool answered = false;
  std::vector<std::string> task_ids;
  for (const auto& sent : sink->take()) {
    check_sent(sent);
    collect_task_ids(json::parse(sent), task_ids);
    if (ping) {
      const json message = json::parse(sent);
      if (message.is_object() && message.contains("id") && message["id"] == parsed["id"])
        answered = true;
    }
  }
  if (ping && !answered) broken("a ping without its answer", text);
  cancel_tasks(task_ids);
  return 0;
}
