#include "examples/chat/chat_engine.hpp"

#include <date/tz.h>

#include <future>
#include <set>

#include "examples/chat/chat_metrics.hpp"
#include "examples/chat/chat_store.hpp"
#include "examples/chat/extractive_answer.hpp"
#include "examples/chat/llm_client.hpp"
#include "examples/chat/mcp_pool.hpp"
#include "examples/chat/reader_tokens.hpp"
#include "examples/chat/todo_intent.hpp"

namespace bookmcp::chat {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

// A turn that cannot go on: the error event's code and message.
struct turn_failure {
  std::string code;
  std::string message;
  std::optional<std::chrono::milliseconds> retry_after;
};

struct turn_stopped {};

std::string in_quotes(const std::string& text) {
  return "\u201c" + text + "\u201d";
}

// The first text content of a tool result.
std::string result_text(const json& result) {
  for (const auto& item : result.value("content", json::array())) {
    if (item.value("type", "") == "text") return item.value("text", "");
  }
  return "";
}

// At most `bytes` of UTF-8 text, cut before a character's continuation bytes.
std::string cap_utf8(const std::string& text, std::size_t bytes) {
  if (text.size() <= bytes) return text;
  std::size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "\n[… cut: the result was longer]";
}

std::string heading_path_text(const json& hit) {
  std::string out;
  for (const auto& part : hit.value("heading_path", json::array())) {
    if (!out.empty()) out += " \u203a ";
    out += part.get<std::string>();
  }
  return out.empty() ? hit.value("title", "") : out;
}

std::string local_date_line(const std::string& time_zone, std::string& zone_used) {
  const auto now = std::chrono::system_clock::now();
  try {
    const auto* zone = date::locate_zone(time_zone);
    zone_used = time_zone;
    return date::format("%A %Y-%m-%d %H:%M", date::make_zoned(zone, date::floor<std::chrono::minutes>(now)));
  } catch (const std::exception&) {
    zone_used = "UTC";
    return date::format("%A %Y-%m-%d %H:%M", date::floor<std::chrono::minutes>(now));
  }
}

}  // namespace

// ---- citations -------------------------------------------------------------------------------

int citation_book::number(const json& hit) {
  const std::string key = hit.value("uri", hit.value("url", ""));
  if (auto it = by_uri_.find(key); it != by_uri_.end()) return it->second;
  hits_.push_back(hit);
  const int n = static_cast<int>(hits_.size());
  by_uri_.emplace(key, n);
  return n;
}

json citation_book::citation(int n) const {
  const json& hit = hits_.at(static_cast<std::size_t>(n - 1));
  return {{"n", n},
          {"url", hit.value("url", "")},
          {"title", hit.value("title", "")},
          {"heading_path", hit.value("heading_path", json::array())},
          {"path", hit.value("path", "")},
          {"anchor", hit.value("anchor", "")}};
}

namespace {

// Calls `each(n, begin, end)` for every "[digits]" in text.
template <typename F>
void for_each_marker(const std::string& text, F each) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '[') continue;
    std::size_t j = i + 1;
    int n = 0;
    while (j < text.size() && j - i <= 4 && text[j] >= '0' && text[j] <= '9') n = n * 10 + (text[j++] - '0');
    if (j > i + 1 && j < text.size() && text[j] == ']') each(n, i, j + 1);
  }
}

}  // namespace

std::string citation_book::keep_known(const std::string& text) const {
  std::string out;
  std::size_t from = 0;
  for_each_marker(text, [&](int n, std::size_t begin, std::size_t end) {
    if (known(n)) return;
    out.append(text, from, begin - from);
    from = end;
  });
  out.append(text, from);
  return out;
}

json citation_book::cited(const std::string& text) const {
  json out = json::array();
  std::set<int> seen;
  for_each_marker(text, [&](int n, std::size_t, std::size_t) {
    if (known(n) && seen.insert(n).second) out.push_back(citation(n));
  });
  return out;
}

std::string citation_filter::feed(std::string_view piece) {
  held_ += piece;
  // Hold back from the last '[' that may still become a marker ("[", "[1", "[12").
  std::size_t hold = held_.size();
  const auto open = held_.rfind('[');
  if (open != std::string::npos && held_.size() - open <= 5) {
    bool digits = true;
    for (std::size_t i = open + 1; i < held_.size(); ++i) digits = digits && held_[i] >= '0' && held_[i] <= '9';
    if (digits) hold = open;
  }
  std::string ready = book_.keep_known(held_.substr(0, hold));
  held_.erase(0, hold);
  return ready;
}

std::string citation_filter::flush() {
  std::string rest = book_.keep_known(held_);
  held_.clear();
  return rest;
}

// ---- the turn --------------------------------------------------------------------------------

struct chat_engine::turn {
  const turn_request& request;
  answer_stream& out;
  chat_engine& engine;
  std::shared_ptr<mcp::client> client;
  citation_book citations;
  std::string text;
  json tool_calls = json::array();
  steady::time_point start = steady::now();
  std::optional<steady::time_point> first_token;
  std::string mode;
  bool cut_by_length = false;  // the model stopped at its length limit
  int calls = 0;

  std::stop_token stop() const { return out.stop_token(); }
  void check_stop() const {
    if (stop().stop_requested()) throw turn_stopped{};
  }

  void token(const std::string& piece) {
    if (piece.empty()) return;
    if (!first_token) first_token = steady::now();
    text += piece;
    out.emit("token", {{"text", piece}});
  }

  // Streams finished Markdown in small pieces, as a model would.
  void stream_text(const std::string& markdown) {
    std::size_t from = 0;
    while (from < markdown.size()) {
      std::size_t end = std::min(markdown.size(), from + 24);
      while (end < markdown.size() && markdown[end] != ' ' && markdown[end] != '\n') ++end;
      token(markdown.substr(from, end - from));
      from = end;
    }
  }

  mcp::client& mcp() {
    if (!client) {
      try {
        client = engine.mcp_.client_for(request.reader_id);
      } catch (const mcp_unavailable& e) {
        throw turn_failure{"bookmcp_unavailable",
                           std::string("The book service is not reachable right now. ") + e.what()};
      }
    }
    return *client;
  }

  // One MCP tool call as the reader, announced to the reader as it starts and ends.
  json call(const std::string& name, const json& arguments, const std::string& label) {
    check_stop();
    const std::string id = "tc_" + std::to_string(++calls);
    out.emit("tool_call", {{"id", id}, {"name", name}, {"arguments", arguments}, {"label", label}});
    auto& client_ref = mcp();
    auto pending = client_ref.start_tool_call(name, arguments);
    std::string outcome = "ok";
    json result;
    {
      // Stop cancels the call on bookmcp's side (notifications/cancelled), not only here.
      std::stop_callback on_stop(stop(), [&client_ref, call_id = pending.id] {
        client_ref.cancel(call_id, "the reader stopped the answer");
      });
      if (pending.result.wait_for(engine.options_.tool_timeout) != std::future_status::ready) {
        client_ref.cancel(pending.id, "the chat backend's per-call timeout passed");
        engine.metrics_.tool_call(name, "timeout");
        throw turn_failure{"tool_timeout", "The book service took too long to answer (" + name + ")."};
      }
      try {
        result = pending.result.get();
      } catch (const std::exception& e) {
        if (stop().stop_requested()) {
          engine.metrics_.tool_call(name, "cancelled");
          throw turn_stopped{};
        }
        engine.metrics_.tool_call(name, "error");
        throw turn_failure{"bookmcp_unavailable",
                           std::string("The book service failed during the answer: ") + e.what()};
      }
    }
    const bool is_error = result.value("isError", false);
    outcome = is_error ? "error" : "ok";
    engine.metrics_.tool_call(name, outcome);
    json event = {{"id", id}, {"name", name}, {"is_error", is_error}};
    const json structured = result.value("structuredContent", json::object());
    std::string summary = result_text(result);
    if (name == "search_book" && structured.contains("hits")) {
      summary = std::to_string(structured["hits"].size()) + " sections found";
    }
    if (structured.contains("todo")) event["todo"] = structured["todo"];
    if (structured.contains("todos")) event["todos"] = structured["todos"];
    event["summary"] = cap_utf8(summary, 300);
    out.emit("tool_result", event);
    // Stored as the reader saw it, so that a reloaded conversation shows its todo cards again.
    json stored = event;
    stored["arguments"] = arguments;
    tool_calls.push_back(std::move(stored));
    return result;
  }
};

chat_engine::chat_engine(engine_options options, mcp_pool& mcp, chat_store& store, llm_client* llm,
                         chat_metrics& metrics)
    : options_(std::move(options)), mcp_(mcp), store_(store), llm_(llm), metrics_(metrics) {}

turn_outcome chat_engine::run(const turn_request& request, answer_stream& out) {
  turn t{request, out, *this};
  t.mode = llm_ ? "llm" : "extractive";
  out.emit("meta", {{"message_id", out.message_id()},
                    {"conversation_id", request.conversation_id},
                    {"mode", t.mode},
                    {"reader_id", request.todos_allowed ? request.reader_id : ""}});
  turn_outcome outcome;
  outcome.mode = t.mode;
  try {
    if (llm_) {
      run_llm(t);
    } else {
      run_extractive(t);
    }
    outcome.finish_reason = outcome.finish_reason.empty() ? "stop" : outcome.finish_reason;
  } catch (const turn_stopped&) {
    outcome.finish_reason = "cancelled";
  } catch (const turn_failure& failure) {
    outcome.finish_reason = "error";
    outcome.error_code = failure.code;
    json data = {{"code", failure.code}, {"message", failure.message}};
    if (failure.retry_after) data["retry_after"] = (failure.retry_after->count() + 999) / 1000;
    metrics_.error(failure.code);
    out.emit("error", data);
    out.finish();
    return outcome;
  }
  if (out.stop_token().stop_requested()) outcome.finish_reason = "cancelled";
  if (t.cut_by_length && outcome.finish_reason == "stop") outcome.finish_reason = "length";
  outcome.text = t.text;
  outcome.citations = t.citations.cited(t.text);
  for (const auto& citation : outcome.citations) out.emit("citation", citation);

  const auto now = steady::now();
  const double total_ms = std::chrono::duration<double, std::milli>(now - t.start).count();
  const double first_ms = std::chrono::duration<double, std::milli>(t.first_token.value_or(now) - t.start).count();
  json timings = {{"first_token_ms", first_ms}, {"total_ms", total_ms}};

  stored_message question;
  question.id = request.user_message_id;
  question.role = "user";
  question.text = request.text;
  question.created_at = unix_millis_now();
  stored_message answer;
  answer.id = out.message_id();
  answer.role = "assistant";
  answer.text = outcome.text;
  answer.citations = outcome.citations;
  answer.tool_calls = t.tool_calls;
  answer.finish_reason = outcome.finish_reason;
  answer.mode = outcome.mode;
  answer.timings = timings;
  answer.created_at = question.created_at;
  try {
    store_.save_turn(request.reader_id, request.conversation_id, request.title, question, answer);
  } catch (const std::exception& e) {
    metrics_.error("storage_unavailable");
    out.emit("error", {{"code", "storage_unavailable"},
                       {"message", std::string("The answer could not be saved: ") + e.what()}});
    out.finish();
    outcome.finish_reason = "error";
    outcome.error_code = "storage_unavailable";
    return outcome;
  }
  metrics_.turn(outcome.mode, std::chrono::duration<double>(now - t.start),
                std::chrono::duration<double>(t.first_token.value_or(now) - t.start));
  out.emit("done", {{"message_id", out.message_id()},
                    {"finish_reason", outcome.finish_reason},
                    {"timings", timings}});
  out.finish();
  return outcome;
}

// ---- without an LLM --------------------------------------------------------------------------

void chat_engine::run_extractive(turn& t) {
  if (run_todo_request(t)) return;
  answer_from_book(t);
}

namespace {

std::string todo_line(const json& todo) {
  std::string line = "**" + todo.value("title", std::string("(untitled)")) + "**";
  if (todo.contains("due") && todo["due"].is_string()) line += " (due " + todo["due"].get<std::string>() + ")";
  if (todo.value("status", "") == "done") line += " \u2714";
  return line;
}

}  // namespace

bool chat_engine::run_todo_request(turn& t) {
  const auto& request = t.request;
  // An answer to "Delete …? (yes/no)" asked in this conversation.
  json pending;
  {
    std::lock_guard lock(pending_mutex_);
    if (auto it = pending_deletes_.find(request.conversation_id); it != pending_deletes_.end()) {
      pending = it->second;
      pending_deletes_.erase(it);
    }
  }
  if (!pending.is_null()) {
    if (auto yes = understand_confirmation(request.text)) {
      if (*yes) {
        json result = t.call("todo_delete", {{"id", pending["id"]}}, "Deleted a todo");
        t.stream_text(result.value("isError", false) ? result_text(result)
                                                     : "Deleted " + in_quotes(pending.value("title", "")) + ".");
      } else {
        t.stream_text("Kept " + in_quotes(pending.value("title", "")) + ".");
      }
      return true;
    }
  }

  const auto intent = understand_todo(request.text, std::chrono::system_clock::now(), request.time_zone);
  if (!intent) return false;
  if (!request.todos_allowed) {
    t.stream_text("Todos belong to a reader's session: open the chat panel on the book's site to keep "
                  "a todo list. I can answer questions about the book here.");
    return true;
  }
  switch (intent->action) {
    case todo_action::add: {
      json result = t.call("todo_add", intent->tool_arguments(), "Added a todo");
      if (result.value("isError", false)) {
        t.stream_text("I could not add it: " + result_text(result));
      } else {
        const json todo = result["structuredContent"].value("todo", json::object());
        t.stream_text("Added " + todo_line(todo) + " to your list.");
      }
      return true;
    }
    case todo_action::list: {
      json result = t.call("todo_list", intent->tool_arguments(), "Looked at your todos");
      if (result.value("isError", false)) {
        t.stream_text("I could not read your list: " + result_text(result));
        return true;
      }
      const json todos = result["structuredContent"].value("todos", json::array());
      if (todos.empty()) {
        t.stream_text("Nothing there.");
        return true;
      }
      std::string text = "Here " + std::string(todos.size() == 1 ? "is 1 todo" : "are " + std::to_string(todos.size()) + " todos") + ":\n\n";
      for (const auto& todo : todos) text += "- " + todo_line(todo) + "\n";
      t.stream_text(text);
      return true;
    }
    case todo_action::complete:
    case todo_action::reopen:
    case todo_action::remove: {
      const bool done_ones = intent->action == todo_action::reopen;
      json listed = t.call("todo_list", {{"status", done_ones ? "done" : "open"}, {"limit", 100}},
                           "Looked at your todos");
      const json todos = listed.value("structuredContent", json::object()).value("todos", json::array());
      const auto picked = pick_todo(intent->reference, todos);
      if (!picked) {
        t.stream_text(todos.empty() ? "You have no " + std::string(done_ones ? "finished" : "open") + " todos."
                                    : "I could not tell which todo you mean by " + in_quotes(intent->reference) +
                                          ". Say a few words of its title.");
        return true;
      }
      const json& todo = todos[*picked];
      if (intent->action == todo_action::remove) {
        {
          std::lock_guard lock(pending_mutex_);
          pending_deletes_[request.conversation_id] = todo;
        }
        t.stream_text("Delete " + todo_line(todo) + "? Answer **yes** to delete it or **no** to keep it.");
        return true;
      }
      const bool complete = intent->action == todo_action::complete;
      json result = t.call(complete ? "todo_complete" : "todo_reopen", {{"id", todo["id"]}},
                           complete ? "Marked a todo done" : "Reopened a todo");
      t.stream_text(result.value("isError", false)
                        ? result_text(result)
                        : (complete ? "Done: " : "Reopened: ") + todo_line(result["structuredContent"].value("todo", todo)) + ".");
      return true;
    }
  }
  return false;
}

void chat_engine::answer_from_book(turn& t) {
  const auto& request = t.request;
  std::string query = request.text;
  json found = t.call("search_book", {{"query", query}, {"limit", 5}}, "Searched the book for " + in_quotes(query));
  if (found.value("isError", false)) {
    t.stream_text("The search failed: " + result_text(found));
    return;
  }
  const json hits = found.value("structuredContent", json::object()).value("hits", json::array());
  // The top sections, read whole (resources/read of each hit's book:// URI), at the same time.
  std::vector<source_section> sections;
  std::vector<std::pair<json, mcp::client::pending>> reads;
  for (const auto& hit : hits) {
    if (reads.size() >= options_.sections_read) break;
    if (!hit.contains("uri")) continue;
    reads.emplace_back(hit, t.mcp().start_request("resources/read", {{"uri", hit["uri"]}}));
  }
  for (auto& [hit, pending] : reads) {
    std::string text = hit.value("snippet", "");
    if (pending.result.wait_for(options_.tool_timeout) == std::future_status::ready) {
      try {
        const json contents = pending.result.get().value("contents", json::array());
        if (!contents.empty()) text = contents[0].value("text", text);
      } catch (const std::exception&) {
        // The snippet stands in for a section that could not be read.
      }
    }
    t.check_stop();
    source_section section;
    section.n = t.citations.number(hit);
    section.title = hit.value("title", "");
    for (const auto& part : hit.value("heading_path", json::array())) section.heading_path.push_back(part.get<std::string>());
    section.url = hit.value("url", "");
    section.text = std::move(text);
    sections.push_back(std::move(section));
  }
  const extractive_result answer = extractive_answer(query, sections);
  t.stream_text(answer.markdown);
}

// ---- with an LLM -----------------------------------------------------------------------------

void chat_engine::run_llm(turn& t) {
  const auto& request = t.request;
  std::string zone;
  const std::string now_line = local_date_line(request.time_zone, zone);
  std::string system =
      "You are the reading assistant of an online textbook. Today is " + now_line + " in the "
      "reader's time zone (" + zone + ").";
  const auto& context = request.context;
  if (context.is_object() && !context.value("url", "").empty()) {
    system += " The reader is on the page \"" + context.value("title", "") + "\" (" +
              context.value("url", "") +
              (context.value("anchor", "").empty() ? "" : "#" + context.value("anchor", "")) + ").";
  }
  system +=
      "\nAnswer questions about the book from the book: call search_book first, then answer "
      "briefly in Markdown and cite each section you use by its number in square brackets, "
      "like [1], exactly as the search results number them; never make up a number or a link. "
      "If the book does not cover the question, say so.";
  if (request.todos_allowed) {
    system += " Keep the reader's study todos with the todo tools; due dates are in the "
              "reader's time zone. Ask before deleting a todo.";
  }
  json messages = json::array({{{"role", "system"}, {"content", system}}});
  for (const auto& earlier : store_.recent_messages(request.reader_id, request.conversation_id,
                                                    options_.history_messages)) {
    messages.push_back({{"role", earlier.role}, {"content", earlier.text}});
  }
  std::string user = request.text;
  if (context.is_object() && !context.value("selection", "").empty()) {
    user = "About this passage of the page: \"" + cap_utf8(context.value("selection", ""), 2000) +
           "\"\n\n" + user;
  }
  messages.push_back({{"role", "user"}, {"content", user}});

  json tools = json::array();
  std::vector<json> listed;
  try {
    listed = mcp_.tools_for(request.reader_id);
  } catch (const std::exception& e) {
    throw turn_failure{"bookmcp_unavailable", std::string("The book service is not reachable right now. ") + e.what()};
  }
  for (const auto& tool : listed) {
    const std::string name = tool.value("name", "");
    if (std::find(options_.reader_tools.begin(), options_.reader_tools.end(), name) == options_.reader_tools.end()) continue;
    if (!request.todos_allowed && name != "search_book") continue;
    tools.push_back({{"type", "function"},
                     {"function", {{"name", name},
                                   {"description", tool.value("description", "")},
                                   {"parameters", llm_->function_schema(tool.value("inputSchema", json::object()))}}}});
  }

  std::set<std::string> made;  // name + arguments of calls already made this turn
  citation_filter filter(t.citations);
  for (std::size_t step = 0;; ++step) {
    t.check_stop();
    // The last step gets no tools, so that it answers with what it found.
    const bool last_step = step + 1 >= options_.max_steps;
    completion_result result;
    try {
      result = llm_->complete(messages, last_step ? json::array() : tools,
                              [&](const completion_delta& delta) { t.token(filter.feed(delta.text)); },
                              t.stop());
    } catch (const llm_error& e) {
      throw turn_failure{e.code(), e.what(), e.retry_after()};
    }
    t.token(filter.flush());
    if (result.usage) {
      metrics_.llm_tokens(result.usage->value("prompt_tokens", 0), result.usage->value("completion_tokens", 0));
    }
    t.check_stop();
    if (!result.wants_tools()) {
      t.cut_by_length = result.finish_reason == "length";
      return;
    }
    json assistant = {{"role", "assistant"}, {"content", result.text.empty() ? json(nullptr) : json(result.text)}};
    assistant["tool_calls"] = json::array();
    for (const auto& call : result.tool_calls) assistant["tool_calls"].push_back(call.as_request());
    messages.push_back(assistant);
    for (const auto& call : result.tool_calls) {
      std::string reply;
      const bool allowed = std::any_of(tools.begin(), tools.end(), [&](const json& tool) {
        return tool["function"]["name"] == call.name;
      });
      if (!allowed) {
        reply = "There is no tool named " + call.name + " for this chat.";
      } else if (!call.arguments_valid()) {
        reply = "The arguments were not a JSON object; call " + call.name + " again with valid JSON.";
      } else {
        const json arguments = call.arguments.empty() ? json::object() : json::parse(call.arguments);
        if (!made.insert(call.name + arguments.dump()).second) {
          reply = "You already called " + call.name + " with these arguments in this answer; use that result.";
        } else {
          const std::string label = call.name == "search_book"
                                        ? "Searched the book for " + in_quotes(arguments.value("query", ""))
                                        : "Used " + call.name;
          const json answer = t.call(call.name, arguments, label);
          const json structured = answer.value("structuredContent", json::object());
          if (call.name == "search_book" && structured.contains("hits") && !answer.value("isError", false)) {
            reply = structured["hits"].empty() ? "No section of the book matches.\n" : "";
            for (const auto& hit : structured["hits"]) {
              const int n = t.citations.number(hit);
              reply += "[" + std::to_string(n) + "] " + heading_path_text(hit) + " (" + hit.value("url", "") + ")\n" +
                       hit.value("snippet", "") + "\n\n";
            }
          } else {
            reply = (answer.value("isError", false) ? "Error: " : "") + result_text(answer);
            if (reply.empty() && !structured.empty()) reply = structured.dump();
          }
        }
      }
      messages.push_back({{"role", "tool"}, {"tool_call_id", call.id}, {"content", cap_utf8(reply, options_.tool_result_bytes)}});
    }
  }
}

}  // namespace bookmcp::chat
