#include "transport/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace bookmcp::transport {

bool set_send_stall_timeout(int socket, std::chrono::milliseconds stall) {
  if (stall.count() <= 0) return true;
  const auto milliseconds = static_cast<unsigned int>(
      std::min<std::int64_t>(stall.count(), std::numeric_limits<int>::max()));
  return ::setsockopt(socket, IPPROTO_TCP, TCP_USER_TIMEOUT, &milliseconds, sizeof milliseconds) == 0;
}

}  // namespace bookmcp::transport
