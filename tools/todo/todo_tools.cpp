#include "tools/todo/todo_tools.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <stdexcept>
#include <utility>

#include "store/errors.hpp"
#include "tools/todo/time_zone.hpp"
#include "tools/todo/todo_json.hpp"

namespace bookmcp::tools {

using namespace std::chrono;
using mcp::json;
using namespace todo_detail;

std::optional<minutes> parse_utc_offset(std::string_view text) {
  if (text == "UTC" || text == "utc" || text == "Z" || text == "GMT" || text == "Etc/UTC")
    return minutes{0};
  if (text.size() < 3 || (text[0] != '+' && text[0] != '-')) return std::nullopt;
  const auto digit = [&](std::size_t i) -> int {
    return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) ? text[i] - '0'
                                                                                : -1;
  };
  int hours_value = 0;
  int minutes_value = 0;
  if (digit(1) < 0 || digit(2) < 0) return std::nullopt;
  hours_value = digit(1) * 10 + digit(2);
  if (text.size() == 3) {
    // "+HH"
  } else if (text.size() == 6 && text[3] == ':' && digit(4) >= 0 && digit(5) >= 0) {
    minutes_value = digit(4) * 10 + digit(5);  // "+HH:MM"
  } else if (text.size() == 5 && digit(3) >= 0 && digit(4) >= 0) {
    minutes_value = digit(3) * 10 + digit(4);  // "+HHMM"
  } else {
    return std::nullopt;
  }
  if (minutes_value > 59) return std::nullopt;
  const minutes offset{hours_value * 60 + minutes_value};
  if (offset > hours{18}) return std::nullopt;
  return text[0] == '-' ? -offset : offset;
}

namespace {

// ---------------------------------------------------------------------------------------
// Shared state and error mapping

struct todo_tools_state {
  std::shared_ptr<store::database> db;
  reader_time_zone zone;
  store::clock_function clock;

  store::todo_repository& todos() { return db->todos(); }
  reader_clock reader() const {
    const auto now = clock();
    return {now, zone.offset_at(now)};
  }
};

// The owner of every row a call touches: the session's identity, never an argument.
const std::string& owner_of(const mcp::tool_context& context) {
  const auto& identity = context.identity();
  if (identity.empty()) {
    throw mcp::tool_error("This connection has no user identity, so it has no todo list.");
  }
  return identity;
}

// Maps a store failure to what the model should see: store_error's what() is user-safe (its
// diagnostic goes to the log only); invalid_request is the caller's mistake and says what is
// wrong; cancellation produces no result (whoever cancelled answered). Other exceptions are
// returned as they are.
std::exception_ptr tool_failure(std::string_view tool, std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const store::cancelled&) {
    return std::make_exception_ptr(mcp::cancelled_error());
  } catch (const store::store_error& error) {
    spdlog::warn("{}: {} ({})", tool, error.what(), error.diagnostic());
    return std::make_exception_ptr(mcp::tool_error(std::string(error.what())));
  } catch (const store::invalid_request& error) {
    std::string message = error.what();
    if (message.find("cursor") != std::string::npos) {
      message += tool == "todo_export"
                     ? ". Pass the next_cursor of a todo_export page, or leave cursor out to "
                       "start from the first page."
                     : ". Pass the cursor only with the same filters, sort and order as the call "
                       "that returned it, or leave cursor out to start from the first page.";
    }
    return std::make_exception_ptr(mcp::tool_error("Invalid request: " + message));
  } catch (...) {
    return std::current_exception();
  }
}

// Runs `body`, throwing store failures as tool_failure maps them.
template <typename Body>
mcp::tool_result guarded(std::string_view tool, Body&& body) {
  try {
    return body();
  } catch (...) {
    std::rethrow_exception(tool_failure(tool, std::current_exception()));
  }
}

// The completion of a store call without blocking, for a tool: renders the value with
// `render`, or fails the call as tool_failure maps the store's error.
template <typename T, typename Render>
store::todo_repository::completion<T> completing(std::string_view tool, mcp::tool_completion done,
                                                 Render render) {
  return [tool, done = std::move(done), render = std::move(render)](std::optional<T> value,
                                                                    std::exception_ptr failure) {
    // The store's thread runs this: the answer must not wait for a slow client's queue.
    const mcp::non_blocking_scope store_thread;
    if (failure) return done.fail(tool_failure(tool, failure));
    try {
      done(render(std::move(*value)));
    } catch (...) {
      done.fail(std::current_exception());
    }
  };
}

mcp::tool_error not_found(const std::string& id) {
  return mcp::tool_error("No todo with id " + json(id).dump() +
                         " in your list. Use todo_list to find the ids of your todos.");
}

std::string required_id(const json& arguments) {
  return arguments.at("id").get<std::string>();
}

// ---------------------------------------------------------------------------------------
// Schemas

json id_property() {
  return {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 200},
          {"description", "The todo's id, as returned by todo_add or todo_list."}};
}

json id_only_schema(std::string_view what) {
  return {{"type", "object"},
          {"properties", {{"id", id_property()}}},
          {"required", {"id"}},
          {"additionalProperties", false},
          {"description", what}};
}

json due_property(bool nullable) {
  json due = {{"type", nullable ? json{"string", "null"} : json("string")},
              {"description", std::string("When it is due: ") + std::string(due_formats) + "." +
                                  (nullable ? " null removes the due." : "")}};
  return due;
}

json item_properties() {
  return {
      {"title",
       {{"type", "string"},
        {"minLength", 1},
        {"maxLength", 500},
        {"description", "What to do, 1 to 500 characters."}}},
      {"notes",
       {{"type", "string"},
        {"maxLength", 20000},
        {"description", "Optional details (up to 20000 characters)."}}},
      {"due", due_property(false)},
      {"priority",
       {{"type", "string"},
        {"enum", {"low", "medium", "high"}},
        {"default", "medium"},
        {"description", "low, medium (default) or high."}}},
      {"tags",
       {{"type", "array"},
        {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 64}}},
        {"maxItems", 32},
        {"description", "Up to 32 tags of 1 to 64 characters, e.g. [\"chapter-3\", \"exam\"]."}}},
      {"client_request_id",
       {{"type", "string"},
        {"minLength", 1},
        {"maxLength", 200},
        {"description",
         "Optional idempotency key (e.g. a UUID). Retrying an add with the same key returns the "
         "todo the first call created instead of adding another."}}},
  };
}

json add_input_schema() {
  json properties = item_properties();
  properties["priority"].erase("default");  // a default would make a batch-only call invalid
  json item = {{"type", "object"},
               {"properties", item_properties()},
               {"required", {"title"}},
               {"additionalProperties", false}};
  item["properties"]["priority"].erase("default");
  properties["items"] = {
      {"type", "array"},
      {"minItems", 1},
      {"maxItems", 25},
      {"items", std::move(item)},
      {"description",
       "A batch of 1 to 25 todos to add at once, each with the same fields as a single add; "
       "the result has one entry per item, in order. Use either items or title, not both."}};
  return {
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
}

json add_output_schema() {
  const json status = {{"type", "string"},
                       {"enum", {"created", "duplicate", "error"}},
                       {"description",
                        "created; duplicate (an earlier add with the same client_request_id made "
                        "this todo); error (this item was not added, see error)"}};
  return {
      {"type", "object"},
      {"properties",
       {{"status", status},
        {"todo", todo_object_schema()},
        {"results",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"index", {{"type", "integer"}}},
              {"status", status},
              {"todo", todo_object_schema()},
              {"error", {{"type", "string"}}}}},
            {"required", {"index", "status"}}}}}},
        {"created", {{"type", "integer"}}},
        {"duplicates", {{"type", "integer"}}},
        {"errors", {{"type", "integer"}}}}},
      {"description",
       "A single add returns status and todo; a batch (items) returns results, created, "
       "duplicates and errors."},
  };
}

json list_input_schema() {
  return {
      {"type", "object"},
      {"properties",
       {{"status",
         {{"type", "string"},
          {"enum", {"open", "done", "all"}},
          {"default", "open"},
          {"description", "Which todos: open (default), done or all."}}},
        {"due_after",
         {{"type", "string"},
          {"description", std::string("Only todos due on or after this: ") +
                              std::string(due_formats) +
                              ". A date means the start of that day in the reader's time zone."}}},
        {"due_before",
         {{"type", "string"},
          {"description", std::string("Only todos due before this (exclusive): ") +
                              std::string(due_formats) + "."}}},
        {"overdue",
         {{"type", "boolean"},
          {"description",
           "true: only open todos whose due has passed (a date-only due is overdue from the day "
           "after it, in the reader's time zone)."}}},
        {"tag",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 64},
          {"description", "Only todos with this tag (exact)."}}},
        {"text",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 500},
          {"description",
           "Only todos whose title or notes contain this text (case-insensitive, literal)."}}},
        {"sort",
         {{"type", "string"},
          {"enum", {"due", "created", "priority", "title"}},
          {"default", "due"},
          {"description",
           "Order by due (default; todos without a due last), created, priority or title."}}},
        {"order",
         {{"type", "string"},
          {"enum", {"asc", "desc"}},
          {"description",
           "asc or desc; default asc, except desc (high first) for sort=priority."}}},
        {"limit",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 100},
          {"default", 20},
          {"description", "Todos per page, 1 to 100 (default 20)."}}},
        {"cursor",
         {{"type", "string"},
          {"minLength", 1},
          {"description",
           "next_cursor from the previous page; keep the other arguments the same."}}},
        {"timezone",
         {{"type", "string"},
          {"description",
           std::string("The reader's time zone for this call, overriding the configured one: ") +
               std::string(time_zone_forms) + "."}}},
        {"today",
         {{"type", "string"},
          {"description",
           "The reader's local date (YYYY-MM-DD) for overdue checks, when you know it better "
           "than the server's clock and time zone do."}}}}},
      {"additionalProperties", false},
  };
}

json list_output_schema() {
  return {{"type", "object"},
          {"properties",
           {{"todos", {{"type", "array"}, {"items", todo_object_schema()}}},
            {"count", {{"type", "integer"}, {"description", "Todos on this page."}}},
            {"next_cursor",
             {{"type", {"string", "null"}},
              {"description",
               "Pass as cursor (with the same arguments) for the next page; null on the last "
               "page."}}}}},
          {"required", {"todos", "count", "next_cursor"}}};
}

json single_todo_output_schema() {
  return {
      {"type", "object"}, {"properties", {{"todo", todo_object_schema()}}}, {"required", {"todo"}}};
}

json update_input_schema() {
  return {
      {"type", "object"},
      {"properties",
       {{"id", id_property()},
        {"title",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 500},
          {"description", "New title, 1 to 500 characters."}}},
        {"notes",
         {{"type", {"string", "null"}},
          {"maxLength", 20000},
          {"description", "New notes; null or \"\" removes them."}}},
        {"due", due_property(true)},
        {"priority",
         {{"type", "string"},
          {"enum", {"low", "medium", "high"}},
          {"description", "low, medium or high."}}},
        {"tags",
         {{"type", {"array", "null"}},
          {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 64}}},
          {"maxItems", 32},
          {"description", "Replaces all tags; null or [] removes them."}}}}},
      {"required", {"id"}},
      {"additionalProperties", false},
      {"description", "Only the fields given change; give at least one besides id."},
  };
}

// ---------------------------------------------------------------------------------------
// Handlers

mcp::tool_result added_result(const store::add_result& added, const reader_clock& clock) {
  const std::string status = added.created ? "created" : "duplicate";
  std::string text = added.created
                         ? "Added: " + todo_line(added.item, clock)
                         : "Already added by an earlier call with the same client_request_id "
                           "(nothing new was created): " +
                               todo_line(added.item, clock);
  std::string structured = R"({"status":")" + status + R"(","todo":)";
  append_todo_json(structured, added.item, clock);
  structured += '}';
  return mcp::tool_result::structured_text(std::move(structured), std::move(text));
}

mcp::tool_result add_single(todo_tools_state& state, mcp::tool_context& context,
                            const json& arguments) {
  auto item = parse_new_todo(arguments, "");
  const auto& owner = owner_of(context);
  return guarded("todo_add", [&] {
    return added_result(state.todos().add(owner, item, context.stop_token()), state.reader());
  });
}

mcp::tool_result add_batch(todo_tools_state& state, mcp::tool_context& context, const json& items) {
  const auto& owner = owner_of(context);
  // Items whose arguments do not parse get their error here; the rest go to the store as
  // one transaction (which may reject more of them, item by item).
  std::vector<std::string> errors(items.size());
  std::vector<std::size_t> positions;
  std::vector<store::new_todo> valid;
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      valid.push_back(parse_new_todo(items[i], "items[" + std::to_string(i) + "]."));
      positions.push_back(i);
    } catch (const mcp::tool_error& error) {
      errors[i] = error.what();
    }
  }
  return guarded("todo_add", [&] {
    std::vector<store::batch_item_result> stored;
    if (!valid.empty()) stored = state.todos().add_batch(owner, valid, context.stop_token());
    std::vector<std::optional<store::add_result>> added(items.size());
    for (std::size_t k = 0; k < positions.size(); ++k) {
      if (stored[k].added)
        added[positions[k]] = std::move(stored[k].added);
      else
        errors[positions[k]] =
            "Invalid item items[" + std::to_string(positions[k]) + "]: " + stored[k].error;
    }
    const auto clock = state.reader();
    json results = json::array();
    std::size_t created = 0, duplicates = 0, failed = 0;
    std::string text;
    for (std::size_t i = 0; i < items.size(); ++i) {
      json entry = {{"index", i}};
      std::string line = std::to_string(i + 1) + ". ";
      if (added[i]) {
        const bool is_new = added[i]->created;
        (is_new ? created : duplicates)++;
        entry["status"] = is_new ? "created" : "duplicate";
        entry["todo"] = todo_to_json(added[i]->item, clock);
        line +=
            std::string(is_new ? "added: " : "already added earlier (same client_request_id): ") +
            todo_line(added[i]->item, clock);
      } else {
        ++failed;
        entry["status"] = "error";
        entry["error"] = errors[i];
        line += "not added: " + errors[i];
      }
      results.push_back(std::move(entry));
      text += "\n" + line;
    }
    text = "Batch of " + std::to_string(items.size()) + ": " + std::to_string(created) +
           " added, " + std::to_string(duplicates) + " duplicate(s), " + std::to_string(failed) +
           " error(s)." + text;
    return mcp::tool_result::structured({{"results", std::move(results)},
                                         {"created", created},
                                         {"duplicates", duplicates},
                                         {"errors", failed}},
                                        std::move(text));
  });
}

mcp::tool_result handle_add(todo_tools_state& state, mcp::tool_context& context,
                            const json& arguments) {
  const auto items = arguments.find("items");
  if (items != arguments.end()) {
    if (arguments.size() > 1) {
      throw mcp::tool_error(
          "Give either items (a batch of todos, each with its own title, due, ...) or the fields "
          "of a single todo (title, ...), not both. Move the other fields into the items.");
    }
    return add_batch(state, context, *items);
  }
  if (!arguments.contains("title")) {
    throw mcp::tool_error(
        "Missing title: give title (1 to 500 characters) to add one todo, or items (1 to 25 "
        "objects with a title each) to add several.");
  }
  return add_single(state, context, arguments);
}

// A todo_list call's query, with what its result is rendered with.
struct list_request {
  store::todo_query query;
  reader_clock clock;
  std::string status;
};

list_request parse_list_request(todo_tools_state& state, const json& arguments) {
  store::todo_query query;
  // The configured zone, or the one the call names (not copied per call).
  std::optional<reader_time_zone> named;
  if (auto it = arguments.find("timezone"); it != arguments.end()) {
    named = reader_time_zone::parse(it->get<std::string>());
    if (!named) {
      throw mcp::tool_error("Invalid argument timezone: " + it->dump() +
                            " is not understood. Use " + std::string(time_zone_forms) + ".");
    }
  }
  const reader_time_zone& zone = named ? *named : state.zone;
  reader_clock clock{state.clock(), {}};
  if (auto it = arguments.find("today"); it != arguments.end()) {
    // "Overdue as of local date D": the reference instant is the reader's midnight starting D.
    clock.now = zone.day_start(parse_date(*it, "today"));
  }
  clock.utc_offset = zone.offset_at(clock.now);
  // Date-only dues are placed among instants at the reader's midnight, with today's offset.
  query.utc_offset = clock.utc_offset;
  const std::string status = arguments.value("status", "open");
  query.status = status == "done"  ? store::status_filter::done
                 : status == "all" ? store::status_filter::all
                                   : store::status_filter::open;
  if (auto it = arguments.find("due_after"); it != arguments.end())
    query.due_from = parse_due(*it, "due_after");
  if (auto it = arguments.find("due_before"); it != arguments.end())
    query.due_before = parse_due(*it, "due_before");
  if (arguments.value("overdue", false)) query.overdue_at = clock.now;
  if (auto it = arguments.find("tag"); it != arguments.end()) query.tag = it->get<std::string>();
  if (auto it = arguments.find("text"); it != arguments.end()) query.text = it->get<std::string>();
  const std::string sort = arguments.value("sort", "due");
  query.sort = sort == "created"    ? store::todo_sort::created
               : sort == "priority" ? store::todo_sort::priority
               : sort == "title"    ? store::todo_sort::title
                                    : store::todo_sort::due;
  const std::string order =
      arguments.value("order", query.sort == store::todo_sort::priority ? "desc" : "asc");
  query.direction =
      order == "desc" ? store::sort_direction::descending : store::sort_direction::ascending;
  query.limit = arguments.value("limit", std::size_t{20});
  if (auto it = arguments.find("cursor"); it != arguments.end())
    query.cursor = it->get<std::string>();

  return {std::move(query), clock, status};
}

mcp::tool_result list_result(const store::todo_page& page, const list_request& request) {
  const auto& clock = request.clock;
  const auto& status = request.status;
  // {"count":N,"next_cursor":...,"todos":[...]}, written directly (see append_todo_json).
  std::string structured;
  structured.reserve(96 + 512 * page.items.size());
  structured += R"({"count":)";
  structured += std::to_string(page.items.size());
  structured += R"(,"next_cursor":)";
  if (page.next_cursor)
    mcp::append_json_string(structured, *page.next_cursor);
  else
    structured += "null";
  structured += R"(,"todos":[)";
  std::string text;
  text.reserve(160 * page.items.size());
  for (const auto& item : page.items) {
    if (structured.back() != '[') structured += ',';
    append_todo_json(structured, item, clock);
    text += "\n- ";
    append_todo_line(text, item, clock);
  }
  structured += "]}";
  const std::string what = status == "all" ? "todo(s)" : status + " todo(s)";
  text = page.items.empty()
             ? "No " + (status == "all" ? std::string("todos") : status + " todos") + " match."
             : std::to_string(page.items.size()) + " " + what + ":" + text;
  if (page.next_cursor)
    text += "\nMore on the next page: call again with cursor \"" + *page.next_cursor + "\".";
  return mcp::tool_result::structured_text(std::move(structured), std::move(text));
}

mcp::tool_result handle_list(todo_tools_state& state, mcp::tool_context& context,
                             const json& arguments) {
  const auto request = parse_list_request(state, arguments);
  const auto& owner = owner_of(context);
  return guarded("todo_list", [&] {
    return list_result(state.todos().list(owner, request.query, context.stop_token()), request);
  });
}

// todo_add and todo_list without blocking a worker, when the store can (Postgres): the call
// starts on the thread that received it and ends on the store's thread. A batch add is
// declined (it runs as a blocking call on a worker).
bool start_add(todo_tools_state& state, mcp::tool_context& context, const json& arguments,
               mcp::tool_completion done) {
  if (arguments.contains("items") || !arguments.contains("title")) return false;
  auto item = parse_new_todo(arguments, "");
  state.todos().add_async(
      owner_of(context), item, context.stop_token(),
      completing<store::add_result>("todo_add", std::move(done),
                                    [clock = state.reader()](const store::add_result& added) {
                                      return added_result(added, clock);
                                    }));
  return true;
}

bool start_list(todo_tools_state& state, mcp::tool_context& context, const json& arguments,
                mcp::tool_completion done) {
  auto request = parse_list_request(state, arguments);
  const auto query = request.query;
  state.todos().list_async(
      owner_of(context), query, context.stop_token(),
      completing<store::todo_page>("todo_list", std::move(done),
                                   [request = std::move(request)](const store::todo_page& page) {
                                     return list_result(page, request);
                                   }));
  return true;
}

mcp::tool_result single_todo_result(const store::todo& item, const reader_clock& clock,
                                    std::string_view lead) {
  std::string structured = R"({"todo":)";
  append_todo_json(structured, item, clock);
  structured += '}';
  return mcp::tool_result::structured_text(std::move(structured),
                                           std::string(lead) + todo_details(item, clock));
}

mcp::tool_result handle_get(todo_tools_state& state, mcp::tool_context& context,
                            const json& arguments) {
  const auto id = required_id(arguments);
  const auto& owner = owner_of(context);
  return guarded("todo_get", [&] {
    auto item = state.todos().get(owner, id, context.stop_token());
    if (!item) throw not_found(id);
    return single_todo_result(*item, state.reader(), "");
  });
}

mcp::tool_result handle_update(todo_tools_state& state, mcp::tool_context& context,
                               const json& arguments) {
  const auto id = required_id(arguments);
  store::todo_patch patch;
  bool changes = false;
  if (auto it = arguments.find("title"); it != arguments.end()) {
    patch.title = parse_title(*it, "title");
    changes = true;
  }
  if (auto it = arguments.find("notes"); it != arguments.end()) {
    patch.notes = it->is_null() ? store::field_change<std::string>::clear()
                                : store::field_change<std::string>::set(it->get<std::string>());
    changes = true;
  }
  if (auto it = arguments.find("due"); it != arguments.end()) {
    patch.due = it->is_null() ? store::field_change<store::todo_due>::clear()
                              : store::field_change<store::todo_due>::set(parse_due(*it, "due"));
    changes = true;
  }
  if (auto it = arguments.find("priority"); it != arguments.end()) {
    patch.priority = parse_priority(*it, "priority");
    changes = true;
  }
  if (auto it = arguments.find("tags"); it != arguments.end()) {
    patch.tags = it->is_null()
                     ? store::field_change<std::set<std::string>>::clear()
                     : store::field_change<std::set<std::string>>::set(parse_tags(*it, "tags"));
    changes = true;
  }
  if (!changes) {
    throw mcp::tool_error(
        "Nothing to change: give at least one of title, notes, due, priority or tags besides id "
        "(null clears notes, due or tags). To mark a todo done use todo_complete.");
  }
  const auto& owner = owner_of(context);
  return guarded("todo_update", [&] {
    auto item = state.todos().update(owner, id, patch, context.stop_token());
    if (!item) throw not_found(id);
    return single_todo_result(*item, state.reader(), "Updated: ");
  });
}

mcp::tool_result handle_complete(todo_tools_state& state, mcp::tool_context& context,
                                 const json& arguments, bool complete) {
  const auto id = required_id(arguments);
  const auto& owner = owner_of(context);
  return guarded(complete ? "todo_complete" : "todo_reopen", [&] {
    auto item = complete ? state.todos().complete(owner, id, context.stop_token())
                         : state.todos().reopen(owner, id, context.stop_token());
    if (!item) throw not_found(id);
    return single_todo_result(*item, state.reader(), complete ? "Done: " : "Reopened: ");
  });
}

mcp::tool_result handle_delete(todo_tools_state& state, mcp::tool_context& context,
                               const json& arguments) {
  const auto id = required_id(arguments);
  const auto& owner = owner_of(context);
  return guarded("todo_delete", [&] {
    if (!state.todos().remove(owner, id, context.stop_token())) throw not_found(id);
    return mcp::tool_result::structured({{"deleted", true}, {"id", id}},
                                        "Deleted todo " + id + ".");
  });
}

// An export page ends after this many todos, or once its JSON passed this size (a todo is at
// most ~120 KB: 20,000 characters of notes): a whole list in one message could be hundreds of
// MB, more than clients accept.
constexpr std::size_t export_page_todos = 500;
constexpr std::size_t export_page_bytes = 1 << 20;
// The most JSON one todo can take: notes and title written with \u00XX escapes for every
// character, its tags, and the fixed fields.
constexpr std::size_t largest_todo_json_bytes =
    6 * (store::max_notes_chars + store::max_title_chars + store::max_tags * store::max_tag_chars) +
    1024;

mcp::tool_result handle_export(todo_tools_state& state, mcp::tool_context& context,
                               const json& arguments) {
  const auto& owner = owner_of(context);
  return guarded("todo_export", [&] {
    const auto clock = state.reader();
    // Oldest first: the list's pages in creation order, whose cursor is also the export's.
    store::todo_query query;
    query.status = store::status_filter::all;
    query.sort = store::todo_sort::created;
    query.direction = store::sort_direction::ascending;
    if (auto it = arguments.find("cursor"); it != arguments.end())
      query.cursor = it->get<std::string>();
    std::string todos;
    std::size_t count = 0;
    std::optional<std::string> next_cursor;
    for (;;) {
      // Read in steps that cannot pass the budget by more than one todo, however large the
      // todos to come are.
      const std::size_t room = (export_page_bytes - todos.size()) / largest_todo_json_bytes;
      query.limit =
          std::clamp<std::size_t>(room, 1, std::min<std::size_t>(50, export_page_todos - count));
      auto page = state.todos().list(owner, query, context.stop_token());
      for (const auto& item : page.items) {
        if (count++) todos += ',';
        append_todo_json(todos, item, clock);
      }
      next_cursor = std::move(page.next_cursor);
      if (!next_cursor || count >= export_page_todos || todos.size() >= export_page_bytes) break;
      query.cursor = next_cursor;
    }
    // {"count":...,"exported_at":...,"format":...,"next_cursor":...,"owner":...,"todos":[...]},
    // written directly (see append_todo_json).
    std::string document = R"({"count":)" + std::to_string(count) + R"(,"exported_at":")" +
                           format_timestamp(clock.now) +
                           R"(","format":"bookmcp.todos/1","next_cursor":)";
    if (next_cursor)
      mcp::append_json_string(document, *next_cursor);
    else
      document += "null";
    document += R"(,"owner":)";
    mcp::append_json_string(document, owner);
    document += R"(,"todos":[)";
    document += todos;
    document += "]}";
    // The text rendering is the document itself, so clients without structured content can
    // save it as is.
    std::string text = document;
    return mcp::tool_result::structured_text(std::move(document), std::move(text));
  });
}

constexpr std::string_view delete_all_phrase = "DELETE ALL";

mcp::tool_result handle_delete_all(todo_tools_state& state, mcp::tool_context& context,
                                   const json& arguments) {
  const auto confirm = arguments.find("confirm");
  if (confirm == arguments.end() || !confirm->is_string() ||
      confirm->get<std::string>() != delete_all_phrase) {
    throw mcp::tool_error(
        "Nothing was deleted. To erase every todo in your list permanently, call todo_delete_all "
        "again with confirm set to exactly \"DELETE ALL\" — only after the user has asked for it. "
        "(todo_export first keeps a copy.)");
  }
  const auto& owner = owner_of(context);
  return guarded("todo_delete_all", [&] {
    const auto count = state.todos().remove_all(owner, context.stop_token());
    return mcp::tool_result::structured(
        {{"deleted", count}}, "Deleted all " + std::to_string(count) + " todo(s) in your list.");
  });
}

}  // namespace

void register_todo_tools(mcp::server& server, std::shared_ptr<store::database> db,
                         todo_tool_options options) {
  if (!db) throw std::invalid_argument("register_todo_tools: no database");
  auto zone = reader_time_zone::parse(options.time_zone);
  if (!zone) {
    throw std::invalid_argument("todo time zone " + json(options.time_zone).dump() +
                                " is not understood; use " + std::string(time_zone_forms));
  }
  auto state = std::make_shared<todo_tools_state>(
      todo_tools_state{std::move(db), std::move(*zone), options.clock ? options.clock : store::system_now});

  const auto add =
      [&](std::string name, std::string title, std::string description, json input, json output,
          mcp::tool_annotations annotations,
          std::function<mcp::tool_result(todo_tools_state&, mcp::tool_context&, const json&)>
              handler,
          std::function<bool(todo_tools_state&, mcp::tool_context&, const json&,
                             mcp::tool_completion)>
              start = nullptr) {
        mcp::tool_definition tool;
        tool.name = std::move(name);
        tool.title = title;
        tool.description = std::move(description);
        tool.input_schema = std::move(input);
        tool.output_schema = std::move(output);
        annotations.title = std::move(title);
        annotations.open_world_hint = false;
        tool.annotations = std::move(annotations);
        tool.timeout = options.timeout;
        tool.max_concurrency = options.max_concurrency;
        tool.max_queue = options.max_queue;
        tool.handler = [state, handler = std::move(handler)](mcp::tool_context& context,
                                                             const json& arguments) {
          return handler(*state, context, arguments);
        };
        if (start && state->todos().supports_async()) {
          tool.async_handler = [state, start = std::move(start)](mcp::tool_context context,
                                                                 const json& arguments,
                                                                 mcp::tool_completion done) {
            return start(*state, context, arguments, std::move(done));
          };
        }
        server.add_tool(std::move(tool));
      };
  const auto hints = [](bool read_only, bool destructive, bool idempotent) {
    mcp::tool_annotations a;
    a.read_only_hint = read_only;
    if (!read_only) a.destructive_hint = destructive;
    a.idempotent_hint = idempotent;
    return a;
  };

  add("todo_add", "Add todos",
      "Adds a todo to the user's study list: title (required), optional notes, due (a date "
      "YYYY-MM-DD, or a date-time with UTC offset), priority (low/medium/high) and tags. Pass "
      "a client_request_id (e.g. a UUID) so that retrying after a timeout does not add it twice. "
      "To add several at once pass items: an array of 1 to 25 such objects; each gets its own "
      "result (created, duplicate or error).",
      add_input_schema(), add_output_schema(), hints(false, false, false), handle_add, start_add);
  add("todo_list", "List todos",
      "Lists the user's todos, 20 per page by default (limit up to 100). Filters: status "
      "(open by default, done, all), due_after / due_before, overdue, tag, text (in title or "
      "notes). Sort by due (default), created, priority or title. When next_cursor is set, call "
      "again with cursor and the same arguments for the next page.",
      list_input_schema(), list_output_schema(), hints(true, false, true), handle_list, start_list);
  add("todo_get", "Show a todo", "Shows one todo of the user's list by id, with its notes.",
      id_only_schema("The todo to show."), single_todo_output_schema(), hints(true, false, true),
      handle_get);
  add("todo_update", "Change a todo",
      "Changes some fields of a todo: title, notes, due, priority, tags (tags replace the old "
      "ones). Fields not given stay as they are; null clears notes, due or tags. Use "
      "todo_complete / todo_reopen for the status.",
      update_input_schema(), single_todo_output_schema(), hints(false, false, true), handle_update);
  add("todo_complete", "Mark a todo done",
      "Marks a todo done. Completing a todo that is already done changes nothing.",
      id_only_schema("The todo to mark done."), single_todo_output_schema(),
      hints(false, false, true),
      [](todo_tools_state& state, mcp::tool_context& context, const json& arguments) {
        return handle_complete(state, context, arguments, true);
      });
  add("todo_reopen", "Reopen a todo", "Marks a done todo open again.",
      id_only_schema("The todo to reopen."), single_todo_output_schema(), hints(false, false, true),
      [](todo_tools_state& state, mcp::tool_context& context, const json& arguments) {
        return handle_complete(state, context, arguments, false);
      });
  add("todo_delete", "Delete a todo", "Deletes one todo permanently.",
      id_only_schema("The todo to delete."),
      {{"type", "object"},
       {"properties", {{"deleted", {{"type", "boolean"}}}, {"id", {{"type", "string"}}}}},
       {"required", {"deleted", "id"}}},
      hints(false, true, true), handle_delete);
  add("todo_export", "Export all todos",
      "Returns the user's whole todo list as JSON (every todo with all fields, oldest first), "
      "for keeping a copy or moving it elsewhere. A long list comes in pages of up to 500 todos "
      "(fewer when they are large): while next_cursor is not null, call again with it as "
      "cursor for the rest.",
      {{"type", "object"},
       {"properties",
        {{"cursor",
          {{"type", "string"},
           {"description", "next_cursor of the previous page; omit for the first page."}}}}},
       {"additionalProperties", false}},
      {{"type", "object"},
       {"properties",
        {{"format", {{"type", "string"}, {"const", "bookmcp.todos/1"}}},
         {"owner", {{"type", "string"}}},
         {"exported_at", {{"type", "string"}}},
         {"count", {{"type", "integer"}, {"description", "Todos in this page."}}},
         {"next_cursor",
          {{"type", {"string", "null"}},
           {"description", "Pass as cursor for the next page; null on the last page."}}},
         {"todos", {{"type", "array"}, {"items", todo_object_schema()}}}}},
       {"required", {"format", "owner", "exported_at", "count", "next_cursor", "todos"}}},
      hints(true, false, true), handle_export);
  add("todo_delete_all", "Delete all todos",
      "Permanently deletes every todo in the user's list (erasure). Only when the user asked "
      "for it; requires confirm: \"DELETE ALL\" exactly. Consider todo_export first.",
      {{"type", "object"},
       {"properties",
        {{"confirm",
          {{"type", "string"},
           {"description", "Must be exactly \"DELETE ALL\" to confirm the erasure."}}}}},
       {"required", {"confirm"}},
       {"additionalProperties", false}},
      {{"type", "object"},
       {"properties",
        {{"deleted", {{"type", "integer"}, {"description", "How many todos were deleted."}}}}},
       {"required", {"deleted"}}},
      hints(false, true, true), handle_delete_all);
}

}  // namespace bookmcp::tools
