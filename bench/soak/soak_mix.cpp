#include "bench/soak/soak_mix.hpp"

#include <array>
#include <charconv>

#include <nlohmann/json.hpp>

namespace bookmcp::bench::soak {

namespace {

using json = nlohmann::json;

// Questions a reader of the Physical AI book (or of the sample book) might ask; some match
// many sections, some few, some nothing.
constexpr std::array<std::string_view, 32> kQueries = {
    "humanoid balance control",       "zero moment point",           "ROS 2 nodes in Python",
    "launch files parameters",        "LiDAR point cloud",           "camera calibration",
    "IMU sensor fusion",              "Kalman filter state estimation", "inverse kinematics",
    "Jacobian singularities",         "PID controller tuning",       "gait planning walking",
    "grasping manipulation",          "reinforcement learning reward", "sim to real transfer",
    "SLAM localization mapping",      "motion planning RRT",         "path planning A*",
    "human robot interaction safety", "computer vision object detection", "topics services actions",
    "quality of service DDS",         "embodied intelligence",       "torque control actuators",
    "dynamics Lagrangian",            "Gazebo simulation",           "Isaac Sim",
    "vision language action models",  "push recovery",               "end effector trajectory",
    "what is physical AI",            "lab infrastructure GPU workstation"};

constexpr std::array<std::string_view, 4> kPriorities = {"low", "medium", "high", "medium"};
constexpr std::array<std::string_view, 4> kTags = {"reading", "exercise", "review", "lab"};

// Out of 100: search 40, read 10, list 20, add 12, complete 8, delete 10. Without pages to
// read, reads become searches.
enum class call_kind { search, read, list, add, complete, remove };

call_kind pick(std::uint64_t roll) {
  const auto r = roll % 100;
  if (r < 40) return call_kind::search;
  if (r < 50) return call_kind::read;
  if (r < 70) return call_kind::list;
  if (r < 82) return call_kind::add;
  if (r < 90) return call_kind::complete;
  return call_kind::remove;
}

// At most this many of a mix's own todos are kept; past it an add becomes a delete.
constexpr std::size_t kMaxHeld = 40;

}  // namespace

std::string request_text(std::int64_t id, const planned_call& call) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, id).ptr;
  std::string text;
  text.reserve(64 + call.method.size() + call.params_json.size());
  text.append(R"({"jsonrpc":"2.0","id":)").append(digits, end).append(R"(,"method":")");
  text.append(call.method).append(R"(","params":)").append(call.params_json).append("}");
  return text;
}

call_mix::call_mix(std::uint64_t seed, std::vector<std::string> uris, std::string title_prefix)
    : random_(seed), uris_(std::move(uris)), title_prefix_(std::move(title_prefix)) {}

planned_call call_mix::todo_list() {
  planned_call call{.kind = "todo_list", .method = "tools/call", .params_json = {}, .todo_id = {}};
  switch (random_() % 4) {
    case 0:
      call.params_json = R"({"name":"todo_list","arguments":{"status":"all","limit":20}})";
      break;
    case 1:
      call.params_json = R"({"name":"todo_list","arguments":{"sort":"priority","limit":10}})";
      break;
    default:
      call.params_json = R"({"name":"todo_list","arguments":{"limit":20}})";
  }
  return call;
}

planned_call call_mix::next() {
  call_kind kind = pick(random_());
  if (kind == call_kind::read && uris_.empty()) kind = call_kind::search;
  if (kind == call_kind::add && todos_held() >= kMaxHeld) kind = call_kind::remove;
  if (kind == call_kind::complete && open_.empty()) kind = call_kind::list;
  if (kind == call_kind::remove && open_.empty() && done_.empty()) kind = call_kind::list;

  switch (kind) {
    case call_kind::search: {
      const json arguments = {{"query", std::string(kQueries[random_() % kQueries.size()])},
                              {"limit", 5}};
      return {.kind = "search_book",
              .method = "tools/call",
              .params_json = json{{"name", "search_book"}, {"arguments", arguments}}.dump(),
              .todo_id = {}};
    }
    case call_kind::read:
      return {.kind = "resources/read",
              .method = "resources/read",
              .params_json = json{{"uri", uris_[random_() % uris_.size()]}}.dump(),
              .todo_id = {}};
    case call_kind::list:
      return todo_list();
    case call_kind::add: {
      ++added_;
      json arguments = {{"title", title_prefix_ + " " + std::to_string(added_) + ": " +
                                      std::string(kQueries[random_() % kQueries.size()])},
                        {"priority", std::string(kPriorities[random_() % kPriorities.size()])}};
      if (random_() % 2 == 0) arguments["tags"] = {std::string(kTags[random_() % kTags.size()])};
      if (random_() % 3 == 0) arguments["due"] = "2027-0" + std::to_string(1 + random_() % 9) + "-15";
      if (random_() % 4 == 0) arguments["notes"] = "from the soak test";
      return {.kind = "todo_add",
              .method = "tools/call",
              .params_json = json{{"name", "todo_add"}, {"arguments", arguments}}.dump(),
              .todo_id = {}};
    }
    case call_kind::complete: {
      std::string id = std::move(open_.front());
      open_.pop_front();
      return {.kind = "todo_complete",
              .method = "tools/call",
              .params_json = json{{"name", "todo_complete"}, {"arguments", {{"id", id}}}}.dump(),
              .todo_id = id};
    }
    case call_kind::remove: {
      auto& from = done_.empty() ? open_ : done_;
      std::string id = std::move(from.front());
      from.pop_front();
      return {.kind = "todo_delete",
              .method = "tools/call",
              .params_json = json{{"name", "todo_delete"}, {"arguments", {{"id", id}}}}.dump(),
              .todo_id = id};
    }
  }
  return todo_list();
}

void call_mix::answered(const planned_call& call, bool ok, std::string_view message) {
  if (!ok) return;  // a failed complete leaves its todo behind: at most a few per restart
  if (call.kind == "todo_add") {
    if (std::string id = added_todo_id(message); !id.empty()) open_.push_back(std::move(id));
  } else if (call.kind == "todo_complete") {
    done_.push_back(call.todo_id);
  }
}

std::string added_todo_id(std::string_view message) {
  const json parsed = json::parse(message, nullptr, false);
  if (parsed.is_discarded()) return {};
  const auto* id = &parsed;
  for (const char* key : {"result", "structuredContent", "todo", "id"}) {
    if (!id->is_object() || !id->contains(key)) return {};
    id = &(*id)[key];
  }
  return id->is_string() ? id->get<std::string>() : std::string();
}

}  // namespace bookmcp::bench::soak
