#include "bench/network/process_info.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>

#include <fstream>
#include <sstream>
#include <string>

namespace bookmcp::bench {

long resident_kib(long pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));  // "VmRSS:   1234 kB"
  }
  return -1;
}

process_usage usage_of(long pid) {
  process_usage usage;
  const std::string base = "/proc/" + std::to_string(pid);
  // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks; the command name (field 2)
  // may hold spaces, so count from its closing parenthesis.
  std::ifstream stat(base + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return usage;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  usage.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(base + "/task", error)) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) usage.context_switches += std::stoul(line.substr(24));
      if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) usage.context_switches += std::stoul(line.substr(27));
    }
  }
  usage.valid = true;
  return usage;
}


std::size_t open_file_limit_of(long pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    try {
      return soft == "unlimited" ? static_cast<std::size_t>(-1) : std::stoul(soft);
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

}  // namespace bookmcp::bench
