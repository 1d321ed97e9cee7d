#pragma once
// The reader's time zone for the todo tools: a fixed UTC offset ("UTC", "+02:00", ...) or an
// IANA zone name ("Europe/Berlin"), read from the system's time zone database (tzdata) through
// Howard Hinnant's date library, so daylight-saving changes are followed.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "store/todo.hpp"

namespace date {
class time_zone;
}

namespace bookmcp::tools {

class reader_time_zone {
 public:
  // nullopt when `text` is neither a UTC offset form (see parse_utc_offset) nor a zone name
  // the system's time zone database knows.
  static std::optional<reader_time_zone> parse(std::string_view text);

  // The offset from UTC of the reader's wall clock at `instant`.
  std::chrono::minutes offset_at(store::timestamp instant) const;
  // The instant the reader's local day `date` begins (the earliest, should a transition repeat
  // midnight; the first existing local time, should one skip it).
  store::timestamp day_start(std::chrono::year_month_day date) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::chrono::minutes fixed_{0};
  const date::time_zone* zone_ = nullptr;  // null: the fixed offset applies
};

// How the forms above are described to models and in configuration errors.
inline constexpr std::string_view time_zone_forms =
    "an IANA time zone name such as \"Europe/Berlin\" or \"America/New_York\", \"UTC\", or a fixed "
    "UTC offset such as \"+02:00\", \"-05:30\", \"+0100\" or \"+09\" (at most ±18:00)";

}  // namespace bookmcp::tools
