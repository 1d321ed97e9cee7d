#include "tools/todo/time_zone.hpp"

#include <date/tz.h>

#include <stdexcept>

#include "tools/todo/todo_tools.hpp"

namespace bookmcp::tools {

using namespace std::chrono;

std::optional<reader_time_zone> reader_time_zone::parse(std::string_view text) {
  reader_time_zone zone;
  zone.name_ = std::string(text);
  if (auto offset = parse_utc_offset(text)) {
    zone.fixed_ = *offset;
    return zone;
  }
  // Zone names are letters, digits and "/_-+"; anything else is not worth a database lookup.
  if (text.empty() || text.size() > 64 || text.find("..") != std::string_view::npos || text.front() == '/') {
    return std::nullopt;
  }
  for (const char c : text) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                         c == '/' || c == '_' || c == '-' || c == '+';
    if (!allowed) return std::nullopt;
  }
  try {
    zone.zone_ = date::locate_zone(text);
  } catch (const std::runtime_error&) {
    return std::nullopt;  // unknown name, or no time zone database on this machine
  }
  return zone;
}

minutes reader_time_zone::offset_at(store::timestamp instant) const {
  if (!zone_) return fixed_;
  const auto info = zone_->get_info(date::sys_seconds{floor<seconds>(instant.time_since_epoch())});
  return duration_cast<minutes>(info.offset);
}

store::timestamp reader_time_zone::day_start(year_month_day day) const {
  if (!zone_) return store::local_midnight(day, fixed_);
  const date::local_seconds midnight{seconds{sys_days{day}.time_since_epoch()}};
  const auto info = zone_->get_info(midnight);
  date::sys_seconds start;
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // midnight happens twice: the first one
      start = date::sys_seconds{midnight.time_since_epoch() - info.first.offset};
      break;
    case date::local_info::nonexistent:  // the clock jumps over midnight: the day starts at the jump
      start = info.second.begin;
      break;
  }
  return time_point_cast<milliseconds>(start);
}

}  // namespace bookmcp::tools
