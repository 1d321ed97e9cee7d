#pragma once
// The todo tools: each reader's study todo list, offered to models over MCP.
//
//   todo_add         add one todo, or a batch of 1..25 with per-item results; optional
//                    client_request_id makes a retried add return the first todo
//   todo_list        filter (status, due range, overdue, tag, text), sort, cursor pages
//   todo_get         one todo by id
//   todo_update      partial update (null clears notes/due/tags)
//   todo_complete    mark done            todo_reopen   mark open again
//   todo_delete      delete one todo
//   todo_export      the caller's whole list as JSON (data portability)
//   todo_delete_all  erase the caller's whole list; requires confirm: "DELETE ALL"
//
// Identity: every call works on the todos of the calling session's identity
// (tool_context::identity(): the local user on stdio, the authenticated subject on the network
// transports). No tool takes a user id; another user's todo id behaves exactly like an id that
// does not exist.
//
// Errors: invalid arguments and not-found ids are tool results with isError and a message
// that says what to change; database outages, timeouts and busy pools are isError results with
// the store's user-safe message (the diagnostic goes to the log). A cancelled call (client
// cancel, deadline, shutdown) cancels its query and sends nothing.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mcp/server.hpp"
#include "store/database.hpp"

namespace bookmcp::tools {

struct todo_tool_options {
  // The reader's time zone, used for "overdue" and to compare date-only dues with instants:
  // an IANA zone name ("Europe/Berlin", from the system's tzdata; daylight saving followed),
  // "UTC" (also "Z", "GMT") or a fixed UTC offset "+HH:MM", "-HH:MM", "+HHMM", "+HH", at most
  // ±18:00. todo_list also takes a per-call `timezone` and `today` so a model that knows the
  // reader's local date can say so.
  std::string time_zone = "UTC";
  // The runtime's limits for each todo tool: a call past `timeout` is cancelled (its query
  // too) and answered with isError. Keep it above the store's acquire + statement timeouts
  // if you want the store's own message rather than the runtime's.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  std::size_t max_concurrency = 32;  // calls of one tool running at once, across sessions
  std::size_t max_queue = 1024;      // calls of one tool waiting for a slot; beyond: "busy"
  // "Now" for overdue checks; tests inject a fixed clock.
  store::clock_function clock = store::system_now;
};

// Registers the todo tools on `server`. `db` must stay usable while the server runs (the
// tools share ownership). Throws std::invalid_argument when options.time_zone is not
// understood (the message says which forms are accepted), and what server::add_tool throws.
void register_todo_tools(mcp::server& server, std::shared_ptr<store::database> db,
                         todo_tool_options options = {});

// Parses the fixed-offset forms of todo_tool_options::time_zone ("UTC", "+HH:MM", ...);
// nullopt for anything else. reader_time_zone::parse (time_zone.hpp) takes zone names too.
std::optional<std::chrono::minutes> parse_utc_offset(std::string_view text);

// The names of the tools register_todo_tools adds, in registration order.
inline constexpr std::string_view todo_tool_names[] = {
    "todo_add",    "todo_list",   "todo_get",    "todo_update",    "todo_complete",
    "todo_reopen", "todo_delete", "todo_export", "todo_delete_all"};

}  // namespace bookmcp::tools
