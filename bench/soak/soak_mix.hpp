#pragma once
// The soak's calls: what a reader's assistant sends, in proportions (search_book, pages and
// sections through resources/read, and a todo list that is added to, listed, completed and
// deleted so that it stays short). One call_mix per transport; used by that transport's
// thread only.

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::bench::soak {

struct planned_call {
  std::string_view kind;     // "search_book", "resources/read", "todo_add", ...
  std::string method;        // "tools/call" or "resources/read"
  std::string params_json;   // a JSON object
  std::string todo_id;       // for todo_complete / todo_delete
};

// {"jsonrpc":"2.0","id":ID,"method":...,"params":...}
std::string request_text(std::int64_t id, const planned_call& call);

class call_mix {
 public:
  // `uris`: book://doc/... pages and sections that resources/read asks for (none: no reads).
  call_mix(std::uint64_t seed, std::vector<std::string> uris, std::string title_prefix);

  planned_call next();
  // The answer to `call` (its whole message text when `ok`): keeps the ids of added todos.
  void answered(const planned_call& call, bool ok, std::string_view message);

  std::size_t todos_held() const { return open_.size() + done_.size(); }

 private:
  planned_call todo_list();

  std::mt19937_64 random_;
  std::vector<std::string> uris_;
  std::string title_prefix_;
  std::uint64_t added_ = 0;
  std::deque<std::string> open_;  // added by this mix, not yet completed
  std::deque<std::string> done_;  // completed, not yet deleted
};

// The todo id in a todo_add answer (structuredContent.todo.id); empty when there is none.
std::string added_todo_id(std::string_view message);

}  // namespace bookmcp::bench::soak
