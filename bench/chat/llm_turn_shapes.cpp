#include "bench/chat/llm_turn_shapes.hpp"

#include <algorithm>
#include <array>
#include <ctime>

namespace bookmcp::bench::chat {

using json = nlohmann::json;

namespace {

// The tools bookmcp-chat offers a reader with a session (examples/chat/chat_engine.hpp).
constexpr std::array<std::string_view, 8> kReaderTools = {
    "search_book", "todo_add",      "todo_list",   "todo_get",
    "todo_update", "todo_complete", "todo_reopen", "todo_delete"};

std::string today_line() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  gmtime_r(&now, &local);
  char text[64];
  std::strftime(text, sizeof text, "%A %Y-%m-%d %H:%M", &local);
  return text;
}

}  // namespace

json reader_functions(const json& listed_tools) {
  json functions = json::array();
  for (const auto& tool : listed_tools) {
    const std::string name = tool.value("name", "");
    if (std::find(kReaderTools.begin(), kReaderTools.end(), name) == kReaderTools.end()) continue;
    functions.push_back({{"type", "function"},
                         {"function",
                          {{"name", name},
                           {"description", tool.value("description", "")},
                           {"parameters", tool.value("inputSchema", json::object())}}}});
  }
  return functions;
}

json first_llm_request(const std::string& model, const std::string& question,
                       const json& functions) {
  // Of the same length and parts as bookmcp-chat's system prompt: the date, the page, the rules
  // for citing, the todo rules.
  const std::string system =
      "You are the reading assistant of an online textbook. Today is " + today_line() +
      " in the reader's time zone (Europe/Berlin). The reader is on the page \"Introduction\" "
      "(/docs/intro).\nAnswer questions about the book from the book: call search_book first, then "
      "answer briefly in Markdown and cite each section you use by its number in square brackets, "
      "like [1], exactly as the search results number them; never make up a number or a link. If "
      "the book does not cover the question, say so. Keep the reader's study todos with the todo "
      "tools; due dates are in the reader's time zone. Ask before deleting a todo.";
  json body = {{"model", model},
               {"messages", json::array({{{"role", "system"}, {"content", system}},
                                         {{"role", "user"}, {"content", question}}})},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (!functions.empty()) body["tools"] = functions;
  return body;
}

json second_llm_request(const json& first, const std::vector<llm_tool_call>& calls,
                        const std::vector<std::string>& tool_contents) {
  json body = first;
  json assistant = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array()}};
  for (const auto& call : calls) {
    assistant["tool_calls"].push_back(
        {{"id", call.id},
         {"type", "function"},
         {"function",
          {{"name", call.name}, {"arguments", call.arguments.empty() ? "{}" : call.arguments}}}});
  }
  body["messages"].push_back(std::move(assistant));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    body["messages"].push_back(
        {{"role", "tool"},
         {"tool_call_id", calls[i].id},
         {"content", i < tool_contents.size() ? tool_contents[i] : std::string()}});
  }
  return body;
}

std::string search_result_for_model(const json& call_tool_result) {
  const json hits =
      call_tool_result.value("structuredContent", json::object()).value("hits", json::array());
  if (hits.empty()) return "No section of the book matches.\n";
  std::string reply;
  int n = 0;
  for (const auto& hit : hits) {
    std::string path;
    for (const auto& part : hit.value("heading_path", json::array())) {
      if (!path.empty()) path += " \u203a ";
      path += part.get<std::string>();
    }
    if (path.empty()) path = hit.value("title", "");
    reply.append(1, '[').append(std::to_string(++n)).append("] ").append(path);
    reply.append(" (")
        .append(hit.value("url", ""))
        .append(")\n")
        .append(hit.value("snippet", ""))
        .append("\n\n");
  }
  return reply;
}

void tool_call_collector::take(std::string_view data) {
  if (data == "[DONE]") return;
  const json chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object() || !chunk.contains("choices") || !chunk["choices"].is_array()) return;
  for (const auto& choice : chunk["choices"]) {
    const json delta = choice.value("delta", json::object());
    if (!delta.contains("tool_calls") || !delta["tool_calls"].is_array()) continue;
    for (const auto& fragment : delta["tool_calls"]) {
      const std::string id = fragment.value("id", "");
      const long index = fragment.contains("index") && fragment["index"].is_number_integer()
                             ? fragment["index"].get<long>()
                             : -1;
      llm_tool_call* call = nullptr;
      for (std::size_t i = 0; i < calls_.size(); ++i) {
        const bool same_index =
            index >= 0 && indexes_[i] == index && (id.empty() || calls_[i].id == id);
        const bool same_id = index < 0 && !id.empty() && calls_[i].id == id;
        if (same_index || same_id) call = &calls_[i];
      }
      if (!call) {
        calls_.push_back({id, "", ""});
        indexes_.push_back(index);
        call = &calls_.back();
      }
      const json function = fragment.value("function", json::object());
      if (function.contains("name") && function["name"].is_string())
        call->name += function["name"].get<std::string>();
      if (function.contains("arguments") && function["arguments"].is_string()) {
        call->arguments += function["arguments"].get<std::string>();
      }
    }
  }
}

}  // namespace bookmcp::bench::chat
