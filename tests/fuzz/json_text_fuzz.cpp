// Any bytes into parse_json_text (rapidjson's reader building nlohmann's tree), compared with
// nlohmann::json::parse, the parser it stands in for.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - both accept or both refuse (past the depth limit, parse_json_text refuses and says so;
//     the text is then not compared);
//   - accepted, the trees are equal, print the same (-0.0 == 0 but prints differently) and
//     every value has the same type (5 unsigned, -5 signed, 5.0 a double).

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace {

using json = nlohmann::json;

// Same type at every node (operator== compares numbers across types).
bool same_types(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (!same_types(a[i], b[i])) return false;
  } else if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!same_types(it.value(), b.at(it.key()))) return false;
  }
  return true;
}

[[noreturn]] void fail(const char* what) {
  __builtin_printf("json_text_fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  bool too_deep = false;
  const auto ours = bookmcp::mcp::parse_json_text(text, &too_deep);
  if (too_deep) {
    if (ours) fail("a text past the depth limit was parsed");
    return 0;
  }
  const json theirs = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (theirs.is_discarded()) {
    if (ours) fail("accepted a text nlohmann refuses");
    return 0;
  }
  if (!ours) fail("refused a text nlohmann accepts");
  if (*ours != theirs) fail("a different tree");
  if (ours->dump() != theirs.dump()) fail("the same tree printed differently");
  if (!same_types(*ours, theirs)) fail("a value of a different type");
  return 0;
}
