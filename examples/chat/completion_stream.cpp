#include "examples/chat/completion_stream.hpp"

namespace bookmcp::chat {

using json = nlohmann::json;

namespace {

std::string text_of(const json& value) { return value.is_string() ? value.get<std::string>() : ""; }

// An error object may carry its message as a string, or nested ({"error": {"message": ...}}).
std::string error_message(const json& error) {
  const json* at = &error;
  for (int depth = 0; depth < 10; ++depth) {
    if (at->is_string()) return at->get<std::string>();
    if (!at->is_object()) break;
    if (auto message = at->find("message"); message != at->end() && message->is_string())
      return message->get<std::string>();
    auto inner = at->find("error");
    if (inner == at->end()) break;
    at = &*inner;
  }
  return error.dump().substr(0, 300);
}

}  // namespace

bool tool_call::arguments_valid() const {
  if (arguments.find_first_not_of(" \t\r\n") == std::string::npos) return true;
  const json parsed = json::parse(arguments, nullptr, false);
  return parsed.is_object();
}

json tool_call::as_request() const {
  json out = extra;
  out["id"] = id;
  out["type"] = "function";
  out["function"] = {{"name", name}, {"arguments", arguments.empty() ? "{}" : arguments}};
  return out;
}

completion_delta completion_stream::take(std::string_view data) {
  completion_delta delta;
  if (result_.done) throw completion_stream_error("the stream went on after [DONE]");
  if (data == "[DONE]") {
    result_.done = true;
    return delta;
  }
  const json chunk = json::parse(data, nullptr, false);
  if (chunk.is_discarded()) throw completion_stream_error("a streamed chunk that is not JSON");
  if (!chunk.is_object()) throw completion_stream_error("a streamed chunk that is not an object");
  if (auto error = chunk.find("error"); error != chunk.end() && !error->is_null())
    throw completion_stream_error("the model's endpoint reported: " + error_message(*error));
  if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object())
    result_.usage = *usage;
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return delta;  // usage-only, null choices
  for (const auto& choice : *choices) {
    if (!choice.is_object()) continue;
    // One answer is asked for (n = 1); other choices are not ours.
    if (auto index = choice.find("index"); index != choice.end() && index->is_number_integer() &&
                                           index->get<long long>() != 0)
      continue;
    if (auto reason = choice.find("finish_reason"); reason != choice.end() && reason->is_string())
      result_.finish_reason = reason->get<std::string>();
    const auto d = choice.find("delta");
    if (d == choice.end() || !d->is_object()) continue;
    if (auto content = d->find("content"); content != d->end() && content->is_string()) {
      delta.text += content->get<std::string>();
    }
    const auto calls = d->find("tool_calls");
    if (calls == d->end() || !calls->is_array()) continue;
    for (const auto& fragment : *calls) {
      if (!fragment.is_object()) continue;
      bool started = false;
      tool_call& call = call_for(fragment, started);
      delta.tool_call_started = delta.tool_call_started || started;
      if (auto function = fragment.find("function"); function != fragment.end() &&
                                                     function->is_object()) {
        // A name is set once (some providers repeat it on every fragment).
        if (const std::string name = text_of(function->value("name", json())); !name.empty() &&
                                                                               call.name.empty())
          call.name = name;
        call.arguments += text_of(function->value("arguments", json()));
      }
      for (const auto& [key, value] : fragment.items()) {
        if (key == "index" || key == "id" || key == "type" || key == "function") continue;
        if (value.is_object() && call.extra.contains(key) && call.extra[key].is_object())
          call.extra[key].merge_patch(value);
        else
          call.extra[key] = value;
      }
    }
  }
  result_.text += delta.text;
  return delta;
}

tool_call& completion_stream::call_for(const json& fragment, bool& started) {
  auto& calls = result_.tool_calls;
  const std::string id = text_of(fragment.value("id", json()));
  std::optional<long long> index;
  if (auto i = fragment.find("index"); i != fragment.end() && i->is_number_integer())
    index = i->get<long long>();
  auto start = [&](std::string new_id) -> tool_call& {
    started = true;
    tool_call call;
    call.id = new_id.empty() ? "call_" + std::to_string(calls.size() + 1) : std::move(new_id);
    // Two calls may not share an id (the tool results are matched by it).
    for (const auto& other : calls)
      if (other.id == call.id) call.id += "_" + std::to_string(calls.size() + 1);
    calls.push_back(std::move(call));
    indexes_.push_back(index);
    return calls.back();
  };
  if (index) {
    // The latest call under this index; a different non-empty id there starts a new one.
    for (std::size_t k = calls.size(); k-- > 0;) {
      if (indexes_[k] != index) continue;
      if (id.empty() || id == calls[k].id) return calls[k];
      return start(id);
    }
    return start(id);
  }
  if (!id.empty()) {
    for (std::size_t k = calls.size(); k-- > 0;)
      if (calls[k].id == id) return calls[k];
    return start(id);
  }
  // Neither index nor id: a continuation of the latest call, or the first.
  if (!calls.empty()) return calls.back();
  return start({});
}

}  // namespace bookmcp::chat
