#pragma once
// Understanding todo requests without a language model: a small, conservative English grammar
// that turns a chat message into one call of bookmcp's todo tools. Pure functions: no I/O, no
// MCP; the chat engine calls the tools with what these return.
//
// Conservative means a question about the book is never taken for a todo command: a message
// that asks something ("how do I add a sensor?", "what does remind mean in chapter 2?") is not
// a todo request, and neither is "list the chapters about kinematics" (only "list my todos",
// "show my tasks", "what's on my list" ... list todos). What the grammar covers is listed in
// todo_intent.cpp.
//
// Dates are resolved in the reader's time zone (an IANA name such as "Europe/Berlin", "UTC", or
// a fixed offset such as "+02:00"), from the `now` the caller passes, so results are
// deterministic in tests. Weekday names mean the next such day strictly after today ("by
// Friday" said on a Friday is the Friday a week later); "this Friday" may be today.

#include <chrono>
#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace bookmcp::chat {

enum class todo_action { add, list, complete, reopen, remove };
enum class todo_filter { open, all, done, overdue, today };  // which todos a list shows

struct todo_intent {
  todo_action action = todo_action::list;
  // add: the task, cleaned of the command words and of the due phrase, in the reader's own
  // spelling ("redo the kinematics exercises"); valid UTF-8 (an invalid byte becomes U+FFFD),
  // at most 500 bytes (cut at a character boundary).
  std::string title;
  // add: "YYYY-MM-DD" when a day was said, or RFC 3339 with the reader's UTC offset at that
  // moment when a time was said ("2026-12-11T17:00:00+01:00"); nullopt when none was said.
  std::optional<std::string> due;
  todo_filter filter = todo_filter::open;  // list
  // complete/reopen/remove: the words naming the todo ("kinematics exercises"), without
  // articles and without "todo"/"task"; "" when the message named none ("delete it").
  std::string reference;
  // The zone the dates were resolved in, as todo_list's `timezone` argument takes it: the
  // caller's zone when it was understood, otherwise "UTC" and time_zone_known is false (the
  // engine may say that dates were read in UTC).
  std::string time_zone = "UTC";
  bool time_zone_known = true;
  // The reader's local date at `now` ("2026-12-11"), in that zone.
  std::string today;

  // The arguments of the tool call this intent maps to, valid for bookmcp's schemas:
  //   add:  todo_add {"title", "due"?}
  //   list: todo_list {"status": "open"|"done"|"all", "limit": 50, "timezone", plus
  //         "overdue": true (overdue) or "due_after": today, "due_before": tomorrow (today;
  //         open todos only)}; send it as it is: todo_list takes no other keys
  //         ("additionalProperties": false), so add no "time_zone"
  //   complete/reopen/remove: {} (the caller picks the todo's id with pick_todo first).
  nlohmann::json tool_arguments() const;
};

// The todo request `message` makes, or nullopt when it is not one (then it is a question for
// the book). `now` is the current instant; `time_zone` the reader's zone (see above; an empty
// or unknown zone means UTC, with time_zone_known false). Never throws for any input.
std::optional<todo_intent> understand_todo(std::string_view message,
                                           std::chrono::system_clock::time_point now,
                                           std::string_view time_zone);

// The answer to a yes/no confirmation question ("Delete …?"): true for "yes", "yes, delete
// it", "confirm", "ok", "sure", ...; false for "no", "cancel", "keep it", ...; nullopt for
// anything else (then the message is a new request).
std::optional<bool> understand_confirmation(std::string_view message);

// The todo `reference` names among `todos` (an array of todo objects with "id", "title",
// "status"): an id ("c3" or "#c3") or an exact title wins; otherwise the todo sharing the most
// words with the reference (case-insensitive, without words like the/my/a/todo, plurals
// folded). nullopt when no todo shares a word, when several share equally many, or when `todos`
// is not an array. A reference without content words ("it") picks the only todo of a one-item
// list.
std::optional<std::size_t> pick_todo(std::string_view reference, const nlohmann::json& todos);

}  // namespace bookmcp::chat
