// A folder's `_category_.json` / `_category_.yml` as the indexer reads it for the table of
// contents (parse_category_metadata, what read_category_metadata does with a file's bytes).
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - a text is refused only with parse_error (read_category_metadata then degrades to the
//     folder's name), never another exception (yaml-cpp's own included);
//   - parsing is deterministic: the same text gives the same label and position again;
//   - a label has no control character, and (when the text has no escapes and is UTF-8, not
//     UTF-16/32 that yaml-cpp would convert) each of its words occurs in the text;
//   - a position is finite;
//   - a JSON object that nlohmann reads, with one "label" key holding a string, gives that
//     label (control characters as spaces) whenever the YAML reading accepts it.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "rag/docusaurus.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& text) {
  std::fprintf(stderr, "invariant broken: %s\ntext: %.2000s\n", what, text.c_str());
  std::abort();
}

bool is_control(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// The label an independent JSON reading finds: set only for a JSON object with exactly one
// top-level "label" key whose value is a string.
std::optional<std::string> json_label(const std::string& text) {
  int label_keys = 0;
  const auto count_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& value) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && value == "label") ++label_keys;
    return true;
  };
  const nlohmann::json document = nlohmann::json::parse(text, count_keys, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() || label_keys != 1) return std::nullopt;
  const auto label = document.find("label");
  if (label == document.end() || !label->is_string()) return std::nullopt;
  std::string out = label->get<std::string>();
  std::replace_if(out.begin(), out.end(), is_control, ' ');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::rag;
  const std::string text(reinterpret_cast<const char*>(data), size);
  category_metadata metadata;
  try {
    metadata = parse_category_metadata(text);
  } catch (const parse_error&) {
    try {
      parse_category_metadata(text);
    } catch (const parse_error&) {
      return 0;
    }
    broken("refused once, accepted the second time", text);
  } catch (...) {
    broken("a refusal that is not parse_error", text);
  }

  const category_metadata again = parse_category_metadata(text);
  if (again.label != metadata.label || again.position != metadata.position)
    broken("not deterministic", text);
  if (metadata.position && !std::isfinite(*metadata.position)) broken("a position that is not finite", text);

  if (metadata.label) {
    const std::string& label = *metadata.label;
    if (std::any_of(label.begin(), label.end(), is_control)) broken("a control character in a label", text);
    // yaml-cpp reads UTF-16 and UTF-32 (told by NUL bytes or a byte order mark) as UTF-8, and
    // escapes ("\x41", "\u00e9") and '' in single quotes make characters the text lacks.
    const bool plain = text.find('\\') == std::string::npos && text.find('\0') == std::string::npos &&
                       !text.starts_with("\xFE\xFF") && !text.starts_with("\xFF\xFE");
    if (plain) {
      std::size_t begin = 0;
      while (begin < label.size()) {
        std::size_t end = label.find_first_of(" '", begin);
        if (end == std::string::npos) end = label.size();
        if (end > begin && text.find(label.substr(begin, end - begin)) == std::string::npos)
          broken("a label word that is not in the text", text);
        begin = end + 1;
      }
    }
  }

  if (const auto expected = json_label(text); expected && metadata.label && *metadata.label != *expected)
    broken("the YAML reading of a JSON label differs from the JSON one", text);
  return 0;
}
